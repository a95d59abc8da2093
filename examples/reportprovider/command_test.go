package main

import (
	"context"
	"path/filepath"
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
	busy := testenv.BusyAddr(t)
	key := filepath.Join(t.TempDir(), "k.pem")
	h := ` \(run 'reportprovider -h' for usage\)\n`
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // regular expression for all of stderr
	}{
		{"help", []string{"-h"}, 0, "usage: reportprovider -issuer KHEOPS_URL", ``},
		{"help with -demo", []string{"-demo", "-help"}, 0, "exit status:\n  0 ", ``},
		{"no issuer", []string{"-key", key}, 2, "", `reportprovider: -issuer is required \(or use -demo\)` + h},
		{"stray argument", []string{"-demo", "x"}, 2, "", `reportprovider: unexpected argument "x"` + h},
		{"bad flag", []string{"-port", "1"}, 2, "", `reportprovider: flag provided but not defined: -port` + h},
		{"address in use", []string{"-demo", "-addr", busy, "-key", key}, 1, "",
			`reportprovider: listen tcp ` + regexp.QuoteMeta(busy) + `: bind: address already in use; another program listens there; choose another address\n`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut testenv.Buffer
			code := run(context.Background(), c.args, &out, &errOut)
			assert.Equal(t, c.code, code)
			assert.Regexp(t, "^"+c.stderr+"$", errOut.String())
			assert.Contains(t, out.String(), c.stdout)
			assert.NotContains(t, out.String(), "configuration URL", "the server started")
		})
	}
}

// TestCommandDemo: -demo serves and prints a launch URL; the end of the
// context (SIGINT in main) shuts it down with exit 0.
func TestCommandDemo(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-demo", "-addr", "127.0.0.1:0", "-key", filepath.Join(t.TempDir(), "k.pem")}, &out, &errOut)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "open this launch URL") && time.Now().Before(deadline) {
		select {
		case code := <-done:
			require.Fail(t, "exited", "code %d: %s", code, errOut.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	require.Contains(t, out.String(), "open this launch URL", errOut.String())
	cancel()
	assert.Equal(t, 0, <-done, errOut.String())
}
