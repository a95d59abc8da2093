package kheops

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

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC)
	m := NewMemoryStore(3).(*memoryStore)
	m.now = func() time.Time { return now }
	claim := func(id string) bool {
		ok, err := m.Claim(ctx, id, time.Minute)
		require.NoError(t, err)
		return ok
	}
	assert.True(t, claim("a"))
	assert.False(t, claim("a"), "a duplicate")
	require.NoError(t, m.Release(ctx, "a"))
	assert.True(t, claim("a"), "released ids can be claimed again")

	now = now.Add(61 * time.Second)
	assert.True(t, claim("a"), "expired ids can be claimed again")
	assert.True(t, claim("b"))
	assert.True(t, claim("c"))
	assert.True(t, claim("d"), "full: the oldest live claim is forgotten")
	assert.Len(t, m.ids, 3)
	assert.True(t, claim("a"), "a was the oldest")
	assert.False(t, claim("c"))
	assert.False(t, claim("d"))

	// Bounded however ids are claimed and released.
	for i := 0; i < 1000; i++ {
		id := fmt.Sprint(i)
		claim(id)
		if i%2 == 0 {
			require.NoError(t, m.Release(ctx, id))
		}
		if i%100 == 0 {
			now = now.Add(time.Second)
		}
	}
	assert.LessOrEqual(t, len(m.ids), 3)
	assert.LessOrEqual(t, len(m.order), 2*3+1)
}

func TestMemoryStoreConcurrent(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(0)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := m.Claim(context.Background(), "x", time.Minute); ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())
}
