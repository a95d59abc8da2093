package origin

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func TestOfAndSame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"https://example.org/a", "https://example.org:443/b?x=1", true},
		{"http://example.org", "http://EXAMPLE.org:80/", true},
		{"HTTPS://example.org", "https://example.org", true},
		{"https://example.org", "http://example.org", false},
		{"https://example.org", "https://example.org:8443", false},
		{"http://example.org:443", "https://example.org", false},
		{"https://example.org", "https://sub.example.org", false},
		{"http://[::1]/x", "http://[::1]:80/y", true},
		{"https://user:pw@example.org/", "https://example.org/", true},
	} {
		t.Run(tc.a+" "+tc.b, func(t *testing.T) {
			t.Parallel()
			a, b := mustURL(t, tc.a), mustURL(t, tc.b)
			assert.Equal(t, tc.same, Same(a, b))
			err := Check(a, b)
			if tc.same {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrCrossOrigin)
			}
		})
	}
	assert.Equal(t, "https://example.org:443", Of(mustURL(t, "https://Example.ORG/path?q=secret")))
	assert.Equal(t, "example.org:80", HostPort(mustURL(t, "http://example.org/x")))
	assert.Equal(t, "[::1]:8080", HostPort(mustURL(t, "http://[::1]:8080")))
}

func TestCheckNamesOnlyOrigins(t *testing.T) {
	t.Parallel()
	err := Check(mustURL(t, "https://a.example/x"), mustURL(t, "https://user:pw@b.example/p?token=s3cret"))
	require.Error(t, err)
	assert.Equal(t, "URL on another origin refused: https://b.example:443 is not https://a.example:443", err.Error())
}

func TestRedirectsPolicy(t *testing.T) {
	t.Parallel()
	req := func(s string) *http.Request { return &http.Request{URL: mustURL(t, s)} }
	first := req("https://api.example.org/v1")
	for _, tc := range []struct {
		name   string
		target string
		hops   int
		want   error
	}{
		{"same origin", "https://api.example.org/v2", 1, nil},
		{"default port made explicit", "https://api.example.org:443/v2", 1, nil},
		{"other port", "https://api.example.org:8443/v2", 1, ErrCrossOrigin},
		{"other host", "https://evil.example.org/v2", 1, ErrCrossOrigin},
		{"downgrade to http", "http://api.example.org/v2", 1, ErrCrossOrigin},
		{"last allowed hop", "https://api.example.org/v2", MaxRedirects - 1, nil},
		{"one hop too many", "https://api.example.org/v2", MaxRedirects, ErrTooManyRedirects},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			via := []*http.Request{first}
			for len(via) < tc.hops {
				via = append(via, first)
			}
			err := SameOriginRedirects(req(tc.target), via)
			if tc.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
	t.Run("custom allow sees target and first URL", func(t *testing.T) {
		t.Parallel()
		var gotTarget, gotFirst string
		check := Redirects(func(r *http.Request, via []*http.Request) error {
			gotTarget, gotFirst = r.URL.String(), via[0].URL.String()
			return nil
		})
		require.NoError(t, check(req("https://cdn.example.net/x"), []*http.Request{first}))
		assert.Equal(t, "https://cdn.example.net/x", gotTarget)
		assert.Equal(t, "https://api.example.org/v1", gotFirst)
		assert.ErrorIs(t, check(req("https://cdn.example.net/x"), make([]*http.Request, MaxRedirects)), ErrTooManyRedirects, "the limit holds whatever allow says")
	})
}

// TestSameOriginRedirectsOverHTTP: with real servers, a client using the
// policy follows a redirect on its origin (keeping a credential header),
// and refuses one to another origin before the credential is sent there.
func TestSameOriginRedirectsOverHTTP(t *testing.T) {
	t.Parallel()
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "" {
			leaked.Store(true)
		}
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
		case "/here":
			http.Redirect(w, r, "/ok", http.StatusTemporaryRedirect)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/ok":
			_, _ = w.Write([]byte(r.Header.Get("X-Api-Key")))
		}
	}))
	defer srv.Close()
	c := &http.Client{CheckRedirect: SameOriginRedirects}
	get := func(path string) (string, error) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("X-Api-Key", "aura_au_secret")
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		buf := make([]byte, 64)
		n, _ := resp.Body.Read(buf)
		return string(buf[:n]), nil
	}
	body, err := get("/here")
	require.NoError(t, err)
	assert.Equal(t, "aura_au_secret", body)

	_, err = get("/away")
	assert.ErrorIs(t, err, ErrCrossOrigin)
	assert.False(t, leaked.Load(), "X-Api-Key reached the other origin")

	_, err = get("/loop")
	assert.ErrorIs(t, err, ErrTooManyRedirects)
}

func TestPublic(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"93.184.215.14":        true,
		"2606:2800:21f:cb07::": true,
		"127.0.0.1":            false,
		"::1":                  false,
		"10.1.2.3":             false,
		"172.16.0.1":           false,
		"192.168.1.1":          false,
		"169.254.169.254":      false, // cloud metadata
		"fe80::1":              false,
		"fc00::1":              false,
		"0.0.0.0":              false,
		"::":                   false,
		"100.64.0.1":           false,
		"198.18.0.1":           false,
		"192.0.0.8":            false,
		"224.0.0.1":            false,
		"::ffff:127.0.0.1":     false,
		"64:ff9b::a00:1":       false,
	} {
		assert.Equalf(t, want, Public(netip.MustParseAddr(addr)), "Public(%s)", addr)
	}
	assert.False(t, Public(netip.Addr{}))
}

type fakeResolver map[string][]string

func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func TestGuardCheckHost(t *testing.T) {
	t.Parallel()
	g := &Guard{Resolver: fakeResolver{
		"public.example":  {"93.184.215.14"},
		"mixed.example":   {"93.184.215.14", "10.0.0.1"},
		"private.example": {"192.168.0.10"},
	}}
	ctx := context.Background()
	assert.NoError(t, g.CheckHost(ctx, "public.example"))
	assert.NoError(t, g.CheckHost(ctx, "93.184.215.14"))
	assert.ErrorIs(t, g.CheckHost(ctx, "mixed.example"), ErrNonPublic)
	assert.ErrorIs(t, g.CheckHost(ctx, "private.example"), ErrNonPublic)
	assert.ErrorIs(t, g.CheckHost(ctx, "127.0.0.1"), ErrNonPublic)
	assert.ErrorIs(t, g.CheckHost(ctx, "[::1]"), ErrNonPublic)
	err := g.CheckHost(ctx, "missing.example")
	var dnsErr *net.DNSError
	assert.ErrorAs(t, err, &dnsErr)
	assert.NotErrorIs(t, err, ErrNonPublic)
}

// TestGuardDialRefusesRebinding: the name passed the check, but the
// connection lands on 127.0.0.1 (as after a DNS rebinding); the guard
// closes it before anything is written. An address the guard does not
// protect is dialled as is.
func TestGuardDialRefusesRebinding(t *testing.T) {
	t.Parallel()
	var accepted atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	dialLocal := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
	}
	g := &Guard{Dial: dialLocal, Protect: func(hp string) bool { return hp == "kheops.example:"+port }}

	conn, err := g.DialContext(context.Background(), "tcp", "KHEOPS.example:"+port)
	assert.ErrorIs(t, err, ErrNonPublic)
	assert.Nil(t, conn)

	conn, err = g.DialContext(context.Background(), "tcp", "proxy.internal:"+port)
	require.NoError(t, err, "unprotected addresses are dialled as is")
	_ = conn.Close()

	all := &Guard{Dial: dialLocal}
	_, err = all.DialContext(context.Background(), "tcp", "anything:"+port)
	assert.ErrorIs(t, err, ErrNonPublic, "nil Protect protects every address")
}
