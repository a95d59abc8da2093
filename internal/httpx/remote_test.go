package httpx

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCleanBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "upload not found", "upload not found"},
		{"empty", "", ""},
		{"trimmed", "  \n\tx \r\n", "x"},
		{"line breaks cannot forge log lines", "bad\nlevel=ERROR msg=forged", "bad level=ERROR msg=forged"},
		{"html whitespace collapsed", "<html>\n  <body>\n\n    <h1>502</h1>", "<html> <body> <h1>502</h1>"},
		{"control characters dropped", "a\x00b\x1b[31mc\x7fd", "ab[31mcd"},
		{"invalid UTF-8 dropped", "ok\xff\xfe!", "ok!"},
		{"multibyte kept", "Müller — 山田", "Müller — 山田"},
		{"bearer redacted", `{"error":"Authorization: Bearer abc.DEF-123 rejected"}`, `{"error":"Authorization: Bearer [redacted] rejected"}`},
		{"basic redacted", "basic dXNlcjpwdw== no", "basic [redacted] no"},
		{"jwt redacted", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_x-y expired", "token [redacted] expired"},
		{"aura token redacted", `token "aubt_AbC123-xyz" is expired`, `token "[redacted]" is expired`},
		{"aura secret redacted", "key aura_sk_live_0123 and aura_au_9", "key [redacted] and [redacted]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, CleanBody([]byte(tc.in)))
		})
	}
}

// TestCleanBodyBounded: whatever the input, the result is valid UTF-8 of at
// most MaxErrorBody bytes, cut on a rune boundary and marked with "…".
func TestCleanBodyBounded(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		strings.Repeat("a", 10*MaxErrorBody),
		strings.Repeat("é", MaxErrorBody),
		strings.Repeat("山", MaxErrorBody),
		strings.Repeat("\n", 100*MaxErrorBody) + "x",
		strings.Repeat("a", MaxErrorBody),
	} {
		got := CleanBody([]byte(in))
		assert.LessOrEqual(t, len(got), MaxErrorBody)
		assert.True(t, utf8.ValidString(got))
		if len(in) > MaxErrorBody && strings.TrimSpace(in) != "x" {
			assert.True(t, strings.HasSuffix(got, "…"), "cut marked")
			assert.Greater(t, len(got), MaxErrorBody-4, "cut close to the limit")
		}
	}
	assert.Equal(t, strings.Repeat("a", MaxErrorBody), CleanBody([]byte(strings.Repeat("a", MaxErrorBody))), "exactly the limit is kept whole")
	assert.Equal(t, "x", CleanBody([]byte(strings.Repeat("\n", 100*MaxErrorBody)+"x")))
}

func FuzzCleanBody(f *testing.F) {
	for _, s := range []string{"", "a\nb", "Bearer x", "\xff\xfe", strings.Repeat("山", 300), "eyJa.b.c"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := CleanBody(b)
		if len(got) > MaxErrorBody || !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r\x00") {
			t.Fatalf("CleanBody(%q) = %q", b, got)
		}
	})
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	u, err := url.Parse("https://user:pw@tus.example.org:8443/files/abc?token=s3cret#frag")
	require.NoError(t, err)
	assert.Equal(t, "https://tus.example.org:8443/files/abc", RedactURL(u))
	assert.Equal(t, "", RedactURL(nil))
	assert.Equal(t, "https://tus.example.org/files/x", RedactRawURL("https://a:b@tus.example.org/files/x?sig=1"))
	assert.Equal(t, "(unparsable URL)", RedactRawURL("http://[::1"))
}

func TestDescribeResponse(t *testing.T) {
	t.Parallel()
	req, err := http.NewRequest(http.MethodPatch, "https://u:p@tus.example.org/files/1?sig=abc", nil)
	require.NoError(t, err)
	t.Run("body already read", func(t *testing.T) {
		t.Parallel()
		resp := &http.Response{StatusCode: 409, Request: req, Body: io.NopCloser(strings.NewReader("unread"))}
		got := DescribeResponse(resp, []byte("offset\nmismatch"))
		assert.Equal(t, Remote{Method: "PATCH", URL: "https://tus.example.org/files/1", StatusCode: 409, Body: "offset mismatch"}, got)
	})
	t.Run("body read through the limit", func(t *testing.T) {
		t.Parallel()
		resp := &http.Response{StatusCode: 502, Request: req, Body: io.NopCloser(strings.NewReader(strings.Repeat("z", 1<<20)))}
		got := DescribeResponse(resp, nil)
		assert.Equal(t, 502, got.StatusCode)
		assert.Len(t, got.Body, MaxErrorBody)
	})
	t.Run("no request", func(t *testing.T) {
		t.Parallel()
		got := DescribeResponse(&http.Response{StatusCode: 500}, nil)
		assert.Equal(t, Remote{StatusCode: 500}, got)
	})
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"absent", h(), 0},
		{"seconds", h("Retry-After", "7"), 7 * time.Second},
		{"zero", h("Retry-After", "0"), 0},
		{"negative", h("Retry-After", "-3"), 0},
		{"huge seconds capped", h("Retry-After", "99999999999999"), 24 * time.Hour},
		{"garbage", h("Retry-After", "soon"), 0},
		{"date from now", h("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 90 * time.Second},
		{"date relative to Date", h("Retry-After", now.Add(time.Hour).Format(http.TimeFormat), "Date", now.Add(50*time.Minute).Format(http.TimeFormat)), 10 * time.Minute},
		{"date in the past", h("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)), 0},
		{"date far ahead capped", h("Retry-After", now.Add(100*time.Hour).Format(http.TimeFormat)), 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, RetryAfter(tc.h, now))
		})
	}
}
