package ohifbridge

import (
	"context"
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
	now := time.Unix(1_800_000_000, 0)
	s := newMemoryStore(2, func() time.Time { return now })

	added, err := s.Add(ctx, "a", []byte("1"), time.Minute)
	require.NoError(t, err)
	assert.True(t, added)
	added, err = s.Add(ctx, "a", []byte("2"), time.Minute)
	require.NoError(t, err)
	assert.False(t, added, "a live key is not replaced")
	v, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, []byte("1"), v)

	_, err = s.Add(ctx, "b", []byte("1"), time.Second)
	require.NoError(t, err)
	_, err = s.Add(ctx, "c", []byte("1"), time.Minute)
	assert.ErrorIs(t, err, errStoreFull, "full of live records: refuse, never forget")

	now = now.Add(2 * time.Second) // b expires
	_, ok, _ = s.Get(ctx, "b")
	assert.False(t, ok)
	added, err = s.Add(ctx, "c", []byte("1"), time.Minute)
	require.NoError(t, err)
	assert.True(t, added, "expired records make room")

	require.NoError(t, s.Delete(ctx, "a"))
	require.NoError(t, s.Delete(ctx, "a"))
	_, ok, _ = s.Get(ctx, "a")
	assert.False(t, ok)
	added, _ = s.Add(ctx, "a", nil, time.Minute)
	assert.True(t, added)

	_, err = s.Add(ctx, "d", nil, 0)
	assert.Error(t, err)
}

// TestMemoryStoreAddIsAtomic: of concurrent Adds of one key exactly one
// wins, which is what makes codes and refresh tokens single-use.
func TestMemoryStoreAddIsAtomic(t *testing.T) {
	t.Parallel()
	s := newMemoryStore(16, time.Now)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := s.Add(context.Background(), "k", nil, time.Minute); err == nil && ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())
}
