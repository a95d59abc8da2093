package tusclient_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/tusclient"
)

// TestHTTPErrorNoSecrets: the error for a refused request carries method,
// redacted URL, status and a bounded, cleaned body excerpt, but no
// Authorization value, cookie or URL query.
func TestHTTPErrorNoSecrets(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-token"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Tus-Resumable", "1.0.0")
		w.Header().Set("Set-Cookie", "session="+secret)
		w.Header().Set("Authorization", "Bearer "+secret)
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("token expired\nBearer " + secret + " " + strings.Repeat("x", 5000)))
	}))
	defer ts.Close()
	c, err := tusclient.New(tusclient.Config{
		Endpoint: ts.URL + "/files/?sig=" + secret, HTTPClient: ts.Client(), Checksum: tusclient.ChecksumOff,
		Header: http.Header{"Authorization": {"Bearer " + secret}},
	})
	require.NoError(t, err)
	up, _ := c.NewUpload(bytes.NewReader([]byte("x")), 1, tusclient.UploadOptions{})
	err = up.Run(context.Background())
	var he *tusclient.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 403, he.StatusCode)
	assert.Equal(t, "POST", he.Method)
	assert.Equal(t, ts.URL+"/files/", he.URL)
	assert.Len(t, he.Body, 512, "body bounded")
	assert.True(t, strings.HasPrefix(he.Body, "token expired Bearer [redacted] xxx"), he.Body)
	assert.NotContains(t, err.Error()+he.Body+he.URL, secret)
	assert.True(t, strings.HasPrefix(err.Error(), "tusclient: POST "+ts.URL+"/files/: 403 Forbidden: token expired Bearer [redacted] x"), err.Error())
	assert.Less(t, len(err.Error()), 700)
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
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "token=abc")
	assert.Contains(t, err.Error(), "giving up after 1 retries")
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
			_, err := tusclient.New(tc.cfg)
			assert.ErrorIs(t, err, tusclient.ErrInvalidConfig)
		})
	}
	c, err := tusclient.New(tusclient.Config{Endpoint: "http://h/files/"})
	require.NoError(t, err)
	for name, f := range map[string]func() error{
		"nil ReaderAt":  func() error { _, err := c.NewUpload(nil, 1, tusclient.UploadOptions{}); return err },
		"negative size": func() error { _, err := c.NewUpload(bytes.NewReader(nil), -1, tusclient.UploadOptions{}); return err },
		"nil Reader":    func() error { _, err := c.NewStreamUpload(nil, -1, tusclient.UploadOptions{}); return err },
		"foreign URL": func() error {
			_, err := c.NewUpload(bytes.NewReader(nil), 0, tusclient.UploadOptions{URL: "http://evil/files/x"})
			return err
		},
	} {
		assert.ErrorIs(t, f(), tusclient.ErrInvalidConfig, name)
	}
	_, err = c.NewUpload(bytes.NewReader(nil), 0, tusclient.UploadOptions{Metadata: tusclient.Metadata{{Key: "a b"}}})
	assert.ErrorIs(t, err, tusclient.ErrInvalidMetadata, "bad metadata")
}
