package uploader_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dicombridge/dicombridge/dicomgen"
)

// Samples written once for the whole test binary; tests only read them.
var (
	// sampleDir holds two uncompressed studies (ct/) and one encapsulated
	// study (jpeg/): deflated and stored entries in one archive.
	sampleDir   string
	sampleFiles []dicomgen.File
	// bigDir holds one study whose stored archive spans two 5 MiB chunks.
	bigDir   string
	bigFiles []dicomgen.File
	// testRoot holds the samples; removed after the tests.
	testRoot string
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	code, err := setupAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "uploader tests:", err)
		os.Exit(1)
	}
	if code == 0 {
		// tusd parks one goroutine per request that ends 1 s after it: not
		// a leak (see auratest).
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/tus/tusd/v2/pkg/handler.newDelayedContext.func1")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func setupAndRun(m *testing.M) (int, error) {
	root, err := os.MkdirTemp("", "uploader-test-")
	if err != nil {
		return 0, err
	}
	testRoot = root
	defer os.RemoveAll(root)
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	sampleDir = filepath.Join(root, "sample")
	ct, err := dicomgen.Write(context.Background(), filepath.Join(sampleDir, "ct"), dicomgen.Options{
		Studies: 2, SeriesPerStudy: 2, InstancesPerSeries: 4, Seed: 1, ModTime: mtime})
	if err != nil {
		return 0, err
	}
	jp, err := dicomgen.Write(context.Background(), filepath.Join(sampleDir, "jpeg"), dicomgen.Options{
		Studies: 1, SeriesPerStudy: 1, InstancesPerSeries: 3, Seed: 2, ModTime: mtime,
		TransferSyntaxes: []string{dicomgen.JPEGBaseline}})
	if err != nil {
		return 0, err
	}
	sampleFiles = append(ct, jp...)
	bigDir = filepath.Join(root, "big")
	if bigFiles, err = dicomgen.Write(context.Background(), bigDir, dicomgen.Options{
		Studies: 1, SeriesPerStudy: 2, InstancesPerSeries: 24, Rows: 256, Columns: 256, Seed: 3, ModTime: mtime}); err != nil {
		return 0, err
	}
	return m.Run(), nil
}
