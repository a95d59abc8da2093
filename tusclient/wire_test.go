package tusclient_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	srv := tustest.NewServer(tustest.WithPreUploadCreate(func(ev handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
		hookMeta = ev.Upload.MetaData
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, nil
	}))
	t.Cleanup(srv.Close)
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
	require.NoError(t, err)
	require.NoError(t, up.Run(context.Background()))
	assertStored(t, srv, up.URL(), data)

	reqs := srv.Calls()
	var got []string
	for _, r := range reqs {
		got = append(got, r.Method+" "+r.Header.Get("Upload-Offset")+" "+strconv.FormatInt(r.ContentLength, 10))
		assert.Equal(t, "Bearer "+token, r.Header.Get("Authorization"), r.Method)
		assert.Equal(t, "1.0.0", r.Header.Get("Tus-Resumable"), r.Method)
	}
	want := []string{"POST  0", "PATCH 0 5242880", "PATCH 5242880 5242880", "PATCH 10485760 2097155"}
	require.Equal(t, want, got, "requests")
	post := reqs[0].Header
	wantMeta := "upload_id MGY4ZmFkNWItZDljYi00NjlmLWExNjUtNzA4Njc3Mjg5NTBl,bucket bGlmdC1ldQ==,mode YnVsaw==," +
		"name MGY4ZmFkNWItZDljYi00NjlmLWExNjUtNzA4Njc3Mjg5NTBlLnppcA==,type YXBwbGljYXRpb24vemlw," +
		"filetype YXBwbGljYXRpb24vemlw,filename MGY4ZmFkNWItZDljYi00NjlmLWExNjUtNzA4Njc3Mjg5NTBlLnppcA=="
	assert.Equal(t, "12582915", post.Get("Upload-Length"))
	assert.Equal(t, wantMeta, post.Get("Upload-Metadata"))
	assert.Empty(t, post.Get("Upload-Defer-Length"))
	assert.Empty(t, post.Get("Content-Type"))
	for _, r := range reqs[1:] {
		assert.Equal(t, "application/offset+octet-stream", r.Header.Get("Content-Type"), "PATCH Content-Type")
	}
	assert.Equal(t, id, hookMeta["upload_id"], "tusd saw metadata")
	assert.Equal(t, id+".zip", hookMeta["filename"], "tusd saw metadata")
	assert.Len(t, hookMeta, 7, "tusd saw metadata")
}

// TestChecksumKnownAnswer sends the Tus spec's checksum example: "hello
// world" with sha1 must carry "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=".
func TestChecksumKnownAnswer(t *testing.T) {
	t.Parallel()
	srv := newTus(t, tustest.WithChecksum())
	c := newClient(t, srv, tusclient.Config{Checksum: "sha1"})
	data := []byte("hello world")
	up, err := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
	require.NoError(t, err)
	require.NoError(t, up.Run(context.Background()))
	assertStored(t, srv, up.URL(), data)
	var sums []string
	for _, r := range srv.Calls() {
		if r.Method == http.MethodPatch {
			sums = append(sums, r.Header.Get("Upload-Checksum"))
		}
	}
	assert.Equal(t, []string{"sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="}, sums, "Upload-Checksum")
}

// TestChecksumAuto: with the default setting the client uses the checksum
// extension when offered (sha256 first) and not otherwise.
func TestChecksumAuto(t *testing.T) {
	t.Parallel()
	for _, offered := range []bool{true, false} {
		t.Run("offered="+strconv.FormatBool(offered), func(t *testing.T) {
			t.Parallel()
			srv := newTus(t, optIf(offered, tustest.WithChecksum())...)
			c := newClient(t, srv, tusclient.Config{ChunkSize: 100_000})
			data := randomData(250_000, 3)
			up, _ := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{})
			require.NoError(t, up.Run(context.Background()))
			assertStored(t, srv, up.URL(), data)
			n := 0
			for _, r := range srv.Calls() {
				if r.Method != http.MethodPatch {
					continue
				}
				n++
				sum := r.Header.Get("Upload-Checksum")
				assert.Equal(t, offered, strings.HasPrefix(sum, "sha256 "), "PATCH Upload-Checksum %q", sum)
			}
			require.EqualValuesf(t, 3, n, "%d PATCHes, want 3", n)
		})
	}
}

// TestSupports: the extensions tusd announces, with and without
// concatenation; OPTIONS is asked once per Client.
func TestSupports(t *testing.T) {
	t.Parallel()
	for _, concat := range []bool{true, false} {
		t.Run("concatenation="+strconv.FormatBool(concat), func(t *testing.T) {
			t.Parallel()
			srv := newTus(t, optIf(!concat, tustest.WithoutConcatenation())...)
			c := newClient(t, srv, tusclient.Config{})
			for ext, want := range map[string]bool{"creation-defer-length": true, "termination": true, "concatenation": concat, "checksum": false, "": false} {
				got, err := c.Supports(context.Background(), ext)
				require.NoError(t, err)
				assert.Equal(t, want, got, ext)
			}
			options := 0
			for _, r := range srv.Calls() {
				if r.Method == http.MethodOptions {
					options++
				}
			}
			assert.Equal(t, 1, options, "OPTIONS is cached")
		})
	}
}
