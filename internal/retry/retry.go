// Package retry is the SDK's one retry helper: a [Policy] says how long to
// wait before each retry (a fixed schedule such as Tus's 0, 1, 3, 5 s, or
// exponential back-off), spreads the waits with jitter so that a fleet of
// clients that failed together does not retry in lockstep, lets the caller
// decide which errors are worth another attempt, honours a server's
// Retry-After, and waits with a timer raced against ctx.Done().
//
// Simple calls use [Do]. Loops that need more control (the Tus transfer
// restarts its schedule whenever the upload made progress) use a
// [Retrier] from [Policy.Start].
//
// It is internal: packages expose their own settings (tusclient.RetryPolicy,
// uploader's retry counts) and translate them to a Policy.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy describes when and how often a failed call is tried again. A
// Policy is a value: copy it freely. The zero value never retries.
type Policy struct {
	// Delays is a fixed schedule: the wait before retry n is Delays[n-1].
	// When set, it takes precedence over Base.
	Delays []time.Duration
	// Base is the first wait of an exponential schedule: Base, 2·Base,
	// 4·Base, ... capped by Max. Used when Delays is nil.
	Base time.Duration
	// Max caps every wait, Retry-After included. 0 means no cap.
	Max time.Duration
	// Attempts is the most retries (not counting the first try). 0 means
	// len(Delays) for a fixed schedule and no retries for an exponential
	// one. A fixed schedule with more attempts than delays repeats its
	// last delay.
	Attempts int
	// Jitter spreads each wait d uniformly over [d·(1−Jitter), d·(1+Jitter)]
	// (before Max is applied); 0 disables it, values above 1 count as 1. A
	// wait of 0 stays 0.
	Jitter float64
	// Rand returns a number in [0, 1) for the jitter. Nil means
	// math/rand/v2's Float64 (randomly seeded, safe for concurrent use);
	// tests inject a seeded source for repeatable waits. A Rand that is not
	// safe for concurrent use must not be shared by concurrent loops.
	Rand func() float64
	// ShouldRetry decides whether err is worth another attempt; attempt
	// counts retries from 1. Nil means every error is. It is not consulted
	// once the context has ended, nor for errors marked with [Permanent].
	ShouldRetry func(err error, attempt int) bool
	// RetryAfter returns the wait a server asked for with err (Retry-After),
	// or 0. When it is longer than the scheduled delay it is used instead
	// (still capped by Max). Nil means servers are not asked.
	RetryAfter func(err error) time.Duration
}

// Start returns a Retrier that applies p to one sequence of attempts.
func (p Policy) Start() *Retrier { return &Retrier{p: p} }

// Delay returns the wait before retry n (n counts from 1), with jitter,
// ignoring RetryAfter and Attempts.
func (p Policy) Delay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	var d time.Duration
	switch {
	case p.Delays != nil:
		if len(p.Delays) == 0 {
			return 0
		}
		d = p.Delays[min(n, len(p.Delays))-1]
	case p.Base > 0:
		d = p.Base
		for i := 1; i < n; i++ {
			if p.Max > 0 && d >= p.Max || d > time.Duration(1<<62)/2 {
				break
			}
			d *= 2
		}
	}
	if j := min(p.Jitter, 1); j > 0 && d > 0 {
		r := rand.Float64
		if p.Rand != nil {
			r = p.Rand
		}
		d = time.Duration(float64(d) * (1 - j + 2*j*r()))
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	return max(d, 0)
}

func (p Policy) attempts() int {
	if p.Attempts > 0 {
		return p.Attempts
	}
	return len(p.Delays)
}

// Retrier applies a [Policy] to one sequence of attempts. It is not safe
// for concurrent use; each loop starts its own.
type Retrier struct {
	p     Policy
	n     int // retries since the last Reset
	total int // retries in all
}

// Next decides whether to retry after err. It returns the wait before the
// retry and true, or false when the context has ended, err is marked
// [Permanent], ShouldRetry refuses it, or the attempts are used up.
func (r *Retrier) Next(ctx context.Context, err error) (time.Duration, bool) {
	if ctx.Err() != nil || err == nil {
		return 0, false
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return 0, false
	}
	if r.n >= r.p.attempts() {
		return 0, false
	}
	if r.p.ShouldRetry != nil && !r.p.ShouldRetry(err, r.n+1) {
		return 0, false
	}
	r.n++
	r.total++
	d := r.p.Delay(r.n)
	if r.p.RetryAfter != nil {
		if ra := r.p.RetryAfter(err); ra > d {
			d = ra
			if r.p.Max > 0 && d > r.p.Max {
				d = r.p.Max
			}
		}
	}
	return d, true
}

// Reset starts the schedule again from the first delay, for a loop that
// made progress since its last failure. Total keeps counting.
func (r *Retrier) Reset() { r.n = 0 }

// Total is the number of retries Next has granted.
func (r *Retrier) Total() int { return r.total }

// Sleep waits d or until ctx ends, whichever comes first. It returns nil
// after a full wait, else context.Cause(ctx) (the cause given to a
// context.WithCancelCause, or ctx.Err()). A wait of 0 or less returns at
// once, with the cause if ctx has already ended.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Do calls f until it succeeds or p gives up, waiting between attempts.
// notify, if not nil, is called before each wait with the error, the
// retry number (from 1) and the wait.
//
// When p gives up Do returns f's last error unchanged. When ctx ends, Do
// returns an [*InterruptedError] holding both the context's cause and the
// last error, so errors.Is works for either.
func Do(ctx context.Context, p Policy, f func(context.Context) error, notify func(err error, attempt int, wait time.Duration)) error {
	r := p.Start()
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		d, ok := r.Next(ctx, err)
		if !ok {
			if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
				return &InterruptedError{Cause: context.Cause(ctx), Last: err}
			}
			return err
		}
		if notify != nil {
			notify(err, r.Total(), d)
		}
		if cerr := Sleep(ctx, d); cerr != nil {
			return &InterruptedError{Cause: cerr, Last: err}
		}
	}
}

// InterruptedError is returned by [Do] when the context ended before the
// calls succeeded. It unwraps to both Cause and Last.
type InterruptedError struct {
	Cause error // context.Cause of the context
	Last  error // the last failure of the call
}

// Error returns "CAUSE (last error: LAST)".
func (e *InterruptedError) Error() string {
	return fmt.Sprintf("%v (last error: %v)", e.Cause, e.Last)
}

// Unwrap returns the cause and the last error.
func (e *InterruptedError) Unwrap() []error { return []error{e.Cause, e.Last} }

// Permanent marks err as not worth retrying, whatever ShouldRetry says. It
// unwraps to err and prints as err; Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err, or an error it wraps, was marked with
// [Permanent].
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}
