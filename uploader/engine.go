package uploader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dicombridge/dicombridge/deid"
	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/dicombridge/dicombridge/tusclient"
)

// defaultChunkSize is the Tus PATCH body size of the reference client (see
// docs/uploader.md, "Tus"), the default of Uploader.ChunkSize.
const defaultChunkSize = 5 << 20

// Uploader uploads folders of DICOM studies to Aura: the Go counterpart of
// the standalone uploader's engine (see docs/uploader.md), without its
// known defects.
//
// [Uploader.Upload] does everything in one call; [Uploader.Prepare] then
// [Session.Upload] leaves room to look at the studies and remove some in
// between; [Uploader.Resume] finishes an upload that a stopped process left
// behind (with StateDir set).
//
// One upload, on the wire:
//
//  1. GET /uploader/config, once, validated (Tus endpoint, lift token,
//     bucket, mode);
//  2. the paths are scanned (package dicomscan) and the studies announced
//     with POST /uploader/upload/init, built exactly as the browser client
//     builds it, under a new UUID v4 upload_id used in every later call, in
//     the Tus metadata and in the archive name "<upload_id>.zip";
//  3. POST /uploader/upload/start, and its 2xx awaited;
//  4. the zip of every accepted file ("<StudyInstanceUID>/<name>" entries)
//     is streamed over Tus to lift.endpoint in 5 MiB PATCHes, with the
//     metadata keys upload_id, bucket, mode, name, type, filetype, filename
//     in that order, and "Authorization: Bearer <lift.token>" (never the
//     API key);
//  5. POST /uploader/upload/complete, only once Tus holds every byte;
//  6. with Submit, POST /uploader/manage/submit.
//
// A failure after init sends POST /uploader/upload/error with the real
// cause (the status and message, never a credential or a local path) and
// never complete. A context that ends pauses (see [ErrPaused]); only
// [Session.Cancel] and [Uploader.Cancel] send POST /uploader/upload/cancel
// and delete the partial Tus upload. Lifecycle calls are retried on
// network errors, 429 and 5xx (see LifecycleRetries).
//
// # One pass
//
// The zip is produced on the fly from the source files and streamed to
// Tus. It is never held in memory (one 5 MiB chunk and three 4 MiB blocks
// are: the compression works up to two blocks ahead of the network) nor
// written to disk, so no copy of the patient data is left in a temporary
// directory if the process dies, and a study of any size needs no free
// disk space.
//
// With deflated entries (the default, as the reference) the archive's
// length is only known at the end. When the Tus server announces the
// creation-defer-length extension (tusd does), the upload is created with
// Upload-Defer-Length and the last PATCH declares the length: the files
// are read and compressed once. A server that does not announce it (in
// its OPTIONS answer) gets the length at creation (as the reference client
// always sends it), at the price of a compression pass to measure it
// first, before init ([StatePacking]).
// With Store set, the length comes from the file sizes: one pass always.
// A spool to a temporary file was set aside: it would write patient data
// to disk and need free space as large as the archive. See
// docs/uploader.md, "One pass".
//
// Because the archive is deterministic, an interrupted upload resumes by
// producing it again and skipping the bytes the server already holds,
// without sending them. Before it does, the plan (every file's path, size
// and modification time, in archive order, and the archive options and
// format version) is compared with the one saved when the upload began,
// and a SHA-256 of every 4 MiB of the archive is compared as the bytes are
// produced (no byte is sent before the checksum of its block was compared,
// or saved by the first run, in either length mode): if anything changed,
// the upload fails with [*SourcesChangedError] rather than complete a
// corrupt archive.
//
// An Uploader is safe for concurrent use once configured: each upload is a
// separate [Session].
type Uploader struct {
	// API calls the Aura endpoints (required). Its Tokens should be an
	// uploadtoken.CachingSource, or a static token valid for the whole
	// upload.
	API *API

	// StateDir, when set, makes uploads resumable after a process restart:
	// each upload keeps there, until it ends, a small JSON state file, its
	// plan and its block checksums (no credential, but file paths and
	// study identifiers: the directory is created with mode 0700), and the
	// Tus resume records (tusclient.FileStore) under StateDir/tus.
	// Empty means uploads cannot be resumed by another process.
	StateDir string

	// Source is the init "source"; empty means "standalone-uploader".
	Source string
	// PatientID is the Aurabox patient id sent in init, if known.
	PatientID string
	// Context is the init "context" (see [InitRequest.Context]); nil omits
	// it.
	Context any

	// Scanner finds the studies; nil means a zero dicomscan.Scanner.
	Scanner *dicomscan.Scanner
	// Deidentify, when set, de-identifies every file with this profile
	// before it is zipped: the archive, its entry names
	// ("<new StudyInstanceUID>/<new SOPInstanceUID>.dcm") and the init
	// body carry only what the de-identified copies hold (new UIDs,
	// pseudonyms, the values the profile leaves), never the originals.
	// The source files are only read. Session.Studies and Session.Remove
	// then use the new UIDs; Session.Scan still describes the originals
	// (it stays on this machine). Files the profile refuses (a burned-in
	// annotation, say) are left out and listed in Session.Scan().Errors.
	// Prepare de-identifies every file once to learn this, and the
	// archive de-identifies them again as it goes (one more pass over
	// the files; nothing is written to disk). The output is
	// deterministic, so a resume produces the same archive; Resume
	// refuses an upload begun with another key, or without
	// de-identification. Source, PatientID, Context and SubmitMetadata
	// are sent as given: put no identity there. See docs/uploader.md,
	// "De-identification".
	Deidentify *deid.Profile
	// Store stores the zip entries instead of deflating them: more bytes on
	// the wire, less CPU, and one pass over the files even with a Tus server
	// without creation-defer-length. Encapsulated (already compressed)
	// images are always stored.
	Store bool
	// Level is the Deflate level, 1 (the default) to 9.
	Level int
	// Workers is the number of files compressed in parallel; 0 means
	// GOMAXPROCS.
	Workers int

	// ChunkSize is the Tus PATCH size; 0 means 5 MiB, as the reference
	// client. The upload buffers this much, plus three 4 MiB blocks of
	// the archive.
	ChunkSize int64
	// TusHTTPClient sends the Tus requests; nil means tusclient's default
	// (bounded dials and header waits, no overall timeout).
	TusHTTPClient *http.Client
	// TusRetry says how the Tus requests are retried. The zero value
	// retries network errors, 5xx, 409, 423 and 460 after 0, 1, 3 and 5 s
	// like the reference client, starting over whenever the upload made
	// progress; empty non-nil Delays disable retries.
	TusRetry tusclient.RetryPolicy
	// LifecycleRetries is how many times each Aura call of the upload
	// (init, start, complete, error, cancel, submit) is retried after a
	// network error, a 429 or a 5xx: waits of 500 ms doubling up to 30 s,
	// ±20% jitter, longer when Aura's Retry-After asks. 0 means 3; negative
	// means none. (The config request is retried by [API].)
	LifecycleRetries int

	// Submit, when true, submits the upload for processing once complete
	// was acknowledged ([API.Submit]; the upload token needs the
	// upload:manage scope), with SubmitMetadata as its metadata (nil sends
	// none). Aura's answer is [Result.Submitted]. A submit that fails leaves
	// a completed upload: Upload and Resume return the Result together with
	// an error matching [ErrNotSubmitted], and [API.Submit] can repeat it.
	Submit         bool
	SubmitMetadata map[string]any

	// Logger receives debug and info lines (steps, retries; never a
	// credential); nil means silence.
	Logger *slog.Logger

	// Callbacks are called as the upload goes; see [Callbacks].
	Callbacks Callbacks
}

// Callbacks report an upload's course, like the reference client's
// callbacks (onStudiesFound, onStateChange, onUploadComplete, ...). Each
// may be nil. Calls never overlap, come from the goroutine that called
// Prepare, Upload or Resume or from one the upload runs, and must return
// quickly; they may end the upload's context (a pause) or call
// [Session.Cancel]. A cancellation is reported as [StateCancelled].
type Callbacks struct {
	// OnStudies receives the studies found by the scan, as init will
	// announce them.
	OnStudies func([]Study)
	// OnState receives every state change.
	OnState func(State)
	// OnProgress receives the progress of packing and of the transfer.
	OnProgress func(Progress)
	// OnComplete is called once complete was acknowledged.
	OnComplete func(*Result)
	// OnError receives the error that ended an upload, or a Prepare or
	// Resume that failed before it began (not a pause or a cancellation).
	OnError func(error)
}

// State is a step of an upload, reported to [Callbacks.OnState].
type State string

// The states an upload goes through. A successful upload goes from
// StateConnecting to StateCompleted; it ends in StateFailed, StateCancelled
// or StatePaused otherwise.
const (
	StateConnecting   State = "connecting"   // GET /uploader/config
	StateScanning     State = "scanning"     // reading the files' headers
	StateReady        State = "ready"        // studies found; Prepare returned
	StatePacking      State = "packing"      // compressing once to learn the archive's length, for a Tus server without deferred lengths (see Uploader, "One pass")
	StateInitializing State = "initializing" // POST init
	StateStarting     State = "starting"     // POST start
	StateUploading    State = "uploading"    // Tus
	StateCompleting   State = "completing"   // POST complete
	StateCompleted    State = "completed"
	StateFailed       State = "failed"
	StateCancelled    State = "cancelled"
	StatePaused       State = "paused" // stopped, resumable with Uploader.Resume
)

// Progress reports how far packing or the transfer went. A display
// should look at State first: packing (the first of two passes, see
// [StatePacking]) and uploading count different things, and Files starts
// again from 0 when the transfer begins.
type Progress struct {
	// State is StatePacking or StateUploading.
	State State
	// Bytes is, while uploading, the archive bytes the server confirmed;
	// while packing, the source bytes read.
	Bytes int64
	// Sent is, while uploading, the archive bytes handed to the network
	// (at least Bytes; it falls back to Bytes when a request fails).
	// While packing it equals Bytes.
	Sent int64
	// TotalBytes is the archive size while uploading, the source size while
	// packing. When the archive goes in one pass with a deferred length
	// (see [Uploader], "One pass"), its size is only known at the end:
	// until then TotalBytes is an estimate from the compression ratio so
	// far, never below the bytes sent.
	TotalBytes int64
	// Files counts the files whose whole entry the server confirmed (while
	// packing: the files compressed); TotalFiles is the number in the
	// archive.
	Files, TotalFiles int
	// ResumedAt is the archive offset the server already held when this
	// run of the transfer began (0 for a fresh upload).
	ResumedAt int64
	// Rate is how fast Bytes grew over the last 5 seconds, in bytes per
	// second; 0 while not yet measured (the first quarter second of each
	// state).
	Rate float64
	// ETA is the time left at Rate to reach TotalBytes; 0 when Rate is 0.
	// While TotalBytes is an estimate, so is ETA.
	ETA time.Duration
}

// Result describes a finished upload.
type Result struct {
	UploadID string
	// StudyIDs are the ids Aura's init answered (possibly none).
	StudyIDs []string
	// Studies, Series and Instances count what was uploaded.
	Studies, Series, Instances int
	// SourceBytes is the size of the DICOM files; ArchiveBytes the size of
	// the zip sent.
	SourceBytes, ArchiveBytes int64
	// ResumedAt is the archive offset the server already held when this run
	// began; this run sent ArchiveBytes-ResumedAt bytes (plus any resent
	// after a failed request).
	ResumedAt int64
	// Resumed is true when this run continued an earlier one.
	Resumed bool
	// Elapsed is the time Upload or Resume took (without Prepare).
	Elapsed time.Duration
	// Submitted is Aura's answer to the submit made with [Uploader.Submit]
	// (nil without it).
	Submitted *ManageResult
}

// Errors returned by the engine, for errors.Is.
var (
	// ErrNoStudies: the paths hold no DICOM study to upload (or all were
	// removed). Nothing is sent to Aura.
	ErrNoStudies = errors.New("uploader: no DICOM studies to upload")
	// ErrCancelled: the upload was destroyed by Session.Cancel (Aura was
	// told cancel and the Tus upload deleted), or its context ended before
	// init was sent, when there was nothing to pause and nothing was sent.
	// The error also wraps the context's cause.
	ErrCancelled = errors.New("uploader: upload cancelled")
	// ErrPaused: the upload's context ended (cancelled whatever the cause,
	// or past its deadline: signal.NotifyContext on SIGTERM, a timeout)
	// after init was sent. Nothing is reported to
	// Aura and the Tus upload is kept. With StateDir the error also matches
	// ErrResumable and Uploader.Resume continues; without, nothing can
	// resume it: destroy it with Session.Cancel (or Uploader.Cancel, which
	// then only tells Aura). The error also wraps the context's cause
	// (context.Canceled, context.DeadlineExceeded, ...).
	ErrPaused = errors.New("uploader: upload paused")
	// ErrResumable is matched by every error after which Uploader.Resume can
	// continue the upload: a pause, or a failure that could not be reported
	// to Aura (the network is down), when StateDir is set.
	ErrResumable = errors.New("uploader: upload can be resumed")
	// ErrUnknownUpload: Resume found no saved state for the upload id.
	ErrUnknownUpload = errors.New("uploader: no unfinished upload with this id")
	// ErrNotSubmitted: the upload completed but the submit asked by
	// Uploader.Submit failed; the error also wraps the cause.
	ErrNotSubmitted = errors.New("uploader: upload completed but not submitted")
)

// SourcesChangedError reports that a resumed upload's files are no longer
// those it began with, so the archive cannot be completed (check with
// errors.As). The upload is reported to Aura as failed; start a new one.
type SourcesChangedError struct {
	UploadID string
	// Detail says what changed, e.g. "/data/a.dcm: size 1000, was 998".
	Detail string
}

func (e *SourcesChangedError) Error() string {
	return "uploader: upload " + e.UploadID + ": source files changed since the upload began: " + e.Detail
}

// resumableError marks an error after which the upload can be resumed.
type resumableError struct{ err error }

func (e *resumableError) Error() string { return e.err.Error() }
func (e *resumableError) Unwrap() error { return e.err }
func (e *resumableError) Is(target error) bool {
	return target == ErrResumable
}

// Upload prepares and uploads the studies under paths (files, directories,
// .zip archives) in one call: [Uploader.Prepare] then [Session.Upload].
func (u *Uploader) Upload(ctx context.Context, paths ...string) (*Result, error) {
	s, err := u.Prepare(ctx, paths...)
	if err != nil {
		return nil, err
	}
	return s.Upload(ctx)
}

// Prepare fetches and validates the server config, scans paths and
// returns the [Session] that will upload what it found, under a new
// upload_id. Nothing is announced to Aura yet: look at [Session.Studies],
// [Session.Scan], remove studies with [Session.Remove], then call
// [Session.Upload].
func (u *Uploader) Prepare(ctx context.Context, paths ...string) (*Session, error) {
	if err := u.check(); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errors.New("uploader: no paths to upload")
	}
	abs := make([]string, len(paths))
	for i, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("uploader: %w", err)
		}
		abs[i] = a
	}
	id, err := newUUID()
	if err != nil {
		return nil, err
	}
	assembly, err := newAssemblyID()
	if err != nil {
		return nil, err
	}
	s := newSession(u, id, assembly)
	if err := s.prepare(ctx, abs, archiveOptions{Store: u.Store, Level: u.level(), Deid: deidFingerprint(u.Deidentify)}, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// Resume continues an upload that an earlier process (or a paused
// Session) left in StateDir: it fetches a fresh config, scans the same
// paths again, checks that the files did not change, and goes on from the
// last step Aura acknowledged, sending only the archive bytes the Tus
// server does not hold yet. The callbacks are called as for a new upload.
// If Aura cannot be reached, or ctx ends, the upload stays resumable: the
// error matches [ErrResumable] and nothing is reported to Aura.
func (u *Uploader) Resume(ctx context.Context, uploadID string) (*Result, error) {
	if err := u.check(); err != nil {
		return nil, err
	}
	if u.StateDir == "" {
		return nil, errors.New("uploader: Resume needs StateDir")
	}
	st, err := loadState(u.StateDir, uploadID)
	if err != nil {
		return nil, err
	}
	if st.API != u.API.BaseURL {
		return nil, fmt.Errorf("uploader: upload %s was made with API %s, not %s", uploadID, st.API, u.API.BaseURL)
	}
	s := newSession(u, st.UploadID, st.AssemblyID)
	if err := s.prepare(ctx, st.Paths, st.Archive, st); err != nil {
		return nil, err
	}
	return s.Upload(ctx)
}

// Pending lists the unfinished uploads in StateDir, oldest first. A state
// file that cannot be read does not hide the others: it is listed with
// [Pending.Err] set, and [Uploader.Cancel] removes it.
func (u *Uploader) Pending() ([]Pending, error) {
	if u.StateDir == "" {
		return nil, nil
	}
	return listStates(u.StateDir)
}

// Pending describes an unfinished upload saved in StateDir.
type Pending struct {
	UploadID string
	// API is the base URL it was made with.
	API string
	// Paths are the (absolute) paths it uploads.
	Paths []string
	// Step is the last step saved: "init-sent", "initialized",
	// "start-sent", "started", "uploaded" or "complete-sent".
	Step string
	// ArchiveBytes is the size of its archive; -1 while it is not known
	// (sent in one pass with a deferred length, see [Uploader]).
	ArchiveBytes int64
	// Created is when it began.
	Created time.Time
	// Err is set when the saved state cannot be read (damaged, or written
	// by an incompatible version). Only UploadID and Created are then
	// known: such an upload cannot be resumed, only discarded.
	Err error
}

// Cancel destroys an upload for good: it tells Aura (cancel), deletes
// the partial Tus upload and removes the state saved in StateDir. It is,
// with [Session.Cancel], the only way to destroy an upload: an ended
// context pauses (see [ErrPaused]). Use it on an upload that [Uploader.Pending]
// lists; a state that cannot be read is only removed (it says neither
// what Aura was told nor where the Tus upload is). Without StateDir,
// Cancel can only tell Aura: the Tus upload is left to expire on the
// server. Failures to reach Aura or Tus are returned after the local state
// is removed.
func (u *Uploader) Cancel(ctx context.Context, uploadID string) error {
	if err := u.check(); err != nil {
		return err
	}
	if err := checkID(uploadID); err != nil {
		return err
	}
	s := newSession(u, uploadID, "")
	if u.StateDir == "" {
		s.known = true
		return s.call(ctx, "cancel", true, func(ctx context.Context) error { return u.API.Cancel(ctx, uploadID) })
	}
	st, err := loadState(u.StateDir, uploadID)
	if errors.Is(err, ErrUnknownUpload) {
		return err
	}
	if err != nil {
		return removeState(u.StateDir, uploadID)
	}
	s.assembly, s.saved, s.step, s.known = st.AssemblyID, st, st.Step, true
	defer s.closeTus()
	var errs []error
	if cfg, err := u.API.Config(ctx); err != nil {
		// Without the config the Tus endpoint is unknown; Aura is still told.
		errs = append(errs, err)
		if err := s.call(ctx, "cancel", true, func(ctx context.Context) error { return u.API.Cancel(ctx, uploadID) }); err != nil {
			errs = append(errs, err)
		}
		s.cleanup(ctx)
	} else {
		s.cfg = cfg
		errs = append(errs, s.destroy(ctx))
	}
	return errors.Join(errs...)
}

func (u *Uploader) check() error {
	if u.API == nil {
		return errors.New("uploader: Uploader.API is required")
	}
	if _, err := u.API.check(); err != nil {
		return err
	}
	if u.Level != 0 && (u.Level < 1 || u.Level > 9) {
		return fmt.Errorf("uploader: Level %d out of range 1-9", u.Level)
	}
	if u.ChunkSize < 0 {
		return fmt.Errorf("uploader: negative ChunkSize %d", u.ChunkSize)
	}
	if u.StateDir != "" {
		if err := os.MkdirAll(u.StateDir, 0o700); err != nil {
			return fmt.Errorf("uploader: state directory: %w", err)
		}
	}
	return nil
}

func (u *Uploader) level() int {
	if u.Level == 0 {
		return 1
	}
	return u.Level
}

func (u *Uploader) chunkSize() int64 {
	if u.ChunkSize == 0 {
		return defaultChunkSize
	}
	return u.ChunkSize
}
