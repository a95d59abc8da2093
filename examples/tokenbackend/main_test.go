package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/testenv"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// backend starts the endpoint against the fake Aura, with the given secret
// (the fake's, or a wrong one).
func backend(t *testing.T, aura *auratest.Server, secret string, logs io.Writer) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(logs, nil))
	srv := httptest.NewServer(newHandler(config{
		Exchanger: &uploadtoken.Client{BaseURL: aura.URL, APIKey: aura.APIKey,
			Signer: &hmac.Signer{AppID: aura.AppID, Secret: secret}, HTTPClient: aura.Client(), Logger: logger},
		TTL:     time.Hour,
		Scopes:  []string{"upload:init", "upload:manage", "integration:read"},
		PerUser: uploadtoken.Rate{Limit: 3, Window: time.Minute},
		User:    sessionUser,
		Logger:  logger,
	}))
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func post(t *testing.T, url, method, session string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url+"/api/upload-token", nil)
	if session != "" {
		req.AddCookie(&http.Cookie{Name: "session", Value: session})
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// TestIssue: a logged-in user gets {token, expires_at, scopes}; the token
// works against the uploader API; nothing secret is logged.
func TestIssue(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	var logs testenv.Buffer
	srv := backend(t, aura, aura.Secret, &logs)
	a := post(t, srv.URL, "POST", "alice")
	require.Equal(t, 200, a.status, a.raw)
	assert.Equal(t, "no-store", a.header.Get("Cache-Control"))
	assert.Equal(t, "application/json", a.header.Get("Content-Type"))
	tok, _ := a.body["token"].(string)
	exp, _ := a.body["expires_at"].(string)
	assert.True(t, strings.HasPrefix(tok, "aubt_"), a.raw)
	assert.Len(t, tok, 69)
	assert.Len(t, a.body, 3, a.raw)
	at, err := time.Parse(time.RFC3339, exp)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Until(at), 59*time.Minute)
	assert.Len(t, a.body["scopes"], 3)
	// The browser (or examples/upload) uses it as the upload token.
	api := &uploader.API{BaseURL: aura.URL, APIKey: aura.APIKey, HTTPClient: aura.Client(),
		Tokens: uploadtoken.StaticSource(&uploadtoken.Token{Value: tok})}
	_, err = api.Config(context.Background())
	require.NoError(t, err, "the issued token works")
	ex := aura.CallsTo(auratest.EndpointExchange)
	require.Len(t, ex, 1)
	assert.True(t, strings.HasPrefix(ex[0].Header.Get("Authorization"), "AURA-HMAC-SHA256 Credential="+aura.AppID))
	l := logs.String()
	assert.Contains(t, l, "upload token issued")
	assert.Contains(t, l, "user=session-"+fingerprint("alice"))
	for _, secret := range []string{tok, aura.Secret, aura.APIKey, "alice"} {
		assert.NotContains(t, l, secret, "a credential was logged")
	}
}

// TestRefusals: no session, wrong method, per-user rate limit, Aura
// failing or refusing.
func TestRefusals(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	var logs testenv.Buffer
	srv := backend(t, aura, aura.Secret, &logs)

	a := post(t, srv.URL, "POST", "")
	assert.Equal(t, 401, a.status, "no session")
	assert.Equal(t, "Unauthorized", a.body["error"])
	assert.Equal(t, 405, post(t, srv.URL, "GET", "alice").status, "GET")
	for i := 0; i < 3; i++ {
		a := post(t, srv.URL, "POST", "bob")
		require.Equal(t, 200, a.status, "request %d: %s", i+1, a.raw)
	}
	a = post(t, srv.URL, "POST", "bob")
	assert.Equal(t, 429, a.status, "4th request in a minute")
	assert.NotEmpty(t, a.header.Get("Retry-After"))
	assert.Equal(t, 200, post(t, srv.URL, "POST", "carol").status, "another user is not limited")

	// A backend with no cached token yet meets Aura failing.
	fresh := backend(t, aura, aura.Secret, &logs)
	aura.Fail(auratest.EndpointExchange, auratest.Failure{Status: 500, Times: 1})
	a = post(t, fresh.URL, "POST", "dave")
	assert.Equal(t, 502, a.status, "Aura 500")
	assert.Equal(t, "Upload token unavailable.", a.body["error"])
	aura.Fail(auratest.EndpointExchange, auratest.Failure{Status: 429, Times: 1, Header: http.Header{"Retry-After": {"17"}}})
	a = post(t, fresh.URL, "POST", "dave")
	assert.Equal(t, 429, a.status, "Aura 429")
	assert.Equal(t, "17", a.header.Get("Retry-After"))
	assert.Equal(t, 200, post(t, fresh.URL, "POST", "dave").status, "after Aura recovered")

	var badLogs testenv.Buffer
	bad := backend(t, aura, "aura_sk_not-the-secret", &badLogs)
	a = post(t, bad.URL, "POST", "erin")
	assert.Equal(t, 502, a.status, "wrong secret")
	all := logs.String() + badLogs.String() + a.raw
	assert.Contains(t, badLogs.String(), "upload token exchange failed")
	for _, secret := range []string{aura.Secret, aura.APIKey, "not-the-secret"} {
		assert.NotContains(t, all, secret, "in answers or logs")
	}
	assert.NotRegexp(t, `aubt_[A-Za-z0-9]{8}`, logs.String(), "a token was logged")
}

// TestRun starts the program with -demo, gets a token over HTTP, and
// shuts it down.
func TestRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-demo", "-listen", "127.0.0.1:0"}, func(string) string { return "" }, &out, &errOut)
	}()
	addr := regexp.MustCompile(`listening on (http://\S+)/api/upload-token`)
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := addr.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		cancel()
		require.FailNow(t, "not listening", "%s\n%s", out.String(), errOut.String())
	}
	assert.Equal(t, 200, post(t, url, "POST", "alice").status, "demo")
	// The demo says what a browser widget needs, and it works: the API
	// base URL and the fake's API key, with the token just issued.
	m := regexp.MustCompile(`demo: widget apiBaseUrl=(http://127\.0\.0\.1:\d+/api) apiToken=(aura_au_\S+)\n`).FindStringSubmatch(out.String())
	require.NotNil(t, m, "demo output:\n%s", out.String())
	tok, _ := post(t, url, "POST", "bob").body["token"].(string)
	api := &uploader.API{BaseURL: m[1], APIKey: m[2], Tokens: uploadtoken.StaticSource(&uploadtoken.Token{Value: tok})}
	_, err := api.Config(context.Background())
	assert.NoError(t, err, "the printed widget settings work")
	cancel()
	assert.Equal(t, exitOK, <-done, "exit after shutdown: %s", errOut.String())
}

// TestCommandLine: -h prints usage and starts nothing; bad usage and
// missing configuration exit 2 with one line; a runtime failure exits 1
// with one line and a hint.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	busy := testenv.BusyAddr(t)
	full := map[string]string{"AURA_API_KEY": "k", "AURA_APP_ID": "i", "AURA_APP_SECRET": "s", "AURA_API_URL": "https://a.example/api"}
	h := ` \(run 'tokenbackend -h' for usage\)\n`
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout string // substring
		stderr string // regular expression for all of stderr
	}{
		{"help", []string{"-h"}, full, exitOK, "environment:\n  AURA_API_URL ", ``},
		{"help with -demo", []string{"-demo", "-help"}, nil, exitOK, "exit status:\n  0 ", ``},
		{"nothing configured", nil, nil, exitUsage, "",
			`tokenbackend: AURA_API_KEY, AURA_API_URL, AURA_APP_ID, AURA_APP_SECRET not set; set them in the environment, or try -demo\n`},
		{"seed's key name accepted", nil, map[string]string{"SERVICE_API_KEY": "k", "AURA_API_URL": "https://a/api"}, exitUsage, "",
			`tokenbackend: AURA_APP_ID, AURA_APP_SECRET not set; .*\n`},
		{"bad URL", nil, map[string]string{"AURA_API_KEY": "k", "AURA_APP_ID": "i", "AURA_APP_SECRET": "s", "AURA_API_URL": "ftp://x"}, exitUsage, "",
			`tokenbackend: AURA_API_URL: .*` + h},
		{"ttl too long", []string{"-demo", "-ttl", "48h"}, nil, exitUsage, "", `tokenbackend: -ttl 48h0m0s is out of range: Aura issues tokens for 2s to 24h` + h},
		{"ttl too short", []string{"-demo", "-ttl", "1s"}, nil, exitUsage, "", `tokenbackend: -ttl 1s is out of range: .*` + h},
		{"per-user zero", []string{"-demo", "-per-user", "0"}, nil, exitUsage, "", `tokenbackend: -per-user must be at least 1` + h},
		{"stray argument", []string{"x"}, full, exitUsage, "", `tokenbackend: unexpected argument "x"` + h},
		{"bad flag", []string{"-port", "1"}, full, exitUsage, "", `tokenbackend: flag provided but not defined: -port` + h},
		{"address in use", []string{"-listen", busy}, full, exitFailed, "",
			`tokenbackend: listen tcp ` + regexp.QuoteMeta(busy) + `: bind: address already in use; another program listens there; choose another address\n`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut testenv.Buffer
			code := run(context.Background(), c.args, func(k string) string { return c.env[k] }, &out, &errOut)
			assert.Equal(t, c.code, code)
			assert.Regexp(t, "^"+c.stderr+"$", errOut.String())
			assert.Contains(t, out.String(), c.stdout)
			assert.NotContains(t, out.String(), "listening", "started the server")
		})
	}
}

// TestBusySite: 30 distinct users asking within a second all get a token,
// although Aura (the fake applies it) allows 10 exchanges a minute per API
// key: one token serves them all while half its life is left. The
// per-user limit still holds.
func TestBusySite(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	srv := backend(t, aura, aura.Secret, io.Discard)
	var wg sync.WaitGroup
	answers := make([]answer, 30)
	start := time.Now()
	for i := range answers {
		wg.Go(func() { answers[i] = post(t, srv.URL, "POST", fmt.Sprintf("user-%02d", i)) })
	}
	wg.Wait()
	require.Less(t, time.Since(start), 5*time.Second)
	tokens := map[string]bool{}
	for i, a := range answers {
		require.Equal(t, 200, a.status, "user %d: %s", i, a.raw)
		tokens[a.body["token"].(string)] = true
		exp, err := time.Parse(time.RFC3339, a.body["expires_at"].(string))
		require.NoError(t, err)
		assert.Greater(t, time.Until(exp), 30*time.Minute, "at least half the lifetime is left")
	}
	assert.Len(t, tokens, 1, "one token for all")
	assert.Len(t, aura.CallsTo(auratest.EndpointExchange), 1, "one exchange")
	// The per-user limit (3 a minute in backend) still applies.
	for i := 0; i < 2; i++ {
		require.Equal(t, 200, post(t, srv.URL, "POST", "user-00").status)
	}
	assert.Equal(t, 429, post(t, srv.URL, "POST", "user-00").status)
}
