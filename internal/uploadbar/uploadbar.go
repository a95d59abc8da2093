// Package uploadbar draws an uploader's progress as a terminal progress bar
// (github.com/schollz/progressbar/v3), for the example programs: one bar
// while the archive is packed, one while it is uploaded, with the files
// confirmed so far.
package uploadbar

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/dicombridge/dicombridge/uploader"
)

// Bar follows one upload. Its methods are called from the uploader's
// callbacks, which never overlap; it is not safe for other concurrent use.
type Bar struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	state uploader.State
}

// New returns a Bar that draws on w (a terminal, usually os.Stderr).
func New(w io.Writer) *Bar { return &Bar{w: w} }

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
	if p.State != b.state || b.bar == nil {
		b.Finish()
		b.state = p.State
		verb := "uploading"
		if p.State == uploader.StatePacking {
			verb = "packing  "
		}
		b.bar = progressbar.NewOptions64(p.TotalBytes,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(80*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetDescription(verb),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(b.w) }),
		)
	}
	if b.bar.IsFinished() {
		return
	}
	if p.TotalBytes > 0 && p.TotalBytes != b.bar.GetMax64() {
		// An archive sent with a deferred length has an estimated total
		// until its last chunk.
		b.bar.ChangeMax64(p.TotalBytes)
	}
	verb := "uploading"
	done := p.Sent
	if done >= p.TotalBytes && p.Bytes < p.TotalBytes {
		done = p.TotalBytes - 1 // full only once the server confirmed it all
	}
	if p.State == uploader.StatePacking {
		verb, done = "packing  ", p.Bytes
	}
	b.bar.Describe(fmt.Sprintf("%s %d/%d files", verb, p.Files, p.TotalFiles))
	_ = b.bar.Set64(done)
}

// Finish ends the current bar, if any.
func (b *Bar) Finish() {
	if b.bar == nil {
		return
	}
	if !b.bar.IsFinished() {
		_ = b.bar.Exit()
		fmt.Fprintln(b.w)
	}
	b.bar = nil
}
