package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
)

// credential matches an unredacted upload token, lift token, API key or
// secret.
var credential = regexp.MustCompile(`(aubt|lift|aura_sk|aura_au)_[A-Za-z0-9]{8}`)

// TestQuickstart runs the README's main command, `go run
// ./examples/quickstart`, and checks what it prints: the studies, the
// calls the server saw in order, the server's session states, and the
// byte-for-byte check; and no credential.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run(context.Background(), nil, noEnv, &out, &errOut)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	s := out.String()
	for _, w := range []string{
		"Wrote 300 synthetic DICOM files (",
		"1. Token exchange: POST /api/auth/exchange, signed with AURA-HMAC-SHA256",
		"SignedHeaders=content-type;host;x-aura-nonce;x-aura-timestamp,Signature=…#",
		": 3 series, 150 images",
		"uploaded 2 studies, 6 series, 300 instances",
		"initialized → started → completed",
		"all 300 entries of the stored zip are byte-identical to the source files ✓",
	} {
		assert.Contains(t, s, w)
	}
	assert.Regexp(t, `in [0-9hms.µ]+: [0-9.]+ (B|KiB|MiB|GiB)/s of DICOM`, s, "binary units, whatever the machine's speed")
	assert.NotRegexp(t, `[0-9] [kMG]B\b`, s, "one unit system: binary units only")
	// The calls, in order.
	order := []string{"POST   /api/auth/exchange", "GET    /api/uploader/config", "POST   /api/uploader/upload/init",
		"POST   /api/uploader/upload/start", "POST   /files/", "PATCH  /files/", "POST   /api/uploader/upload/complete"}
	at := 0
	for _, o := range order {
		i := strings.Index(s[at:], o)
		require.GreaterOrEqual(t, i, 0, "call %q missing or out of order:\n%s", o, s)
		at += i
	}
	assert.Empty(t, credential.FindString(s+errOut.String()), "output shows a credential")
	assert.Regexp(t, `Tus creation, Upload-(Length [0-9]+|Defer-Length 1 \(one pass: the length comes with the last PATCH\)), Authorization: Bearer …#`, s)
	// stderr is not a terminal here: plain progress lines, no bar.
	assert.Regexp(t, `(?m)^uploading: 100%  [0-9.]+ MiB of [0-9.]+ MiB, 300/300 files`, errOut.String())
	assert.NotContains(t, errOut.String(), "\r")
}

func noEnv(string) string { return "" }

// TestQuickstartRealMode runs the flags a user with a real Aura would use,
// against the fake: credentials from the environment, a directory.
func TestQuickstartRealMode(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	dir := filepath.Join(t.TempDir(), "studies")
	_, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{Studies: 2, SeriesPerStudy: 2, InstancesPerSeries: 3})
	require.NoError(t, err)
	env := map[string]string{"AURA_APP_ID": aura.AppID, "AURA_APP_SECRET": aura.Secret, "AURA_API_KEY": aura.APIKey}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-api", aura.URL, "-dir", dir}, func(k string) string { return env[k] }, &out, &errOut)
	require.Equal(t, exitOK, code, "%s%s", out.String(), errOut.String())
	assert.Contains(t, out.String(), "uploaded 2 studies, 4 series, 12 instances")
	ss := aura.Sessions()
	require.Len(t, ss, 1)
	assert.Equal(t, "completed", ss[0].State)
	assert.NotContains(t, out.String()+errOut.String(), aura.Secret, "the secret was printed")
}

func TestQuickstartUsage(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing")
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stderr string // regular expression for all of stderr
	}{
		{"api without dir", []string{"-api", "https://aura.example.com/api"}, nil, exitUsage,
			`quickstart: -api and -dir go together \(run 'quickstart -h' for usage\)\n`},
		{"stray argument", []string{"somewhere"}, nil, exitUsage, `quickstart: unexpected argument "somewhere" \(run 'quickstart -h' for usage\)\n`},
		{"unknown flag", []string{"-token", "x"}, nil, exitUsage, `quickstart: flag provided but not defined: -token \(run 'quickstart -h' for usage\)\n`},
		{"missing dir", []string{"-api", "https://aura.example.com/api", "-dir", missing}, nil, exitUsage,
			`quickstart: ` + regexp.QuoteMeta(missing) + `: no such file or directory \(run 'quickstart -h' for usage\)\n`},
		{"no credentials", []string{"-api", "https://aura.example.com/api", "-dir", os.TempDir()}, map[string]string{"AURA_API_KEY": "k"},
			exitUsage, `quickstart: AURA_APP_ID, AURA_APP_SECRET not set; set them in the environment \(credentials are never taken from flags\)\n`},
		{"unreachable Aura", []string{"-api", "http://127.0.0.1:1/api", "-dir", os.TempDir()},
			map[string]string{"AURA_APP_ID": "a", "AURA_APP_SECRET": "s", "AURA_API_KEY": "k"}, exitFailed,
			`quickstart: [^\n]*connection refused; is the server running, and is the URL right\?\n`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := run(context.Background(), c.args, func(k string) string { return c.env[k] }, &out, &errOut)
			assert.Equal(t, c.code, code)
			assert.Regexp(t, "^"+c.stderr+"$", errOut.String())
			assert.NotContains(t, errOut.String(), "uploader: ", "no package prefixes")
		})
	}
	t.Run("interrupted", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var out, errOut bytes.Buffer
		code := run(ctx, nil, noEnv, &out, &errOut)
		assert.Equal(t, exitInterrupted, code, errOut.String())
	})
	t.Run("help", func(t *testing.T) {
		t.Parallel()
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"-h"}, noEnv, &out, &errOut)
		assert.Equal(t, exitOK, code)
		assert.Empty(t, errOut.String())
		assert.Contains(t, out.String(), "usage: quickstart ")
		assert.Contains(t, out.String(), "environment:\n  AURA_APP_ID ")
		assert.Contains(t, out.String(), "exit status:\n  0 ")
		assert.NotContains(t, out.String(), "Fake Aura API", "-h started the demo")
	})
}

// TestQuickstartInterrupted: Ctrl-C in the middle of the transfer pauses
// the upload; the program keeps no state to resume it, so it cancels it
// (Aura told, the Tus upload deleted) and exits 130.
func TestQuickstartInterrupted(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	dir := filepath.Join(t.TempDir(), "studies")
	_, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{Studies: 1, SeriesPerStudy: 1, InstancesPerSeries: 3})
	require.NoError(t, err)
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Once the server answered the creation, and the client had the
		// time to read its answer, the first PATCH is held.
		for !tusCreated(aura) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	env := map[string]string{"AURA_APP_ID": aura.AppID, "AURA_APP_SECRET": aura.Secret, "AURA_API_KEY": aura.APIKey}
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"-api", aura.URL, "-dir", dir}, func(k string) string { return env[k] }, &out, &errOut)
	assert.Equal(t, exitInterrupted, code, errOut.String())
	assert.Contains(t, errOut.String(), "interrupted")
	ss := aura.Sessions()
	require.Len(t, ss, 1)
	assert.Equal(t, "cancelled", ss[0].State)
	up := aura.Uploads()
	require.Len(t, up, 1)
	assert.True(t, up[0].Terminated, "tus upload deleted")
}

// tusCreated reports whether the fake answered a Tus creation.
func tusCreated(aura *auratest.Server) bool {
	for _, c := range aura.CallsTo(auratest.EndpointTus) {
		if c.Method == "POST" && c.Status == 201 {
			return true
		}
	}
	return false
}
