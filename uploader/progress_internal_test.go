package uploader

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestRateMeter: the rate is measured over the last 5 s on a clock the
// test drives, is 0 while less than a quarter second was seen, follows a
// change of speed, and keeps few samples whatever the number of updates.
func TestRateMeter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	m := &rateMeter{now: func() time.Time { return now }}
	step := func(d time.Duration, n int64) float64 {
		now = now.Add(d)
		return m.add(n)
	}
	assert.Zero(t, m.add(0), "no span yet")
	assert.Zero(t, step(100*time.Millisecond, 100), "under a quarter second")
	assert.InDelta(t, 1000, step(200*time.Millisecond, 300), 1e-9, "300 bytes in 300 ms")
	// 10 s at 1 kB/s, updated every millisecond.
	var n int64 = 300
	for range 10_000 {
		n++
		step(time.Millisecond, n)
	}
	assert.InDelta(t, 1000, m.add(n), 10)
	assert.LessOrEqual(t, len(m.samples), 52, "samples kept")
	// The speed doubles: after 5 s only the new speed counts.
	for range 5000 {
		n += 2
		step(time.Millisecond, n)
	}
	assert.InDelta(t, 2000, m.add(n), 50)
	// A counter that stands still for longer than the window has no rate.
	assert.Zero(t, step(6*time.Second, n))
}

func TestETA(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 3*time.Second, eta(100, 400, 100))
	assert.Zero(t, eta(100, 400, 0), "unknown rate")
	assert.Zero(t, eta(400, 400, 100), "done")
	assert.Zero(t, eta(500, 400, 100), "beyond an estimate")
}

// TestPackEstimate: the archive's length is extrapolated from the
// compression ratio so far, and never below what was written.
func TestPackEstimate(t *testing.T) {
	t.Parallel()
	var p packStats
	assert.Zero(t, p.estimate(), "nothing read")
	p.set(100, 1000, 50)
	assert.Equal(t, int64(500), p.estimate())
	p.set(1000, 1000, 620)
	assert.Equal(t, int64(620), p.estimate(), "done: exact")
	p.set(0, 1000, 22) // the zip's first header, before any source byte
	assert.Zero(t, p.estimate())
}
