package tusclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

// TestCapabilities reads tusd's OPTIONS answer, and the checksum layer's.
func TestCapabilities(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer(tustest.WithChecksum(), tustest.WithMaxSize(1<<30))
	t.Cleanup(srv.Close)
	c, err := New(Config{Endpoint: srv.URL, HTTPClient: srv.Client()})
	require.NoError(t, err)
	caps, err := c.capabilities(context.Background())
	require.NoError(t, err)
	for _, ext := range []string{"creation", "creation-with-upload", "termination", "concatenation", "creation-defer-length", "checksum"} {
		assert.Truef(t, caps.Has(ext), "extension %s missing from %v", ext, caps.Extensions)
	}
	assert.True(t, caps.Known)
	assert.EqualValues(t, 1<<30, caps.MaxSize)
	assert.True(t, caps.HasChecksum("sha1"))
	require.NotEmpty(t, caps.Versions)
	assert.Equal(t, "1.0.0", caps.Versions[0])
	_, err = c.capabilities(context.Background())
	require.NoError(t, err)
	n := 0
	for _, r := range srv.Calls() {
		if r.Method == http.MethodOptions {
			n++
			assert.Empty(t, r.Header.Get("Tus-Resumable"), "OPTIONS carried Tus-Resumable")
		}
	}
	assert.Equal(t, 1, n, "OPTIONS requests (the answer is cached)")
}

// TestCapabilitiesWaitHonoursContext: a caller waiting for another
// caller's OPTIONS request to finish gives up when its own context ends.
// It used to block on a mutex until the other request (with its retries
// and stall timeouts, minutes in the worst case) was over, whatever its
// context said.
func TestCapabilitiesWaitHonoursContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
		w.Header().Set("Tus-Version", "1.0.0")
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Endpoint: srv.URL + "/files/", HTTPClient: srv.Client()})
	require.NoError(t, err)
	first := make(chan error, 1)
	go func() {
		_, err := c.capabilities(context.Background())
		first <- err
	}()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	go func() {
		_, err := c.capabilities(ctx)
		second <- err
	}()
	select {
	case err := <-second:
		assert.ErrorIs(t, err, context.DeadlineExceeded, "waiting caller")
	case <-time.After(10 * time.Second):
		t.Error("waiting caller ignored its context")
		defer func() { <-second }()
	}
	close(release)
	require.NoError(t, <-first)
	caps, err := c.capabilities(context.Background())
	assert.NoError(t, err)
	assert.True(t, caps.Known, "cached capabilities")
}
