package uploadbar

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/uploader"
)

// clock is a manual clock for the meters.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func lines(s string) []string            { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
func newBar(w *bytes.Buffer, tty bool, c *clock) *Bar {
	b := New(w, tty)
	b.now = c.now
	return b
}

// Without a terminal: plain lines, at most one a second, and the last one.
func TestLinesThrottled(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c := newClock()
	m := NewMeter(&out, false, "uploading", c.now)
	const total = 30 << 20
	for i := int64(0); i <= 30; i++ { // 1 MiB every 100 ms: 3 s
		m.Update(i<<20, total, "")
		c.advance(100 * time.Millisecond)
	}
	m.Done()
	got := lines(out.String())
	assert.Equal(t, []string{
		"uploading:   0%  0 B of 30.0 MiB",
		"uploading:  33%  10.0 MiB of 30.0 MiB, 10.0 MiB/s, 2s left",
		"uploading:  66%  20.0 MiB of 30.0 MiB, 10.0 MiB/s, 1s left",
		"uploading: 100%  30.0 MiB of 30.0 MiB, 10.0 MiB/s",
	}, got)
	assert.NotContains(t, out.String(), "\r")
}

// A resumed upload: the rate counts only this run's bytes over this run's
// time (the old display divided the resumed offset by a few milliseconds
// and printed 28 TB/s).
func TestResumeRate(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c := newClock()
	b := newBar(&out, false, c)
	const total = 1000 << 20
	p := uploader.Progress{State: uploader.StateUploading, TotalBytes: total, TotalFiles: 10, ResumedAt: 900 << 20}
	p.Bytes, p.Sent = 900<<20, 900<<20
	b.Progress(p)
	c.advance(time.Millisecond)
	p.Sent = 901 << 20
	b.Progress(p)
	c.advance(2 * time.Second)
	p.Sent, p.Bytes = 921<<20, 921<<20
	b.Progress(p)
	b.Finish()
	got := lines(out.String())
	require.Len(t, got, 2, "Finish adds nothing: the last state is already printed")
	assert.Equal(t, "uploading:  90%  900.0 MiB of 1000.0 MiB, 0/10 files", got[0])
	assert.Equal(t, "uploading:  92%  921.0 MiB of 1000.0 MiB, 0/10 files, 10.5 MiB/s, 8s left", got[1])
}

// On a terminal: one redrawn bar per phase, full only once the server
// confirmed every byte, a newline when the phase ends.
func TestTerminal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c := newClock()
	b := newBar(&out, true, c)
	var states []uploader.State
	cb := b.Callbacks(uploader.Callbacks{OnState: func(s uploader.State) { states = append(states, s) }})
	cb.OnProgress(uploader.Progress{State: uploader.StatePacking, Bytes: 50 << 10, Sent: 50 << 10, TotalBytes: 100 << 10, Files: 5, TotalFiles: 10})
	c.advance(time.Second)
	cb.OnProgress(uploader.Progress{State: uploader.StatePacking, Bytes: 100 << 10, Sent: 100 << 10, TotalBytes: 100 << 10, Files: 10, TotalFiles: 10})
	c.advance(time.Second)
	cb.OnProgress(uploader.Progress{State: uploader.StateUploading, Bytes: 0, Sent: 0, TotalBytes: 80 << 10, Files: 0, TotalFiles: 10})
	c.advance(time.Second)
	cb.OnProgress(uploader.Progress{State: uploader.StateUploading, Bytes: 0, Sent: 80 << 10, TotalBytes: 80 << 10, Files: 0, TotalFiles: 10})
	s := out.String()
	assert.Contains(t, s, "\rpacking   [========================] 100%  100.0 KiB of 100.0 KiB, 10/10 files, 50.0 KiB/s\n")
	assert.Contains(t, s, "\ruploading [=======================", "unconfirmed bytes are drawn")
	assert.NotContains(t, s, "uploading [========================] 100%", "not full before confirmation")
	c.advance(time.Second)
	cb.OnProgress(uploader.Progress{State: uploader.StateUploading, Bytes: 80 << 10, Sent: 80 << 10, TotalBytes: 80 << 10, Files: 10, TotalFiles: 10})
	cb.OnState(uploader.StateCompleting)
	cb.OnState(uploader.StateCompleted)
	s = out.String()
	assert.Regexp(t, `\ruploading \[========================\] 100%  80\.0 KiB of 80\.0 KiB, 10/10 files, 40\.0 KiB/s *\n$`, s)
	assert.Equal(t, []uploader.State{uploader.StateCompleting, uploader.StateCompleted}, states, "states passed on")
	assert.NotRegexp(t, `[0-9] [kMGT]B`, s, "one unit system: binary units only")
}

// Say clears the bar on a terminal, so the message is not glued to it.
func TestSay(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c := newClock()
	m := NewMeter(&out, true, "uploading", c.now)
	m.Update(1, 10, "")
	m.Say("retry %d", 1)
	bar := "uploading [==                      ]  10%  1 B of 10 B"
	assert.Equal(t, "\r"+bar+"\r"+strings.Repeat(" ", len(bar))+"\r"+"retry 1\n", out.String())
	m.Done()
	m.Done()
	assert.True(t, strings.HasSuffix(out.String(), "\n"))
}

// The uploader's own Rate and ETA win when given, and a total that grows
// (a deferred-length archive's estimate) is followed.
func TestUploaderRateAndEstimatedTotal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c := newClock()
	b := newBar(&out, false, c)
	b.Progress(uploader.Progress{State: uploader.StateUploading, Sent: 0, TotalBytes: 10 << 20, TotalFiles: 4})
	c.advance(2 * time.Second)
	b.Progress(uploader.Progress{State: uploader.StateUploading, Sent: 4 << 20, Bytes: 4 << 20, TotalBytes: 12 << 20, TotalFiles: 4,
		Rate: 3 << 20, ETA: 3 * time.Second})
	b.Finish()
	assert.Equal(t, []string{
		"uploading:   0%  0 B of 10.0 MiB, 0/4 files",
		"uploading:  33%  4.0 MiB of 12.0 MiB, 0/4 files, 3.0 MiB/s, 3s left",
	}, lines(out.String()))
}
