package uploadtoken

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.EqualValues(t, 1, src.calls.Load(), "exchanges for 100 concurrent callers")
	for i := range toks {
		require.NoError(t, errs[i], "caller %d", i)
		assert.Same(t, toks[0], toks[i], "caller %d", i)
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
	tok, err := cs.Token(ctx)
	require.NoError(t, err)
	assert.Same(t, first, tok, "token replaced with 61 s left")
	assert.EqualValues(t, 1, src.calls.Load())
	clk.Add(2 * time.Second) // 59 s left: replaced
	second, err := cs.Token(ctx)
	require.NoError(t, err)
	assert.NotSame(t, first, second, "token not replaced with 59 s left")
	assert.EqualValues(t, 2, src.calls.Load())
}

func TestCachingSourceShortLivedTokens(t *testing.T) {
	t.Parallel()
	clk := newClock()
	src := &countingSource{clk: clk, ttl: 30 * time.Second} // shorter than the margin
	cs := &CachingSource{Source: src, Now: clk.Now}
	ctx := context.Background()
	first, _ := cs.Token(ctx)
	clk.Add(10 * time.Second)
	tok, _ := cs.Token(ctx)
	assert.Same(t, first, tok, "a 30 s token was refetched after 10 s")
	clk.Add(6 * time.Second)
	tok, _ = cs.Token(ctx)
	assert.NotSame(t, first, tok, "a 30 s token was reused with 14 s left")
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
	tok, err := cs.Token(ctx)
	require.NoError(t, err, "valid token not returned after a failed refresh")
	assert.Same(t, first, tok)
	clk.Add(31 * time.Second) // expired now
	_, err = cs.Token(ctx)
	assert.EqualError(t, err, "exchange failed", "expired token returned after a failed refresh")
	src.fail.Store(false)
	tok, err = cs.Token(ctx)
	require.NoError(t, err, "no recovery")
	assert.NotSame(t, first, tok)
}

func TestCachingSourceInvalidateAndCancel(t *testing.T) {
	t.Parallel()
	clk := newClock()
	src := &countingSource{clk: clk, ttl: time.Hour}
	cs := &CachingSource{Source: src, Now: clk.Now}
	ctx := context.Background()
	first, _ := cs.Token(ctx)
	cs.Invalidate(&Token{Value: first.Value}) // another pointer: ignored
	tok, _ := cs.Token(ctx)
	assert.Same(t, first, tok, "Invalidate of a different token dropped the cache")
	cs.Invalidate(first)
	tok, _ = cs.Token(ctx)
	assert.NotSame(t, first, tok, "Invalidate did not drop the token")

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
	assert.ErrorIs(t, <-done, context.Canceled, "cancelled waiter")
	close(src2.gate) // the shared call completes for the other caller
	r := <-other
	require.NoError(t, r.err, "other caller after the first cancelled")
	assert.NotNil(t, r.tok)
	assert.EqualValues(t, 1, src2.calls.Load())
	tok, err := cs2.Token(ctx)
	require.NoError(t, err)
	assert.Same(t, r.tok, tok)
	assert.EqualValues(t, 1, src2.calls.Load())
}

func TestStaticSource(t *testing.T) {
	t.Parallel()
	tok := &Token{Value: "aubt_x"}
	got, err := StaticSource(tok).Token(context.Background())
	require.NoError(t, err)
	assert.Same(t, tok, got)
	_, err = StaticSource(nil).Token(context.Background())
	assert.EqualError(t, err, "uploadtoken: static source has no token")
}
