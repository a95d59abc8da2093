package hmac

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCanonicalPathTable is the table of docs/aura-hmac.md, "Path
// canonicalization" (verified with the TypeScript signer), plus the rules
// stated around it.
func TestCanonicalPathTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "" = error
		viaURL   string // canonical form when in goes through a Go *url.URL; "" = same as want; "-" = url.Parse rejects in
	}{
		{in: "/api/./a/../b", want: "/api/b"},
		{in: "/a//b", want: "/a/b"},
		{in: "/api/x/", want: "/api/x/"},
		{in: "/../../x", want: "/x"},
		{in: "/api/a b", want: "/api/a%20b"},
		{in: "/api/a%20b", want: "/api/a%20b"},
		{in: "/api/a+b", want: "/api/a%2Bb"},
		{in: "/api/a%2fb", want: "/api/a%2Fb"},
		{in: "/api/é", want: "/api/%C3%A9"},
		{in: "/api/a:b@c$d&e=f;g,h", want: "/api/a%3Ab%40c%24d%26e%3Df%3Bg%2Ch"},
		{in: "/api/!*'()~-._", want: "/api/!*'()~-._"},
		{in: "/api/a#frag", want: "/api/a"},
		// WHATWG turns '\' into '/'; net/http sends it as %5C, which is
		// what a Go request signs.
		{in: `/api/a\b`, want: "/api/a/b", viaURL: "/api/a%5Cb"},
		{in: "/api/%41", want: "/api/A"},
		{in: "/api/100%", want: "", viaURL: "-"},
		// The rules around the table.
		{in: "/api/%2e%2e/x", want: "/x"},
		{in: "/api/%2E%2e/x", want: "/x"},
		{in: "/api/.%2E/x", want: "/x"},
		{in: "/api/%2e/x", want: "/api/x"},
		{in: "/api/x/.", want: "/api/x/"},
		{in: "/api/x/..", want: "/api/"},
		{in: "/api/x/%2e%2e", want: "/api/"},
		{in: "/..", want: "/"},
		{in: "/.", want: "/"},
		{in: "", want: "/"},
		{in: "/", want: "/"},
		{in: "api/x", want: "/api/x", viaURL: "-"},
		{in: "/a//", want: "/a/"},
		{in: "/a/b/..//", want: "/a/"},
		{in: "/api/a%2Fb/..", want: "/api/"},
		{in: "/api/%7e%7E", want: "/api/~~"},
		{in: "/api/a%3ab", want: "/api/a%3Ab"},
		{in: "/api/%F0%9F%98%80", want: "/api/%F0%9F%98%80"},
		{in: "/api/%00", want: "/api/%00"},
		{in: "/api/x/...", want: "/api/x/..."},
		// Deliberate difference: TypeScript reads "//a/b" as an
		// authority and signs "/b"; a Go wire path has no authority.
		{in: "//a/b", want: "/a/b", viaURL: "-"},
		// decodeURIComponent throws on these; so does canonicalPath.
		{in: "/api/%zz", want: "", viaURL: "-"},
		{in: "/api/%4", want: "", viaURL: "-"},
		{in: "/api/%C3", want: ""},
		{in: "/api/%FF", want: ""},
		{in: "/api/%ED%A0%80", want: ""}, // a UTF-16 surrogate
		{in: "/api/%C0%AF", want: ""},    // overlong '/'
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := canonicalPath(tt.in)
			if tt.want == "" {
				require.ErrorIs(t, err, errPathEncoding, "canonicalPath(%q) = %q", tt.in, got)
			} else {
				require.NoError(t, err)
				require.Equal(t, tt.want, got, "canonicalPath(%q)", tt.in)
			}
			if tt.viaURL == "-" {
				return
			}
			want := tt.want
			if tt.viaURL != "" {
				want = tt.viaURL
			}
			req, err := http.NewRequest("GET", "https://aura.example.com"+tt.in, nil)
			require.NoError(t, err)
			c, err := requestCanonical(req)
			if want == "" {
				assert.Error(t, err, "request path %q: canonical %q", req.URL.EscapedPath(), c.path)
				return
			}
			require.NoError(t, err, "request path %q", req.URL.EscapedPath())
			assert.Equal(t, want, c.path, "request path %q", req.URL.EscapedPath())
		})
	}
}

// TestCanonicalQueryTable is docs/aura-hmac.md, "Query canonicalization": pieces kept verbatim and sorted as
// whole "k=v" strings in JavaScript (UTF-16) order.
func TestCanonicalQueryTable(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"raw space kept", "a=hello world", "a=hello world"},
		{"raw plus kept", "a=b+c", "a=b+c"},
		{"raw escape kept", "a=%2f", "a=%2f"},
		{"(a) repeated keys sort by value", "a=2&a=1", "a=1&a=2"},
		{"(b) whole-string order", "a=1&a-b=2&a_b=3&A=4&a.b=5", "A=4&a-b=2&a.b=5&a=1&a_b=3"},
		{"(c) empty pieces sort first", "a=1&&b=2", "&a=1&b=2"},
		{"(d) key without =", "a", "a"},
		{"(e) trailing ?", "", ""},
		{"(f) no dedup", "z=hello%20world&z=hello world", "z=hello world&z=hello%20world"},
		{"TV3", "source=test&mode=bulk", "mode=bulk&source=test"},
		{"sorted input unchanged", "format=json&version=1", "format=json&version=1"},
		{"trailing &", "b=1&a=2&", "&a=2&b=1"},
		{"only &", "&", "&"},
		{"UTF-16 order: astral before U+E000", "a=\uE000&a=\U00010000", "a=\U00010000&a=\uE000"},
		{"UTF-16 order: BMP below surrogates", "a=\U00010000&a=\u00e9", "a=\u00e9&a=\U00010000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, canonicalQuery(tt.in), "canonicalQuery(%q)", tt.in)
		})
	}
}

// TestEscapeComponent is encodeURIComponent, as the TypeScript signer
// encodes its params map (docs/aura-hmac.md, "Query canonicalization").
func TestEscapeComponent(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"a b", "a%20b"},
		{"a+b", "a%2Bb"},
		{"!*'()~-._", "!*'()~-._"},
		{"true", "true"},
		{"", ""},
		{":$,[]", "%3A%24%2C%5B%5D"},
		{"é", "%C3%A9"},
		{"a/b?c#d&e=f", "a%2Fb%3Fc%23d%26e%3Df"},
		{"\x00\x7f", "%00%7F"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, EscapeComponent(tt.in), "EscapeComponent(%q)", tt.in)
	}
}

// TestNormalizeValue is docs/aura-hmac.md, "Header values": trim, then collapse JavaScript \s runs.
func TestNormalizeValue(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{" application/json ;\t charset=utf-8 ", "application/json ; charset=utf-8"},
		{"  aura.example.com:8443 ", "aura.example.com:8443"},
		{"application/json", "application/json"},
		{"a\r\n b", "a b"},
		{"\u00a0x\u3000\u2000y\ufeff", "x y"},
		{"a\u0085b", "a\u0085b"}, // NEL is not in JavaScript's \s
		{"a\u200bb", "a\u200bb"}, // nor is the zero-width space
		{"\xffa  b", "\xffa b"},
		{" \t ", ""},
		{"", ""},
		{"a\x01b", "a\x01b"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, normalizeValue(tt.in), "normalizeValue(%q)", tt.in)
	}
}

func TestSignRefusesWhatCannotBeSigned(t *testing.T) {
	t.Parallel()
	ok := func() *http.Request {
		r, _ := http.NewRequest("POST", "https://aura.example.com/api/auth/exchange", strings.NewReader("{}"))
		return r
	}
	tests := []struct {
		name   string
		signer *Signer
		req    func() *http.Request
		want   string
	}{
		{"empty app id", &Signer{Secret: "aura_sk_SECRET"}, ok, "AppID is empty"},
		{"empty secret", &Signer{AppID: "a"}, ok, "Secret is empty"},
		{"app id with comma", &Signer{AppID: "a,b", Secret: "aura_sk_SECRET"}, ok, "AppID must be"},
		{"app id with space", &Signer{AppID: "a b", Secret: "aura_sk_SECRET"}, ok, "AppID must be"},
		{"bad custom nonce", &Signer{AppID: "a", Secret: "aura_sk_SECRET", Nonce: func() string { return "a/b" }}, ok, "Nonce returned"},
		{"no host", &Signer{AppID: "a", Secret: "aura_sk_SECRET"}, func() *http.Request {
			r, _ := http.NewRequest("GET", "/api/x", nil)
			return r
		}, "no host"},
		{"non-ASCII host", &Signer{AppID: "a", Secret: "aura_sk_SECRET"}, func() *http.Request {
			r := ok()
			r.Host = "münchen.de"
			return r
		}, "punycode"},
		{"opaque URL", &Signer{AppID: "a", Secret: "aura_sk_SECRET"}, func() *http.Request {
			r := ok()
			r.URL.Opaque = "//aura.example.com/x"
			return r
		}, "Opaque"},
		{"bad path escape", &Signer{AppID: "a", Secret: "aura_sk_SECRET"}, func() *http.Request {
			r := ok()
			r.URL.Path, r.URL.RawPath = "/\xff", ""
			return r
		}, "path"},
		{"space in query", &Signer{AppID: "a", Secret: "aura_sk_SECRET"}, func() *http.Request {
			r := ok()
			r.URL.RawQuery = "a=b c"
			return r
		}, "query"},
		{"two content types", &Signer{AppID: "a", Secret: "aura_sk_SECRET"}, func() *http.Request {
			r := ok()
			r.Header.Add("Content-Type", "application/json")
			r.Header.Add("Content-Type", "text/plain")
			return r
		}, "Content-Type"},
		{"before 1970", &Signer{AppID: "a", Secret: "aura_sk_SECRET", Now: func() time.Time { return time.Unix(-1, 0) }}, ok, "1970"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := tt.req()
			before := req.Header.Clone()
			err := tt.signer.Sign(req)
			require.ErrorContains(t, err, tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "hmac: "), "error without the package prefix: %v", err)
			assert.NotContains(t, err.Error(), "aura_sk_SECRET", "error text contains the secret")
			assert.Equal(t, before, req.Header, "failed Sign changed the headers")
		})
	}
}
