package share

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryRevocations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{t: katNow}
	m := &MemoryRevocations{MaxEntries: 3, Now: clk.Now}

	r, err := m.Revoked(ctx, "a")
	require.NoError(t, err)
	require.False(t, r, "zero value")
	for _, id := range []string{"a", "b"} {
		require.NoError(t, m.Revoke(ctx, id, katNow.Add(time.Minute)))
	}
	require.NoError(t, m.Revoke(ctx, "forever", neverExpires))
	for _, id := range []string{"a", "b", "forever"} {
		r, _ := m.Revoked(ctx, id)
		assert.True(t, r, "%s not revoked", id)
	}
	// Full of live entries: refuse rather than forget a revocation.
	require.ErrorIs(t, m.Revoke(ctx, "c", katNow.Add(time.Minute)), ErrStoreFull, "full store")
	// Re-revoking a known id is fine and extends it.
	require.NoError(t, m.Revoke(ctx, "a", katNow.Add(2*time.Minute)))
	clk.Advance(90 * time.Second)
	r, _ = m.Revoked(ctx, "b")
	assert.False(t, r, "b still reported after its token expired")
	r, _ = m.Revoked(ctx, "a")
	assert.True(t, r, "a forgotten before its extended expiry")
	// Expired entries make room.
	require.NoError(t, m.Revoke(ctx, "c", katNow.Add(time.Hour)), "after expiry")
	assert.Equal(t, 3, m.len(), "a, forever, c")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, m.Revoke(cancelled, "d", neverExpires), context.Canceled)
}

func TestMemoryRevocationsSweepsWithoutFilling(t *testing.T) {
	t.Parallel()
	clk := &clock{t: katNow}
	m := &MemoryRevocations{Now: clk.Now}
	for i := range 10_000 {
		require.NoError(t, m.Revoke(context.Background(), fmt.Sprint(i), clk.Now().Add(time.Second)))
		clk.Advance(100 * time.Millisecond)
	}
	assert.LessOrEqual(t, m.len(), 100, "entries kept for tokens that expire after a second")
}

func TestMemoryRevocationsConcurrent(t *testing.T) {
	t.Parallel()
	m := &MemoryRevocations{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				id := fmt.Sprint(g, "-", i)
				if !assert.NoError(t, m.Revoke(context.Background(), id, time.Now().Add(time.Hour))) {
					return
				}
				if r, _ := m.Revoked(context.Background(), id); !assert.True(t, r, "%s not revoked", id) {
					return
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 4000, m.len())
}
