package tusclient_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/tusclient"
)

// TestHTTPErrorNoSecrets: the error for a refused request carries status,
// a bounded body excerpt and the response headers, but no Authorization
// value, cookie or URL query.
func TestHTTPErrorNoSecrets(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-token"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Tus-Resumable", "1.0.0")
		w.Header().Set("Set-Cookie", "session="+secret)
		w.Header().Set("Authorization", "Bearer "+secret)
		w.Header().Set("X-Request-Id", "req-7")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("token expired\n" + strings.Repeat("x", 5000)))
	}))
	defer ts.Close()
	c, err := tusclient.New(tusclient.Config{
		Endpoint: ts.URL + "/files/?sig=" + secret, HTTPClient: ts.Client(), Checksum: tusclient.ChecksumOff,
		Header: http.Header{"Authorization": {"Bearer " + secret}},
	})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := c.NewUpload(bytes.NewReader([]byte("x")), 1, tusclient.UploadOptions{})
	err = up.Run(context.Background())
	var he *tusclient.HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("Run error %v, want *HTTPError", err)
	}
	if he.StatusCode != 403 || he.Method != "POST" || he.URL != ts.URL+"/files/" || len(he.Body) != 1024 ||
		he.Header.Get("X-Request-Id") != "req-7" || !strings.HasPrefix(string(he.Body), "token expired") {
		t.Fatalf("HTTPError %+v", he)
	}
	all := err.Error() + strings.Join(he.Header.Values("Set-Cookie"), "") + strings.Join(he.Header.Values("Authorization"), "") + he.URL
	if strings.Contains(all, secret) {
		t.Fatalf("secret leaked: %s / %v", err, he.Header)
	}
	if want := "tusclient: POST " + ts.URL + "/files/: 403 Forbidden: token expired x"; !strings.HasPrefix(err.Error(), want) || len(err.Error()) > 400 {
		t.Fatalf("Error() = %q", err.Error())
	}
}

// TestNetworkErrorNoQuery: transport errors name the URL without its
// query.
func TestNetworkErrorNoQuery(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.NotFoundHandler())
	addr := ts.URL
	ts.Close() // nothing listens any more
	c, _ := tusclient.New(tusclient.Config{Endpoint: addr + "/files/?token=abc", Checksum: tusclient.ChecksumOff,
		Retry: tusclient.RetryPolicy{Delays: []time.Duration{0}}})
	defer c.CloseIdleConnections()
	up, _ := c.NewUpload(bytes.NewReader([]byte("x")), 1, tusclient.UploadOptions{})
	err := up.Run(context.Background())
	if err == nil || strings.Contains(err.Error(), "token=abc") || !strings.Contains(err.Error(), "giving up after 1 retries") {
		t.Fatalf("Run error %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  tusclient.Config
	}{
		{"empty endpoint", tusclient.Config{}},
		{"relative endpoint", tusclient.Config{Endpoint: "/files/"}},
		{"ftp endpoint", tusclient.Config{Endpoint: "ftp://h/files/"}},
		{"bad url", tusclient.Config{Endpoint: "http://h/%zz"}},
		{"negative chunk", tusclient.Config{Endpoint: "http://h/", ChunkSize: -1}},
		{"negative parallel", tusclient.Config{Endpoint: "http://h/", ParallelUploads: -2}},
		{"negative delay", tusclient.Config{Endpoint: "http://h/", Retry: tusclient.RetryPolicy{Delays: []time.Duration{-1}}}},
		{"unknown checksum", tusclient.Config{Endpoint: "http://h/", Checksum: "crc32"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tusclient.New(tc.cfg); !errors.Is(err, tusclient.ErrInvalidConfig) {
				t.Fatalf("New error %v, want ErrInvalidConfig", err)
			}
		})
	}
	c, err := tusclient.New(tusclient.Config{Endpoint: "http://h/files/"})
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"nil ReaderAt":  func() error { _, err := c.NewUpload(nil, 1, tusclient.UploadOptions{}); return err },
		"negative size": func() error { _, err := c.NewUpload(bytes.NewReader(nil), -1, tusclient.UploadOptions{}); return err },
		"nil Reader":    func() error { _, err := c.NewStreamUpload(nil, -1, tusclient.UploadOptions{}); return err },
		"foreign URL": func() error {
			_, err := c.NewUpload(bytes.NewReader(nil), 0, tusclient.UploadOptions{URL: "http://evil/files/x"})
			return err
		},
	} {
		if err := f(); !errors.Is(err, tusclient.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	_, err = c.NewUpload(bytes.NewReader(nil), 0, tusclient.UploadOptions{Metadata: tusclient.Metadata{{Key: "a b"}}})
	if !errors.Is(err, tusclient.ErrInvalidMetadata) {
		t.Errorf("bad metadata: %v, want ErrInvalidMetadata", err)
	}
}
