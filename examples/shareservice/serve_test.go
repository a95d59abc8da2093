package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// caller sends a request with HTTP Basic orthanc:pw and headers given as
// name, value pairs, and returns the status and body.
type caller func(method, path, body string, hdr ...string) (int, string)

// serve runs the program with env on a free port and returns its base
// URL, a caller, and stop, which ends it and checks that it exited
// cleanly (also done when the test ends).
func serve(t *testing.T, env map[string]string) (base string, call caller, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, envOf(env), noFiles, io.Discard, func(a string) { addrc <- a }) }()
	select {
	case a := <-addrc:
		base = "http://" + a
	case err := <-done:
		cancel()
		require.NoError(t, err)
		t.Fatal("run returned before listening")
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			assert.ErrorIs(t, err, context.Canceled, "run")
		}
	}
	t.Cleanup(stop)
	call = func(method, path, body string, hdr ...string) (int, string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.SetBasicAuth("orthanc", "pw")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	return base, call, stop
}
