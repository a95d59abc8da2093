package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// TestServesUntilCancelled: the printed endpoint answers Tus OPTIONS while
// the program runs, and the program exits 0 when its context ends.
func TestServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testenv.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-checksum"}, &stdout, &stderr) }()
	var endpoint string
	require.Eventually(t, func() bool {
		line, ok := strings.CutPrefix(stdout.String(), "export TUS_ENDPOINT=")
		endpoint = strings.TrimSpace(line)
		return ok && strings.HasSuffix(line, "\n")
	}, 10*time.Second, 10*time.Millisecond)
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
