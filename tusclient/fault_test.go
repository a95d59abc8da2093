package tusclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
			srv := newTus(t, optIf(tc.checksum, tustest.WithChecksum())...)
			proxy := tustest.NewFaultProxy(t, srv.URL, tustest.ProxyOptions{
				Seed: tc.seed, Up: [2]int64{2 << 10, 400 << 10}, Down: [2]int64{100, 4 << 10}, MaxCuts: 30,
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
			require.NoError(t, err)
			require.NoErrorf(t, up.Run(context.Background()), "Run after %d cuts", proxy.Cuts())
			require.NotZero(t, proxy.Cuts(), "no faults injected")
			require.NotZero(t, retries, "no retries")
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
	srv := newTus(t)
	srv.Fail(tustest.Failure{Method: http.MethodPatch, Delay: 5 * time.Millisecond})
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
						assert.NoError(t, srv.Start())
					}()
				})
			}
		},
		OnRetry: func(error, int, time.Duration) { retries.Add(1) },
	})
	require.NoError(t, err)
	require.NoError(t, up.Run(context.Background()))
	<-restarted
	require.NotZero(t, retries.Load(), "the restart caused no retry: it happened after the upload")
	assertStored(t, srv, up.URL(), data)
}

// TestServerErrorBursts (fault d): bursts of 5xx (and 409/423) on PATCH,
// HEAD and POST are retried; a burst longer than the retry budget fails
// with a typed error and loses nothing: the next Run resumes.
func TestServerErrorBursts(t *testing.T) {
	t.Parallel()
	t.Run("recovers", func(t *testing.T) {
		t.Parallel()
		srv := newTus(t)
		srv.Fail(tustest.Failure{Method: http.MethodPost, Times: 2, Status: http.StatusServiceUnavailable})
		srv.Fail(tustest.Failure{Method: http.MethodPatch, Times: 3, Status: http.StatusInternalServerError})
		srv.Fail(tustest.Failure{Method: http.MethodHead, Times: 2, Status: http.StatusBadGateway})
		srv.Fail(tustest.Failure{Method: http.MethodPatch, Times: 1, Status: http.StatusConflict})
		srv.Fail(tustest.Failure{Method: http.MethodPatch, Times: 1, Status: http.StatusLocked})
		// 9 failures in a row without progress: POST, POST, PATCH, HEAD,
		// HEAD, PATCH, PATCH, PATCH 409, PATCH 423.
		c := newClient(t, srv, tusclient.Config{ChunkSize: 64 << 10, Checksum: tusclient.ChecksumOff,
			Retry: tusclient.RetryPolicy{Delays: make([]time.Duration, 12)}})
		data := randomData(500_000, 12)
		up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
		require.NoError(t, up.Run(context.Background()))
		assertStored(t, srv, up.URL(), data)
		failed := map[int]int{}
		for _, r := range srv.Calls() {
			if r.Status >= 400 {
				failed[r.Status]++
			}
		}
		want := map[int]int{503: 2, 500: 3, 502: 2, 409: 1, 423: 1}
		assert.Equal(t, want, failed, "failed responses")
	})
	t.Run("gives up then resumes", func(t *testing.T) {
		t.Parallel()
		srv := newTus(t)
		c := newClient(t, srv, tusclient.Config{ChunkSize: 64 << 10, Checksum: tusclient.ChecksumOff})
		data := randomData(300_000, 13)
		var once sync.Once
		up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
			OnProgress: func(p tusclient.Progress) {
				if p.Offset == 128<<10 && p.Sent == p.Offset {
					once.Do(func() { srv.Fail(tustest.Failure{Method: "", Times: 100, Status: http.StatusServiceUnavailable}) })
				}
			},
		})
		err := up.Run(context.Background())
		var he *tusclient.HTTPError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, http.StatusServiceUnavailable, he.StatusCode)
		if he.Method != http.MethodHead {
			assert.Contains(t, he.Body, "injected", "the body is kept")
		}
		require.EqualValues(t, 128<<10, up.Offset(), "offset after failure")
		srv.ClearFailures()
		since := len(srv.Calls())
		require.NoError(t, up.Run(context.Background()))
		reqs := srv.Calls()[since:]
		require.GreaterOrEqual(t, len(reqs), 2)
		assert.Equal(t, http.MethodHead, reqs[0].Method, "resume starts with HEAD")
		assert.Equal(t, fmt.Sprint(128<<10), reqs[1].Header.Get("Upload-Offset"), "then PATCH at 131072")
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
			srv := newTus(t)
			srv.Fail(tustest.Failure{Method: http.MethodPatch, Times: 1, Status: tc.status})
			c := newClient(t, srv, tusclient.Config{Checksum: tusclient.ChecksumOff})
			data := randomData(1000, 5)
			up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
			err := up.Run(context.Background())
			if tc.retry {
				require.NoErrorf(t, err, "status %d not retried", tc.status)
				assertStored(t, srv, up.URL(), data)
				return
			}
			var he *tusclient.HTTPError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tc.status, he.StatusCode)
			patches := 0
			for _, r := range srv.Calls() {
				if r.Method == http.MethodPatch {
					patches++
				}
			}
			assert.Equal(t, 1, patches, "PATCH requests for a non-retried status")
		})
	}
}

// TestShouldRetryHook: a caller can retry 429 too.
func TestShouldRetryHook(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	srv.Fail(tustest.Failure{Method: http.MethodPatch, Times: 2, Status: http.StatusTooManyRequests})
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
	require.NoError(t, up.Run(context.Background()))
	assert.Equal(t, []int{1, 2}, seen, "ShouldRetry attempts")
	assertStored(t, srv, up.URL(), data)
}

// TestNoRetries: an empty Delays slice disables retries.
func TestNoRetries(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	srv.Fail(tustest.Failure{Method: http.MethodPatch, Times: 1, Status: http.StatusServiceUnavailable})
	c := newClient(t, srv, tusclient.Config{Retry: tusclient.RetryPolicy{Delays: []time.Duration{}}})
	up, _ := c.NewUpload(bytes.NewReader([]byte("x")), 1, tusclient.UploadOptions{})
	var he *tusclient.HTTPError
	require.ErrorAs(t, up.Run(context.Background()), &he)
	assert.Equal(t, 503, he.StatusCode)
}

// TestCancelThenResume (fault e): cancelling the context stops the PATCH
// in flight (the server is holding it), Run returns context.Canceled, and
// a second Run resumes from the server's offset.
func TestCancelThenResume(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	c := newClient(t, srv, tusclient.Config{ChunkSize: 64 << 10})
	data := randomData(400_000, 14)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
		OnProgress: func(p tusclient.Progress) {
			if p.Offset >= 128<<10 {
				once.Do(func() {
					srv.Fail(tustest.Failure{Method: http.MethodPatch, Delay: time.Minute}) // the next PATCH hangs in the server
					time.AfterFunc(100*time.Millisecond, cancel)
				})
			}
		},
	})
	start := time.Now()
	err := up.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 30*time.Second, "the request in flight was not stopped")
	confirmed := up.Offset()
	require.GreaterOrEqual(t, confirmed, int64(128<<10), "offset after cancel")
	require.NotEqual(t, int64(len(data)), confirmed, "offset after cancel")
	srv.ClearFailures()
	since := len(srv.Calls())
	require.NoError(t, up.Run(context.Background()))
	reqs := srv.Calls()[since:]
	require.NotEmpty(t, reqs)
	assert.Equal(t, http.MethodHead, reqs[0].Method, "resume begins with HEAD")
	var sent int64
	for _, r := range reqs {
		if r.Method == http.MethodPatch {
			sent += r.ContentLength
		}
	}
	assert.Equal(t, int64(len(data))-confirmed, sent, "resume sent no confirmed byte again")
	assertStored(t, srv, up.URL(), data)
}

// TestStallTimeout: a server that stops reading is abandoned after
// StallTimeout with ErrStalled, and the retry succeeds.
func TestStallTimeout(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	srv.Fail(tustest.Failure{Method: http.MethodPatch, Delay: time.Minute})
	var stalls atomic.Int32
	c := newClient(t, srv, tusclient.Config{StallTimeout: 300 * time.Millisecond})
	data := randomData(200_000, 15)
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
		OnRetry: func(err error, _ int, _ time.Duration) {
			if errors.Is(err, tusclient.ErrStalled) {
				stalls.Add(1)
				srv.ClearFailures()
			}
		},
	})
	require.NoError(t, up.Run(context.Background()))
	assert.EqualValues(t, 1, stalls.Load(), "stalls")
	assertStored(t, srv, up.URL(), data)
}

// TestRetryAfterHonoured: a 503 with Retry-After waits at least that long
// before the retry, although the schedule says 0; a Retry-After beyond a
// minute is cut to a minute.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"1", time.Second},
		{"86400", time.Minute},
	} {
		t.Run(tc.header, func(t *testing.T) {
			t.Parallel()
			var patches atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Tus-Resumable", "1.0.0")
				switch r.Method {
				case http.MethodPost:
					w.Header().Set("Location", "/files/1")
					w.WriteHeader(http.StatusCreated)
				case http.MethodPatch:
					if patches.Add(1) == 1 {
						w.Header().Set("Retry-After", tc.header)
						w.WriteHeader(http.StatusServiceUnavailable)
						return
					}
					w.Header().Set("Upload-Offset", "1")
					w.WriteHeader(http.StatusNoContent)
				case http.MethodHead:
					w.Header().Set("Upload-Offset", "0")
					w.Header().Set("Upload-Length", "1")
				}
			}))
			defer ts.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c, err := tusclient.New(tusclient.Config{Endpoint: ts.URL + "/files/", HTTPClient: ts.Client(),
				Checksum: tusclient.ChecksumOff, Retry: tusclient.RetryPolicy{Delays: []time.Duration{0}}})
			require.NoError(t, err)
			var waits []time.Duration
			up, err := c.NewUpload(bytes.NewReader([]byte("x")), 1, tusclient.UploadOptions{
				OnRetry: func(_ error, _ int, d time.Duration) {
					waits = append(waits, d)
					if d > 10*time.Second {
						cancel() // do not wait a minute in a test
					}
				},
			})
			require.NoError(t, err)
			err = up.Run(ctx)
			assert.Equal(t, []time.Duration{tc.want}, waits)
			if tc.want > 10*time.Second {
				assert.ErrorIs(t, err, context.Canceled)
				return
			}
			require.NoError(t, err)
		})
	}
}
