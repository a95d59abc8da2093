package tustest_test

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

func ExampleNewServer() {
	srv := tustest.NewServer(tustest.WithChecksum())
	defer srv.Close()

	// Create an upload of 11 bytes and send them with the spec's checksum.
	c := srv.Client()
	req, _ := http.NewRequest("POST", srv.URL, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", "11")
	resp, _ := c.Do(req)
	resp.Body.Close()
	url := resp.Header.Get("Location")

	req, _ = http.NewRequest("PATCH", url, strings.NewReader("hello world"))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Checksum", "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=")
	resp, _ = c.Do(req)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Upload-Offset"))

	sum, _ := srv.StoredSHA256(url)
	fmt.Println(sum)
	// Output:
	// 204 11
	// b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9
}

func ExampleServer_Fail() {
	srv := tustest.NewServer()
	defer srv.Close()
	srv.Fail(tustest.Failure{Method: http.MethodPost, Times: 1, Status: http.StatusServiceUnavailable})

	req, _ := http.NewRequest("POST", srv.URL, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", "1")
	for i := 0; i < 2; i++ {
		resp, _ := srv.Client().Do(req)
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// 503
	// 201
}
