package tusclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

// TestChecksumMismatch: chunks damaged in transit are refused by the server
// with 460 and sent again; when every attempt is damaged, Run fails with
// ErrChecksumMismatch and the server holds nothing of the damaged chunk.
func TestChecksumMismatch(t *testing.T) {
	t.Parallel()
	t.Run("transient", func(t *testing.T) {
		t.Parallel()
		srv := newTus(t, tustest.WithChecksum())
		srv.Fail(tustest.Failure{Corrupt: true, Times: 2})
		c := newClient(t, srv, tusclient.Config{ChunkSize: 50_000})
		data := randomData(120_000, 31)
		up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
		require.NoError(t, up.Run(context.Background()))
		assertStored(t, srv, up.URL(), data)
		n460 := 0
		for _, r := range srv.Calls() {
			if r.Status == 460 {
				n460++
			}
		}
		require.EqualValuesf(t, 2, n460, "%d responses 460, want 2", n460)
	})
	t.Run("persistent", func(t *testing.T) {
		t.Parallel()
		srv := newTus(t, tustest.WithChecksum())
		c := newClient(t, srv, tusclient.Config{ChunkSize: 50_000, Retry: tusclient.RetryPolicy{Delays: []time.Duration{0, 0}}})
		data := randomData(120_000, 32)
		var once sync.Once
		up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
			OnProgress: func(p tusclient.Progress) {
				if p.Offset == 50_000 {
					once.Do(func() { srv.Fail(tustest.Failure{Corrupt: true, Times: 100}) })
				}
			},
		})
		err := up.Run(context.Background())
		var he *tusclient.HTTPError
		require.ErrorIs(t, err, tusclient.ErrChecksumMismatch)
		require.ErrorAs(t, err, &he)
		assert.Equal(t, 460, he.StatusCode)
		assert.Contains(t, err.Error(), "460 Checksum Mismatch")
		info, err := srv.Info(up.URL())
		require.NoError(t, err)
		assert.EqualValues(t, 50_000, info.Offset, "a damaged chunk was stored")
	})
	t.Run("required but not offered", func(t *testing.T) {
		t.Parallel()
		srv := newTus(t)
		c := newClient(t, srv, tusclient.Config{Checksum: "sha256"})
		up, _ := c.NewUpload(bytes.NewReader([]byte("x")), 1, tusclient.UploadOptions{})
		require.ErrorIs(t, up.Run(context.Background()), tusclient.ErrUnsupported, "Run error")
	})
}

// TestStreamLengths uploads streams of unknown length around chunk
// boundaries: the length is declared at creation when the stream ends in
// the first chunk, otherwise deferred and declared by the last PATCH.
func TestStreamLengths(t *testing.T) {
	t.Parallel()
	const chunk = 1000
	for _, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk, 3*chunk + 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			srv := newTus(t)
			c := newClient(t, srv, tusclient.Config{ChunkSize: chunk})
			data := randomData(n, uint64(n))
			var last tusclient.Progress
			up, err := c.NewStreamUpload(onlyReader{bytes.NewReader(data)}, -1, tusclient.UploadOptions{
				OnProgress: func(p tusclient.Progress) { last = p },
			})
			require.NoError(t, err)
			require.NoError(t, up.Run(context.Background()))
			assertStored(t, srv, up.URL(), data)
			require.EqualValuesf(t, int64(n), last.Offset, "last progress %+v", last)
			require.EqualValuesf(t, int64(n), last.Size, "last progress %+v", last)
			var post tustest.Call
			var lengths []string
			for _, r := range srv.Calls() {
				switch r.Method {
				case http.MethodPost:
					post = r
				case http.MethodPatch:
					lengths = append(lengths, r.Header.Get("Upload-Length"))
				}
			}
			if n <= chunk {
				require.EqualValuesf(t, fmt.Sprint(n), post.Header.Get("Upload-Length"), "POST headers %v, want Upload-Length %d", post.Header, n)
				require.Emptyf(t, post.Header.Get("Upload-Defer-Length"), "POST headers %v, want Upload-Length %d", post.Header, n)
				return
			}
			require.EqualValuesf(t, "1", post.Header.Get("Upload-Defer-Length"), "POST headers %v, want Upload-Defer-Length: 1", post.Header)
			require.Emptyf(t, post.Header.Get("Upload-Length"), "POST headers %v, want Upload-Defer-Length: 1", post.Header)
			for i, l := range lengths {
				want := map[bool]string{true: fmt.Sprint(n), false: ""}[i == len(lengths)-1]
				require.Equal(t, want, l, "PATCH %d Upload-Length (all: %q)", i, lengths)
			}
		})
	}
}

// TestStreamKnownSize: a stream with a declared size that turns out
// shorter fails with ErrSourceChanged instead of uploading garbage.
func TestStreamKnownSize(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	c := newClient(t, srv, tusclient.Config{ChunkSize: 1000})
	data := randomData(2500, 41)
	up, _ := c.NewStreamUpload(onlyReader{bytes.NewReader(data)}, 2500, tusclient.UploadOptions{})
	require.NoError(t, up.Run(context.Background()))
	assertStored(t, srv, up.URL(), data)
	short, _ := c.NewStreamUpload(onlyReader{bytes.NewReader(data[:2400])}, 2500, tusclient.UploadOptions{})
	require.ErrorIs(t, short.Run(context.Background()), tusclient.ErrSourceChanged, "short stream")
	shortAt, _ := c.NewUpload(bytes.NewReader(data[:2400]), 2500, tusclient.UploadOptions{})
	require.ErrorIs(t, shortAt.Run(context.Background()), tusclient.ErrSourceChanged, "short ReaderAt")
}

// TestStreamResumeFromStore: a stream regenerated after a restart resumes:
// the bytes the server holds are read and skipped, not sent.
func TestStreamResumeFromStore(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	store := &tusclient.MemoryStore{}
	c := newClient(t, srv, tusclient.Config{ChunkSize: 10_000})
	data := randomData(55_555, 42)
	ctx, cancel := context.WithCancel(context.Background())
	opts := tusclient.UploadOptions{Fingerprint: "zip-1", Store: store, OnProgress: func(p tusclient.Progress) {
		if p.Offset >= 20_000 {
			cancel()
		}
	}}
	up, _ := c.NewStreamUpload(onlyReader{bytes.NewReader(data)}, -1, opts)
	require.ErrorIs(t, up.Run(ctx), context.Canceled, "first Run")
	held := up.Offset()
	since := len(srv.Calls())
	opts.OnProgress = nil
	again, _ := c.NewStreamUpload(onlyReader{bytes.NewReader(data)}, -1, opts)
	require.NoError(t, again.Run(context.Background()))
	require.EqualValuesf(t, up.URL(), again.URL(), "resumed %s, want %s", again.URL(), up.URL())
	var sent int64
	for _, r := range srv.Calls()[since:] {
		require.NotEqualValues(t, http.MethodPost, r.Method, "resume created a new upload")
		sent += max(r.ContentLength, 0)
	}
	require.EqualValuesf(t, int64(len(data))-held, sent, "resume sent %d bytes, want %d", sent, int64(len(data))-held)
	assertStored(t, srv, up.URL(), data)
}

// TestCreationWithUpload sends the first chunk in the POST.
func TestCreationWithUpload(t *testing.T) {
	t.Parallel()
	for _, checksum := range []bool{false, true} {
		t.Run(fmt.Sprint("checksum=", checksum), func(t *testing.T) {
			t.Parallel()
			srv := newTus(t, optIf(checksum, tustest.WithChecksum())...)
			c := newClient(t, srv, tusclient.Config{ChunkSize: 40_000, UploadDataDuringCreation: true})
			data := randomData(100_000, 43)
			up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
			require.NoError(t, up.Run(context.Background()))
			assertStored(t, srv, up.URL(), data)
			var got []string
			for _, r := range srv.Calls() {
				got = append(got, fmt.Sprintf("%s %d %v", r.Method, r.ContentLength, r.Header.Get("Upload-Checksum") != ""))
			}
			want := fmt.Sprintf("OPTIONS 0 false|POST 40000 %[1]v|PATCH 40000 %[1]v|PATCH 20000 %[1]v", checksum)
			require.EqualValuesf(t, want, strings.Join(got, "|"), "requests %q, want %q", got, want)
		})
	}
}

// TestParallel uploads in 3 partial uploads and concatenates them; the
// metadata goes on the final upload.
func TestParallel(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	c := newClient(t, srv, tusclient.Config{ChunkSize: 256 << 10, ParallelUploads: 3})
	data := randomData(3<<20+1, 44)
	var created []string
	var last tusclient.Progress
	var mu sync.Mutex
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
		Metadata:   tusclient.Metadata{{Key: "filename", Value: "p.bin"}},
		OnCreated:  func(u string) { created = append(created, u) },
		OnProgress: func(p tusclient.Progress) { mu.Lock(); last = p; mu.Unlock() },
	})
	require.NoError(t, up.Run(context.Background()))
	require.Lenf(t, created, 1, "OnCreated %v, URL %s", created, up.URL())
	require.EqualValuesf(t, up.URL(), created[0], "OnCreated %v, URL %s", created, up.URL())
	assertStored(t, srv, up.URL(), data)
	info, _ := srv.Info(up.URL())
	require.Truef(t, info.IsFinal, "final upload %+v", info)
	require.Lenf(t, info.PartialUploads, 3, "final upload %+v", info)
	require.EqualValuesf(t, "p.bin", info.MetaData["filename"], "final upload %+v", info)
	for _, id := range info.PartialUploads {
		pi, _ := srv.Info(srv.URL + id)
		require.Truef(t, pi.IsPartial, "partial upload %+v", pi)
		require.Emptyf(t, pi.MetaData, "partial upload %+v", pi)
	}
	require.EqualValuesf(t, int64(len(data)), last.Offset, "last progress %+v", last)
	require.EqualValuesf(t, int64(len(data)), last.Size, "last progress %+v", last)
}

// TestParallelResume: a cancelled parallel upload resumes its parts from
// the store in a new Upload, and terminates cleanly.
func TestParallelResume(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	store := &tusclient.MemoryStore{}
	c := newClient(t, srv, tusclient.Config{ChunkSize: 128 << 10, ParallelUploads: 2})
	data := randomData(4<<20, 45)
	ctx, cancel := context.WithCancel(context.Background())
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
		Fingerprint: "p", Store: store,
		OnProgress: func(p tusclient.Progress) {
			// Cancel once both parts exist and some data went out.
			rec, _, _ := store.Get(context.Background(), "p")
			if p.Offset >= 1<<20 && len(rec.Parts) == 2 && rec.Parts[0].URL != "" && rec.Parts[1].URL != "" {
				cancel()
			}
		},
	})
	require.ErrorIs(t, up.Run(ctx), context.Canceled, "first Run")
	rec, ok, _ := store.Get(context.Background(), "p")
	require.Truef(t, ok, "record %+v", rec)
	require.Lenf(t, rec.Parts, 2, "record %+v", rec)
	require.Emptyf(t, rec.URL, "record %+v", rec)
	since := len(srv.Calls())
	again, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{Fingerprint: "p", Store: store, KeepRecord: true})
	require.NoError(t, again.Run(context.Background()))
	posts := 0
	for _, r := range srv.Calls()[since:] {
		if r.Method == http.MethodPost {
			posts++
			require.Truef(t, strings.HasPrefix(r.Header.Get("Upload-Concat"), "final;"), "resume created a partial upload again: %v", r.Header)
		}
	}
	require.EqualValuesf(t, 1, posts, "%d POSTs, want 1 (the final)", posts)
	assertStored(t, srv, again.URL(), data)
	// Terminate from a third Upload, as after a restart.
	third, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{Fingerprint: "p", Store: store})
	require.NoError(t, third.Terminate(context.Background()))
	require.False(t, exists(srv, again.URL()), "final upload survived Terminate")
	for _, pr := range rec.Parts {
		require.False(t, exists(srv, pr.URL), "partial upload survived Terminate")
	}
	require.False(t, stored(store, "p"), "record survived Terminate")
}

// TestParallelFallback: without concatenation on the server, a parallel
// upload quietly becomes a single one.
func TestParallelFallback(t *testing.T) {
	t.Parallel()
	srv := newTus(t, tustest.WithoutConcatenation())
	c := newClient(t, srv, tusclient.Config{ParallelUploads: 4})
	data := randomData(3<<20, 46)
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
	require.NoError(t, up.Run(context.Background()))
	assertStored(t, srv, up.URL(), data)
}

// TestTerminate cancels an upload, terminates it, and checks the server
// forgot it; Run afterwards starts a new upload.
func TestTerminate(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	store := &tusclient.MemoryStore{}
	c := newClient(t, srv, tusclient.Config{ChunkSize: 10_000})
	data := randomData(50_000, 47)
	ctx, cancel := context.WithCancel(context.Background())
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
		Fingerprint: "t", Store: store,
		OnProgress: func(p tusclient.Progress) {
			if p.Offset >= 20_000 {
				cancel()
			}
		},
	})
	require.ErrorIs(t, up.Run(ctx), context.Canceled, "Run")
	old := up.URL()
	require.NoError(t, up.Terminate(context.Background()))
	require.False(t, exists(srv, old), "upload survived Terminate")
	require.False(t, stored(store, "t"), "record survived Terminate")
	// Terminating an upload that is already gone is not an error.
	require.NoError(t, c.Terminate(context.Background(), old), "second Terminate")
	require.NoError(t, up.Run(context.Background()))
	require.NotEqualValues(t, old, up.URL(), "Run after Terminate reused the terminated upload")
	assertStored(t, srv, up.URL(), data)
}

// TestStoredUploadGone: a stored upload the server lost (404 on HEAD) is
// replaced by a new upload.
func TestStoredUploadGone(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	store := &tusclient.MemoryStore{}
	_ = store.Put(context.Background(), "g", tusclient.Record{Endpoint: srv.URL, URL: srv.URL + "0123456789abcdef", Size: 1000})
	c := newClient(t, srv, tusclient.Config{})
	data := randomData(1000, 48)
	up, _ := c.NewUpload(bytes.NewReader(data), 1000, tusclient.UploadOptions{Fingerprint: "g", Store: store})
	require.NoError(t, up.Run(context.Background()))
	require.False(t, strings.HasSuffix(up.URL(), "0123456789abcdef"), "kept the lost upload")
	assertStored(t, srv, up.URL(), data)
}

// TestHeadOffsetBeyondSent: after a failed PATCH, a server whose HEAD
// claims more bytes than the client ever sent to that upload is violating
// the protocol; believing it would skip the bytes in between and end with a
// "complete" upload missing them. tusd cannot be made to lie, so a small
// server does: it fails the first PATCH, then reports 4000 of 5000 bytes
// although at most the first 1000 went out. An offset within what was sent
// is believed (the PATCH may have landed before its answer was lost).
func TestHeadOffsetBeyondSent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		claim   int64
		wantErr bool
	}{
		{"beyond what was sent", 4000, true},
		{"within what was sent", 1000, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var patches []string
			patched := 0
			liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				mu.Lock()
				defer mu.Unlock()
				w.Header().Set("Tus-Resumable", "1.0.0")
				switch r.Method {
				case http.MethodPost:
					w.Header().Set("Location", "/files/1")
					w.WriteHeader(http.StatusCreated)
				case http.MethodHead:
					w.Header().Set("Upload-Offset", fmt.Sprint(tt.claim))
					w.Header().Set("Upload-Length", "5000")
					w.WriteHeader(http.StatusOK)
				case http.MethodPatch:
					patches = append(patches, r.Header.Get("Upload-Offset"))
					patched++
					if patched == 1 {
						w.WriteHeader(http.StatusInternalServerError)
						return
					}
					off, _ := parseInt(r.Header.Get("Upload-Offset"))
					tt.claim = off + r.ContentLength
					w.Header().Set("Upload-Offset", fmt.Sprint(tt.claim))
					w.WriteHeader(http.StatusNoContent)
				}
			}))
			t.Cleanup(liar.Close)
			c, err := tusclient.New(tusclient.Config{Endpoint: liar.URL + "/files/", HTTPClient: liar.Client(),
				ChunkSize: 1000, Checksum: tusclient.ChecksumOff, Retry: fastRetry})
			require.NoError(t, err)
			up, _ := c.NewUpload(bytes.NewReader(make([]byte, 5000)), 5000, tusclient.UploadOptions{})
			err = up.Run(context.Background())
			mu.Lock()
			defer mu.Unlock()
			if tt.wantErr {
				assert.ErrorIs(t, err, tusclient.ErrProtocol)
				assert.Len(t, patches, 1, "only the first PATCH")
				return
			}
			assert.NoError(t, err, "Run")
			require.NotEmpty(t, patches)
			assert.Equal(t, []string{"1000", "2000", "3000", "4000"}, patches[1:], "PATCH offsets after the first")
		})
	}
}

// TestRecordOtherEndpointIgnored: a record made for another endpoint or
// another size does not resume.
func TestRecordMismatchIgnored(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	c := newClient(t, srv, tusclient.Config{})
	for name, rec := range map[string]tusclient.Record{
		"endpoint": {Endpoint: "http://elsewhere.example/files/", URL: "http://elsewhere.example/files/x", Size: 10},
		"size":     {Endpoint: srv.URL, URL: srv.URL + "x", Size: 11},
	} {
		store := &tusclient.MemoryStore{}
		_ = store.Put(context.Background(), "f", rec)
		up, _ := c.NewUpload(bytes.NewReader(make([]byte, 10)), 10, tusclient.UploadOptions{Fingerprint: "f", Store: store})
		require.NoErrorf(t, up.Run(context.Background()), "%s", name)
		require.Falsef(t, strings.HasSuffix(up.URL(), "/x"), "%s: resumed a mismatching record", name)
	}
}

// TestLocation: relative Location headers are resolved; a Location on
// another origin is refused unless CheckUploadURL allows it.
func TestLocation(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	target, _ := url.Parse(srv.URL)
	target.Path = ""
	newProxy := func(rewrite func(string) string) *httptest.Server {
		rp := httputil.NewSingleHostReverseProxy(target)
		rp.ModifyResponse = func(r *http.Response) error {
			if l := r.Header.Get("Location"); l != "" {
				r.Header.Set("Location", rewrite(l))
			}
			return nil
		}
		p := httptest.NewServer(rp)
		t.Cleanup(p.Close)
		return p
	}
	data := randomData(5000, 49)

	rel := newProxy(func(l string) string { u, _ := url.Parse(l); return u.Path })
	c := newClient(t, srv, tusclient.Config{Endpoint: rel.URL + tustest.DefaultBasePath, HTTPClient: rel.Client()})
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
	require.NoError(t, up.Run(context.Background()))
	require.Truef(t, strings.HasPrefix(up.URL(), rel.URL+tustest.DefaultBasePath), "relative Location resolved to %s", up.URL())
	assertStored(t, srv, srv.URL+lastPathElem(up.URL()), data)

	other := newProxy(func(l string) string { u, _ := url.Parse(l); u.Host = "attacker.example"; return u.String() })
	c2 := newClient(t, srv, tusclient.Config{Endpoint: other.URL + tustest.DefaultBasePath, HTTPClient: other.Client()})
	up2, _ := c2.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
	err := up2.Run(context.Background())
	require.ErrorIs(t, err, tusclient.ErrProtocol, "cross-origin Location")
	assert.Contains(t, err.Error(), "origin")
}

// TestRedirectToOtherOrigin: a redirect is a URL handed out by the server
// too, so it must pass the same check as Location: credentials and data are
// never sent to another origin that way. The http.Client used to follow a
// 307 from a PATCH to any host, replaying the body and every header that
// Go does not strip itself (here an API key from Config.Header), and Run
// then took the other host's answer for the upload's. A redirect within
// the endpoint's origin is still followed.
func TestRedirectToOtherOrigin(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	var mu sync.Mutex
	var stolen []http.Header
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		stolen = append(stolen, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Tus-Resumable", "1.0.0")
		w.Header().Set("Upload-Offset", r.Header.Get("Upload-Offset")+"0") // anything
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(thief.Close)
	target, _ := url.Parse(srv.URL)
	target.Path = ""
	rp := httputil.NewSingleHostReverseProxy(target)
	var redirectTo string // guarded by mu
	setRedirect := func(s string) { mu.Lock(); redirectTo = s; mu.Unlock() }
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		to := redirectTo
		mu.Unlock()
		if r.Method == http.MethodPatch && !strings.HasPrefix(r.URL.Path, "/same/") {
			io.Copy(io.Discard, r.Body)
			http.Redirect(w, r, to+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/same")
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	data := randomData(5000, 51)
	cfg := tusclient.Config{
		Endpoint:   front.URL + tustest.DefaultBasePath,
		HTTPClient: front.Client(),
		Header:     http.Header{"X-Api-Key": {"secret-api-key"}},
		Checksum:   tusclient.ChecksumOff,
	}

	setRedirect(front.URL + "/same") // same origin: followed
	up, _ := newClient(t, srv, cfg).NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
	require.NoError(t, up.Run(context.Background()), "same-origin redirect")
	assertStored(t, srv, srv.URL+lastPathElem(up.URL()), data)

	setRedirect(thief.URL)
	up, _ = newClient(t, srv, cfg).NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
	err := up.Run(context.Background())
	require.ErrorIs(t, err, tusclient.ErrProtocol, "redirect to another origin")
	assert.Contains(t, err.Error(), "origin")
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, stolen, "requests reached the other origin")
}

// TestOverridePatchMethod sends PATCH and DELETE as POST with
// X-HTTP-Method-Override.
func TestOverridePatchMethod(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	c := newClient(t, srv, tusclient.Config{OverridePatchMethod: true, Checksum: tusclient.ChecksumOff})
	data := randomData(3000, 50)
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
	require.NoError(t, up.Run(context.Background()))
	assertStored(t, srv, up.URL(), data)
	require.NoError(t, c.Terminate(context.Background(), up.URL()))
	var got []string
	for _, r := range srv.Calls() {
		got = append(got, r.Method+"/"+r.Header.Get("X-HTTP-Method-Override"))
	}
	require.EqualValuesf(t, "POST/ PATCH/PATCH DELETE/DELETE", strings.Join(got, " "), "requests %v", got)
}

// TestEmptyUpload: a zero-length upload is complete at creation.
func TestEmptyUpload(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	c := newClient(t, srv, tusclient.Config{Checksum: tusclient.ChecksumOff})
	var last tusclient.Progress
	up, _ := c.NewUpload(bytes.NewReader(nil), 0, tusclient.UploadOptions{OnProgress: func(p tusclient.Progress) { last = p }})
	require.NoError(t, up.Run(context.Background()))
	assertStored(t, srv, up.URL(), nil)
	reqs := srv.Calls()
	require.Len(t, reqs, 1, "one request")
	assert.Equal(t, http.MethodPost, reqs[0].Method)
	assert.Equal(t, tusclient.Progress{Size: 0}, last)
}

// TestRunBusy: Run and Terminate refuse to overlap with a running Run.
func TestRunBusy(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	srv.Fail(tustest.Failure{Method: http.MethodPatch, Delay: time.Minute})
	c := newClient(t, srv, tusclient.Config{})
	up, _ := c.NewUpload(bytes.NewReader(make([]byte, 100)), 100, tusclient.UploadOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	up2 := up
	done := make(chan error)
	go func() {
		done <- up2.Run(ctx)
	}()
	go func() {
		for up.URL() == "" {
			time.Sleep(time.Millisecond)
		}
		once.Do(func() { close(started) })
	}()
	<-started
	require.ErrorIs(t, up.Run(context.Background()), tusclient.ErrBusy, "second Run")
	require.ErrorIs(t, up.Terminate(context.Background()), tusclient.ErrBusy, "Terminate during Run")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled, "Run")
}

// failingReaderAt fails at offset at.
type failingReaderAt struct {
	data []byte
	at   int64
}

var errDisk = errors.New("disk on fire")

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.at {
		n := copy(p, f.data[off:max(off, f.at)])
		return n, errDisk
	}
	return copy(p, f.data[off:]), nil
}

// TestSourceError: a read error from the caller's data is returned, not
// retried.
func TestSourceError(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	c := newClient(t, srv, tusclient.Config{ChunkSize: 10_000, Checksum: tusclient.ChecksumOff})
	data := randomData(50_000, 51)
	up, _ := c.NewUpload(failingReaderAt{data, 25_000}, int64(len(data)), tusclient.UploadOptions{})
	err := up.Run(context.Background())
	require.ErrorIs(t, err, errDisk, "the source error")
	for _, r := range srv.Calls() {
		if r.Method == http.MethodPatch {
			off, _ := parseInt(r.Header.Get("Upload-Offset"))
			require.LessOrEqual(t, off, int64(20_000), "the failing chunk was retried or skipped")
		}
	}
	require.LessOrEqual(t, up.Offset(), int64(25_000), "offset beyond the readable data")
	sr, _ := c.NewStreamUpload(io.MultiReader(bytes.NewReader(data[:15_000]), iotestErrReader{}), -1, tusclient.UploadOptions{})
	require.ErrorIs(t, sr.Run(context.Background()), errDisk, "stream Run")
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errDisk }

// TestProgress: Offset never decreases, Sent never trails Offset, and the
// last report is complete.
func TestProgress(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	srv.Fail(tustest.Failure{Method: http.MethodPatch, Times: 1, Status: 500})
	c := newClient(t, srv, tusclient.Config{ChunkSize: 64 << 10})
	data := randomData(1<<20, 52)
	var reports []tusclient.Progress
	up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
		OnProgress: func(p tusclient.Progress) { reports = append(reports, p) },
	})
	require.NoError(t, up.Run(context.Background()))
	require.Falsef(t, len(reports) < 16, "%d reports", len(reports))
	for i, p := range reports {
		require.Falsef(t, p.Sent < p.Offset, "report %d: %+v after %+v", i, p, reports[max(i-1, 0)])
		require.EqualValuesf(t, int64(len(data)), p.Size, "report %d: %+v after %+v", i, p, reports[max(i-1, 0)])
		require.Falsef(t, i > 0 && p.Offset < reports[i-1].Offset, "report %d: %+v after %+v", i, p, reports[max(i-1, 0)])
	}
	l := reports[len(reports)-1]
	assert.Equal(t, l.Size, l.Offset, "last report")
	assert.Equal(t, l.Size, l.Sent, "last report")
}

// TestAccessorsDuringRun reads URL, Offset and Progress from another
// goroutine while a stream uploads (run with -race).
func TestAccessorsDuringRun(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	c := newClient(t, srv, tusclient.Config{ChunkSize: 10_000})
	data := randomData(200_000, 53)
	up, _ := c.NewStreamUpload(onlyReader{bytes.NewReader(data)}, -1, tusclient.UploadOptions{OnProgress: func(tusclient.Progress) {}})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_, _, _ = up.URL(), up.Offset(), up.Progress()
			}
		}
	}()
	err := up.Run(context.Background())
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	p := up.Progress()
	assert.Equal(t, int64(len(data)), p.Size, "final progress")
	assert.Equal(t, p.Size, p.Offset, "final progress")
	assertStored(t, srv, up.URL(), data)
}
