package uploadtoken

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Source supplies upload tokens to code that calls the Aura API (the
// uploader). Implementations must be safe for concurrent use.
type Source interface {
	Token(ctx context.Context) (*Token, error)
}

// SourceFunc adapts a function to [Source].
type SourceFunc func(ctx context.Context) (*Token, error)

// Token calls f.
func (f SourceFunc) Token(ctx context.Context) (*Token, error) { return f(ctx) }

// StaticSource returns a Source that always returns tok: for a token
// obtained elsewhere (a browser-style flow where the backend hands out the
// token). It is safe for concurrent use.
func StaticSource(tok *Token) Source { return staticSource{tok} }

type staticSource struct{ tok *Token }

func (s staticSource) Token(ctx context.Context) (*Token, error) {
	if s.tok == nil || s.tok.Value == "" {
		return nil, errors.New("uploadtoken: static source has no token")
	}
	return s.tok, nil
}

// DefaultRefreshMargin is how long before expiry a cached token is replaced,
// as Aura's C# and Python clients do (docs/aura.md, "Upload tokens").
const DefaultRefreshMargin = 60 * time.Second

// CachingSource wraps a Source (usually an exchange) and reuses its token
// until less than Margin of validity remains. Concurrent callers that need
// a new token share one in-flight call: 100 goroutines asking at once cause
// one exchange. If a refresh fails while the cached token is still valid,
// the cached token is returned and the next call tries again.
//
// The in-flight call runs with the first caller's context values but not its
// cancellation (a caller that gives up does not fail the others), bounded by
// Timeout. A CachingSource is safe for concurrent use.
type CachingSource struct {
	Source  Source           // where new tokens come from
	Margin  time.Duration    // 0: DefaultRefreshMargin
	Timeout time.Duration    // bound on one refresh; 0: 1 minute
	Now     func() time.Time // nil: time.Now

	mu       sync.Mutex // guards tok, fetched and inflight
	tok      *Token
	fetched  time.Time // when tok arrived
	inflight *call
}

// call is one refresh shared by every waiter; done closes when tok/err are set.
type call struct {
	done chan struct{}
	tok  *Token
	err  error
}

// Source returns a CachingSource that exchanges req through c.
func (c *Client) Source(req ExchangeRequest) *CachingSource {
	return &CachingSource{
		Source: SourceFunc(func(ctx context.Context) (*Token, error) { return c.Exchange(ctx, req) }),
		Now:    c.Now,
	}
}

// Token returns the cached token, or fetches a new one when it is missing or
// within Margin of expiry.
func (s *CachingSource) Token(ctx context.Context) (*Token, error) {
	if s.Source == nil {
		return nil, errors.New("uploadtoken: CachingSource.Source is nil")
	}
	now := s.now()
	s.mu.Lock()
	cur := s.tok
	if s.fresh(cur, now) {
		s.mu.Unlock()
		return cur, nil
	}
	c := s.inflight
	if c == nil {
		c = &call{done: make(chan struct{})}
		s.inflight = c
		go s.refresh(context.WithoutCancel(ctx), c)
	}
	s.mu.Unlock()

	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.err != nil {
		if cur.Valid(s.now()) {
			return cur, nil
		}
		return nil, c.err
	}
	return c.tok, nil
}

func (s *CachingSource) refresh(ctx context.Context, c *call) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tok, err := s.Source.Token(ctx)
	if err == nil && (tok == nil || tok.Value == "") {
		err = errors.New("uploadtoken: source returned no token")
	}
	now := s.now()
	s.mu.Lock()
	if err == nil {
		s.tok, s.fetched = tok, now
	}
	s.inflight = nil
	s.mu.Unlock()
	c.tok, c.err = tok, err
	close(c.done)
}

// Invalidate drops tok from the cache if it is still the cached token, so
// that the next call fetches a new one. Call it when the API rejects the
// token (401: exhausted max_uses or revoked) before it expires.
func (s *CachingSource) Invalidate(tok *Token) {
	s.mu.Lock()
	if tok != nil && s.tok == tok {
		s.tok = nil
	}
	s.mu.Unlock()
}

// fresh reports whether t can be handed out at now. The margin never
// exceeds half the token's lifetime, so a token issued for less than two
// margins is still reused for a while instead of being refetched on every
// call. s.mu must be held.
func (s *CachingSource) fresh(t *Token, now time.Time) bool {
	if t == nil || t.Value == "" {
		return false
	}
	if t.ExpiresAt.IsZero() {
		return true
	}
	margin := s.Margin
	if margin <= 0 {
		margin = DefaultRefreshMargin
	}
	if life := t.ExpiresAt.Sub(s.fetched); t == s.tok && life/2 < margin {
		margin = life / 2
	}
	return t.ExpiresAt.Sub(now) >= margin
}

func (s *CachingSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
