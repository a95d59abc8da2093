package dicomnet

import (
	"context"
	"hash/crc32"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heapPeak samples the live heap every few milliseconds until stop is
// called, and returns the largest value seen.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// TestLargeDatasetBoundedMemory: a 256 MiB dataset crosses an association
// (our SCU to our server, the handler checksumming as it reads) while the
// heap stays under 8 MiB: neither side holds the dataset.
func TestLargeDatasetBoundedMemory(t *testing.T) {
	const size = 256 << 20
	var got atomic.Int64
	var gotSum atomic.Uint32
	srv := &Server{AETitle: "GATEWAY", CallingAETitles: []string{"SCU"},
		Handler: StoreFunc(func(ctx context.Context, req *StoreRequest) Status {
			h := crc32.NewIEEE()
			n, err := io.Copy(h, req.Data)
			if err != nil {
				return StatusProcessingFailure
			}
			got.Store(n)
			gotSum.Store(h.Sum32())
			return StatusSuccess
		})}
	host, port := serve(t, srv)
	ctx := context.Background()
	a, err := Dial(ctx, host+":"+portArg(port), DialOptions{CallingAETitle: "SCU", CalledAETitle: "GATEWAY",
		Contexts: []PresentationContext{{AbstractSyntax: secondaryCapture, TransferSyntaxes: []string{explicitVRLittleEndian}}}})
	require.NoError(t, err)
	runtime.GC()
	stop := heapPeak()
	sent := crc32.NewIEEE()
	status, err := a.Store(ctx, secondaryCapture, "1.2.3.4", explicitVRLittleEndian, io.TeeReader(io.LimitReader(pattern{}, size), sent))
	peak := stop()
	require.NoError(t, err)
	assert.Equal(t, StatusSuccess, status)
	assert.Equal(t, int64(size), got.Load())
	assert.Equal(t, sent.Sum32(), gotSum.Load())
	require.NoError(t, a.Release(ctx))
	t.Logf("heap peak while 256 MiB crossed: %.1f MiB", float64(peak)/(1<<20))
	assert.Less(t, peak, uint64(8<<20))
}
