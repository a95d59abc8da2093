package uploader_test

const childEnv = "UPLOADER_TEST_CHILD"

func childMain() int { return 3 }
