package tustest_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.uber.org/goleak"

	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func do(t *testing.T, c *http.Client, method, url string, h map[string]string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if body == nil {
		req.Body = http.NoBody
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func create(t *testing.T, s *tustest.Server, c *http.Client, length string) string {
	t.Helper()
	resp := do(t, c, "POST", s.URL, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": length}, nil)
	require.EqualValuesf(t, 201, resp.StatusCode, "POST: %d", resp.StatusCode)
	return resp.Header.Get("Location")
}

func offset(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	return do(t, c, "HEAD", url, map[string]string{"Tus-Resumable": "1.0.0"}, nil).Header.Get("Upload-Offset")
}

// TestChecksumHandler checks the checksum layer against the Tus 1.0
// checksum extension, starting with the spec's own example.
func TestChecksumHandler(t *testing.T) {
	t.Parallel()
	s := tustest.NewServer(tustest.WithChecksum())
	t.Cleanup(s.Close)
	c := s.Client()

	resp := do(t, c, "OPTIONS", s.URL, nil, nil)
	ext := resp.Header.Get("Tus-Extension")
	assert.True(t, strings.HasSuffix(ext, ",checksum"), ext)
	assert.Contains(t, ext, "creation")
	assert.Equal(t, "sha1,sha256,sha512,md5", resp.Header.Get("Tus-Checksum-Algorithm"))

	hello := []byte("hello world")
	const helloSHA1 = "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="
	patch := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range patch {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name   string
		header map[string]string
		body   []byte
		status int
		offset string
	}{
		{"spec example", with("Upload-Checksum", helloSHA1), hello, 204, "11"},
		{"no checksum passes through", patch, hello, 204, "11"},
		{"mismatch", with("Upload-Checksum", "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA="), hello, 460, "0"},
		{"sha256 mismatch", with("Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(make([]byte, 32))), hello, 460, "0"},
		{"unsupported algorithm", with("Upload-Checksum", "crc32 DUoRhQ=="), hello, 400, "0"},
		{"no digest", with("Upload-Checksum", "sha1"), hello, 400, "0"},
		{"upper-case name", with("Upload-Checksum", "SHA1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="), hello, 400, "0"},
		{"bad base64", with("Upload-Checksum", "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0"), hello, 400, "0"},
		{"wrong Tus-Resumable goes to tusd", map[string]string{"Tus-Resumable": "0.2.2", "Upload-Offset": "0",
			"Content-Type": "application/offset+octet-stream", "Upload-Checksum": "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, hello, 412, "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := create(t, s, c, "11")
			resp := do(t, c, "PATCH", url, tc.header, tc.body)
			require.EqualValuesf(t, tc.status, resp.StatusCode, "status %d, want %d", resp.StatusCode, tc.status)
			require.EqualValuesf(t, "1.0.0", resp.Header.Get("Tus-Resumable"), "response without Tus-Resumable: %v", resp.Header)
			assert.Equal(t, tc.offset, offset(t, c, url), "offset after the PATCH")
		})
	}

	t.Run("method override", func(t *testing.T) {
		url := create(t, s, c, "11")
		resp := do(t, c, "POST", url, with("X-HTTP-Method-Override", "PATCH"), hello)
		require.EqualValuesf(t, 204, resp.StatusCode, "status %d", resp.StatusCode)
		h := with("X-HTTP-Method-Override", "PATCH")
		h["Upload-Checksum"] = "md5 AAAAAAAAAAAAAAAAAAAAAA=="
		url2 := create(t, s, c, "11")
		assert.Equal(t, 460, do(t, c, "POST", url2, h, hello).StatusCode, "overridden PATCH with a bad checksum")
	})
	t.Run("creation with upload", func(t *testing.T) {
		h := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "11",
			"Content-Type": "application/offset+octet-stream", "Upload-Checksum": "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA="}
		resp := do(t, c, "POST", s.URL, h, hello)
		require.EqualValuesf(t, 460, resp.StatusCode, "POST with a bad checksum: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		require.Emptyf(t, resp.Header.Get("Location"), "POST with a bad checksum: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		h["Upload-Checksum"] = helloSHA1
		resp = do(t, c, "POST", s.URL, h, hello)
		require.EqualValuesf(t, 201, resp.StatusCode, "POST with a good checksum: %d %v", resp.StatusCode, resp.Header)
		require.EqualValuesf(t, "11", resp.Header.Get("Upload-Offset"), "POST with a good checksum: %d %v", resp.StatusCode, resp.Header)
	})
	t.Run("injected corruption", func(t *testing.T) {
		url := create(t, s, c, "11")
		s.Fail(tustest.Failure{Corrupt: true, Times: 1})
		require.Equal(t, 460, do(t, c, "PATCH", url, with("Upload-Checksum", helloSHA1), hello).StatusCode, "corrupted body")
		require.Equal(t, 204, do(t, c, "PATCH", url, with("Upload-Checksum", helloSHA1), hello).StatusCode, "clean retry")
		sum, err := s.StoredSHA256(url)
		require.NoError(t, err)
		assert.Equal(t, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9", sum)
		calls := s.Calls()
		assert.True(t, calls[len(calls)-2].Injected, "the corrupted PATCH is marked")
		assert.False(t, calls[len(calls)-1].Injected, "Times: 1 is used up")
	})
}

// TestRestartKeepsData: an upload survives Stop and Start.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	s := tustest.NewServer()
	t.Cleanup(s.Close)
	c := s.Client()
	url := create(t, s, c, "10")
	h := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
	do(t, c, "PATCH", url, h, []byte("01234"))
	s.Stop()
	require.NoError(t, s.Start())
	c.CloseIdleConnections()
	assert.Equal(t, "5", offset(t, c, url), "offset after restart")
	reqs := s.Calls()
	require.Len(t, reqs, 3)
	assert.Equal(t, "PATCH", reqs[1].Method)
	assert.Equal(t, 204, reqs[1].Status)
	info, err := s.Info(url)
	require.NoError(t, err)
	assert.EqualValues(t, 5, info.Offset)
	assert.False(t, info.Complete())
	do(t, c, "PATCH", url, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "5", "Content-Type": "application/offset+octet-stream"}, []byte("56789"))
	info, err = s.Info(url)
	require.NoError(t, err)
	assert.True(t, info.Complete())
}

// TestFailTimes: Times N > 0 fails the next N matching requests, then the
// route works again; Times 0 fails every matching request until
// ClearFailures. Other methods are not affected.
func TestFailTimes(t *testing.T) {
	t.Parallel()
	s := tustest.NewServer()
	t.Cleanup(s.Close)
	c := s.Client()
	post := func() int {
		return do(t, c, "POST", s.URL, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "1"}, nil).StatusCode
	}
	s.Fail(tustest.Failure{Method: "POST", Status: 503, Times: 2})
	assert.Equal(t, []int{503, 503, 201}, []int{post(), post(), post()})
	assert.Equal(t, 200, do(t, c, "OPTIONS", s.URL, nil, nil).StatusCode, "other methods unaffected")

	s.Fail(tustest.Failure{Status: 502})
	assert.Equal(t, []int{502, 502, 502}, []int{post(), post(), post()})
	assert.Equal(t, 502, do(t, c, "OPTIONS", s.URL, nil, nil).StatusCode, `Method "" matches every method`)
	s.ClearFailures()
	assert.Equal(t, 201, post())

	var injected int
	for _, call := range s.Calls() {
		if call.Injected {
			injected++
		}
	}
	assert.Equal(t, 6, injected)
}

// TestHandlerMounts: the server's Handler serves the same uploads when
// mounted on another server.
func TestHandlerMounts(t *testing.T) {
	t.Parallel()
	s := tustest.NewServer()
	t.Cleanup(s.Close)
	front := httptest.NewServer(s.Handler())
	defer front.Close()
	c := front.Client()
	resp := do(t, c, "POST", front.URL+tustest.DefaultBasePath, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "3"}, nil)
	require.Equal(t, 201, resp.StatusCode)
	loc := resp.Header.Get("Location")
	do(t, c, "PATCH", loc, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, []byte("abc"))
	info, err := s.Info(loc)
	require.NoError(t, err)
	assert.True(t, info.Complete())
	assert.Len(t, s.Calls(), 2)
}
