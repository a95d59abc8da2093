package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServesUntilCancelled: the printed endpoint answers Tus OPTIONS while
// the program runs, and the program exits 0 when its context ends.
func TestServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-checksum"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	endpoint, ok := strings.CutPrefix(strings.TrimSpace(line), "export TUS_ENDPOINT=")
	require.True(t, ok, line)
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	req, err := http.NewRequest(http.MethodOptions, endpoint, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "1.0.0", resp.Header.Get("Tus-Resumable"))
	assert.Contains(t, resp.Header.Get("Tus-Extension"), "checksum")
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("localtus did not stop")
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	assert.Equal(t, 0, run(context.Background(), []string{"-h"}, &out, &out))
	assert.Contains(t, out.String(), "usage: localtus")
	assert.Equal(t, 2, run(context.Background(), []string{"extra"}, &out, &out))
	assert.Equal(t, 2, run(context.Background(), []string{"-nope"}, &out, &out))
}
