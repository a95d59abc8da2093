//go:build !race

package uploader_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
)

// TestBoundedMemory uploads a large study (UPLOADER_BIG_MB megabytes of
// 512 × 512 slices, 200 by default; it writes that much twice to the
// temporary directory) and checks that the Go heap of the whole process,
// fake server included, stays under 64 MiB while it streams:
//
//	UPLOADER_BIG_MB=600 go test ./uploader -run TestBoundedMemory -v
//
// It is not built under the race detector, which makes 200 MB take
// minutes; .ci/run runs it without -race.
func TestBoundedMemory(t *testing.T) {
	mb := 200
	if v := os.Getenv("UPLOADER_BIG_MB"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "UPLOADER_BIG_MB")
		require.Positive(t, n, "UPLOADER_BIG_MB")
		mb = n
	}
	dir := filepath.Join(t.TempDir(), "big")
	n := mb * 2 // 512 KiB slices
	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{Studies: 1, SeriesPerStudy: 4, InstancesPerSeries: n / 4,
		Rows: 512, Columns: 512, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	aura := auratest.NewServer(auratest.WithDir(t.TempDir()))
	t.Cleanup(aura.Close)
	for _, store := range []bool{false, true} {
		runtime.GC()
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			for {
				metrics.Read(s)
				if v := s[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		u, _ := newUploader(t, aura, t.TempDir())
		u.Store = store
		begin := time.Now()
		res, err := u.Upload(context.Background(), dir)
		close(stop)
		<-done
		if err != nil {
			t.Fatal(err)
		}
		secs := time.Since(begin).Seconds()
		t.Logf("store=%v: %d files, %.0f MB → %.0f MB zip in %.1f s (%.0f MB/s); peak live heap %.1f MiB",
			store, len(files), float64(res.SourceBytes)/1e6, float64(res.ArchiveBytes)/1e6, secs,
			float64(res.SourceBytes)/1e6/secs, float64(peak.Load())/(1<<20))
		if peak.Load() > 64<<20 {
			t.Errorf("peak heap %d bytes", peak.Load())
		}
	}
}
