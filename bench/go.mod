module github.com/dicombridge/dicombridge/bench

go 1.26.0

replace github.com/dicombridge/dicombridge => ../

require (
	github.com/aws/aws-sdk-go-v2 v1.47.7
	github.com/dicombridge/dicombridge v0.0.0-00010101000000-000000000000
	github.com/eventials/go-tus v0.0.0-20220610120217-05d0564bb571
	github.com/stretchr/testify v1.12.1
	github.com/suyashkumar/dicom v1.1.0
)

require (
	github.com/aws/smithy-go v1.28.8 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/tus/tusd/v2 v2.10.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/exp v0.0.0-20250106191152-7588d65b2ba8 // indirect
	golang.org/x/text v0.37.0 // indirect
)
