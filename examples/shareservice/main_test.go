package main

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/share"
)

const key = "0123456789abcdef0123456789abcdef0123"

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func noFiles(string) ([]byte, error) { return nil, fs.ErrNotExist }

var quiet = slog.New(slog.DiscardHandler)

func TestConfigure(t *testing.T) {
	t.Parallel()
	cfg, st, err := configure(envOf(map[string]string{
		"SECRET_KEY": key, "USERS": `{"orthanc":"pw"}`, "SERVER_IDENTIFIER": "std",
		"ANONYMIZED_SERVER_IDENTIFIER": "anon", "PUBLIC_ORTHANC_ROOT": "https://h/orthanc/",
		"PUBLIC_LANDING_ROOT": "https://h/welcome/", "MEDDREAM_TOKEN_SERVICE_URL": "http://md:8088/v3/generate",
		"PUBLIC_MEDDREAM_ROOT": "https://h/meddream/", "SHARES_TOKEN_VERSION": "v2", "MAX_VALIDITY": "10",
		"TITLE_EXPIRED_TOKEN": "Expiré",
	}), noFiles, quiet)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8000", st.listen)
	assert.Equal(t, "std", cfg.ServerID)
	assert.Equal(t, "anon", cfg.AnonymizedServerID)
	assert.Equal(t, "pw", cfg.Users["orthanc"])
	assert.Equal(t, "https://h/welcome/", cfg.Links.LandingRoot)
	assert.NotNil(t, cfg.MedDream)
	assert.Equal(t, share.V2, cfg.SharesVersion)
	assert.Equal(t, 10*time.Second, cfg.MaxValidity)
	assert.Equal(t, "Expiré", cfg.Pages.ExpiredTitle)
	assert.False(t, cfg.AllowAnonymous)
	assert.False(t, cfg.AllowPost)
	// The Docker secret file is read when the variable is absent.
	cfg, _, err = configure(envOf(map[string]string{"USERS": `{"a":"b"}`, "SERVER_ID": "new"}), func(p string) ([]byte, error) {
		if p == "/run/secrets/SECRET_KEY" {
			return []byte(key + "\n"), nil
		}
		return nil, fs.ErrNotExist
	}, quiet)
	require.NoError(t, err, "secret file")
	assert.Equal(t, "new", cfg.ServerID)
}

// TestConfigurePost: POST stays refused unless ALLOW_POST=true.
func TestConfigurePost(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"DENY_POST": "true"}, false},
		{map[string]string{"ALLOW_POST": "false"}, false},
		{map[string]string{"ALLOW_POST": "true"}, true},
	} {
		m := map[string]string{"SECRET_KEY": key, "USERS": `{"a":"b"}`}
		for k, v := range tt.env {
			m[k] = v
		}
		cfg, _, err := configure(envOf(m), noFiles, quiet)
		if assert.NoError(t, err, "%v", tt.env) {
			assert.Equal(t, tt.want, cfg.AllowPost, "%v", tt.env)
		}
	}
}

func TestConfigureRefuses(t *testing.T) {
	t.Parallel()
	for name, m := range map[string]map[string]string{
		"no secret":                {"USERS": `{"a":"b"}`},
		"short secret":             {"SECRET_KEY": "change-me-I-am-a-secret-key", "USERS": `{"a":"b"}`},
		"no users":                 {"SECRET_KEY": key},
		"bad users":                {"SECRET_KEY": key, "USERS": `["a"]`},
		"server ids":               {"SECRET_KEY": key, "USERS": `{"a":"b"}`, "SERVER_ID": "x", "SERVER_IDENTIFIER": "y"},
		"bad version":              {"SECRET_KEY": key, "USERS": `{"a":"b"}`, "SHARES_TOKEN_VERSION": "v1"},
		"bad max validity":         {"SECRET_KEY": key, "USERS": `{"a":"b"}`, "MAX_VALIDITY": "1m"},
		"zero max validity":        {"SECRET_KEY": key, "USERS": `{"a":"b"}`, "MAX_VALIDITY": "0"},  // would silently mean 60
		"DENY_POST=false":          {"SECRET_KEY": key, "USERS": `{"a":"b"}`, "DENY_POST": "false"}, // once opened POST; now refused loudly
		"anonymized Orthanc alone": {"SECRET_KEY": key, "USERS": `{"a":"b"}`, "ANONYMIZED_ORTHANC_URL": "http://127.0.0.1:8043/"},
	} {
		_, _, err := configure(envOf(m), noFiles, quiet)
		if assert.Error(t, err, name) {
			assert.NotContains(t, err.Error(), "change-me", "%s: error reveals the secret", name)
		}
	}
	// A short key of a Python deployment can be kept for verification.
	_, _, err := configure(envOf(map[string]string{"SECRET_KEY": key, "PREVIOUS_SECRET_KEY": "toto", "ALLOW_ANONYMOUS": "true"}), noFiles, quiet)
	assert.NoError(t, err, "PREVIOUS_SECRET_KEY")
}

// TestRun starts the program on a free port and talks to it as a client
// and as the authorization plugin would.
func TestRun(t *testing.T) {
	t.Parallel()
	base, call, stop := serve(t, map[string]string{
		"SECRET_KEY": key, "USERS": `{"orthanc":"pw"}`, "LISTEN": "127.0.0.1:0",
		"PUBLIC_ORTHANC_ROOT": "https://h/orthanc/", "SERVER_ID": "std",
	})
	status, body := call("PUT", "/shares", `{"studies":[{"dicom-uid":"1.2","orthanc-id":"o"}],"type":"stone-viewer-publication","expiration-date":"2099-01-01T00:00:00Z"}`)
	require.Equal(t, 200, status, "mint: %s", body)
	tok := body[strings.Index(body, `"token":"`)+9:]
	tok = tok[:strings.IndexByte(tok, '"')]
	_, body = call("POST", "/shares/validate", `{"dicom-uid":"1.2","orthanc-id":"o","identifier":"std","level":"study","method":"get"}`, "token", tok)
	assert.Equal(t, `{"granted":true,"validity":60}`, body, "validate")
	// POST /studies/{id}/modify, /merge, /anonymize reach the service as
	// this: refused unless ALLOW_POST=true.
	_, body = call("POST", "/shares/validate", `{"dicom-uid":"1.2","orthanc-id":"o","identifier":"std","level":"study","method":"post"}`, "token", tok)
	assert.Equal(t, `{"granted":false,"validity":60}`, body, "validate POST")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(base + "/share-landing/?token=" + tok)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 307, resp.StatusCode, "landing")
	assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "https://h/orthanc/stone-webviewer/"), "landing to %s", resp.Header.Get("Location"))
	stop()
}

// TestHelp: -h prints the usage with every variable the program reads and
// never starts the server, even with a complete configuration.
func TestHelp(t *testing.T) {
	t.Parallel()
	full := envOf(map[string]string{"SECRET_KEY": key, "USERS": `{"a":"b"}`, "LISTEN": "127.0.0.1:0"})
	for _, args := range [][]string{{"-h"}, {"-help"}, {"--help"}} {
		var stdout, stderr strings.Builder
		done := make(chan int, 1)
		go func() { done <- realMain(context.Background(), args, &stdout, &stderr, full, noFiles) }()
		select {
		case code := <-done:
			require.Equal(t, 0, code, "%v", args)
		case <-time.After(5 * time.Second):
			t.Fatalf("%v started the server", args)
		}
		out := stdout.String()
		assert.True(t, strings.HasPrefix(out, "usage: shareservice"), out)
		for _, v := range []string{"SECRET_KEY", "USERS", "ALLOW_ANONYMOUS", "SERVER_ID", "SERVER_IDENTIFIER", "ANONYMIZED_SERVER_IDENTIFIER",
			"PUBLIC_ORTHANC_ROOT", "PUBLIC_ANONYMIZED_ORTHANC_ROOT", "PUBLIC_LANDING_ROOT", "PUBLIC_OHIF_ROOT", "OHIF_DATA_SOURCE",
			"MEDDREAM_TOKEN_SERVICE_URL", "PUBLIC_MEDDREAM_ROOT", "ORTHANC_URL", "ORTHANC_USERNAME", "ORTHANC_PASSWORD",
			"ANONYMIZED_ORTHANC_URL", "ANONYMIZED_ORTHANC_USERNAME", "ANONYMIZED_ORTHANC_PASSWORD",
			"PREVIOUS_SECRET_KEY", "SHARES_TOKEN_VERSION", "ALLOW_POST", "DENY_POST", "MAX_VALIDITY", "TITLE_EXPIRED_TOKEN",
			"MESSAGE_EXPIRED_TOKEN", "TITLE_INVALID_TOKEN", "MESSAGE_INVALID_TOKEN", "LISTEN", "LOG_LEVEL"} {
			assert.Contains(t, out, v, "%v: usage does not name %s", args, v)
		}
		assert.Empty(t, stderr.String(), "%v", args)
	}
}

// TestBadUsageExits2: bad flags, stray arguments and bad configuration
// exit 2 with exactly one line on standard error, which never holds the
// secret.
func TestBadUsageExits2(t *testing.T) {
	t.Parallel()
	good := map[string]string{"SECRET_KEY": key, "USERS": `{"a":"b"}`, "LISTEN": "127.0.0.1:0"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"unknown flag", []string{"-port", "80"}, good},
		{"stray argument", []string{"serve"}, good},
		{"no secret", nil, map[string]string{"USERS": `{"a":"b"}`}},
		{"short secret", nil, with("SECRET_KEY", "change-me-I-am-a-secret-key")},
		{"bad users", nil, with("USERS", "a:b\nc:d")},
		{"DENY_POST=false", nil, with("DENY_POST", "false")},
		{"bad public root", nil, with("PUBLIC_ORTHANC_ROOT", "ftp://x")},
	} {
		var stdout, stderr strings.Builder
		// A configuration wrongly accepted would start the server: bound
		// the wait so that the test fails instead of hanging.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		code := realMain(ctx, tt.args, &stdout, &stderr, envOf(tt.env), noFiles)
		cancel()
		assert.Equal(t, 2, code, tt.name)
		msg := stderr.String()
		assert.Equal(t, 1, strings.Count(msg, "\n"), "%s: %q", tt.name, msg)
		assert.True(t, strings.HasPrefix(msg, "shareservice: "), "%s: %q", tt.name, msg)
		assert.NotContains(t, msg, "change-me", tt.name)
		assert.NotContains(t, msg, "time=", tt.name)
		assert.Empty(t, stdout.String(), tt.name)
	}
}

// TestProxySnippetMatchesDocs: the nginx rule in README.md is the one of
// docs/orthanc.md, which share's plugin test runs against the real
// authorization plugin.
func TestProxySnippetMatchesDocs(t *testing.T) {
	t.Parallel()
	block := regexp.MustCompile("(?s)```nginx\n.*?```")
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "orthanc.md"))
	require.NoError(t, err)
	want := block.Find(doc)
	require.NotNil(t, want, "docs/orthanc.md has no nginx block")
	assert.Equal(t, string(want), string(block.Find(readme)))
}
