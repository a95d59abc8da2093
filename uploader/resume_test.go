package uploader_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/uploader"
)

// TestPauseResume pauses an upload after its first 5 MiB chunk and resumes
// it with a new Uploader (as a new process would): the same upload_id goes
// on, init and start are not repeated, only the missing bytes are sent,
// and the zip is intact.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	for _, store := range []bool{true, false} {
		name := "deflated"
		if store {
			name = "stored"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			aura := auratest.NewServer()
			t.Cleanup(aura.Close)
			stateDir := t.TempDir()
			u, rec := newUploader(t, aura, stateDir)
			u.Store = store
			u.ChunkSize = 1 << 20
			aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Skip: 2, Delay: time.Minute})
			ctx := context.Background()
			s, err := u.Prepare(ctx, bigDir)
			if err != nil {
				t.Fatal(err)
			}
			rec.onProg = func(p uploader.Progress) {
				if p.State == uploader.StateUploading && p.Bytes == 2<<20 {
					s.Pause()
				}
			}
			_, err = s.Upload(ctx)
			if !errors.Is(err, uploader.ErrPaused) || !errors.Is(err, uploader.ErrResumable) || errors.Is(err, uploader.ErrCancelled) {
				t.Fatalf("error %v, want ErrPaused and ErrResumable", err)
			}
			if rec.states[len(rec.states)-1] != uploader.StatePaused || rec.cancels != 0 || len(rec.errs) != 0 {
				t.Errorf("callbacks: states %v, %d cancels, errors %v", rec.states, rec.cancels, rec.errs)
			}
			calls := lifecycle(aura)
			if count(calls, "cancel")+count(calls, "error")+count(calls, "complete")+count(calls, "tus DELETE") != 0 {
				t.Errorf("a pause reported something: %q", compact(calls))
			}
			pending, err := u.Pending()
			if err != nil || len(pending) != 1 || pending[0].UploadID != s.UploadID() || pending[0].Step != "started" ||
				!slices.Equal(pending[0].Paths, []string{bigDir}) {
				t.Fatalf("Pending() = %+v, %v", pending, err)
			}

			aura.ClearFailures()
			seq := lastSeq(aura)
			u2, rec2 := newUploader(t, aura, stateDir)
			res, err := u2.Resume(ctx, s.UploadID())
			if err != nil {
				t.Fatal(err)
			}
			if !res.Resumed || res.UploadID != s.UploadID() || res.AssemblyID != s.AssemblyID() || res.ResumedAt != 2<<20 {
				t.Errorf("result %+v: want the same upload resumed at %d", res, 2<<20)
			}
			if sent := patchBytes(aura, seq); sent != res.ArchiveBytes-2<<20 {
				t.Errorf("resume sent %d bytes, want the missing %d", sent, res.ArchiveBytes-2<<20)
			}
			calls = lifecycle(aura)
			if count(calls, "init") != 1 || count(calls, "start") != 1 || count(calls, "complete") != 1 || count(calls, "tus POST") != 1 {
				t.Errorf("calls %q", compact(calls))
			}
			ss, _ := aura.Session(s.UploadID())
			if !slices.Equal(ss.States, []string{"initialized", "started", "completed"}) {
				t.Errorf("server states %v", ss.States)
			}
			if first := rec2.progress[0]; first.ResumedAt != 2<<20 {
				t.Errorf("first progress after resume %+v", first)
			}
			wantStates := []uploader.State{uploader.StateConnecting, uploader.StateScanning, uploader.StateReady,
				uploader.StateUploading, uploader.StateCompleting, uploader.StateCompleted}
			if !slices.Equal(rec2.states, wantStates) {
				t.Errorf("states after resume %v, want %v", rec2.states, wantStates)
			}
			checkZip(t, aura, res.UploadID, expectedEntries(t, bigDir, bigFiles))
			if left := stateFiles(t, stateDir); len(left) != 0 {
				t.Errorf("state left behind: %v", left)
			}
			if _, err := u2.Resume(ctx, s.UploadID()); !errors.Is(err, uploader.ErrUnknownUpload) {
				t.Errorf("second Resume = %v, want ErrUnknownUpload", err)
			}
		})
	}
}

// copyTree copies the sample files under src to a new directory.
func copyTree(t *testing.T, src string, files []dicomgen.File) (string, []dicomgen.File) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	out := make([]dicomgen.File, len(files))
	for i, f := range files {
		rel, _ := filepath.Rel(src, f.Path)
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		in, err := os.Open(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		o, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(o, in)
		in.Close()
		if cerr := o.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(f.Path)
		os.Chtimes(p, st.ModTime(), st.ModTime())
		out[i] = f
		out[i].Path = p
	}
	return dst, out
}

// pauseDuringTransfer starts an upload of dir and pauses it once its Tus
// upload exists (and is recorded for resuming), with the first PATCH held
// by the server.
func pauseDuringTransfer(t *testing.T, aura *auratest.Server, u *uploader.Uploader, dir string) string {
	t.Helper()
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Delay: time.Minute})
	defer aura.ClearFailures()
	ctx := context.Background()
	s, err := u.Prepare(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	prev := u.Callbacks.OnProgress
	defer func() { u.Callbacks.OnProgress = prev }()
	// Progress is first reported once the upload URL is saved.
	u.Callbacks.OnProgress = func(p uploader.Progress) {
		if p.State == uploader.StateUploading {
			s.Pause()
		}
	}
	if _, err := s.Upload(ctx); !errors.Is(err, uploader.ErrPaused) {
		t.Fatalf("error %v, want ErrPaused", err)
	}
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
			if !errors.As(err, &sc) || !errors.Is(err, uploader.ErrSourcesChanged) || !strings.Contains(sc.Detail, c.detail) || sc.UploadID != id {
				t.Fatalf("error %v, want a SourcesChangedError mentioning %q", err, c.detail)
			}
			if errors.Is(err, uploader.ErrResumable) {
				t.Error("a changed upload is not resumable")
			}
			ss, _ := aura.Session(id)
			if !slices.Equal(ss.States, []string{"initialized", "started", "failed"}) ||
				ss.Message != "source files changed since the upload began; the archive cannot be completed" {
				t.Errorf("server: states %v, message %q", ss.States, ss.Message)
			}
			if count(lifecycle(aura), "complete") != 0 {
				t.Error("complete was sent")
			}
			if up, _ := aura.Upload(id); !up.Terminated {
				t.Errorf("partial tus upload kept: %+v", up)
			}
			if left := stateFiles(t, stateDir); len(left) != 0 {
				t.Errorf("state left behind: %v", left)
			}
			if len(rec.errs) != 1 {
				t.Errorf("OnError called %d times", len(rec.errs))
			}
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
	if !errors.Is(err, uploader.ErrResumable) || !strings.Contains(err.Error(), "reporting it to Aura failed too") {
		t.Fatalf("error %v, want ErrResumable", err)
	}
	pending, _ := u.Pending()
	if len(pending) != 1 {
		t.Fatalf("pending %+v", pending)
	}
	aura.ClearFailures()
	res, err := u.Resume(context.Background(), pending[0].UploadID)
	if err != nil {
		t.Fatal(err)
	}
	checkZip(t, aura, res.UploadID, expectedEntries(t, sampleDir, sampleFiles))
	if ss, _ := aura.Session(res.UploadID); ss.State != "completed" {
		t.Errorf("server state %v", ss.States)
	}
}

// TestDiscard abandons a paused upload: cancel on Aura, the Tus upload
// deleted, nothing left locally.
func TestDiscard(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	stateDir := t.TempDir()
	u, _ := newUploader(t, aura, stateDir)
	id := pauseDuringTransfer(t, aura, u, sampleDir)
	if err := u.Discard(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	ss, _ := aura.Session(id)
	if ss.State != "cancelled" {
		t.Errorf("server states %v", ss.States)
	}
	if up, _ := aura.Upload(id); !up.Terminated {
		t.Errorf("tus upload kept: %+v", up)
	}
	if left := stateFiles(t, stateDir); len(left) != 0 {
		t.Errorf("state left behind: %v", left)
	}
	for _, bad := range []string{id, "../../etc/passwd", "not-an-id"} {
		if _, err := u.Resume(context.Background(), bad); !errors.Is(err, uploader.ErrUnknownUpload) {
			t.Errorf("Resume(%q) = %v, want ErrUnknownUpload", bad, err)
		}
	}
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
	if !errors.Is(err, uploader.ErrResumable) || errors.Is(err, uploader.ErrPaused) {
		t.Errorf("network down: error %v, want ErrResumable", err)
	}
	aura.ClearFailures()

	ctx, pause := context.WithCancelCause(context.Background())
	rec.onState = func(st uploader.State) {
		if st == uploader.StateScanning {
			pause(uploader.ErrPaused)
		}
	}
	_, err = u2.Resume(ctx, id)
	if !errors.Is(err, uploader.ErrResumable) || !errors.Is(err, uploader.ErrPaused) {
		t.Errorf("paused: error %v, want ErrPaused and ErrResumable", err)
	}
	if rec.states[len(rec.states)-1] != uploader.StatePaused || len(rec.errs) != 1 {
		t.Errorf("callbacks: states %v, errors %v; want the pause reported as such", rec.states, rec.errs)
	}
	rec.onState = nil

	calls := lifecycle(aura)
	if count(calls, "error")+count(calls, "cancel")+count(calls, "tus DELETE") != 0 {
		t.Errorf("Aura was told: %q", compact(calls))
	}
	if p, err := u2.Pending(); err != nil || len(p) != 1 || p[0].UploadID != id {
		t.Fatalf("Pending() = %+v, %v", p, err)
	}
	res, err := u2.Resume(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
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
	u.Store, u.ChunkSize = true, 1<<20
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Skip: 2, Delay: time.Minute})
	ctx := context.Background()
	s, err := u.Prepare(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	u.Callbacks.OnProgress = func(p uploader.Progress) {
		if p.State == uploader.StateUploading && p.Bytes == 2<<20 {
			s.Pause()
		}
	}
	if _, err := s.Upload(ctx); !errors.Is(err, uploader.ErrPaused) {
		t.Fatalf("error %v, want ErrPaused", err)
	}
	aura.ClearFailures()
	// The first file lies in the first MiB of the archive, which the
	// server holds.
	p := files[0].Path
	st, _ := os.Stat(p)
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 0xff
	os.WriteFile(p, b, 0o644)
	os.Chtimes(p, st.ModTime(), st.ModTime())

	u2, _ := newUploader(t, aura, stateDir)
	_, err = u2.Resume(ctx, s.UploadID())
	if !errors.Is(err, uploader.ErrSourcesChanged) {
		t.Fatalf("Resume: error %v, want ErrSourcesChanged", err)
	}
	if count(lifecycle(aura), "complete") != 0 {
		t.Error("complete was sent for a mixed archive")
	}
}

// TestPendingWithUnreadableState: a damaged state file does not hide the
// other unfinished uploads (it used to make Pending fail, so nothing could
// be resumed or discarded); it is listed with Err, and Discard removes it.
func TestPendingWithUnreadableState(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	stateDir := t.TempDir()
	u, _ := newUploader(t, aura, stateDir)
	ctx := context.Background()
	pauseDuringTransfer(t, aura, u, sampleDir) // a real unfinished upload
	good, err := u.Pending()
	if err != nil || len(good) != 1 {
		t.Fatalf("Pending() = %+v, %v; want the paused upload", good, err)
	}

	const damaged = "0b1c6f2e-2f8e-4c4e-9a55-3b8f2d0c9a11"
	if err := os.WriteFile(filepath.Join(stateDir, damaged+".json"), []byte(`{"upload_id": "0b1c`), 0o600); err != nil {
		t.Fatal(err)
	}
	pending, err := u.Pending()
	if err != nil || len(pending) != 2 {
		t.Fatalf("Pending() = %+v, %v; want both uploads", pending, err)
	}
	var bad, ok *uploader.Pending
	for i := range pending {
		if pending[i].UploadID == damaged {
			bad = &pending[i]
		} else {
			ok = &pending[i]
		}
	}
	if bad == nil || bad.Err == nil || ok == nil || ok.Err != nil || ok.UploadID != good[0].UploadID {
		t.Fatalf("Pending() = %+v; want the damaged one with Err and the paused one intact", pending)
	}
	if err := u.Discard(ctx, damaged); err != nil {
		t.Fatalf("Discard of the damaged state: %v", err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, damaged+".json")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("damaged state still there: %v", err)
	}
	if pending, err := u.Pending(); err != nil || len(pending) != 1 || pending[0].UploadID != good[0].UploadID {
		t.Fatalf("after Discard: %+v, %v", pending, err)
	}
	if err := u.Discard(ctx, damaged); !errors.Is(err, uploader.ErrUnknownUpload) {
		t.Fatalf("second Discard: %v, want ErrUnknownUpload", err)
	}
}
