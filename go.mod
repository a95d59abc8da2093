module github.com/dicombridge/dicombridge

go 1.26.0

require (
	github.com/klauspost/compress v1.20.3
	golang.org/x/text v0.37.0
)
