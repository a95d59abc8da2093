package tusclient_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

// TestWireAuraUploader reproduces the Tus traffic of the Aura uploader
// (tus-js-client 4.3.1 via @uppy/tus, captured for a 12,582,915-byte zip):
// POST with Upload-Length and the seven metadata keys in order, no body;
// then 5 MiB PATCHes at 0, 5242880, 10485760; the Bearer token on every
// request; no OPTIONS or HEAD.
func TestWireAuraUploader(t *testing.T) {
	t.Parallel()
	var hookMeta map[string]string
	srv := tustest.NewServer(t, tustest.Options{
		PreUploadCreate: func(ev handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
			hookMeta = ev.Upload.MetaData
			return handler.HTTPResponse{}, handler.FileInfoChanges{}, nil
		},
	})
	const token = "lift-token-1234"
	c := newClient(t, srv, tusclient.Config{
		ChunkSize: 5 * 1024 * 1024,
		Checksum:  tusclient.ChecksumOff,
		BeforeRequest: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+token)
			return nil
		},
	})
	const id = "0f8fad5b-d9cb-469f-a165-70867728950e"
	md := tusclient.Metadata{
		{Key: "upload_id", Value: id}, {Key: "bucket", Value: "lift-eu"}, {Key: "mode", Value: "bulk"},
		{Key: "name", Value: id + ".zip"}, {Key: "type", Value: "application/zip"},
		{Key: "filetype", Value: "application/zip"}, {Key: "filename", Value: id + ".zip"},
	}
	data := randomData(12_582_915, 7)
	up, err := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertStored(t, srv, up.URL(), data)

	reqs := srv.Requests()
	var got []string
	for _, r := range reqs {
		got = append(got, r.Method+" "+r.Header.Get("Upload-Offset")+" "+strconv.FormatInt(r.ContentLength, 10))
		if a := r.Header.Get("Authorization"); a != "Bearer "+token {
			t.Errorf("%s without the Bearer token (Authorization %q)", r.Method, a)
		}
		if v := r.Header.Get("Tus-Resumable"); v != "1.0.0" {
			t.Errorf("%s with Tus-Resumable %q", r.Method, v)
		}
	}
	want := []string{"POST  0", "PATCH 0 5242880", "PATCH 5242880 5242880", "PATCH 10485760 2097155"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("requests\n got %q\nwant %q", got, want)
	}
	post := reqs[0].Header
	wantMeta := "upload_id MGY4ZmFkNWItZDljYi00NjlmLWExNjUtNzA4Njc3Mjg5NTBl,bucket bGlmdC1ldQ==,mode YnVsaw==," +
		"name MGY4ZmFkNWItZDljYi00NjlmLWExNjUtNzA4Njc3Mjg5NTBlLnppcA==,type YXBwbGljYXRpb24vemlw," +
		"filetype YXBwbGljYXRpb24vemlw,filename MGY4ZmFkNWItZDljYi00NjlmLWExNjUtNzA4Njc3Mjg5NTBlLnppcA=="
	if post.Get("Upload-Length") != "12582915" || post.Get("Upload-Metadata") != wantMeta ||
		post.Get("Upload-Defer-Length") != "" || post.Get("Content-Type") != "" {
		t.Fatalf("POST headers %v", post)
	}
	for _, r := range reqs[1:] {
		if ct := r.Header.Get("Content-Type"); ct != "application/offset+octet-stream" {
			t.Fatalf("PATCH Content-Type %q", ct)
		}
	}
	if hookMeta["upload_id"] != id || hookMeta["filename"] != id+".zip" || len(hookMeta) != 7 {
		t.Fatalf("tusd saw metadata %v", hookMeta)
	}
}

// TestChecksumKnownAnswer sends the Tus spec's checksum example: "hello
// world" with sha1 must carry "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=".
func TestChecksumKnownAnswer(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer(t, tustest.Options{Checksum: true})
	c := newClient(t, srv, tusclient.Config{Checksum: "sha1"})
	data := []byte("hello world")
	up, err := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertStored(t, srv, up.URL(), data)
	var sums []string
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPatch {
			sums = append(sums, r.Header.Get("Upload-Checksum"))
		}
	}
	if len(sums) != 1 || sums[0] != "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=" {
		t.Fatalf("Upload-Checksum %q", sums)
	}
}

// TestChecksumAuto: with the default setting the client uses the checksum
// extension when offered (sha256 first) and not otherwise.
func TestChecksumAuto(t *testing.T) {
	t.Parallel()
	for _, offered := range []bool{true, false} {
		t.Run("offered="+strconv.FormatBool(offered), func(t *testing.T) {
			t.Parallel()
			srv := tustest.NewServer(t, tustest.Options{Checksum: offered})
			c := newClient(t, srv, tusclient.Config{ChunkSize: 100_000})
			data := randomData(250_000, 3)
			up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
			if err := up.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			assertStored(t, srv, up.URL(), data)
			n := 0
			for _, r := range srv.Requests() {
				if r.Method != http.MethodPatch {
					continue
				}
				n++
				sum := r.Header.Get("Upload-Checksum")
				if offered != strings.HasPrefix(sum, "sha256 ") {
					t.Fatalf("PATCH Upload-Checksum %q with checksum offered=%v", sum, offered)
				}
			}
			if n != 3 {
				t.Fatalf("%d PATCHes, want 3", n)
			}
		})
	}
}

// TestCapabilities reads tusd's OPTIONS answer, and the checksum layer's.
func TestCapabilities(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer(t, tustest.Options{Checksum: true, MaxSize: 1 << 30})
	c := newClient(t, srv, tusclient.Config{})
	caps, err := c.Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"creation", "creation-with-upload", "termination", "concatenation", "creation-defer-length", "checksum"} {
		if !caps.Has(ext) {
			t.Errorf("extension %s missing from %v", ext, caps.Extensions)
		}
	}
	if !caps.Known || caps.MaxSize != 1<<30 || !caps.HasChecksum("sha1") || caps.Versions[0] != "1.0.0" {
		t.Fatalf("capabilities %+v", caps)
	}
	if _, err := c.Capabilities(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodOptions {
			n++
			if r.Header.Get("Tus-Resumable") != "" {
				t.Error("OPTIONS carried Tus-Resumable")
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d OPTIONS requests, want 1 (cached)", n)
	}
}

// TestCapabilitiesWaitHonoursContext: a caller waiting for another
// caller's OPTIONS request to finish gives up when its own context ends.
// It used to block on a mutex until the other request (with its retries
// and stall timeouts, minutes in the worst case) was over, whatever its
// context said.
func TestCapabilitiesWaitHonoursContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
		w.Header().Set("Tus-Version", "1.0.0")
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c, err := tusclient.New(tusclient.Config{Endpoint: srv.URL + "/files/", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := c.Capabilities(context.Background())
		first <- err
	}()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	go func() {
		_, err := c.Capabilities(ctx)
		second <- err
	}()
	select {
	case err := <-second:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("waiting caller: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("waiting caller ignored its context")
		defer func() { <-second }()
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if caps, err := c.Capabilities(context.Background()); err != nil || !caps.Known {
		t.Errorf("cached capabilities %+v, %v", caps, err)
	}
}
