package uploader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/dicombridge/dicombridge/internal/retry"
	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// Errors of a [Session]'s methods, for errors.Is.
var (
	// ErrUnknownStudy: Remove was given a Study Instance UID the session
	// does not hold.
	ErrUnknownStudy = errors.New("uploader: unknown study")
	// ErrStarted: Remove or Upload was called after Upload began.
	ErrStarted = errors.New("uploader: upload already started")
)

// Session is one upload: one upload_id, from the scan to complete. Get one
// from [Uploader.Prepare]; [Uploader.Upload] and [Uploader.Resume] use one
// internally.
//
// A Session is safe for concurrent use: Cancel may be called from any
// goroutine (or a callback) while Upload runs; ending Upload's context
// pauses it. Upload runs once;
// after it returned paused, [Uploader.Resume] continues the upload (with
// StateDir) and Cancel destroys it.
type Session struct {
	u        *Uploader
	id       string
	assembly string
	paths    []string
	opts     archiveOptions
	scan     *dicomscan.Result

	cbMu sync.Mutex // serializes the callbacks

	mu        sync.Mutex // guards studies, removed, started, ended, resumable, cancelled and stop
	studies   []*dicomscan.Study
	removed   []string
	started   bool // Upload was called (or Cancel before it)
	ended     bool // Upload decided how it ends
	resumable bool // it ended paused or resumable: Cancel can still destroy it
	cancelled bool // Cancel was called
	stop      context.CancelCauseFunc

	// Owned by the goroutine running Upload.
	cfg   *ServerConfig
	saved *savedState // the state file's content; nil without StateDir until resumed
	step  string
	known bool // Aura may know the upload_id (init was sent)
	tus   *tusclient.Client
	tusUp *tusclient.Upload
	ends  entryEnds
	deid  *deidentifier // with Uploader.Deidentify
}

func newSession(u *Uploader, id, assembly string) *Session {
	return &Session{u: u, id: id, assembly: assembly}
}

// UploadID returns the session's upload_id, a UUID v4.
func (s *Session) UploadID() string { return s.id }

// Scan returns the result of the scan: every study found (removed ones
// included), and the files skipped, rejected or in error.
func (s *Session) Scan() *dicomscan.Result { return s.scan }

// Studies returns the studies that will be uploaded, as init announces
// them.
func (s *Session) Studies() []Study {
	s.mu.Lock()
	defer s.mu.Unlock()
	return studiesFromScan(s.studies)
}

// Remove takes the study with the given Study Instance UID out of the
// upload ("Skip these" in the reference client). It fails with
// [ErrUnknownStudy], or [ErrStarted] once Upload was called.
func (s *Session) Remove(studyUID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrStarted
	}
	i := slices.IndexFunc(s.studies, func(st *dicomscan.Study) bool { return st.StudyInstanceUID == studyUID })
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrUnknownStudy, studyUID)
	}
	s.studies = slices.Delete(slices.Clone(s.studies), i, i+1)
	s.removed = append(s.removed, studyUID)
	return nil
}

// Cancel destroys the upload for good: Aura is told (cancel), the partial
// Tus upload is deleted and the saved state removed. This is the only way,
// with [Uploader.Cancel], to destroy an upload: an ended context pauses.
//
// While Upload runs, Cancel stops it and returns nil at once; Upload does
// the cancellation and returns an error matching [ErrCancelled] (so Cancel
// may be called from a callback). After Upload returned paused (or with
// an error matching [ErrResumable]), Cancel does the cancellation itself
// and returns its outcome; no callback is called then. Before Upload,
// nothing was announced: Cancel only makes a later Upload fail with
// [ErrCancelled]. After Upload completed or failed, there is nothing to
// cancel and Cancel returns nil.
func (s *Session) Cancel(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case !s.started:
		s.started, s.cancelled = true, true
		s.mu.Unlock()
		return nil
	case !s.ended:
		s.cancelled = true
		stop := s.stop
		s.mu.Unlock()
		stop(ErrCancelled)
		return nil
	case !s.resumable:
		s.mu.Unlock()
		return nil
	}
	s.resumable = false
	s.mu.Unlock()
	defer s.closeTus()
	return s.destroy(ctx)
}

// destroy tells Aura the upload is cancelled, deletes the Tus upload and
// removes the saved state; it returns what could not be done.
func (s *Session) destroy(ctx context.Context) error {
	var errs []error
	if s.known {
		if err := s.call(ctx, "cancel", true, func(ctx context.Context) error { return s.u.API.Cancel(ctx, s.id) }); err != nil {
			errs = append(errs, fmt.Errorf("uploader: telling Aura: %w", err))
		}
		if !s.before(stepStarted) || s.tusUp != nil {
			if err := s.terminate(ctx, s.sizeOrUnknown()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	s.cleanup(ctx)
	if err := errors.Join(errs...); err != nil {
		return scrubError(err, s.secrets()...)
	}
	return nil
}

// prepare fetches the config and scans; saved is the state being resumed.
// A failure is reported like an upload's (StateFailed, OnError); a new
// upload whose context ends here is cancelled, as before init (nothing was
// announced or saved); a Resume that could not reach Aura, or whose
// context ended, stays resumable.
func (s *Session) prepare(ctx context.Context, paths []string, opts archiveOptions, saved *savedState) error {
	err := s.prepareInner(ctx, paths, opts, saved)
	if err != nil {
		err = scrubError(err, s.secrets()...)
		if saved == nil && ctx.Err() != nil {
			s.state(StateCancelled)
			return fmt.Errorf("%w: upload %s: %w", ErrCancelled, s.id, context.Cause(ctx))
		}
		if saved != nil {
			// A Resume that has not begun told Aura nothing and left the
			// saved state as it was.
			if ctx.Err() != nil {
				s.state(StatePaused)
				return &resumableError{fmt.Errorf("%w: upload %s at step %s: %w", ErrPaused, s.id, saved.Step, err)}
			}
			if retryable(ctx, err) {
				err = &resumableError{err}
			}
		}
		s.state(StateFailed)
		if cb := s.u.Callbacks.OnError; cb != nil {
			s.emit(func() { cb(err) })
		}
	}
	return err
}

func (s *Session) prepareInner(ctx context.Context, paths []string, opts archiveOptions, saved *savedState) error {
	s.paths, s.opts, s.saved = paths, opts, saved
	s.state(StateConnecting)
	cfg, err := s.u.API.Config(ctx)
	if err != nil {
		return err
	}
	s.cfg = cfg
	s.state(StateScanning)
	sc := s.u.Scanner
	if sc == nil {
		sc = &dicomscan.Scanner{}
	}
	res, err := sc.Scan(ctx, paths...)
	if err != nil {
		return fmt.Errorf("uploader: scan: %w", err)
	}
	s.scan = res
	s.studies = res.Studies
	if err := s.deidentify(ctx, res); err != nil {
		return err
	}
	if saved != nil {
		for _, uid := range saved.Removed {
			_ = s.Remove(uid) // a study gone since is caught by the plan check
		}
	}
	s.log(ctx, slog.LevelInfo, "uploader: scanned", slog.Int("files", res.Files), slog.Int("studies", len(s.studies)),
		slog.Int("skipped", len(res.Skipped)), slog.Int("rejected", len(res.Rejected)), slog.Int("errors", len(res.Errors)))
	s.state(StateReady)
	if cb := s.u.Callbacks.OnStudies; cb != nil {
		studies := s.Studies()
		s.emit(func() { cb(studies) })
	}
	return nil
}

// Upload announces the studies to Aura and uploads them (see [Uploader]).
// On failure it reports the cause to Aura and returns it. When ctx ends
// (cancelled, whatever the cause, or past its deadline), it pauses: nothing is sent to Aura, the Tus upload is kept,
// and the error matches [ErrPaused] (and [ErrResumable] with StateDir). On
// [Session.Cancel] it cancels the upload on Aura and Tus and returns an
// error matching [ErrCancelled]. With [Uploader.Submit], a completed upload
// whose submit failed returns its Result and an error matching
// [ErrNotSubmitted].
func (s *Session) Upload(ctx context.Context) (*Result, error) {
	s.mu.Lock()
	if s.cancelled && s.stop == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: upload %s (Session.Cancel was called before Upload)", ErrCancelled, s.id)
	}
	if s.started {
		s.mu.Unlock()
		return nil, ErrStarted
	}
	s.started = true
	ctx, stop := context.WithCancelCause(ctx)
	s.stop = stop
	studies := slices.Clone(s.studies)
	s.mu.Unlock()
	defer stop(nil)
	defer s.closeTus()

	begin := time.Now()
	res, err := s.run(ctx, studies)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	s.end(false)
	var submitErr error
	if s.u.Submit {
		submitErr = s.submit(ctx, res)
	}
	res.Elapsed = time.Since(begin)
	s.state(StateCompleted)
	s.log(ctx, slog.LevelInfo, "uploader: upload complete", slog.String("upload_id", s.id),
		slog.Int64("archive_bytes", res.ArchiveBytes), slog.Int64("resumed_at", res.ResumedAt), slog.Duration("elapsed", res.Elapsed))
	if cb := s.u.Callbacks.OnComplete; cb != nil {
		s.emit(func() { cb(res) })
	}
	return res, submitErr
}

// submit submits a completed upload (Uploader.Submit). A retry that Aura
// answers "already submitted" counts as done.
func (s *Session) submit(ctx context.Context, res *Result) error {
	var mr *ManageResult
	err := s.call(ctx, "submit", false, func(ctx context.Context) error {
		var err error
		mr, err = s.u.API.Submit(ctx, s.id, s.u.SubmitMetadata)
		return err
	})
	if err != nil {
		err = scrubError(err, s.secrets()...)
		s.log(ctx, slog.LevelWarn, "uploader: submit failed", slog.String("upload_id", s.id), slog.String("error", err.Error()))
		return fmt.Errorf("%w: upload %s: %w", ErrNotSubmitted, s.id, err)
	}
	if mr == nil {
		mr = &ManageResult{UploadID: s.id, Status: "submitted"}
	}
	res.Submitted = mr
	return nil
}

var stepOrder = map[string]int{
	stepNone: 0, stepInitSent: 1, stepInitialized: 2, stepStartSent: 3, stepStarted: 4, stepUploaded: 5, stepCompleteSent: 6,
}

// before reports whether the saved step precedes step.
func (s *Session) before(step string) bool { return stepOrder[s.step] < stepOrder[step] }

// run performs the upload from the saved step on.
func (s *Session) run(ctx context.Context, studies []*dicomscan.Study) (*Result, error) {
	u := s.u
	if len(studies) == 0 {
		return nil, s.noStudies()
	}
	z := dicomscan.Zip{Store: s.opts.Store, Level: s.opts.Level, Workers: u.Workers}
	if s.deid != nil {
		z.Open = s.deid.open
	}
	entries := z.Entries(studies)
	res := &Result{UploadID: s.id, Studies: len(studies), Instances: len(entries)}
	for _, st := range studies {
		res.Series += len(st.Series)
		res.SourceBytes += st.Size()
	}
	req := InitRequest{UploadID: s.id, Studies: studiesFromScan(studies), Source: u.Source, PatientID: u.PatientID, Context: u.Context}
	if _, err := req.Body(); err != nil {
		return nil, err
	}

	dir := u.StateDir
	sumsPath := ""
	if dir != "" {
		sumsPath = statePath(dir, s.id, ".sums")
	}
	var sums *blockSums
	var size int64
	var err error
	if s.saved != nil { // resuming
		s.step, s.known, res.Resumed = s.saved.Step, true, true
		res.StudyIDs = s.saved.StudyIDs
		if err := comparePlan(dir, s.saved, entries); err != nil {
			return nil, err
		}
		size = s.saved.Size
		known, err := readSums(sumsPath)
		if err != nil {
			return nil, err
		}
		if sums, err = openSums(s.id, sumsPath, known); err != nil {
			return nil, err
		}
	} else {
		if sums, err = openSums(s.id, "", nil); err != nil {
			return nil, err
		}
		switch deferred, derr := s.canDefer(ctx); {
		case derr != nil:
			return nil, derr
		case s.opts.Store:
			if size, err = z.Size(studies); err != nil {
				return nil, fmt.Errorf("uploader: archive size: %w", err)
			}
		case deferred:
			size = -1 // learnt at the end of the one pass (see transfer)
		default:
			// Packed before init, so that Aura does not wait for it.
			s.state(StatePacking)
			if size, err = s.pack(ctx, z, studies, sums); err != nil {
				return nil, err
			}
		}
		if dir != "" {
			if sums, err = s.saveNew(entries, size, sums); err != nil {
				return nil, err
			}
		}
	}
	defer func() { sums.close() }()

	if s.before(stepInitialized) {
		s.state(StateInitializing)
		if err := ctx.Err(); err != nil {
			return nil, err // not announced: nothing to pause
		}
		ambiguous := s.step == stepInitSent
		if err := s.setStep(stepInitSent); err != nil {
			return nil, err
		}
		s.known = true
		var ir *InitResponse
		err := s.call(ctx, "init", ambiguous, func(ctx context.Context) error {
			var err error
			ir, err = u.API.Init(ctx, req)
			return err
		})
		if err != nil {
			if !ambiguous && definitive(err) {
				s.known = false // Aura refused it: there is no upload to report on
			}
			return nil, err
		}
		if ir != nil {
			res.StudyIDs = ir.StudyIDs
			if s.saved != nil {
				s.saved.StudyIDs = ir.StudyIDs
			}
		}
		if err := s.setStep(stepInitialized); err != nil {
			return nil, err
		}
	}
	if s.before(stepStarted) {
		s.state(StateStarting)
		ambiguous := s.step == stepStartSent
		if err := s.setStep(stepStartSent); err != nil {
			return nil, err
		}
		if err := s.call(ctx, "start", ambiguous, func(ctx context.Context) error {
			return u.API.Start(ctx, s.id, s.assembly)
		}); err != nil {
			return nil, err
		}
		if err := s.setStep(stepStarted); err != nil {
			return nil, err
		}
	}
	if s.before(stepUploaded) {
		s.state(StateUploading)
		n, err := s.transfer(ctx, z, studies, len(entries), size, sums, res)
		if err != nil {
			return nil, err
		}
		size = n
		if s.saved != nil {
			s.saved.Size = size
		}
		if err := s.setStep(stepUploaded); err != nil {
			return nil, err
		}
		s.forgetTus(ctx)
	}
	s.state(StateCompleting)
	ambiguous := s.step == stepCompleteSent
	if err := s.setStep(stepCompleteSent); err != nil {
		return nil, err
	}
	if err := s.call(ctx, "complete", ambiguous, func(ctx context.Context) error {
		return u.API.Complete(ctx, s.id, s.assembly)
	}); err != nil {
		return nil, err
	}
	s.cleanup(ctx)
	res.ArchiveBytes = size
	return res, nil
}

func (s *Session) noStudies() error {
	r := s.scan
	if r == nil {
		return ErrNoStudies
	}
	if len(r.Studies) > 0 {
		return fmt.Errorf("%w: all %d studies were removed", ErrNoStudies, len(r.Studies))
	}
	return fmt.Errorf("%w among %d files (%d skipped, %d rejected, %d unreadable)",
		ErrNoStudies, r.Files, len(r.Skipped), len(r.Rejected), len(r.Errors))
}

// pack compresses the archive once to learn its length (and checksums).
func (s *Session) pack(ctx context.Context, z dicomscan.Zip, studies []*dicomscan.Study, sums *blockSums) (int64, error) {
	cb := s.u.Callbacks.OnProgress
	var meter rateMeter
	z.OnProgress = func(p dicomscan.ZipProgress) {
		s.ends.set(p.Entries, p.BytesWritten)
		if cb != nil {
			pr := Progress{State: StatePacking, Bytes: p.BytesRead, Sent: p.BytesRead, TotalBytes: p.TotalBytes,
				Files: p.Entries, TotalFiles: p.TotalEntries}
			pr.Rate = meter.add(p.BytesRead)
			pr.ETA = eta(pr.Bytes, pr.TotalBytes, pr.Rate)
			s.emit(func() { cb(pr) })
		}
	}
	n, err := measure(ctx, z, studies, sums)
	if err != nil {
		return 0, fmt.Errorf("uploader: packing the archive: %w", err)
	}
	return n, nil
}

// saveNew writes the plan, the checksums and the first state of a new
// upload, and returns the checksums set to append to their file.
func (s *Session) saveNew(entries []dicomscan.Entry, size int64, sums *blockSums) (*blockSums, error) {
	dir := s.u.StateDir
	digest, err := writePlan(dir, s.id, s.opts, entries)
	if err != nil {
		return nil, err
	}
	path := statePath(dir, s.id, ".sums")
	var buf []byte
	for _, k := range sums.known {
		rec := make([]byte, sumRecordSize)
		copy(rec, k[:])
		putCRC(rec)
		buf = append(buf, rec...)
	}
	if err := writeAtomic(path, buf); err != nil {
		return nil, err
	}
	next, err := openSums(s.id, path, sums.known)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	removed := slices.Clone(s.removed)
	s.mu.Unlock()
	s.saved = &savedState{
		Version: stateVersion, UploadID: s.id, AssemblyID: s.assembly, API: s.u.API.BaseURL,
		Paths: s.paths, Removed: removed, Archive: s.opts, Format: archiveFormatID(),
		Plan: digest, Size: size, Step: stepNone, Created: time.Now().UTC(),
	}
	return next, nil
}

// setStep records progress in the state file (when there is one).
func (s *Session) setStep(step string) error {
	s.step = step
	if s.saved == nil || s.u.StateDir == "" {
		return nil
	}
	s.saved.Step = step
	return saveState(s.u.StateDir, s.saved)
}

// tusClient returns the Tus client for the lift endpoint.
func (s *Session) tusClient() (*tusclient.Client, error) {
	if s.tus != nil {
		return s.tus, nil
	}
	lift := s.cfg.Lift
	c, err := tusclient.New(tusclient.Config{
		Endpoint:   lift.Endpoint,
		HTTPClient: s.u.TusHTTPClient,
		ChunkSize:  s.u.chunkSize(),
		Retry:      s.u.TusRetry,
		Logger:     s.u.Logger,
		// Only the lift token goes to Tus; X-Api-Key never does
		// (docs/uploader.md, "Tus").
		BeforeRequest: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+lift.Token)
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("uploader: tus: %w", err)
	}
	s.tus = c
	return c, nil
}

// closeTus closes the idle connections of the Tus transport this session
// made (with TusHTTPClient nil), which nothing else can reuse.
func (s *Session) closeTus() {
	if s.tus != nil && s.u.TusHTTPClient == nil {
		s.tus.CloseIdleConnections()
	}
}

func (s *Session) tusStore() (tusclient.Store, error) {
	if s.u.StateDir == "" {
		return nil, nil
	}
	st, err := tusclient.NewFileStore(filepath.Join(s.u.StateDir, "tus"))
	if err != nil {
		return nil, fmt.Errorf("uploader: tus resume store: %w", err)
	}
	return st, nil
}

func (s *Session) tusFingerprint() string { return "aura-upload:" + s.id }

// tusOptions are the upload's Tus options: the reference client's
// metadata, in its order (docs/uploader.md, "Tus"), and the resume
// store.
func (s *Session) tusOptions() (tusclient.UploadOptions, error) {
	store, err := s.tusStore()
	if err != nil {
		return tusclient.UploadOptions{}, err
	}
	name := s.id + ".zip"
	opts := tusclient.UploadOptions{
		Metadata: tusclient.Metadata{
			{Key: "upload_id", Value: s.id},
			{Key: "bucket", Value: s.cfg.Lift.Bucket},
			{Key: "mode", Value: s.cfg.Mode},
			{Key: "name", Value: name},
			{Key: "type", Value: "application/zip"},
			{Key: "filetype", Value: "application/zip"},
			{Key: "filename", Value: name},
		},
		// The record is removed by forgetTus once the step is saved, so a
		// crash in between still finds the finished upload.
		KeepRecord: true,
	}
	if store != nil {
		opts.Store, opts.Fingerprint = store, s.tusFingerprint()
	}
	return opts, nil
}

// canDefer reports whether the archive goes in one pass with a deferred
// length: its entries are deflated (so its length is only known at the
// end) and the Tus server announces creation-defer-length. See the
// package doc, "One pass".
func (s *Session) canDefer(ctx context.Context) (bool, error) {
	if s.opts.Store {
		return false, nil
	}
	tc, err := s.tusClient()
	if err != nil {
		return false, err
	}
	ok, err := tc.Supports(ctx, "creation-defer-length")
	if err != nil {
		return false, fmt.Errorf("uploader: tus: %w", err)
	}
	return ok, nil
}

// transfer streams the archive to Tus and returns its length. size is -1
// when the length is deferred: the upload is created with
// Upload-Defer-Length and the last PATCH declares it.
func (s *Session) transfer(ctx context.Context, z dicomscan.Zip, studies []*dicomscan.Study, files int, size int64, sums *blockSums, res *Result) (int64, error) {
	tc, err := s.tusClient()
	if err != nil {
		return 0, err
	}
	opts, err := s.tusOptions()
	if err != nil {
		return 0, err
	}
	var pack packStats
	z.OnProgress = func(p dicomscan.ZipProgress) {
		s.ends.set(p.Entries, p.BytesWritten)
		pack.set(p.BytesRead, p.TotalBytes, p.BytesWritten)
	}
	cb := s.u.Callbacks.OnProgress
	var up *tusclient.Upload
	var resumedAt int64
	var meter rateMeter
	opts.OnCreated = func(string) { resumedAt = up.Offset() }
	opts.OnProgress = func(p tusclient.Progress) {
		if cb == nil {
			return
		}
		total := p.Size
		if total < 0 {
			total = max(pack.estimate(), p.Sent, p.Offset)
		}
		pr := Progress{State: StateUploading, Bytes: p.Offset, Sent: p.Sent, TotalBytes: total,
			Files: s.ends.filesBelow(p.Offset), TotalFiles: files, ResumedAt: resumedAt}
		if p.Size >= 0 && p.Offset >= p.Size {
			pr.Files = files
		}
		pr.Rate = meter.add(p.Offset)
		pr.ETA = eta(pr.Bytes, pr.TotalBytes, pr.Rate)
		s.emit(func() { cb(pr) })
	}
	opts.OnRetry = func(err error, attempt int, delay time.Duration) {
		s.log(ctx, slog.LevelInfo, "uploader: tus retry", slog.Int("attempt", attempt), slog.Duration("delay", delay), slog.String("error", err.Error()))
	}
	st := newStream(ctx, z, studies, sums)
	up, err = tc.NewStreamUpload(st, size, opts)
	if err != nil {
		st.Close()
		return 0, fmt.Errorf("uploader: tus: %w", err)
	}
	s.tusUp = up
	if err := up.Run(ctx); err != nil {
		st.Close()
		return 0, fmt.Errorf("uploader: tus upload: %w", err)
	}
	// The rest of the archive, if Tus did not read to its end, is
	// produced and checked to the last block's end (see stream.end).
	if err := st.end(); err != nil {
		if sc := (*SourcesChangedError)(nil); errors.As(err, &sc) {
			return 0, sc
		}
		return 0, fmt.Errorf("uploader: archive: %w", err)
	}
	res.ResumedAt = resumedAt
	return up.Progress().Size, nil
}

// forgetTus removes the Tus resume record.
func (s *Session) forgetTus(ctx context.Context) {
	store, err := s.tusStore()
	if err != nil || store == nil {
		return
	}
	if err := store.Delete(context.WithoutCancel(ctx), s.tusFingerprint()); err != nil {
		s.log(ctx, slog.LevelWarn, "uploader: removing the tus resume record failed", slog.String("error", err.Error()))
	}
}

// cleanup removes every trace of the upload in StateDir.
func (s *Session) cleanup(ctx context.Context) {
	if s.u.StateDir == "" {
		return
	}
	s.forgetTus(ctx)
	if err := removeState(s.u.StateDir, s.id); err != nil {
		s.log(ctx, slog.LevelWarn, "uploader: removing the upload state failed", slog.String("error", err.Error()))
	}
}

// terminate deletes the Tus upload, known from this run or from the
// resume store.
func (s *Session) terminate(ctx context.Context, size int64) error {
	up := s.tusUp
	if up == nil {
		opts, err := s.tusOptions()
		if err != nil {
			return err
		}
		if opts.Store == nil {
			return nil // nothing was uploaded by this process, and nothing recorded
		}
		tc, err := s.tusClient()
		if err != nil {
			return err
		}
		if up, err = tc.NewStreamUpload(strings.NewReader(""), size, opts); err != nil {
			return err
		}
	}
	if up.URL() == "" && s.tusUp != nil {
		return nil // never created
	}
	if err := up.Terminate(ctx); err != nil {
		return fmt.Errorf("uploader: deleting the tus upload: %w", err)
	}
	return nil
}

// end records how Upload ended: paused says it paused unless Cancel was
// called meanwhile (then Cancel can still destroy the upload). It returns
// whether it paused.
func (s *Session) end(paused bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	paused = paused && !s.cancelled
	s.ended, s.resumable = true, paused
	return paused
}

// fail ends an upload that did not complete: pause (its context ended),
// cancellation (Session.Cancel) or failure (see Upload).
func (s *Session) fail(ctx context.Context, err error) error {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err = scrubError(err, s.secrets()...)
	dir := s.u.StateDir
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		if s.end(s.known) {
			// Whatever ended the context (a pause, a signal, a deadline),
			// the upload is kept: nothing is sent to Aura or Tus.
			s.state(StatePaused)
			s.log(ctx, slog.LevelInfo, "uploader: upload paused", slog.String("upload_id", s.id), slog.String("step", s.step))
			if dir != "" && s.saved != nil {
				return &resumableError{fmt.Errorf("%w: upload %s at step %s (%w); resume it with Uploader.Resume, or destroy it with Uploader.Cancel",
					ErrPaused, s.id, s.step, cause)}
			}
			return fmt.Errorf("%w: upload %s at step %s (%w); without StateDir it cannot be resumed: destroy it with Session.Cancel",
				ErrPaused, s.id, s.step, cause)
		}
		// Session.Cancel, or a context that ended before anything was
		// announced to Aura (there is nothing to pause or to tell).
		var problems []string
		if derr := s.destroy(bg); derr != nil {
			problems = append(problems, derr.Error())
		}
		s.state(StateCancelled)
		s.log(ctx, slog.LevelInfo, "uploader: upload cancelled", slog.String("upload_id", s.id))
		out := fmt.Errorf("%w: upload %s: %w", ErrCancelled, s.id, cause)
		if len(problems) > 0 {
			out = fmt.Errorf("%w (%s)", out, strings.Join(problems, "; "))
		}
		return out
	}

	resumable := false
	if s.known {
		msg := reportMessage(err, s.secrets()...)
		rerr := s.call(bg, "error", false, func(ctx context.Context) error { return s.u.API.Error(ctx, s.id, msg) })
		switch {
		case rerr != nil && dir != "" && s.saved != nil && !errors.As(err, new(*SourcesChangedError)):
			// Aura still thinks the upload runs: keep it resumable.
			resumable = true
			err = &resumableError{fmt.Errorf("%w; reporting it to Aura failed too (%v): resume the upload with Uploader.Resume(%q)", err, scrubError(rerr, s.secrets()...), s.id)}
		case rerr != nil:
			err = fmt.Errorf("%w; reporting it to Aura failed too: %v", err, scrubError(rerr, s.secrets()...))
			s.cleanup(bg)
		default:
			if !s.before(stepStarted) || s.tusUp != nil {
				if terr := s.terminate(bg, s.sizeOrUnknown()); terr != nil {
					s.log(ctx, slog.LevelWarn, "uploader: deleting the failed tus upload failed", slog.String("error", terr.Error()))
				}
			}
			s.cleanup(bg)
		}
	} else {
		s.cleanup(bg)
	}
	s.end(resumable)
	s.state(StateFailed)
	s.log(ctx, slog.LevelWarn, "uploader: upload failed", slog.String("upload_id", s.id), slog.String("error", err.Error()))
	if cb := s.u.Callbacks.OnError; cb != nil {
		s.emit(func() { cb(err) })
	}
	return err
}

// sizeOrUnknown is the archive length, or -1 when it is not known (a
// deferred length not reached yet).
func (s *Session) sizeOrUnknown() int64 {
	if s.saved != nil {
		return s.saved.Size
	}
	return -1
}

// secrets are the credentials this session knows, to keep out of messages.
func (s *Session) secrets() []string {
	out := []string{s.u.API.APIKey}
	if s.cfg != nil {
		out = append(out, s.cfg.Lift.Token)
	}
	return out
}

// call runs one lifecycle call, retrying per auraRetry. When an
// earlier attempt may have reached Aura (ambiguous: a call saved as sent
// by an interrupted run; or a retry after a network error or a 5xx), a
// conflict about the upload id ("already taken", "already started") means
// that attempt was applied, and counts as success.
func (s *Session) call(ctx context.Context, name string, ambiguous bool, f func(context.Context) error) error {
	return retry.Do(ctx, auraRetry(ctx, s.u.LifecycleRetries), func(ctx context.Context) error {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ambiguous && alreadyApplied(err) {
			s.log(ctx, slog.LevelInfo, "uploader: "+name+" was already applied", slog.String("upload_id", s.id), slog.String("answer", err.Error()))
			return nil
		}
		var apiErr *uploadtoken.APIError
		ambiguous = ambiguous || !errors.As(err, &apiErr) || apiErr.StatusCode >= 500
		return err
	}, func(err error, attempt int, wait time.Duration) {
		s.log(ctx, slog.LevelInfo, "uploader: retrying "+name, slog.Int("attempt", attempt), slog.Duration("delay", wait), slog.String("error", err.Error()))
	})
}

// alreadyApplied recognises Aura's answer to a lifecycle call repeated
// after it succeeded: 409, or 422 about the upload id.
func alreadyApplied(err error) bool {
	var apiErr *uploadtoken.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	if apiErr.StatusCode == http.StatusConflict {
		return true
	}
	_, aboutID := apiErr.Fields["upload_id"]
	return apiErr.StatusCode == http.StatusUnprocessableEntity && aboutID
}

// definitive reports whether Aura answered a call with a refusal that
// means it did not act on it (a 4xx other than 408 and 429).
func definitive(err error) bool {
	var apiErr *uploadtoken.APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 &&
		apiErr.StatusCode != http.StatusRequestTimeout && apiErr.StatusCode != http.StatusTooManyRequests
}

func (s *Session) state(st State) {
	if s.u.Logger != nil {
		s.u.Logger.Debug("uploader: state", slog.String("upload_id", s.id), slog.String("state", string(st)))
	}
	if cb := s.u.Callbacks.OnState; cb != nil {
		s.emit(func() { cb(st) })
	}
}

func (s *Session) emit(f func()) {
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	f()
}

func (s *Session) log(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if s.u.Logger == nil {
		return
	}
	for i, a := range attrs {
		if a.Value.Kind() == slog.KindString {
			attrs[i].Value = slog.StringValue(scrub(a.Value.String(), s.secrets()...))
		}
	}
	s.u.Logger.LogAttrs(ctx, level, msg, attrs...)
}
