package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// TestDemo runs the whole walk-through against the fake KHEOPS: album,
// webhook, STOW-RS upload, sharing, capability link, and both signed
// deliveries received and verified by the program's own WebhookHandler.
func TestDemo(t *testing.T) {
	t.Setenv("KHEOPS_TOKEN", "")
	var out, errOut testenv.Buffer
	code := run(context.Background(), []string{"-demo"}, &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut.String(), out.String())
	assert.Empty(t, errOut.String())
	got := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^album created: ([A-Za-z0-9]{10}) \(dicombridge example `),
		regexp.MustCompile(`(?m)^webhook registered: [A-Za-z0-9]{20} -> http://127\.0\.0\.1:\d+/hooks/kheops \(events new_series, new_user\)$`),
		regexp.MustCompile(`(?m)^uploaded 2 instance\(s\) of study 2\.25\.\d+ into the album$`),
		regexp.MustCompile(`(?m)^shared with bob@example\.org$`),
		regexp.MustCompile(`(?m)^  http://127\.0\.0\.1:\d+/kheops/api/link/[A-Za-z0-9]{22}$`),
		regexp.MustCompile(`(?m)^the link sees 1 study\(ies\)$`),
		regexp.MustCompile(`(?m)^webhook delivery \(signature verified\): new_user delivery=\S+ attempt=1 album=[A-Za-z0-9]{10} user bob@example\.org$`),
		regexp.MustCompile(`(?m)^webhook delivery \(signature verified\): new_series delivery=\S+ attempt=1 album=[A-Za-z0-9]{10} study 2\.25\.\d+, 1 series$`),
		regexp.MustCompile(`(?m)^done$`),
	} {
		assert.Regexp(t, want, got)
	}
	album := regexp.MustCompile(`album created: (\S+)`).FindStringSubmatch(got)[1]
	assert.Equal(t, 2, strings.Count(got, "album="+album), "both deliveries are for the new album")
}

// TestCommandLine: -h prints usage and starts nothing; missing
// configuration exits 2 with one line.
func TestCommandLine(t *testing.T) {
	t.Setenv("KHEOPS_URL", "")
	t.Setenv("KHEOPS_TOKEN", "")
	h := ` \(run 'kheopsalbum -h' for usage\)\n`
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"-h"}, nil, 0, "KHEOPS_TOKEN", ``},
		{"no url", nil, nil, 2, "", `kheopsalbum: -url or KHEOPS_URL is required \(or use -demo\)` + h},
		{"no token", []string{"-url", "https://kheops.example"}, nil, 2, "", `kheopsalbum: KHEOPS_TOKEN is required \(or use -demo\)` + h},
		{"no user", nil, map[string]string{"KHEOPS_URL": "https://kheops.example", "KHEOPS_TOKEN": "t"}, 2, "", `kheopsalbum: -share-with is required \(or use -demo\)` + h},
		{"stray argument", []string{"-demo", "x"}, nil, 2, "", `kheopsalbum: unexpected argument "x"` + h},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var out, errOut testenv.Buffer
			code := run(context.Background(), c.args, &out, &errOut)
			assert.Equal(t, c.code, code)
			assert.Regexp(t, "^"+c.stderr+"$", errOut.String())
			assert.Contains(t, out.String(), c.stdout)
			assert.NotContains(t, out.String(), "album created")
		})
	}
}

// TestKheopsRefuses: a refused call exits 1 with one line naming the call
// and a hint, and never the token.
func TestKheopsRefuses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"message":"Authorization error","detail":"You don't have the permission to do this with this type of token"}`)
	}))
	defer srv.Close()
	t.Setenv("KHEOPS_URL", srv.URL)
	t.Setenv("KHEOPS_TOKEN", "AbCdEfGhIjKlMnOpQrStUv")
	var out, errOut testenv.Buffer
	code := run(context.Background(), []string{"-share-with", "bob@example.org"}, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Regexp(t, `^kheopsalbum: kheops: POST `+regexp.QuoteMeta(srv.URL)+`/api/albums: HTTP 403: Authorization error: You don't have the permission to do this with this type of token; check KHEOPS_TOKEN and your rights in the album\n$`, errOut.String())
	assert.NotContains(t, errOut.String()+out.String(), "AbCdEfGhIj")
}
