package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/dicombridge/dicombridge/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCommandLine: -h prints usage with the variables and starts nothing,
// even when the configuration is complete; configuration errors exit 2
// with one line; a runtime failure exits 1 with one line and a hint.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	busy := testenv.BusyAddr(t)
	full := map[string]string{"SECRET_KEY": key, "USERS": `{"orthanc":"pw"}`, "LISTEN": "127.0.0.1:0"}
	inUse := map[string]string{"SECRET_KEY": key, "USERS": `{"orthanc":"pw"}`, "LISTEN": busy}
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout string // substring
		stderr string // regular expression for all of stderr
	}{
		{"help", []string{"-h"}, full, 0, "environment:\n  SECRET_KEY ", ``},
		{"help, long", []string{"-help"}, full, 0, "exit status:\n  0 ", ``},
		{"stray argument", []string{"serve"}, full, 2, "",
			`shareservice: unexpected argument "serve"; shareservice is configured by environment variables \(run 'shareservice -h' for usage\)\n`},
		{"bad flag", []string{"-listen", "x"}, full, 2, "", `shareservice: flag provided but not defined: -listen \(run 'shareservice -h' for usage\)\n`},
		{"no secret", nil, map[string]string{}, 2, "", `shareservice: SECRET_KEY is required; see 'shareservice -h' for the variables\n`},
		{"weak secret", nil, map[string]string{"SECRET_KEY": "change-me", "ALLOW_ANONYMOUS": "true"}, 2, "",
			`shareservice: SECRET_KEY must be at least 32 bytes .*; see 'shareservice -h' for the variables\n`},
		{"address in use", nil, inUse, 1, "",
			`shareservice: listen tcp ` + regexp.QuoteMeta(busy) + `: bind: address already in use; another program listens there; choose another address\n`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			started := false
			code := command(context.Background(), c.args, envOf(c.env), noFiles, &out, &errOut, func(string) { started = true })
			assert.Equal(t, c.code, code)
			assert.Regexp(t, "^"+c.stderr+"$", errOut.String())
			assert.Contains(t, out.String(), c.stdout)
			assert.False(t, started, "the server started")
			assert.NotContains(t, errOut.String(), "change-me", "the secret was printed")
		})
	}
}

// TestCommandRuns: without -h the command serves until its context ends,
// then exits 0.
func TestCommandRuns(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() {
		done <- command(ctx, nil, envOf(map[string]string{"SECRET_KEY": key, "USERS": `{"a":"b"}`, "LISTEN": "127.0.0.1:0"}),
			noFiles, &out, &errOut, func(a string) { ready <- a })
	}()
	select {
	case <-ready:
	case code := <-done:
		require.Fail(t, "exited", "code %d: %s", code, errOut.String())
	}
	cancel()
	assert.Equal(t, 0, <-done)
	assert.Contains(t, errOut.String(), `msg="shareservice listening"`, "the service logs to the stderr it was given")
	assert.NotContains(t, errOut.String(), "shareservice: ", "no failure line")
}
