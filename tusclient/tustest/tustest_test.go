package tustest_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func do(t *testing.T, c *http.Client, method, url string, h map[string]string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func create(t *testing.T, s *tustest.Server, c *http.Client, length string) string {
	t.Helper()
	resp := do(t, c, "POST", s.URL, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": length}, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
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
	s := tustest.NewServer(t, tustest.Options{Checksum: true})
	c := s.HTTPClient()

	resp := do(t, c, "OPTIONS", s.URL, nil, nil)
	ext := resp.Header.Get("Tus-Extension")
	if !strings.HasSuffix(ext, ",checksum") || !strings.Contains(ext, "creation") ||
		resp.Header.Get("Tus-Checksum-Algorithm") != "sha1,sha256,sha512,md5" {
		t.Fatalf("OPTIONS headers %v", resp.Header)
	}

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
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if resp.Header.Get("Tus-Resumable") != "1.0.0" {
				t.Fatalf("response without Tus-Resumable: %v", resp.Header)
			}
			if got := offset(t, c, url); got != tc.offset {
				t.Fatalf("offset after the PATCH %s, want %s", got, tc.offset)
			}
		})
	}

	t.Run("method override", func(t *testing.T) {
		url := create(t, s, c, "11")
		resp := do(t, c, "POST", url, with("X-HTTP-Method-Override", "PATCH"), hello)
		if resp.StatusCode != 204 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		h := with("X-HTTP-Method-Override", "PATCH")
		h["Upload-Checksum"] = "md5 AAAAAAAAAAAAAAAAAAAAAA=="
		url2 := create(t, s, c, "11")
		if resp := do(t, c, "POST", url2, h, hello); resp.StatusCode != 460 {
			t.Fatalf("overridden PATCH with a bad checksum: %d", resp.StatusCode)
		}
	})
	t.Run("creation with upload", func(t *testing.T) {
		h := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "11",
			"Content-Type": "application/offset+octet-stream", "Upload-Checksum": "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA="}
		resp := do(t, c, "POST", s.URL, h, hello)
		if resp.StatusCode != 460 || resp.Header.Get("Location") != "" {
			t.Fatalf("POST with a bad checksum: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		h["Upload-Checksum"] = helloSHA1
		resp = do(t, c, "POST", s.URL, h, hello)
		if resp.StatusCode != 201 || resp.Header.Get("Upload-Offset") != "11" {
			t.Fatalf("POST with a good checksum: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("injected corruption", func(t *testing.T) {
		url := create(t, s, c, "11")
		s.CorruptNext(1)
		if resp := do(t, c, "PATCH", url, with("Upload-Checksum", helloSHA1), hello); resp.StatusCode != 460 {
			t.Fatalf("corrupted body: %d", resp.StatusCode)
		}
		if resp := do(t, c, "PATCH", url, with("Upload-Checksum", helloSHA1), hello); resp.StatusCode != 204 {
			t.Fatalf("clean retry: %d", resp.StatusCode)
		}
		if sum, _ := s.StoredSHA256(url); sum != "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9" {
			t.Fatalf("stored %s", sum)
		}
	})
}

// TestRestartKeepsData: an upload survives Stop and Start.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	s := tustest.NewServer(t, tustest.Options{})
	c := s.HTTPClient()
	url := create(t, s, c, "10")
	h := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
	do(t, c, "PATCH", url, h, []byte("01234"))
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	c.CloseIdleConnections()
	if got := offset(t, c, url); got != "5" {
		t.Fatalf("offset after restart %q", got)
	}
	if reqs := s.Requests(); len(reqs) != 3 || reqs[1].Method != "PATCH" || reqs[1].Status != 204 {
		t.Fatalf("requests %+v", reqs)
	}
}

// FuzzParseUploadChecksum: the header parser never panics and accepts
// only the canonical form.
func FuzzParseUploadChecksum(f *testing.F) {
	for _, s := range []string{"sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", "sha1", "SHA1 AA==", "md5  AA==", "a AA==", " AA==", "x \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		algo, digest, err := tustest.ParseUploadChecksum(v)
		if err != nil {
			return
		}
		if len(digest) == 0 || algo == "" || strings.ContainsAny(algo, " ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("accepted %q as %q %x", v, algo, digest)
		}
		if again := algo + " " + base64.StdEncoding.EncodeToString(digest); again != v {
			t.Fatalf("accepted non-canonical %q (canonical %q)", v, again)
		}
	})
}
