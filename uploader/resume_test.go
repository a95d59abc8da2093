package uploader_test

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/uploader"
)

// TestPauseResume pauses an upload (its context cancelled) after its
// first 2 MiB and resumes it with a new Uploader (as a new process would):
// the same upload_id goes on, init and start are not repeated, only the
// missing bytes are sent, and the zip is intact; for stored entries, and
// deflated ones with a deferred length (one pass) or, for a server without
// it, a known one.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name               string
		store, knownLength bool
	}{{"stored", true, false}, {"deflated", false, false}, {"deflated, server without deferred lengths", false, true}} {
		store := c.store
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			aura := auratest.NewServer()
			t.Cleanup(aura.Close)
			stateDir := t.TempDir()
			u, rec := newUploader(t, aura, stateDir)
			u.Store = store
			if c.knownLength {
				knownLengthOnly(t, u)
			}
			heldAt2MiB(aura, u)
			ctx, pause := context.WithCancel(context.Background())
			s, err := u.Prepare(ctx, bigDir)
			require.NoError(t, err)
			rec.onProg = at2MiB(pause)
			_, err = s.Upload(ctx)
			checkPaused(t, aura, u, rec, s.UploadID(), err, context.Canceled)
			pending, err := u.Pending()
			require.NoError(t, err)
			assert.Equal(t, []string{bigDir}, pending[0].Paths)
			if store || c.knownLength {
				assert.Positive(t, pending[0].ArchiveBytes, "the archive's length is known")
			} else {
				assert.Equal(t, int64(-1), pending[0].ArchiveBytes, "a deferred length is not known yet")
			}

			aura.ClearFailures()
			seq := lastSeq(aura)
			u2, rec2 := newUploader(t, aura, stateDir)
			if c.knownLength {
				knownLengthOnly(t, u2)
			}
			res, err := u2.Resume(context.Background(), s.UploadID())
			require.NoError(t, err)
			assert.True(t, res.Resumed)
			assert.Equal(t, s.UploadID(), res.UploadID)
			assert.Equal(t, int64(2<<20), res.ResumedAt)
			assert.Equal(t, res.ArchiveBytes-2<<20, patchBytes(aura, seq), "the resume sends only the missing bytes")
			calls := lifecycle(aura)
			for _, name := range []string{"init", "start", "complete", "tus POST"} {
				assert.Equal(t, 1, count(calls, name), "%s: %q", name, compact(calls))
			}
			starts := aura.CallsTo(auratest.EndpointStart)
			completes := aura.CallsTo(auratest.EndpointComplete)
			require.Len(t, starts, 1)
			require.Len(t, completes, 1)
			assert.Equal(t, string(starts[0].Body), string(completes[0].Body), "the same assembly_id in start and complete")
			ss, _ := aura.Session(s.UploadID())
			assert.Equal(t, []string{"initialized", "started", "completed"}, ss.States)
			require.NotEmpty(t, rec2.progress)
			assert.Equal(t, int64(2<<20), rec2.progress[0].ResumedAt, "first progress after resume")
			assert.Equal(t, []uploader.State{uploader.StateConnecting, uploader.StateScanning, uploader.StateReady,
				uploader.StateUploading, uploader.StateCompleting, uploader.StateCompleted}, rec2.states, "states after resume")
			checkZip(t, aura, res.UploadID, expectedEntries(t, bigDir, bigFiles))
			assert.Empty(t, stateFiles(t, stateDir), "state left behind")
			_, err = u2.Resume(context.Background(), s.UploadID())
			assert.ErrorIs(t, err, uploader.ErrUnknownUpload, "second Resume")
		})
	}
}

// copyTree copies the sample files under src to a new directory.
func copyTree(t *testing.T, src string, files []dicomgen.File) (string, []dicomgen.File) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	out := make([]dicomgen.File, len(files))
	for i, f := range files {
		rel, err := filepath.Rel(src, f.Path)
		require.NoError(t, err)
		p := filepath.Join(dst, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		in, err := os.Open(f.Path)
		require.NoError(t, err)
		o, err := os.Create(p)
		require.NoError(t, err)
		_, err = io.Copy(o, in)
		in.Close()
		require.NoError(t, err)
		require.NoError(t, o.Close())
		st, err := os.Stat(f.Path)
		require.NoError(t, err)
		require.NoError(t, os.Chtimes(p, st.ModTime(), st.ModTime()))
		out[i] = f
		out[i].Path = p
	}
	return dst, out
}

// pauseDuringTransfer starts an upload of dir and pauses it (its context
// cancelled) once its Tus upload exists (and is recorded for resuming),
// with the first PATCH held by the server.
func pauseDuringTransfer(t *testing.T, aura *auratest.Server, u *uploader.Uploader, dir string) string {
	t.Helper()
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Delay: time.Minute})
	defer aura.ClearFailures()
	ctx, pause := context.WithCancel(context.Background())
	defer pause()
	s, err := u.Prepare(ctx, dir)
	require.NoError(t, err)
	prev := u.Callbacks.OnProgress
	defer func() { u.Callbacks.OnProgress = prev }()
	// Progress is first reported once the upload URL is saved.
	u.Callbacks.OnProgress = func(p uploader.Progress) {
		if p.State == uploader.StateUploading {
			pause()
		}
	}
	_, err = s.Upload(ctx)
	require.ErrorIs(t, err, uploader.ErrPaused)
	return s.UploadID()
}

// TestResumeSourcesChanged: files changed between the interruption and the
// resume make it fail clearly, never complete a mixed archive: Aura hears
// error (without local paths), the partial upload is deleted and the state
// removed.
func TestResumeSourcesChanged(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(t *testing.T, files []dicomgen.File)
		detail string
	}{
		{"modified time", func(t *testing.T, files []dicomgen.File) {
			os.Chtimes(files[3].Path, time.Now(), time.Now())
		}, "IM00004.dcm: modified at"},
		{"grown", func(t *testing.T, files []dicomgen.File) {
			st, _ := os.Stat(files[5].Path)
			f, _ := os.OpenFile(files[5].Path, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte{0, 0})
			f.Close()
			os.Chtimes(files[5].Path, st.ModTime(), st.ModTime())
		}, "size"},
		{"removed", func(t *testing.T, files []dicomgen.File) {
			os.Remove(files[len(files)-1].Path)
		}, "missing"},
		{"rewritten in place, same size and time", func(t *testing.T, files []dicomgen.File) {
			p := files[2].Path
			st, _ := os.Stat(p)
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 0xff // a pixel
			os.WriteFile(p, b, 0o644)
			os.Chtimes(p, st.ModTime(), st.ModTime())
		}, "the archive bytes from offset 0 differ"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			aura := auratest.NewServer()
			t.Cleanup(aura.Close)
			dir, files := copyTree(t, sampleDir, sampleFiles)
			stateDir := t.TempDir()
			u, _ := newUploader(t, aura, stateDir)
			id := pauseDuringTransfer(t, aura, u, dir)
			c.change(t, files)

			u2, rec := newUploader(t, aura, stateDir)
			_, err := u2.Resume(context.Background(), id)
			var sc *uploader.SourcesChangedError
			require.ErrorAs(t, err, &sc)
			assert.Contains(t, sc.Detail, c.detail)
			assert.Equal(t, id, sc.UploadID)
			assert.NotErrorIs(t, err, uploader.ErrResumable, "a changed upload is not resumable")
			ss, _ := aura.Session(id)
			assert.Equal(t, []string{"initialized", "started", "failed"}, ss.States)
			assert.Equal(t, "source files changed since the upload began; the archive cannot be completed", ss.Message)
			assert.Zero(t, count(lifecycle(aura), "complete"), "complete was sent")
			up, _ := aura.Upload(id)
			assert.True(t, up.Terminated, "partial tus upload kept: %+v", up)
			assert.Empty(t, stateFiles(t, stateDir), "state left behind")
			assert.Len(t, rec.errs, 1, "OnError calls")
		})
	}
}

// TestUnreportedFailureIsResumable: when the network is down, Tus fails and
// error cannot reach Aura either; the upload stays resumable and completes
// once the network is back.
func TestUnreportedFailureIsResumable(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	stateDir := t.TempDir()
	u, _ := newUploader(t, aura, stateDir)
	u.LifecycleRetries = -1
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Abort: true})
	aura.Fail(auratest.EndpointError, auratest.Failure{Abort: true})
	_, err := u.Upload(context.Background(), sampleDir)
	require.ErrorIs(t, err, uploader.ErrResumable)
	assert.Contains(t, err.Error(), "reporting it to Aura failed too")
	pending, err := u.Pending()
	require.NoError(t, err)
	require.Len(t, pending, 1)
	aura.ClearFailures()
	res, err := u.Resume(context.Background(), pending[0].UploadID)
	require.NoError(t, err)
	checkZip(t, aura, res.UploadID, expectedEntries(t, sampleDir, sampleFiles))
	ss, _ := aura.Session(res.UploadID)
	assert.Equal(t, "completed", ss.State, "server states %v", ss.States)
}

// TestResumeBeforeItBegins: a Resume that cannot reach Aura (network down
// while the config is fetched) or is paused while it scans has told Aura
// nothing and left its state untouched: the error matches ErrResumable
// (and ErrPaused for a pause), and a later Resume completes.
func TestResumeBeforeItBegins(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	stateDir := t.TempDir()
	u, _ := newUploader(t, aura, stateDir)
	id := pauseDuringTransfer(t, aura, u, sampleDir)

	u2, rec := newUploader(t, aura, stateDir)
	u2.API.ConfigRetries = -1
	aura.Fail(auratest.EndpointConfig, auratest.Failure{Abort: true})
	_, err := u2.Resume(context.Background(), id)
	assert.ErrorIs(t, err, uploader.ErrResumable, "network down")
	assert.NotErrorIs(t, err, uploader.ErrPaused, "network down")
	aura.ClearFailures()

	ctx, pause := context.WithTimeout(context.Background(), time.Hour)
	defer pause()
	rec.onState = func(st uploader.State) {
		if st == uploader.StateScanning {
			pause() // a context that ends, whatever the cause, pauses
		}
	}
	_, err = u2.Resume(ctx, id)
	assert.ErrorIs(t, err, uploader.ErrResumable, "paused")
	assert.ErrorIs(t, err, uploader.ErrPaused, "paused")
	require.NotEmpty(t, rec.states)
	assert.Equal(t, uploader.StatePaused, rec.states[len(rec.states)-1], "the pause reported as such")
	assert.Len(t, rec.errs, 1, "only the network failure is an error")
	rec.onState = nil

	calls := lifecycle(aura)
	for _, name := range []string{"error", "cancel", "tus DELETE"} {
		assert.Zero(t, count(calls, name), "Aura was told: %q", compact(calls))
	}
	p, err := u2.Pending()
	require.NoError(t, err)
	require.Len(t, p, 1)
	assert.Equal(t, id, p[0].UploadID)
	res, err := u2.Resume(context.Background(), id)
	require.NoError(t, err)
	checkZip(t, aura, res.UploadID, expectedEntries(t, sampleDir, sampleFiles))
}

// TestResumeStoredRewrittenInPlace: with stored entries there is no packing
// pass, so the block checksums are those of the first run's bytes. A file
// rewritten in place (same size and time) among the bytes the server holds
// is still caught, wherever the interruption fell: no byte reaches Tus
// before the checksum of its 4 MiB block is saved.
func TestResumeStoredRewrittenInPlace(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	dir, files := copyTree(t, bigDir, bigFiles)
	stateDir := t.TempDir()
	u, _ := newUploader(t, aura, stateDir)
	u.Store = true
	heldAt2MiB(aura, u)
	ctx, pause := context.WithCancel(context.Background())
	s, err := u.Prepare(ctx, dir)
	require.NoError(t, err)
	u.Callbacks.OnProgress = at2MiB(pause)
	_, err = s.Upload(ctx)
	require.ErrorIs(t, err, uploader.ErrPaused)
	aura.ClearFailures()
	// The first file lies in the first MiB of the archive, which the
	// server holds.
	p := files[0].Path
	st, err := os.Stat(p)
	require.NoError(t, err)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	b[len(b)-1] ^= 0xff
	require.NoError(t, os.WriteFile(p, b, 0o644))
	require.NoError(t, os.Chtimes(p, st.ModTime(), st.ModTime()))

	u2, _ := newUploader(t, aura, stateDir)
	_, err = u2.Resume(context.Background(), s.UploadID())
	var sc *uploader.SourcesChangedError
	require.ErrorAs(t, err, &sc)
	assert.Zero(t, count(lifecycle(aura), "complete"), "complete was sent for a mixed archive")
}

// TestPendingWithUnreadableState: a damaged state file does not hide the
// other unfinished uploads (it used to make Pending fail, so nothing could
// be resumed or cancelled); it is listed with Err, and Cancel removes it.
func TestPendingWithUnreadableState(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	stateDir := t.TempDir()
	u, _ := newUploader(t, aura, stateDir)
	ctx := context.Background()
	pauseDuringTransfer(t, aura, u, sampleDir) // a real unfinished upload
	good, err := u.Pending()
	require.NoError(t, err)
	require.Len(t, good, 1, "the paused upload")

	const damaged = "0b1c6f2e-2f8e-4c4e-9a55-3b8f2d0c9a11"
	require.NoError(t, os.WriteFile(filepath.Join(stateDir, damaged+".json"), []byte(`{"upload_id": "0b1c`), 0o600))
	pending, err := u.Pending()
	require.NoError(t, err)
	require.Len(t, pending, 2, "both uploads")
	var bad, ok *uploader.Pending
	for i := range pending {
		if pending[i].UploadID == damaged {
			bad = &pending[i]
		} else {
			ok = &pending[i]
		}
	}
	require.NotNil(t, bad)
	require.NotNil(t, ok)
	assert.Error(t, bad.Err, "the damaged one has Err")
	assert.NoError(t, ok.Err, "the paused one is intact")
	assert.Equal(t, good[0].UploadID, ok.UploadID)
	require.NoError(t, u.Cancel(ctx, damaged), "Cancel of the damaged state")
	_, err = os.Stat(filepath.Join(stateDir, damaged+".json"))
	require.ErrorIs(t, err, fs.ErrNotExist, "damaged state still there")
	pending, err = u.Pending()
	require.NoError(t, err)
	require.Len(t, pending, 1)
	assert.Equal(t, good[0].UploadID, pending[0].UploadID)
	assert.ErrorIs(t, u.Cancel(ctx, damaged), uploader.ErrUnknownUpload, "second Cancel")
}
