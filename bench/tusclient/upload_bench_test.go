package tusbench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gotus "github.com/eventials/go-tus"

	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

const benchSize = 256 << 20

// contender uploads the whole file and returns the upload URL.
type contender struct {
	name   string
	upload func(f *os.File) (string, error)
}

// contenders returns the floor, tusclient (default 8 MiB chunks) and
// go-tus (same chunk size), each with its own HTTP client.
func contenders(tb testing.TB, endpoint string) []contender {
	var cs []contender
	hc := newHTTPClient()
	tb.Cleanup(hc.CloseIdleConnections)
	cs = append(cs, contender{"floor (one raw PATCH)", func(f *os.File) (string, error) { return rawUpload(hc, endpoint, f) }})

	hc2 := newHTTPClient()
	tb.Cleanup(hc2.CloseIdleConnections)
	c, err := tusclient.New(tusclient.Config{Endpoint: endpoint, HTTPClient: hc2})
	if err != nil {
		tb.Fatal(err)
	}
	cs = append(cs, contender{"tusclient", func(f *os.File) (string, error) {
		st, err := f.Stat()
		if err != nil {
			return "", err
		}
		up, err := c.NewUpload(f, st.Size(), tusclient.UploadOptions{})
		if err != nil {
			return "", err
		}
		err = up.Run(context.Background())
		return up.URL(), err
	}})

	hc3 := newHTTPClient()
	tb.Cleanup(hc3.CloseIdleConnections)
	cfg := gotus.DefaultConfig()
	cfg.ChunkSize = 8 << 20 // tusclient's default chunk size
	cfg.HttpClient = hc3
	gc, err := gotus.NewClient(endpoint, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	cs = append(cs, contender{"eventials/go-tus", func(f *os.File) (string, error) {
		if _, err := f.Seek(0, 0); err != nil {
			return "", err
		}
		u, err := gotus.NewUploadFromFile(f)
		if err != nil {
			return "", err
		}
		up, err := gc.CreateUpload(u)
		if err != nil {
			return "", err
		}
		return up.Url(), up.Upload()
	}})
	return cs
}

// verifyAndDrop checks the server stored size bytes, then deletes them to
// keep the disk from filling up.
func verifyAndDrop(tb testing.TB, srv *tustest.Server, storeDir, url string, size int64) {
	tb.Helper()
	info, err := srv.Info(url)
	if err != nil || info.Offset != size || info.Size != size {
		tb.Fatalf("stored %+v, %v", info, err)
	}
	stored := filepath.Join(storeDir, info.ID)
	os.Remove(stored)
	os.Remove(stored + ".info")
}

// BenchmarkUpload uploads 256 MiB from a file to tusd (filestore) over
// loopback with each contender, one after the other in the same process.
func BenchmarkUpload(b *testing.B) {
	dir := benchDir(b)
	path := dataFile(b, dir, benchSize)
	srv := tustest.NewServer(tustest.WithDir(filepath.Join(dir, "store")))
	b.Cleanup(srv.Close)
	for _, c := range contenders(b, srv.URL) {
		b.Run(c.name, func(b *testing.B) {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(benchSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				url, err := c.upload(f)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				verifyAndDrop(b, srv, filepath.Join(dir, "store"), url, benchSize)
				b.StartTimer()
			}
		})
	}
}

// TestThroughputTable interleaves the contenders for TUSBENCH_ROUNDS rounds
// (default 5), rotating which goes first, so that load from other
// processes and garbage left by the previous upload hit them alike, and
// prints the median throughput of each and its ratio to the floor as a
// Markdown table.
func TestThroughputTable(t *testing.T) {
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("TUSBENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	dir := benchDir(t)
	path := dataFile(t, dir, benchSize)
	srv := tustest.NewServer(tustest.WithDir(filepath.Join(dir, "store")))
	t.Cleanup(srv.Close)
	cs := contenders(t, srv.URL)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	times := make([][]time.Duration, len(cs))
	for r := 0; r < rounds; r++ {
		for k := range cs {
			i := (r + k) % len(cs) // rotate who goes first
			c := cs[i]
			start := time.Now()
			url, err := c.upload(f)
			d := time.Since(start)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			verifyAndDrop(t, srv, filepath.Join(dir, "store"), url, benchSize)
			times[i] = append(times[i], d)
		}
	}
	mbps := func(d time.Duration) float64 { return float64(benchSize) / (1 << 20) / d.Seconds() }
	floor := mbps(median(times[0]))
	var b strings.Builder
	fmt.Fprintf(&b, "\n256 MiB to tusd v2.10.0 (filestore) over loopback, median of %d interleaved rounds\n\n", rounds)
	b.WriteString("| client | median MiB/s | best MiB/s | vs floor |\n|---|---:|---:|---:|\n")
	for i, c := range cs {
		m := mbps(median(times[i]))
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f%% |\n", c.name, m, mbps(slices.Min(times[i])), 100*m/floor)
	}
	t.Log(b.String())
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// rawUpload is the floor: create, then one PATCH whose body is the whole
// file (net/http sends an *os.File body with sendfile).
func rawUpload(hc *http.Client, endpoint string, f *os.File) (string, error) {
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	req, _ := http.NewRequest(http.MethodPost, endpoint, http.NoBody)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(st.Size(), 10))
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST: %s", resp.Status)
	}
	url := resp.Header.Get("Location")
	if _, err := f.Seek(0, 0); err != nil {
		return "", err
	}
	// NopCloser keeps the transport from closing f; net/http sees through
	// it and still uses sendfile.
	req, _ = http.NewRequest(http.MethodPatch, url, io.NopCloser(f))
	req.ContentLength = st.Size()
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = hc.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return "", fmt.Errorf("PATCH: %s", resp.Status)
	}
	return url, nil
}
