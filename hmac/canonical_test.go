package hmac

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// canonicalVector is one row of testdata/canonical.json.
type canonicalVector struct {
	Name   string `json:"name"`
	In     string `json:"in"`
	Want   string `json:"want"` // for paths, "" = cannot be signed
	ViaURL string `json:"via_url"`
	Note   string `json:"note"`
}

// loadCanonical reads the canonicalization vectors of
// testdata/canonical.json (the tables of docs/aura-hmac.md).
func loadCanonical(t *testing.T) (v struct {
	Path            []canonicalVector `json:"path"`
	Query           []canonicalVector `json:"query"`
	EscapeComponent []canonicalVector `json:"escape_component"`
	NormalizeValue  []canonicalVector `json:"normalize_value"`
}) {
	t.Helper()
	data, err := os.ReadFile("testdata/canonical.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &v))
	require.NotEmpty(t, v.Path)
	return v
}

// TestCanonicalPathTable is the table of docs/aura-hmac.md, "Path
// canonicalization" (verified with the TypeScript signer), plus the rules
// stated around it.
func TestCanonicalPathTable(t *testing.T) {
	t.Parallel()
	tests := loadCanonical(t).Path
	for _, tt := range tests {
		t.Run(tt.In, func(t *testing.T) {
			t.Parallel()
			got, err := canonicalPath(tt.In)
			if tt.Want == "" {
				require.ErrorIs(t, err, errPathEncoding, "canonicalPath(%q) = %q", tt.In, got)
			} else {
				require.NoError(t, err)
				require.Equal(t, tt.Want, got, "canonicalPath(%q)", tt.In)
			}
			if tt.ViaURL == "-" {
				return
			}
			want := tt.Want
			if tt.ViaURL != "" {
				want = tt.ViaURL
			}
			req, err := http.NewRequest("GET", "https://aura.example.com"+tt.In, nil)
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
	tests := loadCanonical(t).Query
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.Want, canonicalQuery(tt.In), "canonicalQuery(%q)", tt.In)
		})
	}
}

// TestEscapeComponent is encodeURIComponent, as the TypeScript signer
// encodes its params map (docs/aura-hmac.md, "Query canonicalization").
func TestEscapeComponent(t *testing.T) {
	t.Parallel()
	tests := loadCanonical(t).EscapeComponent
	for _, tt := range tests {
		assert.Equal(t, tt.Want, EscapeComponent(tt.In), "EscapeComponent(%q)", tt.In)
	}
}

// TestNormalizeValue is docs/aura-hmac.md, "Header values": trim, then collapse JavaScript \s runs.
func TestNormalizeValue(t *testing.T) {
	t.Parallel()
	tests := loadCanonical(t).NormalizeValue
	// JSON cannot hold a byte that is not UTF-8.
	tests = append(tests, canonicalVector{In: "\xffa  b", Want: "\xffa b"})
	for _, tt := range tests {
		assert.Equal(t, tt.Want, normalizeValue(tt.In), "normalizeValue(%q)", tt.In)
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
