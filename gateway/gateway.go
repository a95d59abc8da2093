package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/internal/retry"
)

// Defaults of [Config].
const (
	DefaultQuiet     = 30 * time.Second
	defaultRetryBase = 30 * time.Second
	defaultRetryMax  = 30 * time.Minute
)

// Config configures a [Gateway]. Only Dir is required.
type Config struct {
	// Dir is the spool directory, created (mode 0700) if needed. It holds
	// patient data until it is uploaded. One gateway at a time uses it.
	Dir string
	// Quiet is how long a study must receive nothing before it is handed
	// to the Uploader; 0 means [DefaultQuiet] (30 s).
	Quiet time.Duration
	// Uploader uploads each study once it is quiet; nil keeps every study
	// in the spool (listed by [List] as queued).
	Uploader Uploader
	// RetryBase is the wait before the first retry of a failed upload,
	// doubled at each failure up to RetryMax, spread by ±20%; 0 means 30 s
	// and 30 min. A failed study is retried until it succeeds: it never
	// leaves the spool otherwise.
	RetryBase, RetryMax time.Duration
	// NoSync skips the fsync of each received file and of its directory
	// before the sender is told the instance is stored. It exposes exactly
	// this: after a power loss or an operating system crash (not a crash
	// of the gateway alone), instances acknowledged as stored may be
	// missing or truncated in the spool, and the sender will not send them
	// again. For benchmarks and disposable spools only.
	NoSync bool
	// Logger receives one line per study sealed, upload and failure, and
	// per refused instance; nil means silence.
	Logger *slog.Logger
}

// State is where a study of the spool is in its life.
type State string

// The states of a study in the spool. A study goes from StateReceiving to
// StateQueued when it has been quiet for [Config.Quiet], then to
// StateUploading; a failed upload makes it StateRetrying until the next
// attempt. An uploaded study leaves the spool.
const (
	StateReceiving State = "receiving" // instances may still arrive
	StateQueued    State = "queued"    // quiet, waiting for the uploader (or kept, without one)
	StateUploading State = "uploading" // an upload began; a restart resumes it
	StateRetrying  State = "retrying"  // the last upload failed; retried at Study.NextAttempt
	StateUploaded  State = "uploaded"  // uploaded, being removed from the spool
)

var states = []State{StateReceiving, StateQueued, StateUploading, StateRetrying, StateUploaded}

// Study is one study in the spool: the instances of one Study Instance UID
// received until it went quiet. Instances of the same study received later
// form another Study.
type Study struct {
	// ID names the study in the spool (its directory under DIR/studies).
	ID               string
	StudyInstanceUID string
	State            State
	// Dir holds the instances, one Part 10 file each (as received); an
	// Uploader reads it and must not change it.
	Dir string
	// StateDir is a directory kept with the study until it is uploaded,
	// where an Uploader keeps what it needs to resume an interrupted
	// upload instead of starting again.
	StateDir string
	// Instances and Bytes count the files in Dir.
	Instances int
	Bytes     int64
	// Created is when its first instance arrived, LastReceived its last.
	Created, LastReceived time.Time
	// Attempts counts the failed uploads; LastError is the last failure's
	// message and NextAttempt when it is retried.
	Attempts    int
	LastError   string
	NextAttempt time.Time
	// Err is set, by [List], for a study whose state cannot be read; the
	// other fields are then unknown.
	Err error

	rec *record
}

func (s *Study) fromRecord(r *record) {
	s.rec = r
	s.StudyInstanceUID, s.State, s.Created = r.StudyInstanceUID, r.State, r.Created
	s.Attempts, s.LastError = r.Attempts, r.LastError
	if r.NextAttempt != nil {
		s.NextAttempt = *r.NextAttempt
	}
}

// Uploader sends a quiet study on. The gateway calls Upload from one
// goroutine, one study at a time.
//
// Upload may be called again for a study whose earlier call was cut short
// by a crash or a restart (even after the upload had completed, if the
// process died before the gateway recorded it), and after a failure.
// An uploader that must not upload twice keeps, in [Study.StateDir], what
// it needs to tell those cases apart, as [Aura] does. A context that ends
// must stop the upload and leave it resumable.
type Uploader interface {
	Upload(ctx context.Context, s *Study) error
}

// Errors of the gateway.
var (
	// ErrLocked: another gateway uses the spool directory.
	ErrLocked = errors.New("gateway: the spool is in use by another gateway")
	// ErrClosed: the gateway was closed.
	ErrClosed = errors.New("gateway: closed")
	// ErrNotDICOM: a received instance is not a dataset with a Study
	// Instance UID; it is refused and not kept.
	ErrNotDICOM = errors.New("gateway: not a DICOM instance with a study")
	// ErrDamaged: a study's state file in the spool cannot be read; [List]
	// reports it in Study.Err and the gateway leaves the study alone.
	ErrDamaged = errors.New("gateway: damaged spool entry")
)

// Gateway receives instances into a durable spool, groups them by study
// and uploads each study once it is quiet: see the package documentation.
// It is safe for concurrent use: [Gateway.Store] is called by every
// association at once while [Gateway.Run] works.
type Gateway struct {
	cfg   Config
	dir   string
	lock  *os.File
	retry retry.Policy

	mu     sync.Mutex        // guards the fields below
	open   map[string]*batch // receiving batches, by Study Instance UID
	queue  []*batch          // sealed batches, oldest first
	closed bool
}

// batch is a Study being received or waiting in the queue.
type batch struct {
	id, dir  string
	rec      record
	inflight int       // stores between attach and detach (under Gateway.mu)
	last     time.Time // the last instance stored (under Gateway.mu)
}

// Open opens (or creates) the spool at cfg.Dir and takes it over: it
// removes what an earlier process left half written (instances that were
// never acknowledged), and finds the studies it had received, queued or
// begun to upload, which [Gateway.Run] then finishes. It returns
// [ErrLocked] if another gateway holds the spool.
func Open(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.Dir == "" {
		return nil, errors.New("gateway: Config.Dir is required")
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = DefaultQuiet
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = defaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = defaultRetryMax
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, tmpDir), filepath.Join(dir, studiesDir), filepath.Join(dir, trashDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
	}
	lock, err := lockSpool(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg: cfg, dir: dir, lock: lock,
		retry: retry.Policy{Base: cfg.RetryBase, Max: cfg.RetryMax, Jitter: 0.2},
		open:  map[string]*batch{},
	}
	if err := g.recover(ctx); err != nil {
		_ = lock.Close()
		return nil, err
	}
	return g, nil
}

// recover clears the temporary and trash directories and loads the
// studies of the spool.
func (g *Gateway) recover(ctx context.Context) error {
	for _, d := range []string{tmpDir, trashDir} {
		ents, err := os.ReadDir(filepath.Join(g.dir, d))
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(g.dir, d, e.Name())); err != nil {
				return fmt.Errorf("gateway: %w", err)
			}
		}
	}
	studies, err := listBatches(g.dir)
	if err != nil {
		return err
	}
	for _, s := range studies {
		if s.Err != nil {
			g.log(ctx, slog.LevelWarn, "gateway: study left alone", slog.String("study", s.ID), slog.String("error", s.Err.Error()))
			continue
		}
		b := &batch{id: s.ID, dir: filepath.Join(g.dir, studiesDir, s.ID), rec: *s.rec, last: s.LastReceived}
		switch s.State {
		case StateUploaded:
			if err := g.remove(b); err != nil {
				return err
			}
		case StateReceiving:
			if old := g.open[b.rec.StudyInstanceUID]; old != nil {
				g.queue = append(g.queue, old) // two open batches of a study: the older is sealed
			}
			g.open[b.rec.StudyInstanceUID] = b
		default:
			g.queue = append(g.queue, b)
		}
		if s.State != StateReceiving && s.State != StateUploaded {
			g.log(ctx, slog.LevelInfo, "gateway: pending study found", slog.String("study", s.ID), slog.String("state", string(s.State)))
		}
	}
	return nil
}

// Close releases the spool. Stores in progress fail; a Run in progress
// should be stopped with its context first.
func (g *Gateway) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	return g.lock.Close()
}

// receive stores one instance: write must write it as a Part 10 file.
// It returns nil only once the file, and its name in its study's
// directory, are on disk (fsync, unless [Config.NoSync]): only then may
// the sender be told it is stored. On any error nothing of it is kept.
func (g *Gateway) receive(ctx context.Context, write func(io.Writer) error) error {
	if g.isClosed() {
		return ErrClosed
	}
	f, err := os.CreateTemp(filepath.Join(g.dir, tmpDir), "in-*.dcm")
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	bw := bufio.NewWriterSize(f, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && !g.cfg.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("gateway: receiving an instance: %w", err)
	}
	sop, study, err := identify(ctx, tmp)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	b, err := g.attach(ctx, study)
	if err != nil {
		return err
	}
	defer g.detach(b)
	dir := filepath.Join(b.dir, instancesDir)
	if err := os.Rename(tmp, filepath.Join(dir, instanceName(sop))); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if !g.cfg.NoSync {
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
	}
	return nil
}

func (g *Gateway) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// attach returns the receiving batch of study, created if needed, and
// holds it open until detach.
func (g *Gateway) attach(ctx context.Context, study string) (*batch, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	b := g.open[study]
	if b == nil {
		now := time.Now()
		id, err := newID(now)
		if err != nil {
			return nil, err
		}
		b = &batch{id: id, dir: filepath.Join(g.dir, studiesDir, id),
			rec: record{StudyInstanceUID: study, State: StateReceiving, Created: now.UTC()}}
		if err := os.MkdirAll(filepath.Join(b.dir, instancesDir), 0o700); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		if err := writeRecord(b.dir, &b.rec); err != nil {
			return nil, err
		}
		if err := syncDir(filepath.Join(g.dir, studiesDir)); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		g.open[study] = b
		g.log(ctx, slog.LevelInfo, "gateway: receiving a study", slog.String("study", id), slog.String("study_instance_uid", study))
	}
	b.inflight++
	return b, nil
}

func (g *Gateway) detach(b *batch) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b.inflight--
	b.last = time.Now()
}

// Run seals the studies that went quiet and uploads them, one at a time,
// retrying failures with back-off, until ctx ends; then it returns nil
// (an upload in progress pauses: the next Run resumes it). Run at most
// once at a time.
func (g *Gateway) Run(ctx context.Context) error {
	tick := min(max(g.cfg.Quiet/10, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if err := g.seal(ctx); err != nil {
			g.log(ctx, slog.LevelError, "gateway: sealing a study failed", slog.String("error", err.Error()))
		}
		if b := g.due(); b != nil {
			if err := g.upload(ctx, b); err != nil {
				g.log(ctx, slog.LevelError, "gateway: spool write failed", slog.String("study", b.id), slog.String("error", err.Error()))
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// seal queues the receiving studies that have been quiet long enough.
func (g *Gateway) seal(ctx context.Context) error {
	now := time.Now()
	var quiet []*batch
	g.mu.Lock()
	for uid, b := range g.open {
		if b.inflight == 0 && now.Sub(b.last) >= g.cfg.Quiet {
			delete(g.open, uid)
			quiet = append(quiet, b)
		}
	}
	g.mu.Unlock()
	slices.SortFunc(quiet, func(a, b *batch) int { return a.rec.Created.Compare(b.rec.Created) })
	var errs []error
	for _, b := range quiet {
		b.rec.State = StateQueued
		ts := now.UTC()
		b.rec.Sealed = &ts
		if err := writeRecord(b.dir, &b.rec); err != nil {
			errs = append(errs, err)
		}
		g.log(ctx, slog.LevelInfo, "gateway: study quiet, queued", slog.String("study", b.id),
			slog.String("study_instance_uid", b.rec.StudyInstanceUID))
		g.mu.Lock()
		g.queue = append(g.queue, b)
		g.mu.Unlock()
	}
	return errors.Join(errs...)
}

// due returns the first queued study whose upload may run now.
func (g *Gateway) due() *batch {
	if g.cfg.Uploader == nil {
		return nil
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range g.queue {
		if b.rec.NextAttempt == nil || !now.Before(*b.rec.NextAttempt) {
			return b
		}
	}
	return nil
}

// maxErrorText bounds the error message kept in study.json.
const maxErrorText = 1000

// upload runs the Uploader on b and records the outcome. It returns an
// error only when the spool could not be written.
func (g *Gateway) upload(ctx context.Context, b *batch) error {
	if ctx.Err() != nil {
		return nil
	}
	if b.rec.State != StateUploading {
		b.rec.State = StateUploading
		if err := writeRecord(b.dir, &b.rec); err != nil {
			return g.postpone(b, err)
		}
	}
	s := loadStudy(g.dir, b.id)
	g.log(ctx, slog.LevelInfo, "gateway: uploading a study", slog.String("study", b.id),
		slog.String("study_instance_uid", b.rec.StudyInstanceUID), slog.Int("instances", s.Instances), slog.Int("attempt", b.rec.Attempts+1))
	err := g.cfg.Uploader.Upload(ctx, s)
	if err != nil && ctx.Err() != nil {
		return nil // paused: resumed by the next Run
	}
	if err != nil {
		g.log(ctx, slog.LevelWarn, "gateway: upload failed", slog.String("study", b.id), slog.String("error", err.Error()))
		return g.postpone(b, err)
	}
	b.rec.State, b.rec.LastError, b.rec.NextAttempt = StateUploaded, "", nil
	if err := writeRecord(b.dir, &b.rec); err != nil {
		return g.postpone(b, err)
	}
	g.log(ctx, slog.LevelInfo, "gateway: study uploaded", slog.String("study", b.id), slog.String("study_instance_uid", b.rec.StudyInstanceUID))
	g.dequeue(b)
	return g.remove(b)
}

// postpone records a failed attempt and when the next one is due.
func (g *Gateway) postpone(b *batch, cause error) error {
	b.rec.Attempts++
	msg := cause.Error()
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText] + "…"
	}
	next := time.Now().Add(g.retry.Delay(b.rec.Attempts)).UTC()
	b.rec.State, b.rec.LastError, b.rec.NextAttempt = StateRetrying, msg, &next
	return writeRecord(b.dir, &b.rec)
}

func (g *Gateway) dequeue(b *batch) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queue = slices.DeleteFunc(g.queue, func(x *batch) bool { return x == b })
}

// remove deletes an uploaded batch: first moved to the trash (one atomic
// rename, so a crash never leaves a half-removed study in the spool).
func (g *Gateway) remove(b *batch) error {
	trash := filepath.Join(g.dir, trashDir, b.id)
	if err := os.Rename(b.dir, trash); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("gateway: %w", err)
	}
	if !g.cfg.NoSync {
		if err := syncDir(filepath.Join(g.dir, studiesDir)); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// List describes every study in the spool at dir, oldest first, without
// taking the spool over: it may run while a gateway uses it (the
// -status of examples/gateway).
func List(dir string) ([]*Study, error) {
	return listBatches(dir)
}

func (g *Gateway) log(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if g.cfg.Logger != nil {
		g.cfg.Logger.LogAttrs(ctx, level, msg, attrs...)
	}
}
