package hmac

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if !claim("a", time.Minute) || claim("a", time.Minute) {
		t.Fatal("first claim must be fresh, the second a replay")
	}
	if !claim("b", 10*time.Minute) {
		t.Fatal("b must be fresh")
	}
	clock.Advance(time.Minute - time.Nanosecond)
	if claim("a", time.Minute) {
		t.Fatal("a forgotten before its ttl")
	}
	clock.Advance(time.Nanosecond)
	if m.len() != 2 {
		t.Fatalf("Len = %d before expiry runs, want 2", m.len())
	}
	if !claim("a", time.Minute) {
		t.Fatal("a not forgotten after its ttl")
	}
	if claim("b", time.Minute) {
		t.Fatal("b forgotten early")
	}
	clock.Advance(time.Hour)
	claim("c", time.Minute)
	if m.len() != 1 {
		t.Fatalf("Len = %d after everything expired, want 1", m.len())
	}
}

func TestMemoryNonceStoreCapacity(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: t0}
	m := &MemoryNonceStore{capacity: 3, now: clock.Now}
	ctx := context.Background()
	for i := range 3 {
		if fresh, err := m.Claim(ctx, fmt.Sprint(i), time.Duration(i+1)*time.Minute); !fresh || err != nil {
			t.Fatalf("claim %d: %v %v", i, fresh, err)
		}
	}
	if _, err := m.Claim(ctx, "x", time.Minute); !errors.Is(err, ErrNonceStoreFull) {
		t.Fatalf("4th claim: %v, want ErrNonceStoreFull", err)
	}
	// A full store still recognises replays.
	if fresh, err := m.Claim(ctx, "0", time.Minute); fresh || err != nil {
		t.Fatalf("replay in a full store: %v %v", fresh, err)
	}
	clock.Advance(time.Minute)
	if fresh, err := m.Claim(ctx, "x", time.Minute); !fresh || err != nil {
		t.Fatalf("claim after one expired: %v %v", fresh, err)
	}
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
			if _, held := m.seen[fmt.Sprint(i)]; held != (ttl > sec) {
				t.Errorf("at %ds key %d (ttl %ds): held=%v", sec, i, ttl, held)
			}
		}
		if len(m.seen) != len(m.byExpiry) {
			t.Errorf("map has %d entries, heap %d", len(m.seen), len(m.byExpiry))
		}
		m.mu.Unlock()
	}
}

func TestMemoryNonceStoreRejects(t *testing.T) {
	t.Parallel()
	var m MemoryNonceStore // zero value is usable
	if _, err := m.Claim(context.Background(), "a", 0); err == nil {
		t.Error("ttl 0 accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Claim(ctx, "a", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	if fresh, err := m.Claim(context.Background(), "a", time.Minute); !fresh || err != nil {
		t.Errorf("zero value claim: %v %v", fresh, err)
	}
}

func TestMemoryNonceStoreConcurrent(t *testing.T) {
	t.Parallel()
	m := NewMemoryNonceStore(0)
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			ok, err := m.Claim(context.Background(), "app/nonce", time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Fatalf("%d fresh claims, want exactly 1", fresh.Load())
	}
}
