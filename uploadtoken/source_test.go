package uploadtoken

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable time source for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingSource hands out numbered tokens living ttl, after an optional gate.
type countingSource struct {
	clk   *clock
	ttl   time.Duration
	calls atomic.Int32
	gate  chan struct{}
	fail  atomic.Bool
}

func (s *countingSource) Token(ctx context.Context) (*Token, error) {
	n := s.calls.Add(1)
	if s.gate != nil {
		select { // an exchange gives up with its context, as a real one does
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s.fail.Load() {
		return nil, errors.New("exchange failed")
	}
	return &Token{Value: "aubt_" + string(rune('a'+n)), ExpiresAt: s.clk.Now().Add(s.ttl)}, nil
}

func TestCachingSourceSingleFlight(t *testing.T) {
	t.Parallel()
	clk := newClock()
	src := &countingSource{clk: clk, ttl: time.Hour, gate: make(chan struct{})}
	cs := &CachingSource{Source: src, Now: clk.Now}
	var wg sync.WaitGroup
	toks := make([]*Token, 100)
	errs := make([]error, 100)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], errs[i] = cs.Token(context.Background())
		}()
	}
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others queue behind the in-flight call
	close(src.gate)
	wg.Wait()
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d exchanges for 100 concurrent callers, want 1", n)
	}
	for i := range toks {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d got %v, %v", i, toks[i], errs[i])
		}
	}
}

func TestCachingSourceRefreshMargin(t *testing.T) {
	t.Parallel()
	clk := newClock()
	src := &countingSource{clk: clk, ttl: time.Hour}
	cs := &CachingSource{Source: src, Now: clk.Now}
	ctx := context.Background()
	first, _ := cs.Token(ctx)
	clk.Add(time.Hour - 61*time.Second) // 61 s left: still reused
	if tok, _ := cs.Token(ctx); tok != first || src.calls.Load() != 1 {
		t.Fatalf("token replaced with 61 s left (calls %d)", src.calls.Load())
	}
	clk.Add(2 * time.Second) // 59 s left: replaced
	second, err := cs.Token(ctx)
	if err != nil || second == first || src.calls.Load() != 2 {
		t.Fatalf("token not replaced with 59 s left (calls %d, err %v)", src.calls.Load(), err)
	}
}

func TestCachingSourceShortLivedTokens(t *testing.T) {
	t.Parallel()
	clk := newClock()
	src := &countingSource{clk: clk, ttl: 30 * time.Second} // shorter than the margin
	cs := &CachingSource{Source: src, Now: clk.Now}
	ctx := context.Background()
	first, _ := cs.Token(ctx)
	clk.Add(10 * time.Second)
	if tok, _ := cs.Token(ctx); tok != first {
		t.Fatal("a 30 s token was refetched after 10 s")
	}
	clk.Add(6 * time.Second)
	if tok, _ := cs.Token(ctx); tok == first {
		t.Fatal("a 30 s token was reused with 14 s left")
	}
}

func TestCachingSourceFailureKeepsValidToken(t *testing.T) {
	t.Parallel()
	clk := newClock()
	src := &countingSource{clk: clk, ttl: time.Hour}
	cs := &CachingSource{Source: src, Now: clk.Now}
	ctx := context.Background()
	first, _ := cs.Token(ctx)
	src.fail.Store(true)
	clk.Add(time.Hour - 30*time.Second)
	if tok, err := cs.Token(ctx); err != nil || tok != first {
		t.Fatalf("valid token not returned after a failed refresh: %v, %v", tok, err)
	}
	clk.Add(31 * time.Second) // expired now
	if _, err := cs.Token(ctx); err == nil {
		t.Fatal("expired token returned after a failed refresh")
	}
	src.fail.Store(false)
	if tok, err := cs.Token(ctx); err != nil || tok == first {
		t.Fatalf("no recovery: %v %v", tok, err)
	}
}

func TestCachingSourceInvalidateAndCancel(t *testing.T) {
	t.Parallel()
	clk := newClock()
	src := &countingSource{clk: clk, ttl: time.Hour}
	cs := &CachingSource{Source: src, Now: clk.Now}
	ctx := context.Background()
	first, _ := cs.Token(ctx)
	cs.Invalidate(&Token{Value: first.Value}) // another pointer: ignored
	if tok, _ := cs.Token(ctx); tok != first {
		t.Fatal("Invalidate of a different token dropped the cache")
	}
	cs.Invalidate(first)
	if tok, _ := cs.Token(ctx); tok == first {
		t.Fatal("Invalidate did not drop the token")
	}

	// The first caller starts the exchange and gives up; a second caller
	// waiting meanwhile must still get the token from that one exchange
	// (the exchange must not run on the first caller's cancellation).
	src2 := &countingSource{clk: clk, ttl: time.Hour, gate: make(chan struct{})}
	cs2 := &CachingSource{Source: src2, Now: clk.Now}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := cs2.Token(cctx); done <- err }()
	for src2.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	type result struct {
		tok *Token
		err error
	}
	other := make(chan result, 1)
	go func() { tok, err := cs2.Token(ctx); other <- result{tok, err} }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter got %v", err)
	}
	close(src2.gate) // the shared call completes for the other caller
	if r := <-other; r.err != nil || r.tok == nil || src2.calls.Load() != 1 {
		t.Fatalf("other caller after the first cancelled: %v %v calls %d", r.tok, r.err, src2.calls.Load())
	}
	if tok, err := cs2.Token(ctx); err != nil || tok == nil || src2.calls.Load() != 1 {
		t.Fatalf("after cancel: %v %v calls %d", tok, err, src2.calls.Load())
	}
}

func TestStaticSource(t *testing.T) {
	t.Parallel()
	tok := &Token{Value: "aubt_x"}
	if got, err := StaticSource(tok).Token(context.Background()); err != nil || got != tok {
		t.Fatal("static source")
	}
	if _, err := StaticSource(nil).Token(context.Background()); err == nil {
		t.Fatal("nil static source gave no error")
	}
}
