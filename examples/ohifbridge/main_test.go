package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// TestCommandLine: -h prints usage and starts nothing; bad usage exits 2
// with one line; a runtime failure exits 1 with one line and a hint.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	// A usage error's line ends with this pointer to -h.
	const h = ` \(run 'ohifbridge -h' for usage\)\n`
	busy := testenv.BusyAddr(t)
	type commandCase struct {
		name   string
		args   []string
		code   int    // exit status
		stdout string // a substring of standard output
		stderr string // a regular expression for all of standard error
	}
	cases := []commandCase{
		{"help", []string{"-h"}, 0, "usage: ohifbridge -kheops KHEOPS_URL -ohif-origin URL", ``},
		{"help lists exit codes", []string{"-demo", "-help"}, 0, "exit status:\n  0 ", ``},
		{"no kheops", []string{"-ohif-origin", "https://ohif.example"}, 2, "", `ohifbridge: -kheops is required \(or use -demo\)` + h},
		{"no ohif", []string{"-kheops", "https://kheops.example"}, 2, "", `ohifbridge: -ohif-origin is required \(or use -demo\)` + h},
		{"bad mode", []string{"-demo", "-mode", "both"}, 2, "", `ohifbridge: -mode must be proxy or direct, not "both"` + h},
		{"stray argument", []string{"-demo", "x"}, 2, "", `ohifbridge: unexpected argument "x"` + h},
		{"http refused", []string{"-kheops", "https://kheops.example", "-ohif-origin", "https://ohif.example", "-listen", "127.0.0.1:0"}, 2, "",
			`ohifbridge: Issuer "http://127\.0\.0\.1:\d+/oidc" uses http; set AllowHTTP for tests only; check -public-url, -issuer, -kheops and -ohif-origin\n`},
		{"address in use", []string{"-demo", "-listen", busy}, 1, "",
			`ohifbridge: listen tcp ` + regexp.QuoteMeta(busy) + `: bind: address already in use; another program listens there; choose another address\n`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCommand(c.args...)
			assert.Equal(t, c.code, code)
			assert.Regexp(t, "^"+c.stderr+"$", stderr)
			assert.Contains(t, stdout, c.stdout)
			assert.NotContains(t, stdout, "configuration URL", "the server started")
		})
	}
}

// runCommand runs the program to its end with a background context.
func runCommand(args ...string) (code int, stdout, stderr string) {
	var out, errOut testenv.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCommandDemo: -demo serves, prints the OHIF configuration and a
// launch URL that leads, through the bridge, to OHIF's login route with the
// bridge's issuer; the end of the context shuts it down with exit 0.
func TestCommandDemo(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"proxy", "direct"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			var out, errOut testenv.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"-demo", "-listen", "127.0.0.1:0", "-mode", mode, "-ohif-origin", "http://ohif.test:3000"}, &out, &errOut)
			}()
			launch := regexp.MustCompile(`(?m)^(http://127\.0\.0\.1:\d+/kheops/launch\?\S+)$`)
			deadline := time.Now().Add(30 * time.Second)
			for launch.FindString(out.String()) == "" && time.Now().Before(deadline) {
				select {
				case code := <-done:
					require.Fail(t, "exited", "code %d: %s", code, errOut.String())
				case <-time.After(5 * time.Millisecond):
				}
			}
			text := out.String()
			require.Regexp(t, launch, text, errOut.String())
			issuer := regexp.MustCompile(`authority: '([^']+)'`).FindStringSubmatch(text)
			require.Len(t, issuer, 2)
			if mode == "proxy" {
				assert.Contains(t, text, "qidoRoot: '"+issuer[1]+"/dicomweb'")
			} else {
				assert.Regexp(t, `qidoRoot: 'http://127\.0\.0\.1:\d+/kheops/api'`, text)
			}

			hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := hc.Get(launch.FindString(text))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, errOut.String())
			loc, err := url.Parse(resp.Header.Get("Location"))
			require.NoError(t, err)
			assert.Equal(t, "http://ohif.test:3000/login", loc.Scheme+"://"+loc.Host+loc.Path)
			assert.Equal(t, issuer[1], loc.Query().Get("iss"))
			assert.Equal(t, "http://ohif.test:3000/viewer?StudyInstanceUIDs=2.25.1234567890123456789", loc.Query().Get("target_link_uri"))
			resp, err = hc.Get(strings.TrimSuffix(issuer[1], "/") + "/.well-known/openid-configuration")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)

			cancel()
			assert.Equal(t, 0, <-done, errOut.String())
			assert.NotContains(t, errOut.String(), loc.Query().Get("login_hint"), "no secret in the log")
		})
	}
}
