package uploader

import (
	"sync"
	"time"
)

// rateWindow is the span over which Progress.Rate is measured: long enough
// to smooth the bursts of a chunked transfer, short enough to follow a
// network that slows down.
const rateWindow = 5 * time.Second

// minRateSpan is the shortest span a rate is computed over; before it,
// Rate is 0 (unknown).
const minRateSpan = 250 * time.Millisecond

// rateMeter measures how fast a counter grows over the last rateWindow. It
// keeps at most about 50 samples whatever the number of updates. It is
// used by one goroutine at a time.
type rateMeter struct {
	now     func() time.Time // time.Now when nil
	samples []rateSample     // oldest first; the first may be older than the window
}

type rateSample struct {
	t time.Time
	n int64
}

// add records the counter's value n and returns its rate in units per
// second (0 while unknown).
func (m *rateMeter) add(n int64) float64 {
	now := time.Now
	if m.now != nil {
		now = m.now
	}
	t := now()
	if k := len(m.samples); k == 0 || t.Sub(m.samples[k-1].t) >= rateWindow/50 {
		m.samples = append(m.samples, rateSample{t, n})
	}
	// Keep one sample at least rateWindow old, none older.
	cut := 0
	for cut+1 < len(m.samples) && t.Sub(m.samples[cut+1].t) >= rateWindow {
		cut++
	}
	if cut > 0 {
		m.samples = append(m.samples[:0], m.samples[cut:]...)
	}
	first := m.samples[0]
	dt := t.Sub(first.t)
	if dt < minRateSpan || n <= first.n {
		return 0
	}
	return float64(n-first.n) / dt.Seconds()
}

// eta is the time left to go from done to total at rate (0 when unknown).
func eta(done, total int64, rate float64) time.Duration {
	if rate <= 0 || total <= done {
		return 0
	}
	return time.Duration(float64(total-done) / rate * float64(time.Second))
}

// packStats follows the archive writer: how much of the source it read
// and how many archive bytes it wrote, to estimate the archive's length
// while it is not known yet. It is safe for concurrent use: the zip writer
// fills it while the Tus progress reads it.
type packStats struct {
	mu                 sync.Mutex // guards the fields below
	read, total, wrote int64
}

func (p *packStats) set(read, total, wrote int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.read, p.total, p.wrote = read, total, wrote
}

// estimate extrapolates the archive's length from the compression ratio so
// far: at least the bytes written, 0 before anything was read.
func (p *packStats) estimate() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.read <= 0 {
		return 0
	}
	est := int64(float64(p.wrote) / float64(p.read) * float64(p.total))
	return max(est, p.wrote)
}
