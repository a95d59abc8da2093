module github.com/dicombridge/dicombridge/bench

go 1.26.0

replace github.com/dicombridge/dicombridge => ../

require (
	github.com/aws/aws-sdk-go-v2 v1.47.7
	github.com/dicombridge/dicombridge v0.0.0-00010101000000-000000000000
)

require github.com/aws/smithy-go v1.28.8 // indirect
