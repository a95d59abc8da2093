package tusclient

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// DefaultRetryDelays are the waits before the first, second, third and
// fourth retry of a failed request, as in tus-js-client (and the Aura
// uploader): 0, 1, 3 and 5 seconds.
var defaultRetryDelays = []time.Duration{0, time.Second, 3 * time.Second, 5 * time.Second}

// DefaultRetryDelays returns a copy of the default delays (0, 1, 3, 5 s).
func DefaultRetryDelays() []time.Duration {
	return append([]time.Duration(nil), defaultRetryDelays...)
}

// RetryPolicy says when and how often a failed request is tried again.
// The zero value is the default policy.
//
// Before each retry of a transfer the client waits the next delay (the
// wait ends early if the context is cancelled) and then asks the server for
// the upload's offset with HEAD, so it resends only what the server lacks.
// Whenever the upload made progress since the previous failure, the
// sequence of delays starts again from the first one, so a long upload
// over a flaky link survives any number of interruptions as long as each
// attempt gets some bytes through.
type RetryPolicy struct {
	// Delays are the waits before retry 1, 2, ... A nil slice means
	// [DefaultRetryDelays]; an empty non-nil slice disables retries.
	Delays []time.Duration
	// ShouldRetry decides whether an error is worth another attempt;
	// attempt counts from 1. Nil means [DefaultShouldRetry]. It is not
	// consulted for cancellation of the caller's context, for errors reading
	// the source, or for protocol violations, which are never retried.
	ShouldRetry func(err error, attempt int) bool
}

func (p RetryPolicy) delays() []time.Duration {
	if p.Delays == nil {
		return defaultRetryDelays
	}
	return p.Delays
}

func (p RetryPolicy) should(err error, attempt int) bool {
	if p.ShouldRetry != nil {
		return p.ShouldRetry(err, attempt)
	}
	return DefaultShouldRetry(err, attempt)
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
			he.StatusCode == StatusChecksumMismatch:
			return true
		}
		return false
	}
	return true
}

// retryState counts failures of one transfer.
type retryState struct {
	attempt      int   // retries made since the last progress
	total        int   // retries made in all
	offsetAtFail int64 // confirmed offset at the previous failure
}

// next decides whether to retry err. It returns the delay to wait, or ok
// false. progress is the confirmed offset now.
func (rs *retryState) next(ctx context.Context, p RetryPolicy, err error, progress int64) (time.Duration, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	var pe *permanent
	var se *sourceError
	if errors.As(err, &pe) || errors.As(err, &se) {
		return 0, false
	}
	if progress > rs.offsetAtFail {
		rs.attempt = 0
	}
	rs.offsetAtFail = progress
	d := p.delays()
	if rs.attempt >= len(d) || !p.should(err, rs.attempt+1) {
		return 0, false
	}
	delay := d[rs.attempt]
	rs.attempt++
	rs.total++
	return delay, true
}

// sleep waits d or until ctx is done, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
