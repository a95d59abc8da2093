package tusbench

import (
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// benchDir is where data files go.
func benchDir(tb testing.TB) string {
	if d := os.Getenv("TUSBENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "tusbench-")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return tb.TempDir()
}

// dataFile writes size random bytes to a file, 1 MiB at a time.
func dataFile(tb testing.TB, dir string, size int64) string {
	tb.Helper()
	p := filepath.Join(dir, "data.bin")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		tb.Fatal(err)
	}
	return p
}

// newHTTPClient is the same kind of client for every contender.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
}
