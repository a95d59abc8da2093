package reportprovider_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/reportprovider"
)

func TestConfURIRedirectIsNotFollowedOffOrigin(t *testing.T) {
	t.Parallel()
	for _, loc := range []string{
		"https://evil.example.com/api/.well-known/report-provider-configuration",
		"http://evil.example.com/x",
		"//evil.example.com:8080/x",
	} {
		t.Run(loc, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			launch := e.launch(e.alice, e.clientID, study1)
			e.kheops.Fail("/api/.well-known/report-provider-configuration", kheopstest.Failure{Times: 1, Status: http.StatusFound,
				Header: http.Header{"Location": {loc}}})
			_, err := e.follow(launch)
			require.ErrorIsf(t, err, reportprovider.ErrForbiddenDestination, "%v, want ErrForbiddenDestination", err)
			if n := e.evilHits.Load(); n != 0 {
				t.Errorf("evil server saw %d requests", n)
			}
			if n := len(e.kheops.CallsTo("/api/token")); n != 0 {
				t.Errorf("code redeemed after a refused redirect")
			}
		})
	}
	t.Run("redirect to another allowlisted instance", func(t *testing.T) {
		t.Parallel()
		other := kheopstest.NewServer()
		defer other.Close()
		e := newEnv(t, envOptions{mutate: func(o *reportprovider.Options) {
			o.Issuers = append(o.Issuers, reportprovider.Issuer{URL: other.URL, AllowHTTP: true, AllowPrivateNetwork: true})
		}})
		launch := e.launch(e.alice, e.clientID, study1)
		e.kheops.Fail("/api/.well-known/report-provider-configuration", kheopstest.Failure{Times: 1, Status: http.StatusFound,
			Header: http.Header{"Location": {other.ConfigurationURL()}}})
		if _, err := e.follow(launch); !errors.Is(err, reportprovider.ErrForbiddenDestination) {
			t.Fatalf("%v, want ErrForbiddenDestination", err)
		}
		if n := len(other.Calls()); n != 0 {
			t.Errorf("the other instance saw %d requests", n)
		}
	})
	t.Run("same-origin redirect is followed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		launch := e.launch(e.alice, e.clientID, study1)
		e.kheops.Fail("/api/.well-known/report-provider-configuration", kheopstest.Failure{Times: 1, Status: http.StatusFound,
			Header: http.Header{"Location": {e.kheops.ConfigurationURL() + "?moved=1"}}})
		if _, err := e.follow(launch); err != nil {
			t.Fatal(err)
		}
	})
}

// fakeResolver answers every lookup with fixed addresses.
type fakeResolver struct {
	mu      sync.Mutex
	addrs   []string
	lookups int
}

func (r *fakeResolver) LookupIPAddr(_ context.Context, _ string) ([]net.IPAddr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	var out []net.IPAddr
	for _, a := range r.addrs {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

// noNetwork is a transport that records requests and never connects.
type noNetwork struct {
	mu   sync.Mutex
	urls []string
}

var errNoNetwork = errors.New("test: no network")

func (n *noNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	n.mu.Lock()
	n.urls = append(n.urls, r.URL.String())
	n.mu.Unlock()
	return nil, errNoNetwork
}

func TestNonPublicAddressesRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		issuer       string
		resolved     []string
		allowPrivate bool
		wantRefused  bool
	}{
		{"name resolving to 10/8", "https://kheops.internal.example", []string{"10.0.0.7"}, false, true},
		{"name resolving to loopback", "https://kheops.internal.example", []string{"127.0.0.1"}, false, true},
		{"one private address among public ones", "https://kheops.internal.example", []string{"93.184.216.34", "192.168.1.5"}, false, true},
		{"IPv4-mapped loopback", "https://kheops.internal.example", []string{"::ffff:127.0.0.1"}, false, true},
		{"link-local metadata address", "https://kheops.internal.example", []string{"169.254.169.254"}, false, true},
		{"IPv6 unique local", "https://kheops.internal.example", []string{"fd00::1"}, false, true},
		{"carrier-grade NAT", "https://kheops.internal.example", []string{"100.64.1.1"}, false, true},
		{"IP literal", "https://10.1.2.3", nil, false, true},
		{"IPv6 loopback literal", "https://[::1]:8443", nil, false, true},
		{"public address", "https://kheops.example.org", []string{"93.184.216.34"}, false, false},
		{"private allowed by the allowlist entry", "https://kheops.internal.example", []string{"10.0.0.7"}, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := &fakeResolver{addrs: c.resolved}
			net := &noNetwork{}
			p, err := reportprovider.NewWithResolver(reportprovider.Options{
				ConfigurationURL: "https://rp.example.com/cfg",
				Configuration:    reportprovider.Configuration{RedirectURI: redirect, ResponseType: "token"},
				Issuers:          []reportprovider.Issuer{{URL: c.issuer, AllowPrivateNetwork: c.allowPrivate}},
				HTTPClient:       &http.Client{Transport: net},
			}, res)
			require.NoError(t, err)
			l := &reportprovider.Launch{Flow: "token", AccessToken: "tok", ClientID: "c",
				ConfURI: c.issuer + "/api/.well-known/report-provider-configuration", StudyUIDs: []string{study1}}
			_, err = p.Complete(context.Background(), l)
			if c.wantRefused {
				require.ErrorIsf(t, err, reportprovider.ErrForbiddenDestination, "%v, want ErrForbiddenDestination", err)
				assert.Equalf(t, 0, len(net.urls), "requests reached the transport: %v", net.urls)
			} else {
				require.Falsef(t, !errors.Is(err, errNoNetwork) || len(net.urls) != 1, "%v (%v), want one request to reach the transport", err, net.urls)
			}
		})
	}
}

func TestClientIDAllowlist(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{mutate: func(o *reportprovider.Options) { o.Issuers[0].ClientIDs = []string{"SomeOtherClientID00000"} }})
	launch := e.launch(e.alice, e.clientID, study1)
	_, err := e.follow(launch)
	require.ErrorIsf(t, err, reportprovider.ErrUntrustedIssuer, "%v, want ErrUntrustedIssuer", err)
	if n := e.rpOut.total(); n != 0 {
		t.Errorf("provider sent %d requests", n)
	}
}

func TestSessionClientKeepsTokenOnKHEOPSOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	s, err := e.follow(e.launch(e.alice, e.clientID, study1))
	require.NoError(t, err)
	c := s.Client(&http.Client{Transport: e.transport})
	_, err = c.Get("https://evil.example.com/api/studies")
	assert.ErrorIsf(t, err, reportprovider.ErrForbiddenDestination, "foreign origin: %v", err)
	// A redirect from KHEOPS to another origin is not followed either.
	e.kheops.Fail("/api/studies", kheopstest.Failure{Status: http.StatusFound, Header: http.Header{"Location": {"https://evil.example.com/steal"}}})
	_, err = s.DICOMweb(&http.Client{Transport: e.transport}).SearchStudies(context.Background(), nil)
	assert.ErrorIsf(t, err, reportprovider.ErrForbiddenDestination, "redirect: %v", err)
	if n := e.evilHits.Load(); n != 0 {
		t.Errorf("evil server saw %d requests", n)
	}
	// And the KHEOPS origin gets the bearer token.
	calls := e.kheops.CallsTo("/api/studies")
	assert.Falsef(t, len(calls) != 1 || calls[0].Header.Get("Authorization") != "Bearer "+string(s.AccessToken), "calls %v", calls)
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	e := newEnv(t, envOptions{mutate: func(o *reportprovider.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	launch := e.launch(e.alice, e.clientID, study1)
	code := codeOf(t, launch)
	s, err := e.follow(launch)
	require.NoError(t, err)
	_, err = e.follow(launch) // a refused replay is logged
	require.Error(t, err, "replay accepted")
	l, err := reportprovider.ParseLaunch(mustQuery(t, launch))
	require.NoError(t, err)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("session", "session", s, "launch", l, "token", s.AccessToken)
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, verb+"\n", s)
		fmt.Fprintf(&out, verb+"\n", *s)
		fmt.Fprintf(&out, verb+"\n", l)
		fmt.Fprintf(&out, verb+"\n", *l)
		fmt.Fprintf(&out, verb+"\n", s.AccessToken)
	}
	out.WriteString(s.String())
	out.Write(logs.Bytes())
	assert.Falsef(t, !strings.Contains(logs.String(), "launch already used"), "the refused replay was not logged: %s", logs.String())
	for name, secret := range map[string]string{"access token": string(s.AccessToken), "code": code} {
		for _, form := range []string{secret, fmt.Sprintf("%x", secret), fmt.Sprintf("%X", secret), secret[len(secret)-20:]} {
			assert.Falsef(t, strings.Contains(out.String(), form), "%s appears in printed or logged output", name)
		}
	}
}

func mustQuery(t testing.TB, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Query()
}

func TestFragmentPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{responseType: reportprovider.ResponseTypeToken})
	resp, err := e.browser().Get(redirect)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllSubmatch(body, -1)
	require.Equalf(t, 1, len(m), "%d script elements", len(m))
	sum := sha256.Sum256(m[0][1])
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	want := "default-src 'none'; script-src " + hash + "; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	assert.Equalf(t, want, csp, "CSP\n got %s\nwant %s", csp, want)
	assert.Falsef(t, regexp.MustCompile(`(?i)\son[a-z]+=|javascript:|<script\s+src|style=`).Match(body), "page has inline handlers, javascript: URLs, external scripts or inline styles: %s", body)
	for k, v := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
		"X-Content-Type-Options": "nosniff", "Content-Type": "text/html; charset=utf-8"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	assert.Falsef(t, !bytes.Contains(body, []byte(`<form id="f" method="post"><input type="hidden" id="v" name="fragment"></form>`)), "form missing: %s", body)
}

func TestLaunchHandlerRefusals(t *testing.T) {
	t.Parallel()
	implicit := newEnv(t, envOptions{responseType: reportprovider.ResponseTypeToken})
	code := newEnv(t, envOptions{})
	frag := func(e *env) string {
		_, f, _ := strings.Cut(e.launch(e.alice, e.clientID, study1), "#")
		return f
	}
	post := func(e *env, body string, h http.Header) int {
		req, _ := http.NewRequest(http.MethodPost, redirect, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := e.browser().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Falsef(t, resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer", "missing no-store/no-referrer on a refusal")
		return resp.StatusCode
	}
	get := func(e *env, u string) int {
		resp, err := e.browser().Get(u)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		name string
		got  func() int
		want int
	}{
		{"cross-site POST (Sec-Fetch-Site)", func() int {
			return post(implicit, url.Values{"fragment": {frag(implicit)}}.Encode(), http.Header{"Sec-Fetch-Site": {"cross-site"}})
		}, 400},
		{"cross-origin POST (Origin)", func() int {
			return post(implicit, url.Values{"fragment": {frag(implicit)}}.Encode(), http.Header{"Origin": {"https://evil.example.com"}})
		}, 400},
		{"two fragment fields", func() int {
			return post(implicit, url.Values{"fragment": {frag(implicit), "x"}}.Encode(), nil)
		}, 400},
		{"oversized POST", func() int {
			return post(implicit, "fragment="+strings.Repeat("a", 300<<10), nil)
		}, 400},
		{"access_token in the query", func() int {
			return get(implicit, redirect+"?"+frag(implicit))
		}, 400},
		{"code sent to an implicit-flow provider", func() int {
			return get(implicit, replaceParam(t, code.launch(code.alice, code.clientID, study1), "client_id", implicit.clientID))
		}, 400},
		{"fragment posted to a code-flow provider", func() int {
			return post(code, url.Values{"fragment": {frag(implicit)}}.Encode(), nil)
		}, 400},
		{"code flow without code", func() int { return get(code, redirect) }, 400},
		{"repeated code", func() int { return get(code, code.launch(code.alice, code.clientID, study1)+"&code=x") }, 400},
		{"HEAD does not spend a code", func() int {
			launch := code.launch(code.alice, code.clientID, study1)
			resp, err := code.browser().Head(launch)
			require.NoError(t, err)
			resp.Body.Close()
			if _, err := code.follow(launch); err != nil {
				t.Errorf("the code was spent by HEAD: %v", err)
			}
			return resp.StatusCode
		}, 405},
		{"PUT", func() int {
			req, _ := http.NewRequest(http.MethodPut, redirect, nil)
			resp, err := code.browser().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			return resp.StatusCode
		}, 405},
	}
	for _, c := range cases {
		if got := c.got(); got != c.want {
			t.Errorf("%s: HTTP %d, want %d", c.name, got, c.want)
		}
	}
	// A genuine implicit launch still works after all that.
	if _, err := implicit.follow(implicit.launch(implicit.alice, implicit.clientID, study1)); err != nil {
		t.Errorf("genuine launch: %v", err)
	}
}

func TestKHEOPSFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		path     string
		failure  kheopstest.Failure
		check    func(t *testing.T, err error)
		wantHTTP int
	}{
		{"configuration down", "/api/.well-known/report-provider-configuration", kheopstest.Failure{Status: 503, Body: "down"},
			func(t *testing.T, err error) {
				var he *reportprovider.HTTPError
				if !errors.As(err, &he) || he.StatusCode != 503 || he.Body != "down" || strings.Contains(err.Error(), "down") ||
					he.Method != http.MethodGet || !strings.HasSuffix(he.URL, "/kheops/api/.well-known/report-provider-configuration") {
					t.Errorf("%v %+v", err, he)
				}
			}, 502},
		{"token endpoint error", "/api/token", kheopstest.Failure{Status: 400, Body: `{"error":"invalid_grant","error_description":"redirect_uri does not match"}`},
			func(t *testing.T, err error) {
				var oe *reportprovider.OAuthError
				if !errors.As(err, &oe) || oe.Code != "invalid_grant" || oe.Description != "redirect_uri does not match" || oe.StatusCode != 400 ||
					oe.Method != http.MethodPost || !strings.HasSuffix(oe.URL, "/kheops/api/token") {
					t.Errorf("%v %+v", err, oe)
				}
			}, 403},
		{"token endpoint not JSON", "/api/token", kheopstest.Failure{Status: 500, Body: "<html>oops Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln</html>", Header: http.Header{"Content-Type": {"text/html"}}},
			func(t *testing.T, err error) {
				var he *reportprovider.HTTPError
				assert.Falsef(t, !errors.As(err, &he) || he.StatusCode != 500 || he.Method != http.MethodPost || strings.Contains(he.Body, "eyJ"), "%v %+v", err, he)
			}, 502},
		{"token response without bearer", "/api/token", kheopstest.Failure{Status: 200, Body: `{"access_token":"x","token_type":"mac","expires_in":3600}`},
			func(t *testing.T, err error) {
				assert.Falsef(t, err == nil || !strings.Contains(err.Error(), "bearer"), "%v", err)
			}, 502},
		{"introspection says inactive", "/api/token/introspect", kheopstest.Failure{Status: 200, Body: `{"active":false}`},
			func(t *testing.T, err error) {
				assert.ErrorIsf(t, err, reportprovider.ErrTokenRejected, "%v", err)
			}, 403},
		{"huge introspection response", "/api/token/introspect", kheopstest.Failure{Status: 200, Body: `{"active":true,"x":"` + strings.Repeat("a", 300<<10) + `"}`},
			func(t *testing.T, err error) {
				assert.Falsef(t, err == nil || !strings.Contains(err.Error(), "size limit"), "%v", err)
			}, 502},
		{"userinfo for another subject", "/api/userinfo", kheopstest.Failure{Status: 200, Body: `{"sub":"mallory"}`},
			func(t *testing.T, err error) {
				assert.ErrorIsf(t, err, reportprovider.ErrTokenRejected, "%v", err)
			}, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			launch := e.launch(e.alice, e.clientID, study1)
			e.kheops.Fail(c.path, c.failure)
			_, err := e.follow(launch)
			c.check(t, err)
			if got := reportprovider.ErrorStatus(err); got != c.wantHTTP {
				t.Errorf("ErrorStatus %d, want %d", got, c.wantHTTP)
			}
		})
	}
}

func TestCompleteHonoursContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	l, err := reportprovider.ParseLaunch(mustQuery(t, e.launch(e.alice, e.clientID, study1)))
	require.NoError(t, err)
	e.kheops.Fail("/api/token", kheopstest.Failure{Delay: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = e.provider.Complete(ctx, l)
	assert.ErrorIsf(t, err, context.DeadlineExceeded, "%v, want context.DeadlineExceeded", err)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Complete took %v after its context expired", d)
	}
}

func TestConfigurationIsCachedAndFetchesCollapse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var launches []string
	for i := 0; i < 8; i++ {
		e.clock.Advance(time.Second)
		launches = append(launches, e.launch(e.alice, e.clientID, study1))
	}
	e.kheops.ResetCalls()
	var wg sync.WaitGroup
	errs := make(chan error, len(launches))
	for _, l := range launches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pl, err := reportprovider.ParseLaunch(mustQuery(t, l))
			if err == nil {
				_, err = e.provider.Complete(context.Background(), pl)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	if n := len(e.kheops.CallsTo("/api/.well-known/report-provider-configuration")); n != 1 {
		t.Errorf("%d configuration fetches for %d concurrent launches, want 1", n, len(launches))
	}
	e.clock.Advance(6 * time.Minute)
	e.clock.Advance(time.Second)
	pl, _ := reportprovider.ParseLaunch(mustQuery(t, e.launch(e.alice, e.clientID, study1)))
	if _, err := e.provider.Complete(context.Background(), pl); err != nil {
		t.Fatal(err)
	}
	if n := len(e.kheops.CallsTo("/api/.well-known/report-provider-configuration")); n != 2 {
		t.Errorf("%d configuration fetches after the TTL, want 2", n)
	}
}

// TestDNSRebindingRefusedAtDial: the guard's lookup sees a public address,
// but the name then resolves to loopback when the transport dials (as a
// rebinding DNS server would arrange). The connection is refused before a
// request is written, so the internal server never sees one.
func TestDNSRebindingRefusedAtDial(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer internal.Close()
	_, port, _ := net.SplitHostPort(internal.Listener.Addr().String())
	issuerURL := "http://localhost:" + port // dials 127.0.0.1

	for _, allow := range []bool{false, true} {
		p, err := reportprovider.NewWithResolver(reportprovider.Options{
			ConfigurationURL: "https://rp.example.com/cfg",
			Configuration:    reportprovider.Configuration{RedirectURI: redirect, ResponseType: "token"},
			Issuers:          []reportprovider.Issuer{{URL: issuerURL, AllowPrivateNetwork: allow, AllowHTTP: true}},
		}, &fakeResolver{addrs: []string{"93.184.216.34"}}) // first answer: public
		require.NoError(t, err)
		l := &reportprovider.Launch{Flow: "token", AccessToken: "tok", ClientID: "c",
			ConfURI: issuerURL + "/api/.well-known/report-provider-configuration", StudyUIDs: []string{study1}}
		before := hits.Load()
		_, err = p.Complete(context.Background(), l)
		if allow {
			// Allowed private network: the request reaches the server (which
			// answers nonsense, so Complete still fails, but not at the dial).
			require.Falsef(t, errors.Is(err, reportprovider.ErrForbiddenDestination) || hits.Load() == before, "AllowPrivateNetwork: err=%v, server hits %d", err, hits.Load()-before)
			continue
		}
		require.ErrorIsf(t, err, reportprovider.ErrForbiddenDestination, "rebinding to loopback: %v, want ErrForbiddenDestination", err)
		if n := hits.Load() - before; n != 0 {
			t.Fatalf("the internal server received %d requests", n)
		}
	}
}
