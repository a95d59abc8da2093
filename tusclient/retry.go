package tusclient

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/dicombridge/dicombridge/internal/retry"
)

// defaultRetryDelays are the waits before the first, second, third and
// fourth retry of a failed request, as in tus-js-client (and the Aura
// uploader): 0, 1, 3 and 5 seconds.
var defaultRetryDelays = []time.Duration{0, time.Second, 3 * time.Second, 5 * time.Second}

// retryJitter spreads every wait over ±20 %, so that clients that failed
// together (a server restart) do not come back in lockstep.
const retryJitter = 0.2

// RetryPolicy says when and how often a failed request is tried again.
// The zero value is the default policy: retries after 0, 1, 3 and 5 s.
//
// Each wait is spread at random over ±20 % of its delay, so a fleet of
// clients that failed together does not retry in lockstep, and it ends
// early if the context is cancelled. Before each retry of a transfer the
// client asks the server for the upload's offset with HEAD, so it resends
// only what the server lacks. Whenever the upload made progress since the
// previous failure, the sequence of delays starts again from the first
// one, so a long upload over a flaky link survives any number of
// interruptions as long as each attempt gets some bytes through.
type RetryPolicy struct {
	// Delays are the waits before retry 1, 2, ... A nil slice means 0, 1,
	// 3 and 5 s; an empty non-nil slice disables retries.
	Delays []time.Duration
	// ShouldRetry decides whether an error is worth another attempt;
	// attempt counts from 1. Nil means [DefaultShouldRetry]. It is not
	// consulted for cancellation of the caller's context, for errors reading
	// the source, or for protocol violations, which are never retried.
	ShouldRetry func(err error, attempt int) bool
}

// policy translates p into the SDK's retry policy.
func (p RetryPolicy) policy() retry.Policy {
	delays := p.Delays
	if delays == nil {
		delays = defaultRetryDelays
	}
	should := p.ShouldRetry
	if should == nil {
		should = DefaultShouldRetry
	}
	return retry.Policy{
		Delays: delays,
		Jitter: retryJitter,
		ShouldRetry: func(err error, attempt int) bool {
			var se *sourceError
			return !errors.As(err, &se) && should(err, attempt)
		},
	}
}

// DefaultShouldRetry retries network errors, stalled requests, 5xx
// responses, 409 Conflict and 423 Locked (like tus-js-client), and also 460
// Checksum Mismatch (the chunk was damaged in transit; sending it again is
// the point of checksums). Other 4xx responses and unexpected 1xx-3xx
// statuses are not retried: they will not change by asking again. Callers
// who want 429 Too Many Requests retried can wrap it:
//
//	ShouldRetry: func(err error, n int) bool {
//		var he *tusclient.HTTPError
//		return (errors.As(err, &he) && he.StatusCode == 429) || tusclient.DefaultShouldRetry(err, n)
//	}
func DefaultShouldRetry(err error, attempt int) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case he.StatusCode >= 500:
			return true
		case he.StatusCode == http.StatusConflict, he.StatusCode == http.StatusLocked,
			he.StatusCode == statusChecksumMismatch:
			return true
		}
		return false
	}
	return true
}

// retryState counts failures of one transfer.
type retryState struct {
	r            *retry.Retrier
	offsetAtFail int64 // confirmed offset at the previous failure
}

func newRetryState(p RetryPolicy) *retryState { return &retryState{r: p.policy().Start()} }

// next decides whether to retry err. It returns the delay to wait, or ok
// false. progress is the confirmed offset now: progress since the previous
// failure restarts the schedule.
func (rs *retryState) next(ctx context.Context, err error, progress int64) (time.Duration, bool) {
	if progress > rs.offsetAtFail {
		rs.r.Reset()
	}
	rs.offsetAtFail = progress
	return rs.r.Next(ctx, err)
}

// total is the number of retries made.
func (rs *retryState) total() int { return rs.r.Total() }
