package uploadtoken

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/internal/auraapi"
)

// Rate is a request budget: Limit requests per Window.
type Rate struct {
	Limit  int
	Window time.Duration
}

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

// RateLimit refuses requests beyond rate per key(r) with 429, a
// Retry-After header in whole seconds and {"message":"Too Many
// Attempts."}, as Laravel's throttle middleware does; allowed requests get
// X-RateLimit-Limit and X-RateLimit-Remaining. A limiter failure answers
// 503 rather than letting requests through unmetered.
//
// key(r) is often a credential (an API key, a token); RateLimit passes the
// Limiter only a SHA-256 digest of it, so no limiter store (a Redis key
// name, say) ever holds the credential itself.
func RateLimit(l Limiter, rate Rate, key func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.Sum256([]byte(key(r)))
		d, err := l.Allow(r.Context(), hex.EncodeToString(sum[:16]), rate)
		if err != nil {
			auraapi.Message(w, http.StatusServiceUnavailable, "Service Unavailable")
			return
		}
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(rate.Limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
		if !d.Allowed {
			secs := int64(math.Ceil(d.RetryAfter.Seconds()))
			if secs < 1 {
				secs = 1
			}
			h.Set("Retry-After", strconv.FormatInt(secs, 10))
			auraapi.Message(w, http.StatusTooManyRequests, "Too Many Attempts.")
			return
		}
		next.ServeHTTP(w, r)
	})
}
