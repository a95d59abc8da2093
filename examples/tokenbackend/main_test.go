package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
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
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

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
	if err != nil {
		t.Fatal(err)
	}
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
	var logs lockedBuffer
	srv := backend(t, aura, aura.Secret, &logs)
	a := post(t, srv.URL, "POST", "alice")
	if a.status != 200 || a.header.Get("Cache-Control") != "no-store" || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("answer %d %v: %s", a.status, a.header, a.raw)
	}
	tok, _ := a.body["token"].(string)
	exp, _ := a.body["expires_at"].(string)
	if !strings.HasPrefix(tok, "aubt_") || len(tok) != 69 || len(a.body) != 3 {
		t.Errorf("body %s", a.raw)
	}
	if at, err := time.Parse(time.RFC3339, exp); err != nil || time.Until(at) < 59*time.Minute {
		t.Errorf("expires_at %q", exp)
	}
	if scopes, _ := a.body["scopes"].([]any); len(scopes) != 3 {
		t.Errorf("scopes %v", a.body["scopes"])
	}
	// The browser (or examples/upload) uses it as the upload token.
	api := &uploader.API{BaseURL: aura.URL, APIKey: aura.APIKey, HTTPClient: aura.Client(),
		Tokens: uploadtoken.StaticSource(&uploadtoken.Token{Value: tok})}
	if _, err := api.Config(context.Background()); err != nil {
		t.Fatalf("the issued token does not work: %v", err)
	}
	if ex := aura.CallsTo(auratest.EndpointExchange); len(ex) != 1 || !strings.HasPrefix(ex[0].Header.Get("Authorization"), "AURA-HMAC-SHA256 Credential="+aura.AppID) {
		t.Errorf("exchange calls %+v", ex)
	}
	l := logs.String()
	if !strings.Contains(l, "upload token issued") || !strings.Contains(l, "user=session-"+fingerprint("alice")) {
		t.Errorf("logs:\n%s", l)
	}
	if strings.Contains(l, tok) || strings.Contains(l, aura.Secret) || strings.Contains(l, aura.APIKey) || strings.Contains(l, "alice") {
		t.Errorf("a credential was logged:\n%s", l)
	}
}

// TestRefusals: no session, wrong method, per-user rate limit, Aura
// failing or refusing.
func TestRefusals(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	var logs lockedBuffer
	srv := backend(t, aura, aura.Secret, &logs)

	if a := post(t, srv.URL, "POST", ""); a.status != 401 || a.body["error"] != "Unauthorized" {
		t.Errorf("no session: %d %s", a.status, a.raw)
	}
	if a := post(t, srv.URL, "GET", "alice"); a.status != 405 {
		t.Errorf("GET: %d %s", a.status, a.raw)
	}
	for i := 0; i < 3; i++ {
		if a := post(t, srv.URL, "POST", "bob"); a.status != 200 {
			t.Fatalf("request %d: %d %s", i+1, a.status, a.raw)
		}
	}
	if a := post(t, srv.URL, "POST", "bob"); a.status != 429 || a.header.Get("Retry-After") == "" {
		t.Errorf("4th request in a minute: %d %v %s", a.status, a.header, a.raw)
	}
	if a := post(t, srv.URL, "POST", "carol"); a.status != 200 {
		t.Errorf("another user is limited too: %d %s", a.status, a.raw)
	}

	aura.Fail(auratest.EndpointExchange, auratest.Failure{Status: 500, Times: 1})
	if a := post(t, srv.URL, "POST", "dave"); a.status != 502 || a.body["error"] != "Upload token unavailable." {
		t.Errorf("Aura 500: %d %s", a.status, a.raw)
	}
	aura.Fail(auratest.EndpointExchange, auratest.Failure{Status: 429, Times: 1, Header: http.Header{"Retry-After": {"17"}}})
	if a := post(t, srv.URL, "POST", "dave"); a.status != 429 || a.header.Get("Retry-After") != "17" {
		t.Errorf("Aura 429: %d %v %s", a.status, a.header, a.raw)
	}

	var badLogs lockedBuffer
	bad := backend(t, aura, "aura_sk_not-the-secret", &badLogs)
	a := post(t, bad.URL, "POST", "erin")
	if a.status != 502 {
		t.Errorf("wrong secret: %d %s", a.status, a.raw)
	}
	all := logs.String() + badLogs.String() + a.raw
	if !strings.Contains(badLogs.String(), "upload token exchange failed") {
		t.Errorf("failure not logged:\n%s", badLogs.String())
	}
	for _, secret := range []string{aura.Secret, aura.APIKey, "not-the-secret"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q appears in answers or logs:\n%s", secret, all)
		}
	}
	if m := regexp.MustCompile(`aubt_[A-Za-z0-9]{8}`).FindString(logs.String()); m != "" {
		t.Errorf("a token was logged: %s", m)
	}
}

// TestRun starts the program with -demo, gets a token over HTTP, and
// shuts it down.
func TestRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
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
		require.Fail(t, "not listening", "%s\n%s", out.String(), errOut.String())
	}
	a := post(t, url, "POST", "alice")
	assert.Equal(t, 200, a.status, a.raw)
	cancel()
	assert.Equal(t, exitOK, <-done, "exit after shutdown\n%s", errOut.String())
}

// TestCommandLine: -h prints usage and starts nothing; bad usage and
// missing configuration exit 2 with one line; a runtime failure exits 1
// with one line and a hint.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
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
		{"ttl too long", []string{"-demo", "-ttl", "48h"}, nil, exitUsage, "", `tokenbackend: -ttl must be more than 0 and at most 24h` + h},
		{"per-user zero", []string{"-demo", "-per-user", "0"}, nil, exitUsage, "", `tokenbackend: -per-user must be at least 1` + h},
		{"stray argument", []string{"x"}, full, exitUsage, "", `tokenbackend: unexpected argument "x"` + h},
		{"bad flag", []string{"-port", "1"}, full, exitUsage, "", `tokenbackend: flag provided but not defined: -port` + h},
		{"address in use", []string{"-listen", busy.Addr().String()}, full, exitFailed, "",
			`tokenbackend: listen tcp ` + regexp.QuoteMeta(busy.Addr().String()) + `: bind: address already in use; another program listens there; choose another address\n`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut lockedBuffer
			code := run(context.Background(), c.args, func(k string) string { return c.env[k] }, &out, &errOut)
			assert.Equal(t, c.code, code)
			assert.Regexp(t, "^"+c.stderr+"$", errOut.String())
			assert.Contains(t, out.String(), c.stdout)
			assert.NotContains(t, out.String(), "listening", "started the server")
		})
	}
}
