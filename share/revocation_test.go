package share

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestMemoryRevocations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{t: katNow}
	m := &MemoryRevocations{MaxEntries: 3, Now: clk.Now}

	if r, err := m.Revoked(ctx, "a"); r || err != nil {
		t.Fatalf("zero value: %v %v", r, err)
	}
	for _, id := range []string{"a", "b"} {
		if err := m.Revoke(ctx, id, katNow.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Revoke(ctx, "forever", neverExpires); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "forever"} {
		if r, _ := m.Revoked(ctx, id); !r {
			t.Errorf("%s not revoked", id)
		}
	}
	// Full of live entries: refuse rather than forget a revocation.
	if err := m.Revoke(ctx, "c", katNow.Add(time.Minute)); !errors.Is(err, ErrStoreFull) {
		t.Fatalf("full store: err = %v", err)
	}
	// Re-revoking a known id is fine and extends it.
	if err := m.Revoke(ctx, "a", katNow.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(90 * time.Second)
	if r, _ := m.Revoked(ctx, "b"); r {
		t.Error("b still reported after its token expired")
	}
	if r, _ := m.Revoked(ctx, "a"); !r {
		t.Error("a forgotten before its extended expiry")
	}
	// Expired entries make room.
	if err := m.Revoke(ctx, "c", katNow.Add(time.Hour)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if m.len() != 3 {
		t.Errorf("Len = %d, want 3 (a, forever, c)", m.len())
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Revoke(cancelled, "d", neverExpires); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestMemoryRevocationsSweepsWithoutFilling(t *testing.T) {
	t.Parallel()
	clk := &clock{t: katNow}
	m := &MemoryRevocations{Now: clk.Now}
	for i := range 10_000 {
		if err := m.Revoke(context.Background(), fmt.Sprint(i), clk.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		clk.Advance(100 * time.Millisecond)
	}
	if n := m.len(); n > 100 {
		t.Errorf("%d entries kept for tokens that expire after a second", n)
	}
}

func TestMemoryRevocationsConcurrent(t *testing.T) {
	t.Parallel()
	m := &MemoryRevocations{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				id := fmt.Sprint(g, "-", i)
				if err := m.Revoke(context.Background(), id, time.Now().Add(time.Hour)); err != nil {
					t.Error(err)
					return
				}
				if r, _ := m.Revoked(context.Background(), id); !r {
					t.Errorf("%s not revoked", id)
					return
				}
			}
		})
	}
	wg.Wait()
	if m.len() != 4000 {
		t.Errorf("Len = %d", m.len())
	}
}
