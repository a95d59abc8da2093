// Package uploadbar shows the progress of an upload for the example
// programs. On a terminal it redraws one bar per phase (packing, then
// uploading) at most ten times a second; anywhere else (a file, a pipe, a
// CI log) it prints plain lines, at most one a second plus the last one of
// each phase, so logs stay readable.
//
// Sizes and rates use the binary units of internal/cli (KiB, MiB, MiB/s).
// The rate and the time left count only the bytes moved by this run: the
// uploader's own measure (uploader.Progress.Rate and ETA, over the last
// seconds) when it gives one, else the bytes moved since this run's first
// update over this run's time. A resumed upload never credits the bytes
// the server already held to the current run.
package uploadbar

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/uploader"
)

// Redraw intervals.
const (
	ttyEvery   = 100 * time.Millisecond
	linesEvery = time.Second
	barWidth   = 24
)

// Meter shows the progress of one phase of work measured in bytes. Its
// methods must not be called concurrently.
type Meter struct {
	w    io.Writer
	tty  bool
	now  func() time.Time
	verb string

	started   bool
	start     time.Time // first update of this run
	base      int64     // bytes done at the first update (resumed bytes)
	last      time.Time // last output
	lastDone  int64
	drawn     bool // a bar is on screen without its newline
	finished  bool
	total     int64
	done      int64
	at        time.Time     // time of the last update
	extRate   float64       // rate given by the caller, bytes/s; 0: measure
	extETA    time.Duration // time left given by the caller
	detail    string
	lineWidth int
}

// NewMeter returns a Meter that writes on w, redrawing a bar when tty is
// true (see [cli.IsTerminal]) and printing lines otherwise. verb names the
// phase ("uploading"). now is the clock; nil means time.Now.
func NewMeter(w io.Writer, tty bool, verb string, now func() time.Time) *Meter {
	if now == nil {
		now = time.Now
	}
	return &Meter{w: w, tty: tty, verb: verb, now: now}
}

// Update records that done of total bytes are done; detail (e.g. "12/300
// files") is shown beside. The first call fixes the start of this run:
// bytes already done then are not counted in the rate.
func (m *Meter) Update(done, total int64, detail string) {
	m.update(done, total, detail, 0, 0)
}

// update is Update with a rate and time left measured by the caller (the
// uploader's Progress.Rate and ETA); 0 means measure here.
func (m *Meter) update(done, total int64, detail string, rate float64, eta time.Duration) {
	if m.finished {
		return
	}
	t := m.now()
	if !m.started {
		m.started, m.start, m.base = true, t, done
	}
	m.done, m.total, m.detail, m.at = done, total, detail, t
	m.extRate, m.extETA = rate, eta
	every := linesEvery
	if m.tty {
		every = ttyEvery
	}
	if m.last.IsZero() || t.Sub(m.last) >= every {
		m.draw(t)
	}
}

// Done prints the final state of the phase (once) and ends the bar's line.
func (m *Meter) Done() {
	if m.finished || !m.started {
		m.finished = true
		return
	}
	if m.done != m.lastDone || m.last.IsZero() {
		m.draw(m.at)
	}
	if m.tty && m.drawn {
		fmt.Fprintln(m.w)
	}
	m.drawn, m.finished = false, true
}

// Say prints a message line without breaking the bar: the bar is redrawn
// under it at the next update.
func (m *Meter) Say(format string, a ...any) {
	if m.tty && m.drawn {
		fmt.Fprint(m.w, "\r"+strings.Repeat(" ", m.lineWidth)+"\r")
		m.drawn = false
	}
	fmt.Fprintf(m.w, format+"\n", a...)
}

func (m *Meter) draw(t time.Time) {
	m.last, m.lastDone = t, m.done
	pct := 0
	if m.total > 0 {
		pct = int(m.done * 100 / m.total)
	}
	var b strings.Builder
	if m.tty {
		fill := 0
		if m.total > 0 {
			fill = int(m.done * barWidth / m.total)
		}
		fmt.Fprintf(&b, "%-9s [%s%s] %3d%%", m.verb, strings.Repeat("=", fill), strings.Repeat(" ", barWidth-fill), pct)
	} else {
		fmt.Fprintf(&b, "%s: %3d%%", m.verb, pct)
	}
	fmt.Fprintf(&b, "  %s of %s", cli.Bytes(m.done), cli.Bytes(m.total))
	if m.detail != "" {
		fmt.Fprintf(&b, ", %s", m.detail)
	}
	elapsed := t.Sub(m.start)
	if rate := m.rateAt(t); rate > 0 {
		fmt.Fprintf(&b, ", %s/s", cli.Bytes(int64(rate)))
		eta := time.Duration(float64(m.total-m.done) / rate * float64(time.Second))
		if m.extRate > 0 {
			eta = m.extETA
		}
		if m.total > m.done && eta > 0 {
			fmt.Fprintf(&b, ", %s left", roundETA(eta))
		}
	} else if elapsed > 0 && m.done >= m.total && m.total > 0 {
		fmt.Fprint(&b, ", nothing left to send")
	}
	line := b.String()
	if m.tty {
		pad := max(0, m.lineWidth-len(line))
		fmt.Fprint(m.w, "\r"+line+strings.Repeat(" ", pad))
		m.lineWidth = len(line)
		m.drawn = true
		return
	}
	fmt.Fprintln(m.w, line)
}

func (m *Meter) rateAt(t time.Time) float64 {
	if m.extRate > 0 {
		return m.extRate
	}
	d := t.Sub(m.start).Seconds()
	if d <= 0 || m.done <= m.base {
		return 0
	}
	return float64(m.done-m.base) / d
}

func roundETA(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute)
	case d >= time.Minute:
		return d.Round(time.Second)
	}
	return max(d.Round(time.Second), time.Second)
}

// Bar follows one uploader run: a [Meter] while the archive is packed, one
// while it is uploaded, with the files the server confirmed. Its methods
// are called from the uploader's callbacks, which never overlap; it is not
// safe for other concurrent use.
type Bar struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	m     *Meter
	state uploader.State
}

// New returns a Bar that draws on w: a redrawn bar when tty is true (see
// [cli.IsTerminal]), plain lines at most once a second otherwise.
func New(w io.Writer, tty bool) *Bar { return &Bar{w: w, tty: tty, now: time.Now} }

// Callbacks returns cb with OnProgress and OnState extended to draw the bar.
func (b *Bar) Callbacks(cb uploader.Callbacks) uploader.Callbacks {
	onProgress, onState := cb.OnProgress, cb.OnState
	cb.OnProgress = func(p uploader.Progress) {
		b.Progress(p)
		if onProgress != nil {
			onProgress(p)
		}
	}
	cb.OnState = func(s uploader.State) {
		switch s {
		case uploader.StateCompleting, uploader.StateCompleted, uploader.StateFailed, uploader.StateCancelled, uploader.StatePaused:
			b.Finish()
		}
		if onState != nil {
			onState(s)
		}
	}
	return cb
}

// Progress draws p.
func (b *Bar) Progress(p uploader.Progress) {
	if p.State != b.state || b.m == nil {
		b.Finish()
		b.state = p.State
		verb := "uploading"
		if p.State == uploader.StatePacking {
			verb = "packing"
		}
		b.m = NewMeter(b.w, b.tty, verb, b.now)
	}
	done := p.Sent
	if done >= p.TotalBytes && p.Bytes < p.TotalBytes {
		done = p.TotalBytes - 1 // full only once the server confirmed it all
	}
	if p.State == uploader.StatePacking {
		done = p.Bytes
	}
	// TotalBytes may grow: an archive sent with a deferred length has an
	// estimated total until its last chunk. Rate and ETA, when the uploader
	// measured them, count this run only (a window of the last seconds).
	b.m.update(done, p.TotalBytes, fmt.Sprintf("%d/%d files", p.Files, p.TotalFiles), p.Rate, p.ETA)
}

// Say prints a message line without breaking the bar.
func (b *Bar) Say(format string, a ...any) {
	if b.m != nil {
		b.m.Say(format, a...)
		return
	}
	fmt.Fprintf(b.w, format+"\n", a...)
}

// Finish ends the current phase, if any, printing its last state.
func (b *Bar) Finish() {
	if b.m == nil {
		return
	}
	b.m.Done()
	b.m = nil
}
