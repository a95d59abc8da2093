package httpx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
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
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if errors.Is(err, ErrTooLarge) != tt.tooBig {
				t.Errorf("err = %v, tooBig want %v", err, tt.tooBig)
			}
		})
	}
}

func TestNewClientHasTimeouts(t *testing.T) {
	t.Parallel()
	c := NewClient(0)
	if c.Timeout == 0 {
		t.Fatal("default client has no timeout")
	}
	if NewClient(0).Transport == c.Transport {
		t.Fatal("clients share a transport: global state")
	}
}

func TestStatusRecorder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
		want  int
	}{
		{"nothing", func(http.ResponseWriter) {}, 0},
		{"body only", func(w http.ResponseWriter) { w.Write([]byte("x")) }, http.StatusOK},
		{"explicit", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot); w.WriteHeader(http.StatusOK) }, http.StatusTeapot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := httptest.NewRecorder()
			rec := &StatusRecorder{ResponseWriter: inner}
			tc.write(rec)
			if rec.Status != tc.want {
				t.Fatalf("Status = %d, want %d", rec.Status, tc.want)
			}
			if rec.Unwrap() != inner {
				t.Fatal("Unwrap does not return the wrapped writer")
			}
		})
	}
}

// TestNewClientKeepsCredentialsOnOrigin: a redirect to another origin is
// refused, so a credential header such as X-Api-Key never reaches it;
// redirects within the origin are followed.
func TestNewClientKeepsCredentialsOnOrigin(t *testing.T) {
	t.Parallel()
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "" {
			leaked.Store(true)
		}
	}))
	defer other.Close()
	var origin *httptest.Server
	origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
		case "/here":
			http.Redirect(w, r, origin.URL+"/ok", http.StatusTemporaryRedirect)
		case "/ok":
			w.Write([]byte(r.Header.Get("X-Api-Key")))
		}
	}))
	defer origin.Close()
	c := NewClient(0)

	req, _ := http.NewRequest(http.MethodGet, origin.URL+"/away", nil)
	req.Header.Set("X-Api-Key", "aura_au_secret")
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, ErrCrossOriginRedirect) {
		t.Fatalf("cross-origin redirect: err = %v, want ErrCrossOriginRedirect", err)
	}
	if leaked.Load() {
		t.Fatal("X-Api-Key reached the other origin")
	}

	req, _ = http.NewRequest(http.MethodGet, origin.URL+"/here", nil)
	req.Header.Set("X-Api-Key", "k")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatalf("same-origin redirect: %v", err)
	}
	defer resp.Body.Close()
	if b, _ := ReadLimited(resp.Body, 0); string(b) != "k" {
		t.Fatalf("same-origin redirect lost the header: %q", b)
	}
}
