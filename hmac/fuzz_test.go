package hmac

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const tv1Authorization = "AURA-HMAC-SHA256 Credential=test-app-id,SignedHeaders=content-type;host;x-aura-nonce;x-aura-timestamp,Signature=4e865169c280c238e93ea51681fdf9e5977ecbf0dc60fbbf0b6b7ccba2005093"

// FuzzParseAuthorization: the parser never panics, fails only with
// ErrMalformed, and what it accepts formats back to an equal value.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		tv1Authorization,
		"AURA-HMAC-SHA256 Signature=4e865169c280c238e93ea51681fdf9e5977ecbf0dc60fbbf0b6b7ccba2005093, SignedHeaders=host;x-aura-nonce;x-aura-timestamp, Credential=a",
		"AURA-HMAC-SHA256 Credential=a,Credential=a,SignedHeaders=host,Signature=00",
		"AURA-HMAC-SHA256 Credential=,SignedHeaders=;,Signature=",
		"AURA-HMAC-SHA256  Credential=a=b,SignedHeaders=host,Signature=4E865169C280C238E93EA51681FDF9E5977ECBF0DC60FBBF0B6B7CCBA2005093",
		"Bearer aubt_x",
		"AURA-HMAC-SHA256",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAuthorization(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again := string(appendAuthorization(nil, a.credential, a.signedHeaders, &a.signature))
		b, err := parseAuthorization(again)
		if err != nil || a != b {
			t.Fatalf("%q parsed to %+v; formatted %q parsed to %+v, %v", s, a, again, b, err)
		}
	})
}

// FuzzCanonicalPath: canonicalization never panics, fails only with an
// encoding error, and its output is canonical: rooted, idempotent, with
// no empty or dot segment inside and only encodeURIComponent output.
func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/api/auth/exchange", "/api/./a/../b", "//a//b/", `/api/a\b`, "/api/é/%41%2f", "/api/100%", "/%2e%2E/..", "a#b", "", "/%F0%9F%98%80/%ED%A0%80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := canonicalPath(p)
		if err != nil {
			if !errors.Is(err, errPathEncoding) {
				t.Fatalf("error %v is not an encoding error", err)
			}
			return
		}
		if again, err := canonicalPath(c); err != nil || again != c {
			t.Fatalf("canonicalPath(%q) = %q, but canonicalPath(%q) = %q, %v", p, c, c, again, err)
		}
		if c[0] != '/' || strings.Contains(c, "//") {
			t.Fatalf("canonicalPath(%q) = %q is not rooted or has an empty segment", p, c)
		}
		for _, seg := range strings.Split(c[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("canonicalPath(%q) = %q has a dot segment", p, c)
			}
		}
		for i := 0; i < len(c); i++ {
			switch {
			case c[i] == '%':
				if i+2 >= len(c) || !strings.ContainsRune(upperHex, rune(c[i+1])) || !strings.ContainsRune(upperHex, rune(c[i+2])) {
					t.Fatalf("canonicalPath(%q) = %q has a bad escape", p, c)
				}
			case c[i] != '/' && !keepLiteral(c[i]):
				t.Fatalf("canonicalPath(%q) = %q has unescaped %q", p, c, c[i])
			}
		}
		if !isCanonicalPath(c) && c != "/" {
			// The fast path must recognise every canonical path without
			// escapes (it leaves escaped ones to the slow path).
			if !strings.Contains(c, "%") {
				t.Fatalf("isCanonicalPath(%q) = false", c)
			}
		}
	})
}

// FuzzSignVerify: whatever request Sign accepts and net/http can send,
// the server side verifies, and both sides explain it identically.
func FuzzSignVerify(f *testing.F) {
	f.Add("POST", "/api/auth/exchange", "", "aura.example.com", "application/json", []byte(tv1Body))
	f.Add("get", "/api/./files//a%20b/%C3%A9/%41/", "b=2&a=1&&c=%20", "127.0.0.1:8080", "", []byte(nil))
	f.Add("PUT", "/a+b/c;d/e:f@g", "z=%2f&z=/", "[::1]:443", " text/plain ;\t charset=x ", []byte("\x00\xff"))
	f.Add("PATCH", `/x\y/%2e%2E/z`, "a", "h", "\u00a0a\u3000b", []byte("{}"))
	f.Fuzz(func(t *testing.T, method, rawPath, rawQuery, host, contentType string, body []byte) {
		req, err := http.NewRequest("POST", "http://example.com/", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Method = method
		u := &url.URL{Scheme: "http", Host: host, RawQuery: rawQuery, RawPath: rawPath}
		if u.Path, err = url.PathUnescape(rawPath); err != nil {
			u.Path, u.RawPath = rawPath, ""
		}
		req.URL, req.Host = u, ""
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		s := &Signer{AppID: testApp, Secret: testSecret, Now: fixedClock(t0)}
		if err := s.Sign(req); err != nil {
			if !strings.HasPrefix(err.Error(), "hmac: ") {
				t.Fatalf("Sign error without package prefix: %v", err)
			}
			return
		}
		client, err := Explain(req)
		if err != nil {
			t.Fatalf("Explain after Sign: %v", err)
		}
		var w bytes.Buffer
		if err := req.Write(&w); err != nil {
			return // net/http refuses to send it (bad method or host)
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(w.Bytes())))
		if err != nil {
			return // net/http's server would answer 400 itself
		}
		relaxed := &Verifier{Secret: testSecrets, Now: fixedClock(t0), AllowNonCanonicalPath: true}
		app, err := relaxed.Verify(r)
		if err != nil || app != testApp {
			server, _ := Explain(received(t, w.Bytes()))
			t.Fatalf("Verify = %q, %v\nwire:\n%q\nclient: %+v\nserver: %+v", app, err, w.String(), client, server)
		}
		// The default Verifier takes the same request only if its path is
		// spelled canonically, and says why when it is not.
		r = received(t, w.Bytes())
		canon, err := canonicalPath(r.URL.EscapedPath())
		if err != nil {
			t.Fatalf("verified, but the received path does not canonicalize: %v", err)
		}
		app, err = testVerifier().Verify(r)
		if spelledCanonically(r.URL.EscapedPath(), canon) {
			if err != nil || app != testApp {
				t.Fatalf("canonically spelled %q: Verify = %q, %v", r.URL.EscapedPath(), app, err)
			}
		} else if !errors.Is(err, ErrNonCanonicalPath) {
			t.Fatalf("%q (canonical %q): Verify = %q, %v; want ErrNonCanonicalPath", r.URL.EscapedPath(), canon, app, err)
		}
	})
}

// FuzzVerifyHeaders: arbitrary Authorization, timestamp, nonce and
// Content-Type headers on a real request never panic Verify, always give a
// classified error, and are accepted only when they are the genuine ones.
func FuzzVerifyHeaders(f *testing.F) {
	// Deterministic, because every fuzz worker process runs this setup.
	s := testSigner(testApp)
	s.Nonce = func() string { return "a1b2c3d4-e5f6-4a5b-8c7d-9e0f1a2b3c4d" }
	w := wire(f, s, exchangeRequest(f))
	g := received(f, w)
	f.Add(g.Header.Get("Authorization"), g.Header.Get("X-Aura-Timestamp"), g.Header.Get("X-Aura-Nonce"), g.Header.Get("Content-Type"))
	f.Add(tv1Authorization, "1706140800", "550e8400-e29b-41d4-a716-446655440000", "application/json")
	f.Add("AURA-HMAC-SHA256 Credential=nobody,SignedHeaders=host;x-aura-nonce;x-aura-timestamp,Signature=00", "0", "", "")
	f.Fuzz(func(t *testing.T, authz, ts, nonce, ct string) {
		r := received(t, w)
		for k, v := range map[string]string{"Authorization": authz, "X-Aura-Timestamp": ts, "X-Aura-Nonce": nonce, "Content-Type": ct} {
			if v == "" {
				r.Header.Del(k)
			} else {
				r.Header.Set(k, v)
			}
		}
		app, err := testVerifier().Verify(r)
		if err == nil {
			if app != testApp || authz != g.Header.Get("Authorization") || ts != g.Header.Get("X-Aura-Timestamp") ||
				nonce != g.Header.Get("X-Aura-Nonce") || normalizeValue(ct) != "application/json" {
				t.Fatalf("accepted forged headers %q %q %q %q (genuine %v)", authz, ts, nonce, ct, g.Header)
			}
			return
		}
		status, _ := classify(err)
		if status != 401 && status != 403 {
			t.Fatalf("error %v classified %d", err, status)
		}
	})
}
