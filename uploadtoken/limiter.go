package uploadtoken

import (
	"context"
	"sync"
	"time"
)

// Rate is a request budget: Limit requests per Window.
type Rate struct {
	Limit  int
	Window time.Duration
}

// The Aura API's published limits (spec §3, §7).
var (
	ExchangeRate  = Rate{Limit: 10, Window: time.Minute} // POST /auth/exchange
	ConfigRate    = Rate{Limit: 30, Window: time.Minute} // GET /uploader/config
	LifecycleRate = Rate{Limit: 60, Window: time.Minute} // POST /uploader/upload/*, shared
)

// Decision is a [Limiter]'s answer for one request.
type Decision struct {
	Allowed    bool
	Remaining  int           // requests left in the current window
	RetryAfter time.Duration // when refused: until the window resets
}

// Limiter counts requests per key in fixed windows, as Laravel's throttle
// middleware does: the first request opens a window of rate.Window, and
// requests beyond rate.Limit are refused until it closes. Implementations
// must be safe for concurrent use; [MemoryLimiter] works within one process
// and redisstore across many.
type Limiter interface {
	Allow(ctx context.Context, key string, rate Rate) (Decision, error)
}

// MemoryLimiter is an in-process [Limiter]. Closed windows are dropped as
// new ones open, so memory is bounded by the keys seen in one window. The
// zero value is ready to use and it is safe for concurrent use.
type MemoryLimiter struct {
	Now func() time.Time // nil: time.Now

	mu        sync.Mutex // guards windows and lastSweep
	windows   map[string]*window
	lastSweep time.Time
}

type window struct {
	count int
	ends  time.Time
}

// Allow implements [Limiter].
func (l *MemoryLimiter) Allow(ctx context.Context, key string, rate Rate) (Decision, error) {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windows == nil {
		l.windows = map[string]*window{}
	}
	if now.Sub(l.lastSweep) > rate.Window {
		for k, w := range l.windows {
			if !now.Before(w.ends) {
				delete(l.windows, k)
			}
		}
		l.lastSweep = now
	}
	w := l.windows[key]
	if w == nil || !now.Before(w.ends) {
		w = &window{ends: now.Add(rate.Window)}
		l.windows[key] = w
	}
	if w.count >= rate.Limit {
		return Decision{RetryAfter: w.ends.Sub(now)}, nil
	}
	w.count++
	return Decision{Allowed: true, Remaining: rate.Limit - w.count}, nil
}
