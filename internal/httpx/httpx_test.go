package httpx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
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
