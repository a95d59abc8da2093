package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/origin"
)

func TestReadLimited(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		limit  int64
		want   string
		tooBig bool
	}{
		{"under", "abc", 5, "abc", false},
		{"exact", "abcde", 5, "abcde", false},
		{"over", "abcdef", 5, "abcde", true},
		{"empty", "", 5, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadLimited(strings.NewReader(tt.in), tt.limit)
			assert.Equal(t, tt.want, string(got))
			if tt.tooBig {
				assert.ErrorIs(t, err, ErrTooLarge)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

func TestReadLimitedDefault(t *testing.T) {
	t.Parallel()
	got, err := ReadLimited(strings.NewReader(strings.Repeat("x", DefaultMaxBody+1)), 0)
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.Len(t, got, DefaultMaxBody)
}

func TestNewClientHasTimeouts(t *testing.T) {
	t.Parallel()
	c := NewClient(0)
	assert.NotZero(t, c.Timeout, "default client has no timeout")
	assert.NotSame(t, c.Transport, NewClient(0).Transport, "clients share a transport: global state")
	assert.NotNil(t, c.CheckRedirect)
}

func TestStatusRecorder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
		want  int
	}{
		{"nothing", func(http.ResponseWriter) {}, 0},
		{"body only", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, http.StatusOK},
		{"explicit", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot); w.WriteHeader(http.StatusOK) }, http.StatusTeapot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := httptest.NewRecorder()
			rec := &StatusRecorder{ResponseWriter: inner}
			tc.write(rec)
			assert.Equal(t, tc.want, rec.Status)
			assert.Same(t, inner, rec.Unwrap())
		})
	}
}

// TestNewClientKeepsCredentialsOnOrigin: a redirect to another origin is
// refused, so a credential header such as X-Api-Key never reaches it;
// redirects within the origin are followed.
func TestNewClientKeepsCredentialsOnOrigin(t *testing.T) {
	t.Parallel()
	leaked := make(chan struct{}, 1)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "" {
			leaked <- struct{}{}
		}
	}))
	defer other.Close()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
		case "/here":
			http.Redirect(w, r, srv.URL+"/ok", http.StatusTemporaryRedirect)
		case "/ok":
			_, _ = w.Write([]byte(r.Header.Get("X-Api-Key")))
		}
	}))
	defer srv.Close()
	c := NewClient(0)

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/away", nil)
	require.NoError(t, err)
	req.Header.Set("X-Api-Key", "aura_au_secret")
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	assert.ErrorIs(t, err, origin.ErrCrossOrigin)
	assert.Empty(t, leaked, "X-Api-Key reached the other origin")

	req, err = http.NewRequest(http.MethodGet, srv.URL+"/here", nil)
	require.NoError(t, err)
	req.Header.Set("X-Api-Key", "k")
	resp, err = c.Do(req)
	require.NoError(t, err, "same-origin redirect")
	defer resp.Body.Close()
	b, err := ReadLimited(resp.Body, 0)
	require.NoError(t, err)
	assert.Equal(t, "k", string(b), "same-origin redirect lost the header")
}
