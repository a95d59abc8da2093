package hmac

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pathSpellings are wire paths (as they appear in the request line) and
// whether a default Verifier accepts them. Each is signed by the Signer,
// which canonicalizes it exactly as the reference signer does, so every
// one of them carries a valid signature: only the spelling decides.
var pathSpellings = []struct {
	raw    string
	accept bool
}{
	// Canonical, including the percent-encodings the reference signer
	// produces and the reserved characters HTTP clients send literally.
	{"/api/auth/exchange", true},
	{"/", true},
	{"/api/auth/exchange/", true},
	{"/api/a%20b", true},
	{"/api/%C3%A9", true},
	{"/api/a%2Fb", true},
	{"/api/a%3Ab%40c%24d%26e%3Df%3Bg%2Ch", true},
	{"/api/a:b@c$d&e=f;g,h", true},
	{"/api/a%2Bb", true},
	{"/api/a+b", true},
	{"/api/!*'()~-._", true},
	{"/api/a%21b%27%28%29%2A", true}, // Go's default escaping of !'()*
	{"/api/100%25", true},

	// The spellings of issue 11 §5: each canonicalizes to
	// /api/auth/exchange, but a router may route it elsewhere.
	{"/api//auth/exchange", false},
	{"/api/auth/./exchange", false},
	{"/api/x/../auth/exchange", false},
	{"/api/auth/%65xchange", false},
	// More of the same kind.
	{"//api/auth/exchange", false},
	{"/api/auth/exchange//", false},
	{"/api/auth/exchange/.", false},
	{"/api/auth/exchange/x/..", false},
	{"/api/auth/%2e/exchange", false},
	{"/api/auth/%2E%2E/auth/exchange", false},
	{"/api/%41uth/exchange", false},
	{"/api/a%7Eb", false},  // '~' needs no escape
	{"/api/%c3%a9", false}, // lower-case hex: the canonical form is upper case
	{"/api/a%3ab", false},
}

// TestVerifyRefusesNonCanonicalPath sends each spelling through net/http's
// wire format and parser (what a server sees), signed by the Signer.
func TestVerifyRefusesNonCanonicalPath(t *testing.T) {
	t.Parallel()
	for _, tt := range pathSpellings {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest("POST", "https://aura.example.com"+tt.raw, strings.NewReader(tv1Body))
			require.NoError(t, err)
			w := wire(t, testSigner(testApp), req)
			require.True(t, bytes.HasPrefix(w, []byte("POST "+tt.raw+" HTTP/1.1\r\n")), "request line: %q", w[:min(len(w), 80)])

			got := received(t, w)
			app, err := testVerifier().Verify(got)
			if tt.accept {
				require.NoError(t, err)
				assert.Equal(t, testApp, app)
			} else {
				require.ErrorIs(t, err, ErrNonCanonicalPath)
				assert.Empty(t, app)
				assert.Contains(t, err.Error(), tt.raw, "the error names the path as received")
			}

			// The option restores the reference behaviour: the signature
			// covers the canonical path, however it was spelled.
			relaxed := &Verifier{Secret: testSecrets, Now: fixedClock(t0), AllowNonCanonicalPath: true}
			app, err = relaxed.Verify(received(t, w))
			require.NoError(t, err)
			assert.Equal(t, testApp, app)
		})
	}
}

// TestMiddlewareRefusesNonCanonicalPath runs the four spellings
// against a real server, with Aura's status and error shape.
func TestMiddlewareRefusesNonCanonicalPath(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Middleware(&Verifier{Secret: testSecrets}, echoHandler))
	t.Cleanup(srv.Close)
	relaxed := httptest.NewServer(Middleware(&Verifier{Secret: testSecrets, AllowNonCanonicalPath: true}, echoHandler))
	t.Cleanup(relaxed.Close)

	send := func(t *testing.T, base, raw string) (int, string, http.Header) {
		t.Helper()
		u, err := url.Parse(base + raw)
		require.NoError(t, err)
		require.Equal(t, raw, u.EscapedPath(), "the client must send the spelling as is")
		req, err := http.NewRequest("POST", u.String(), strings.NewReader(tv1Body))
		require.NoError(t, err)
		require.NoError(t, (&Signer{AppID: testApp, Secret: testSecret}).Sign(req))
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b), resp.Header
	}

	for _, raw := range []string{"/api//auth/exchange", "/api/auth/./exchange", "/api/x/../auth/exchange", "/api/auth/%65xchange"} {
		t.Run(raw, func(t *testing.T) {
			code, body, h := send(t, srv.URL, raw)
			assert.Equal(t, http.StatusForbidden, code, body)
			checkErrorBody(t, body, h, "request path is not in canonical form")
			assert.Empty(t, h.Get("WWW-Authenticate"))

			code, body, _ = send(t, relaxed.URL, raw)
			assert.Equal(t, http.StatusOK, code, body)
		})
	}
	t.Run("canonical", func(t *testing.T) {
		code, body, _ := send(t, srv.URL, "/api/auth/exchange")
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, testApp+" "+tv1Body, body)
	})
}

// TestNonCanonicalPathDoesNotBurnNonce: a refused spelling must not use
// up the nonce, so the check cannot be used to cancel someone's request.
func TestNonCanonicalPathDoesNotBurnNonce(t *testing.T) {
	t.Parallel()
	v := testVerifier()
	req, err := http.NewRequest("POST", "https://aura.example.com/api//auth/exchange", strings.NewReader(tv1Body))
	require.NoError(t, err)
	w := wire(t, testSigner(testApp), req)
	_, err = v.Verify(received(t, w))
	require.ErrorIs(t, err, ErrNonCanonicalPath)

	fixed := bytes.Replace(w, []byte("/api//auth/"), []byte("/api/auth/"), 1)
	app, err := v.Verify(received(t, fixed))
	require.NoError(t, err)
	assert.Equal(t, testApp, app)
}

// FuzzSpelledCanonically checks the spelling test against its definition:
// a path it accepts canonicalizes to itself once reserved characters are
// written the canonical way, and a canonical path is always accepted.
func FuzzSpelledCanonically(f *testing.F) {
	for _, s := range pathSpellings {
		f.Add(s.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		canon, err := canonicalPath(raw)
		if err != nil {
			return
		}
		if spelledCanonically(canon, canon) != true {
			t.Fatalf("canonical path %q refused", canon)
		}
		if !spelledCanonically(raw, canon) || raw == "" { // "" is sent as "/"
			return
		}
		// Accepted: raw has no dot or empty segment and no needless
		// escape, so decoding it segment by segment gives the same
		// segments as the canonical path.
		rs, cs := strings.Split(raw, "/"), strings.Split(canon, "/")
		if len(rs) != len(cs) {
			t.Fatalf("%q accepted as %q but has %d segments, not %d", raw, canon, len(rs), len(cs))
		}
		for i := range rs {
			a, err1 := url.PathUnescape(rs[i])
			b, err2 := url.PathUnescape(cs[i])
			if err1 != nil || err2 != nil || a != b {
				t.Fatalf("%q accepted as %q: segment %d is %q, not %q", raw, canon, i, a, b)
			}
			if i > 0 && i < len(rs)-1 && (a == "" || a == "." || a == "..") {
				t.Fatalf("%q accepted with segment %q", raw, a)
			}
		}
	})
}
