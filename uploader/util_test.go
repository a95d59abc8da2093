package uploader_test

import (
	"fmt"
	"io"
)

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

func ioNopCloser(r io.Reader) io.ReadCloser { return io.NopCloser(r) }
