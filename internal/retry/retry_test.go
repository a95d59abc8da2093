package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errBoom = errors.New("boom")

func TestDelaySchedules(t *testing.T) {
	t.Parallel()
	tus := []time.Duration{0, time.Second, 3 * time.Second, 5 * time.Second}
	for _, tc := range []struct {
		name string
		p    Policy
		want []time.Duration // Delay(1), Delay(2), ...
	}{
		{"fixed", Policy{Delays: tus}, tus},
		{"fixed repeats its last delay", Policy{Delays: []time.Duration{1, 2}}, []time.Duration{1, 2, 2, 2}},
		{"empty fixed", Policy{Delays: []time.Duration{}}, []time.Duration{0, 0}},
		{"exponential", Policy{Base: 500 * time.Millisecond}, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}},
		{"exponential capped", Policy{Base: time.Second, Max: 3 * time.Second}, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}},
		{"zero", Policy{}, []time.Duration{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for i, want := range tc.want {
				assert.Equalf(t, want, tc.p.Delay(i+1), "Delay(%d)", i+1)
			}
		})
	}
}

func TestDelayHugeExponentDoesNotOverflow(t *testing.T) {
	t.Parallel()
	p := Policy{Base: time.Second}
	assert.Positive(t, p.Delay(200))
}

// TestJitterBounds: every jittered wait stays within d·(1±Jitter), the
// extremes of the random source map onto the ends of that range, and the
// waits are not all equal (a fleet spreads out).
func TestJitterBounds(t *testing.T) {
	t.Parallel()
	d := 4 * time.Second
	p := Policy{Delays: []time.Duration{d}, Jitter: 0.25}
	src := rand.New(rand.NewPCG(1, 2))
	p.Rand = src.Float64
	seen := map[time.Duration]bool{}
	for range 1000 {
		got := p.Delay(1)
		require.GreaterOrEqual(t, got, 3*time.Second)
		require.LessOrEqual(t, got, 5*time.Second)
		seen[got] = true
	}
	assert.Greater(t, len(seen), 100, "jittered waits should differ")

	p.Rand = func() float64 { return 0 }
	assert.Equal(t, 3*time.Second, p.Delay(1))
	p.Rand = func() float64 { return 0.5 }
	assert.Equal(t, d, p.Delay(1))
	p.Jitter = 5 // counts as 1
	p.Rand = func() float64 { return 0 }
	assert.Equal(t, time.Duration(0), p.Delay(1))
}

func TestJitterDeterministicWithSeed(t *testing.T) {
	t.Parallel()
	waits := func() []time.Duration {
		src := rand.New(rand.NewPCG(7, 7))
		p := Policy{Base: time.Second, Jitter: 0.5, Rand: src.Float64}
		var out []time.Duration
		for n := 1; n <= 5; n++ {
			out = append(out, p.Delay(n))
		}
		return out
	}
	assert.Equal(t, waits(), waits())
}

func TestJitterKeepsZeroAndMax(t *testing.T) {
	t.Parallel()
	p := Policy{Delays: []time.Duration{0, 10 * time.Second}, Max: 10 * time.Second, Jitter: 1, Rand: func() float64 { return 0.999 }}
	assert.Equal(t, time.Duration(0), p.Delay(1))
	assert.Equal(t, 10*time.Second, p.Delay(2))
}

func TestRetrierAttemptsAndReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := Policy{Delays: []time.Duration{1, 2, 3}}.Start()
	var got []time.Duration
	for {
		d, ok := r.Next(ctx, errBoom)
		if !ok {
			break
		}
		got = append(got, d)
	}
	assert.Equal(t, []time.Duration{1, 2, 3}, got)
	assert.Equal(t, 3, r.Total())

	r.Reset()
	d, ok := r.Next(ctx, errBoom)
	assert.True(t, ok)
	assert.Equal(t, time.Duration(1), d, "Reset restarts the schedule")
	assert.Equal(t, 4, r.Total(), "Total keeps counting across Reset")

	r = Policy{Delays: []time.Duration{1}, Attempts: 3}.Start()
	for i := range 3 {
		_, ok := r.Next(ctx, errBoom)
		assert.Truef(t, ok, "retry %d", i+1)
	}
	_, ok = r.Next(ctx, errBoom)
	assert.False(t, ok, "Attempts bounds the retries")

	_, ok = Policy{Base: time.Second}.Start().Next(ctx, errBoom)
	assert.False(t, ok, "exponential without Attempts never retries")
}

func TestRetrierRefuses(t *testing.T) {
	t.Parallel()
	p := Policy{Delays: []time.Duration{0, 0, 0}}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		p    Policy
		err  error
	}{
		{"context ended", cancelled, p, errBoom},
		{"permanent", context.Background(), p, Permanent(errBoom)},
		{"wrapped permanent", context.Background(), p, errors.Join(errors.New("x"), Permanent(errBoom))},
		{"ShouldRetry says no", context.Background(), Policy{Delays: p.Delays, ShouldRetry: func(error, int) bool { return false }}, errBoom},
		{"nil error", context.Background(), p, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, ok := tc.p.Start().Next(tc.ctx, tc.err)
			assert.False(t, ok)
		})
	}
}

func TestShouldRetrySeesAttemptNumbers(t *testing.T) {
	t.Parallel()
	var attempts []int
	p := Policy{Delays: []time.Duration{0, 0, 0}, ShouldRetry: func(err error, n int) bool {
		assert.ErrorIs(t, err, errBoom)
		attempts = append(attempts, n)
		return n < 3
	}}
	r := p.Start()
	for {
		if _, ok := r.Next(context.Background(), errBoom); !ok {
			break
		}
	}
	assert.Equal(t, []int{1, 2, 3}, attempts)
	assert.Equal(t, 2, r.Total())
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	ra := func(d time.Duration) func(error) time.Duration { return func(error) time.Duration { return d } }
	for _, tc := range []struct {
		name string
		p    Policy
		want time.Duration
	}{
		{"longer than the delay wins", Policy{Delays: []time.Duration{time.Second}, RetryAfter: ra(7 * time.Second)}, 7 * time.Second},
		{"shorter than the delay is ignored", Policy{Delays: []time.Duration{time.Second}, RetryAfter: ra(time.Millisecond)}, time.Second},
		{"capped by Max", Policy{Delays: []time.Duration{time.Second}, Max: 30 * time.Second, RetryAfter: ra(time.Hour)}, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, ok := tc.p.Start().Next(context.Background(), errBoom)
			require.True(t, ok)
			assert.Equal(t, tc.want, d)
		})
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	require.NoError(t, Sleep(context.Background(), time.Millisecond))
	require.NoError(t, Sleep(context.Background(), 0))

	done, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, Sleep(done, 0), context.Canceled)
}

// TestSleepCancelledMidway: a long wait ends as soon as the context is
// cancelled, and returns the cancellation's cause.
func TestSleepCancelledMidway(t *testing.T) {
	t.Parallel()
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(20*time.Millisecond, func() { cancel(cause) })
	start := time.Now()
	err := Sleep(ctx, time.Hour)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.ErrorIs(t, err, cause)
}

func TestDo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("succeeds after retries", func(t *testing.T) {
		t.Parallel()
		calls := 0
		var notified []int
		err := Do(ctx, Policy{Delays: []time.Duration{0, 0, 0}}, func(context.Context) error {
			calls++
			if calls < 3 {
				return errBoom
			}
			return nil
		}, func(err error, n int, _ time.Duration) {
			assert.ErrorIs(t, err, errBoom)
			notified = append(notified, n)
		})
		require.NoError(t, err)
		assert.Equal(t, 3, calls)
		assert.Equal(t, []int{1, 2}, notified)
	})
	t.Run("gives up with the last error", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := Do(ctx, Policy{Delays: []time.Duration{0, 0}}, func(context.Context) error { calls++; return errBoom }, nil)
		assert.Same(t, errBoom, err)
		assert.Equal(t, 3, calls)
	})
	t.Run("permanent stops at once", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := Do(ctx, Policy{Delays: []time.Duration{0, 0}}, func(context.Context) error { calls++; return Permanent(errBoom) }, nil)
		assert.ErrorIs(t, err, errBoom)
		assert.True(t, IsPermanent(err))
		assert.Equal(t, 1, calls)
	})
	t.Run("cancelled while waiting keeps cause and last error", func(t *testing.T) {
		t.Parallel()
		cause := errors.New("deadline of the job")
		cctx, cancel := context.WithCancelCause(ctx)
		err := Do(cctx, Policy{Delays: []time.Duration{time.Hour}}, func(context.Context) error {
			time.AfterFunc(10*time.Millisecond, func() { cancel(cause) })
			return errBoom
		}, nil)
		var ie *InterruptedError
		require.ErrorAs(t, err, &ie)
		assert.ErrorIs(t, err, cause)
		assert.ErrorIs(t, err, errBoom)
		assert.Equal(t, "deadline of the job (last error: boom)", err.Error())
	})
	t.Run("context ended during the call", func(t *testing.T) {
		t.Parallel()
		cctx, cancel := context.WithCancel(ctx)
		err := Do(cctx, Policy{Delays: []time.Duration{0}}, func(context.Context) error { cancel(); return errBoom }, nil)
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, errBoom)
	})
}

func TestPermanentNil(t *testing.T) {
	t.Parallel()
	assert.NoError(t, Permanent(nil))
	assert.False(t, IsPermanent(errBoom))
	assert.Equal(t, "boom", Permanent(errBoom).Error())
}
