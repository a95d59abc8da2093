package uploader_test

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/uploader"
)

// heldAt2MiB makes the server confirm two 1 MiB PATCHes and hold the third.
func heldAt2MiB(aura *auratest.Server, u *uploader.Uploader) {
	u.ChunkSize = 1 << 20
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Skip: 2, Delay: time.Minute})
}

// at2MiB returns a progress callback that calls f once the transfer has
// sent 2 MiB, where heldAt2MiB holds it.
func at2MiB(f func()) func(uploader.Progress) {
	return func(p uploader.Progress) {
		if p.State == uploader.StateUploading && p.Bytes == 2<<20 {
			f()
		}
	}
}

// checkPaused checks that an upload whose context ended was kept: an error
// matching ErrPaused and ErrResumable (and the context's cause), nothing
// sent to Aura or deleted on Tus, the paused state reported, and the
// upload listed by Pending.
func checkPaused(t *testing.T, aura *auratest.Server, u *uploader.Uploader, rec *recorder, id string, err, cause error) {
	t.Helper()
	require.ErrorIs(t, err, uploader.ErrPaused)
	assert.ErrorIs(t, err, uploader.ErrResumable)
	assert.ErrorIs(t, err, cause)
	assert.NotErrorIs(t, err, uploader.ErrCancelled)
	calls := lifecycle(aura)
	for _, name := range []string{"cancel", "error", "complete", "tus DELETE"} {
		assert.Zero(t, count(calls, name), "%s sent by a pause: %q", name, compact(calls))
	}
	up, ok := aura.Upload(id)
	require.True(t, ok, "no tus upload")
	assert.False(t, up.Terminated, "tus upload deleted")
	require.NotEmpty(t, rec.states)
	assert.Equal(t, uploader.StatePaused, rec.states[len(rec.states)-1])
	assert.Zero(t, rec.cancels, "StateCancelled reported")
	assert.Empty(t, rec.errs, "OnError called")
	pending, err := u.Pending()
	require.NoError(t, err)
	require.Len(t, pending, 1)
	assert.Equal(t, id, pending[0].UploadID)
	assert.Equal(t, "started", pending[0].Step)
}

// resumeMissing resumes id with a new Uploader (as a new process would)
// and checks that only the bytes the server lacked were sent.
func resumeMissing(t *testing.T, aura *auratest.Server, stateDir, id string, held int64) *uploader.Result {
	t.Helper()
	aura.ClearFailures()
	seq := lastSeq(aura)
	u2, _ := newUploader(t, aura, stateDir)
	res, err := u2.Resume(context.Background(), id)
	require.NoError(t, err)
	assert.True(t, res.Resumed)
	assert.Equal(t, id, res.UploadID)
	assert.Equal(t, held, res.ResumedAt)
	assert.Equal(t, res.ArchiveBytes-held, patchBytes(aura, seq), "bytes sent by the resume")
	calls := lifecycle(aura)
	for _, name := range []string{"init", "start", "complete", "tus POST"} {
		assert.Equal(t, 1, count(calls, name), "%s: %q", name, compact(calls))
	}
	ss, _ := aura.Session(id)
	assert.Equal(t, []string{"initialized", "started", "completed"}, ss.States)
	checkZip(t, aura, id, expectedEntries(t, bigDir, bigFiles))
	assert.Empty(t, stateFiles(t, stateDir), "state left behind")
	return res
}

// TestSignalPauses: the idiomatic signal.NotifyContext, on a real SIGTERM
// (a pod being stopped) in the middle of the transfer, pauses the upload;
// Resume finishes it sending only the missing bytes. Not parallel: it
// signals the test process.
func TestSignalPauses(t *testing.T) {
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	stateDir := t.TempDir()
	u, rec := newUploader(t, aura, stateDir)
	heldAt2MiB(aura, u)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	s, err := u.Prepare(ctx, bigDir)
	require.NoError(t, err)
	rec.onProg = func(p uploader.Progress) {
		if p.State == uploader.StateUploading && p.Bytes == 2<<20 {
			assert.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
			// The signal arrives asynchronously: hold the transfer until it
			// did, so that the pause falls at 2 MiB exactly.
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Error("SIGTERM did not end the context")
			}
		}
	}
	_, err = s.Upload(ctx)
	checkPaused(t, aura, u, rec, s.UploadID(), err, context.Canceled)
	resumeMissing(t, aura, stateDir, s.UploadID(), 2<<20)
}

// TestContextEndPauses: a cancelled context, whatever its cause, and a
// deadline pause the upload as a signal does.
func TestContextEndPauses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		cause error
		ctx   func(onHeld *func()) context.Context
	}{
		{"cancel", context.Canceled, func(onHeld *func()) context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			*onHeld = cancel
			return ctx
		}},
		{"cancel with a cause", os.ErrDeadlineExceeded, func(onHeld *func()) context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			*onHeld = func() { cancel(os.ErrDeadlineExceeded) }
			return ctx
		}},
		{"deadline", context.DeadlineExceeded, func(onHeld *func()) context.Context {
			// A deadline that passes when the transfer is held, whatever
			// the machine's load: a timer would race the steps before.
			ctx := newDeadline(time.Now().Add(time.Hour))
			*onHeld = ctx.expire
			return ctx
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			aura := auratest.NewServer()
			t.Cleanup(aura.Close)
			stateDir := t.TempDir()
			u, rec := newUploader(t, aura, stateDir)
			heldAt2MiB(aura, u)
			var onHeld func()
			ctx := c.ctx(&onHeld)
			s, err := u.Prepare(context.Background(), bigDir)
			require.NoError(t, err)
			rec.onProg = at2MiB(onHeld)
			_, err = s.Upload(ctx)
			checkPaused(t, aura, u, rec, s.UploadID(), err, c.cause)
			resumeMissing(t, aura, stateDir, s.UploadID(), 2<<20)
		})
	}
}

// checkDestroyed checks that Aura was told cancel (once, with the
// reference body) and the Tus upload deleted, and nothing is left.
func checkDestroyed(t *testing.T, aura *auratest.Server, u *uploader.Uploader, id, stateDir string) {
	t.Helper()
	calls := lifecycle(aura)
	assert.Equal(t, 1, count(calls, "cancel"), "calls %q", compact(calls))
	assert.Equal(t, 1, count(calls, "tus DELETE"), "calls %q", compact(calls))
	assert.Zero(t, count(calls, "error"))
	assert.Zero(t, count(calls, "complete"))
	assert.Equal(t, `{"upload_id":"`+id+`","mode":"uploader"}`, body(t, aura, auratest.EndpointCancel))
	ss, _ := aura.Session(id)
	assert.Equal(t, []string{"initialized", "started", "cancelled"}, ss.States)
	up, _ := aura.Upload(id)
	assert.True(t, up.Terminated, "tus upload kept: %+v", up)
	if stateDir != "" {
		assert.Empty(t, stateFiles(t, stateDir), "state left behind")
		pending, err := u.Pending()
		require.NoError(t, err)
		assert.Empty(t, pending)
	}
}

// TestSessionCancel: destroying is explicit. Session.Cancel while Upload
// runs (here from a callback) makes Upload cancel; after a pause it
// cancels itself, with or without StateDir; before Upload it makes Upload
// refuse.
func TestSessionCancel(t *testing.T) {
	t.Parallel()
	t.Run("while running", func(t *testing.T) {
		t.Parallel()
		aura := auratest.NewServer()
		t.Cleanup(aura.Close)
		stateDir := t.TempDir()
		u, rec := newUploader(t, aura, stateDir)
		heldAt2MiB(aura, u)
		ctx := context.Background()
		s, err := u.Prepare(ctx, bigDir)
		require.NoError(t, err)
		rec.onProg = at2MiB(func() { assert.NoError(t, s.Cancel(ctx)) })
		_, err = s.Upload(ctx)
		require.ErrorIs(t, err, uploader.ErrCancelled)
		assert.NotErrorIs(t, err, uploader.ErrResumable)
		checkDestroyed(t, aura, u, s.UploadID(), stateDir)
		assert.Equal(t, 1, rec.cancels)
		assert.Empty(t, rec.errs)
		assert.Equal(t, uploader.StateCancelled, rec.states[len(rec.states)-1])
		assert.NoError(t, s.Cancel(ctx), "a second Cancel has nothing to do")
	})
	for _, stateDir := range []bool{true, false} {
		name := "after a pause"
		if !stateDir {
			name += " without StateDir"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			aura := auratest.NewServer()
			t.Cleanup(aura.Close)
			dir := ""
			if stateDir {
				dir = t.TempDir()
			}
			u, rec := newUploader(t, aura, dir)
			heldAt2MiB(aura, u)
			ctx, pause := context.WithCancel(context.Background())
			s, err := u.Prepare(ctx, bigDir)
			require.NoError(t, err)
			rec.onProg = at2MiB(pause)
			_, err = s.Upload(ctx)
			require.ErrorIs(t, err, uploader.ErrPaused)
			// Without StateDir nothing can resume it, but it is kept too.
			assert.Equal(t, stateDir, errors.Is(err, uploader.ErrResumable), "ErrResumable: %v", err)
			assert.Zero(t, count(lifecycle(aura), "cancel"))
			aura.ClearFailures()
			states := len(rec.states)
			require.NoError(t, s.Cancel(context.Background()))
			checkDestroyed(t, aura, u, s.UploadID(), dir)
			assert.Len(t, rec.states, states, "no callback after Upload returned")
			assert.Zero(t, rec.cancels)
		})
	}
	t.Run("before Upload", func(t *testing.T) {
		t.Parallel()
		aura := auratest.NewServer()
		t.Cleanup(aura.Close)
		u, _ := newUploader(t, aura, t.TempDir())
		ctx := context.Background()
		s, err := u.Prepare(ctx, sampleDir)
		require.NoError(t, err)
		require.NoError(t, s.Cancel(ctx))
		_, err = s.Upload(ctx)
		assert.ErrorIs(t, err, uploader.ErrCancelled)
		assert.Equal(t, []string{"config"}, lifecycle(aura), "nothing announced")
	})
}

// TestUploaderCancel destroys a paused upload from its id (as another
// process would): cancel on Aura, the Tus upload deleted, nothing left
// locally. Without StateDir only Aura can be told.
func TestUploaderCancel(t *testing.T) {
	t.Parallel()
	t.Run("with StateDir", func(t *testing.T) {
		t.Parallel()
		aura := auratest.NewServer()
		t.Cleanup(aura.Close)
		stateDir := t.TempDir()
		u, _ := newUploader(t, aura, stateDir)
		id := pauseDuringTransfer(t, aura, u, sampleDir)
		u2, _ := newUploader(t, aura, stateDir)
		require.NoError(t, u2.Cancel(context.Background(), id))
		checkDestroyed(t, aura, u2, id, stateDir)
		for _, bad := range []string{id, "../../etc/passwd", "not-an-id"} {
			_, err := u2.Resume(context.Background(), bad)
			assert.ErrorIs(t, err, uploader.ErrUnknownUpload, "Resume(%q)", bad)
			assert.ErrorIs(t, u2.Cancel(context.Background(), bad), uploader.ErrUnknownUpload, "Cancel(%q)", bad)
		}
	})
	t.Run("without StateDir", func(t *testing.T) {
		t.Parallel()
		aura := auratest.NewServer()
		t.Cleanup(aura.Close)
		u, _ := newUploader(t, aura, "")
		aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Delay: time.Minute})
		ctx, pause := context.WithCancel(context.Background())
		u.Callbacks.OnProgress = func(p uploader.Progress) { pause() }
		s, err := u.Prepare(ctx, sampleDir)
		require.NoError(t, err)
		_, err = s.Upload(ctx)
		require.ErrorIs(t, err, uploader.ErrPaused)
		require.NoError(t, u.Cancel(context.Background(), s.UploadID()))
		ss, _ := aura.Session(s.UploadID())
		assert.Equal(t, []string{"initialized", "started", "cancelled"}, ss.States)
		assert.Equal(t, `{"upload_id":"`+s.UploadID()+`","mode":"uploader"}`, body(t, aura, auratest.EndpointCancel))
	})
}

// deadlineCtx is a context whose deadline passes when expire is called: it
// then behaves as a context past its deadline (Done closed, Err and Cause
// context.DeadlineExceeded). It is built on a cancelable context so that
// the contexts derived from it end at once, as with a real deadline.
type deadlineCtx struct {
	context.Context
	at     time.Time
	cancel context.CancelCauseFunc
}

func newDeadline(at time.Time) *deadlineCtx {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &deadlineCtx{Context: ctx, at: at, cancel: cancel}
}

func (d *deadlineCtx) expire()                     { d.cancel(context.DeadlineExceeded) }
func (d *deadlineCtx) Deadline() (time.Time, bool) { return d.at, true }
func (d *deadlineCtx) Err() error {
	if d.Context.Err() != nil {
		return context.DeadlineExceeded
	}
	return nil
}
