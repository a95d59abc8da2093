package tusclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

// onlyReader hides every interface but io.Reader, like a pipe.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestFaultProxy (fault a): connections cut at random offsets in both
// directions, mid-request and mid-response; the stored file must be
// byte-identical. Seeds are fixed so a failure replays; the proxy logs
// every cut.
func TestFaultProxy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		seed     uint64
		stream   bool
		checksum bool
	}{
		{"readerat", 1, false, false},
		{"stream deferred length", 2, true, false},
		{"readerat checksum", 3, false, true},
		{"stream checksum", 4, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := tustest.NewServer(t, tustest.Options{Checksum: tc.checksum})
			proxy := tustest.NewFaultProxy(t, srv.Addr(), tustest.ProxyOptions{
				Seed: tc.seed, MinUp: 2 << 10, MaxUp: 400 << 10, MinDown: 100, MaxDown: 4 << 10, MaxCuts: 30,
			})
			retries := 0
			c := newClient(t, srv, tusclient.Config{Endpoint: proxy.URL(srv.URL), ChunkSize: 128 << 10})
			data := randomData(2<<20+12345, tc.seed)
			opts := tusclient.UploadOptions{OnRetry: func(error, int, time.Duration) { retries++ }}
			var up *tusclient.Upload
			var err error
			if tc.stream {
				up, err = c.NewStreamUpload(onlyReader{bytes.NewReader(data)}, -1, opts)
			} else {
				up, err = c.NewUpload(bytes.NewReader(data), int64(len(data)), opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := up.Run(context.Background()); err != nil {
				t.Fatalf("Run after %d cuts: %v", proxy.Cuts(), err)
			}
			if proxy.Cuts() == 0 || retries == 0 {
				t.Fatalf("no faults injected (cuts %d, retries %d)", proxy.Cuts(), retries)
			}
			t.Logf("%d cuts, %d retries", proxy.Cuts(), retries)
			assertStored(t, srv, srv.URL+lastPathElem(up.URL()), data)
		})
	}
}

func lastPathElem(u string) string {
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] == '/' {
			return u[i+1:]
		}
	}
	return u
}

// TestServerRestart (fault b): tusd is stopped mid-upload (connections
// dropped, handlers finished) and started again over the same filestore as
// a new process; the client retries until it is back.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer(t, tustest.Options{PatchDelay: 5 * time.Millisecond})
	data := randomData(1<<20, 11)
	var once sync.Once
	restarted := make(chan struct{})
	var retries atomic.Int32
	c := newClient(t, srv, tusclient.Config{
		ChunkSize: 64 << 10,
		Retry: tusclient.RetryPolicy{Delays: []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond,
			200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}},
	})
	up, err := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
		OnProgress: func(p tusclient.Progress) {
			if p.Offset >= int64(len(data))/3 {
				once.Do(func() {
					go func() {
						defer close(restarted)
						srv.Stop()
						time.Sleep(150 * time.Millisecond)
						if err := srv.Start(); err != nil {
							t.Error(err)
						}
					}()
				})
			}
		},
		OnRetry: func(error, int, time.Duration) { retries.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-restarted
	if retries.Load() == 0 {
		t.Fatal("the restart caused no retry: it happened after the upload")
	}
	assertStored(t, srv, up.URL(), data)
}

// TestServerErrorBursts (fault d): bursts of 5xx (and 409/423) on PATCH,
// HEAD and POST are retried; a burst longer than the retry budget fails
// with a typed error and loses nothing: the next Run resumes.
func TestServerErrorBursts(t *testing.T) {
	t.Parallel()
	t.Run("recovers", func(t *testing.T) {
		t.Parallel()
		srv := tustest.NewServer(t, tustest.Options{})
		srv.FailNext(http.MethodPost, 2, http.StatusServiceUnavailable)
		srv.FailNext(http.MethodPatch, 3, http.StatusInternalServerError)
		srv.FailNext(http.MethodHead, 2, http.StatusBadGateway)
		srv.FailNext(http.MethodPatch, 1, http.StatusConflict)
		srv.FailNext(http.MethodPatch, 1, http.StatusLocked)
		// 9 failures in a row without progress: POST, POST, PATCH, HEAD,
		// HEAD, PATCH, PATCH, PATCH 409, PATCH 423.
		c := newClient(t, srv, tusclient.Config{ChunkSize: 64 << 10, Checksum: tusclient.ChecksumOff,
			Retry: tusclient.RetryPolicy{Delays: make([]time.Duration, 12)}})
		data := randomData(500_000, 12)
		up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
		if err := up.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		assertStored(t, srv, up.URL(), data)
		failed := map[int]int{}
		for _, r := range srv.Requests() {
			if r.Status >= 400 {
				failed[r.Status]++
			}
		}
		want := map[int]int{503: 2, 500: 3, 502: 2, 409: 1, 423: 1}
		if fmt.Sprint(failed) != fmt.Sprint(want) {
			t.Fatalf("failed responses %v, want %v", failed, want)
		}
	})
	t.Run("gives up then resumes", func(t *testing.T) {
		t.Parallel()
		srv := tustest.NewServer(t, tustest.Options{})
		c := newClient(t, srv, tusclient.Config{ChunkSize: 64 << 10, Checksum: tusclient.ChecksumOff})
		data := randomData(300_000, 13)
		var once sync.Once
		up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
			OnProgress: func(p tusclient.Progress) {
				if p.Offset == 128<<10 && p.Sent == p.Offset {
					once.Do(func() { srv.FailNext("", 100, http.StatusServiceUnavailable) })
				}
			},
		})
		err := up.Run(context.Background())
		var he *tusclient.HTTPError
		if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable ||
			(he.Method != http.MethodHead && !bytes.Contains(he.Body, []byte("injected"))) {
			t.Fatalf("Run error %v, want an HTTPError 503 with the body", err)
		}
		if got := up.Offset(); got != 128<<10 {
			t.Fatalf("offset after failure %d, want %d", got, 128<<10)
		}
		srv.ClearFailures()
		srv.ResetRequests()
		if err := up.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		reqs := srv.Requests()
		if reqs[0].Method != http.MethodHead || reqs[1].Header.Get("Upload-Offset") != fmt.Sprint(128<<10) {
			t.Fatalf("resume did not start with HEAD then PATCH at 131072: %s %s", reqs[0].Method, reqs[1].Header.Get("Upload-Offset"))
		}
		assertStored(t, srv, up.URL(), data)
	})
}

// TestRetryStatusPolicy: which statuses are retried by default.
func TestRetryStatusPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		retry  bool
	}{
		{400, false}, {401, false}, {403, false}, {404, false}, {410, false}, {413, false}, {429, false},
		{409, true}, {423, true}, {460, true}, {500, true}, {502, true}, {503, true}, {504, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			t.Parallel()
			srv := tustest.NewServer(t, tustest.Options{})
			srv.FailNext(http.MethodPatch, 1, tc.status)
			c := newClient(t, srv, tusclient.Config{Checksum: tusclient.ChecksumOff})
			data := randomData(1000, 5)
			up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
			err := up.Run(context.Background())
			if tc.retry {
				if err != nil {
					t.Fatalf("status %d not retried: %v", tc.status, err)
				}
				assertStored(t, srv, up.URL(), data)
				return
			}
			var he *tusclient.HTTPError
			if !errors.As(err, &he) || he.StatusCode != tc.status {
				t.Fatalf("Run error %v, want HTTPError %d", err, tc.status)
			}
			patches := 0
			for _, r := range srv.Requests() {
				if r.Method == http.MethodPatch {
					patches++
				}
			}
			if patches != 1 {
				t.Fatalf("%d PATCH requests for a non-retried %d, want 1", patches, tc.status)
			}
		})
	}
}

// TestShouldRetryHook: a caller can retry 429 too.
func TestShouldRetryHook(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer(t, tustest.Options{})
	srv.FailNext(http.MethodPatch, 2, http.StatusTooManyRequests)
	var seen []int
	c := newClient(t, srv, tusclient.Config{Retry: tusclient.RetryPolicy{
		Delays: []time.Duration{0, 0, 0},
		ShouldRetry: func(err error, attempt int) bool {
			seen = append(seen, attempt)
			var he *tusclient.HTTPError
			return (errors.As(err, &he) && he.StatusCode == http.StatusTooManyRequests) || tusclient.DefaultShouldRetry(err, attempt)
		},
	}})
	data := randomData(1000, 6)
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
	if err := up.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[1 2]" {
		t.Fatalf("ShouldRetry attempts %v, want [1 2]", seen)
	}
	assertStored(t, srv, up.URL(), data)
}

// TestNoRetries: an empty Delays slice disables retries.
func TestNoRetries(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer(t, tustest.Options{})
	srv.FailNext(http.MethodPatch, 1, http.StatusServiceUnavailable)
	c := newClient(t, srv, tusclient.Config{Retry: tusclient.RetryPolicy{Delays: []time.Duration{}}})
	up, _ := c.NewUpload(bytes.NewReader([]byte("x")), 1, tusclient.UploadOptions{})
	var he *tusclient.HTTPError
	if err := up.Run(context.Background()); !errors.As(err, &he) || he.StatusCode != 503 {
		t.Fatalf("Run error %v, want HTTPError 503", err)
	}
}

// TestCancelThenResume (fault e): cancelling the context stops the PATCH
// in flight (the server is holding it), Run returns context.Canceled, and
// a second Run resumes from the server's offset.
func TestCancelThenResume(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer(t, tustest.Options{})
	c := newClient(t, srv, tusclient.Config{ChunkSize: 64 << 10})
	data := randomData(400_000, 14)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
		OnProgress: func(p tusclient.Progress) {
			if p.Offset >= 128<<10 {
				once.Do(func() {
					srv.SetPatchDelay(time.Minute) // the next PATCH hangs in the server
					time.AfterFunc(100*time.Millisecond, cancel)
				})
			}
		},
	})
	start := time.Now()
	err := up.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("Run returned %v after cancel: the request in flight was not stopped", d)
	}
	confirmed := up.Offset()
	if confirmed < 128<<10 || confirmed == int64(len(data)) {
		t.Fatalf("offset after cancel %d", confirmed)
	}
	srv.SetPatchDelay(0)
	srv.ResetRequests()
	if err := up.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if reqs[0].Method != http.MethodHead {
		t.Fatalf("resume began with %s, want HEAD", reqs[0].Method)
	}
	var sent int64
	for _, r := range reqs {
		if r.Method == http.MethodPatch {
			sent += r.ContentLength
		}
	}
	if sent != int64(len(data))-confirmed {
		t.Fatalf("resume sent %d bytes, want %d (no finished byte again)", sent, int64(len(data))-confirmed)
	}
	assertStored(t, srv, up.URL(), data)
}

// TestStallTimeout: a server that stops reading is abandoned after
// StallTimeout with ErrStalled, and the retry succeeds.
func TestStallTimeout(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer(t, tustest.Options{PatchDelay: time.Minute})
	var stalls atomic.Int32
	c := newClient(t, srv, tusclient.Config{StallTimeout: 300 * time.Millisecond})
	data := randomData(200_000, 15)
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
		OnRetry: func(err error, _ int, _ time.Duration) {
			if errors.Is(err, tusclient.ErrStalled) {
				stalls.Add(1)
				srv.SetPatchDelay(0)
			}
		},
	})
	if err := up.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stalls.Load() != 1 {
		t.Fatalf("%d stalls, want 1", stalls.Load())
	}
	assertStored(t, srv, up.URL(), data)
}
