package hmac

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for MemoryNonceStore.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestMemoryNonceStoreExpiry(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: t0}
	m := &MemoryNonceStore{now: clock.Now}
	ctx := context.Background()
	claim := func(key string, ttl time.Duration) bool {
		t.Helper()
		fresh, err := m.Claim(ctx, key, ttl)
		require.NoError(t, err)
		return fresh
	}
	require.True(t, claim("a", time.Minute), "first claim must be fresh")
	require.False(t, claim("a", time.Minute), "the second claim must be a replay")
	require.True(t, claim("b", 10*time.Minute), "b must be fresh")
	clock.Advance(time.Minute - time.Nanosecond)
	require.False(t, claim("a", time.Minute), "a forgotten before its ttl")
	clock.Advance(time.Nanosecond)
	assert.Equal(t, 2, m.len(), "before expiry runs")
	assert.True(t, claim("a", time.Minute), "a not forgotten after its ttl")
	assert.False(t, claim("b", time.Minute), "b forgotten early")
	clock.Advance(time.Hour)
	claim("c", time.Minute)
	assert.Equal(t, 1, m.len(), "after everything expired")
}

func TestMemoryNonceStoreCapacity(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: t0}
	m := &MemoryNonceStore{capacity: 3, now: clock.Now}
	ctx := context.Background()
	for i := range 3 {
		fresh, err := m.Claim(ctx, fmt.Sprint(i), time.Duration(i+1)*time.Minute)
		require.NoError(t, err)
		require.True(t, fresh, "claim %d", i)
	}
	_, err := m.Claim(ctx, "x", time.Minute)
	require.ErrorIs(t, err, ErrNonceStoreFull, "4th claim")
	// A full store still recognises replays.
	fresh, err := m.Claim(ctx, "0", time.Minute)
	require.NoError(t, err)
	assert.False(t, fresh, "replay in a full store")
	clock.Advance(time.Minute)
	fresh, err = m.Claim(ctx, "x", time.Minute)
	require.NoError(t, err)
	assert.True(t, fresh, "claim after one expired")
}

// TestMemoryNonceStoreHeapOrder claims with shuffled ttls and checks that
// each key is forgotten exactly when its own ttl ends.
func TestMemoryNonceStoreHeapOrder(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: t0}
	m := &MemoryNonceStore{now: clock.Now}
	ctx := context.Background()
	ttls := []int{7, 3, 9, 1, 5, 8, 2, 6, 4, 10, 3, 7}
	for i, s := range ttls {
		m.Claim(ctx, fmt.Sprint(i), time.Duration(s)*time.Second)
	}
	for sec := 1; sec <= 10; sec++ {
		clock.Advance(time.Second)
		m.mu.Lock()
		m.expire(clock.Now())
		for i, ttl := range ttls {
			_, held := m.seen[fmt.Sprint(i)]
			assert.Equal(t, ttl > sec, held, "at %ds key %d (ttl %ds)", sec, i, ttl)
		}
		assert.Len(t, m.byExpiry, len(m.seen), "heap and map disagree")
		m.mu.Unlock()
	}
}

func TestMemoryNonceStoreRejects(t *testing.T) {
	t.Parallel()
	var m MemoryNonceStore // zero value is usable
	_, err := m.Claim(context.Background(), "a", 0)
	assert.Error(t, err, "ttl 0 accepted")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Claim(ctx, "a", time.Minute)
	assert.ErrorIs(t, err, context.Canceled)
	fresh, err := m.Claim(context.Background(), "a", time.Minute)
	assert.NoError(t, err)
	assert.True(t, fresh, "zero value claim")
}

func TestMemoryNonceStoreConcurrent(t *testing.T) {
	t.Parallel()
	m := NewMemoryNonceStore(0)
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			ok, err := m.Claim(context.Background(), "app/nonce", time.Minute)
			assert.NoError(t, err)
			if ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), fresh.Load(), "fresh claims")
}
