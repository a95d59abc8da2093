package tusclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/internal/retry"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// UploadOptions describes one upload beyond its data. The zero value
// uploads with no metadata and no resume across processes.
type UploadOptions struct {
	// Metadata is sent as Upload-Metadata, in order, when the upload is
	// created. It is validated by [Client.NewUpload].
	Metadata Metadata
	// Fingerprint identifies the data in Store, so that a later Run (in a
	// new process, with a new Upload) resumes the same server upload. It
	// must change when the data changes; for a file, the absolute path, size
	// and modification time are a good choice. Empty disables the Store.
	Fingerprint string
	// Store keeps the upload URL under Fingerprint: [MemoryStore],
	// [FileStore], or your own. Nil disables resume across Uploads.
	Store Store
	// KeepRecord keeps the Store record after success. By default it is
	// deleted, so the same data uploads anew next time.
	KeepRecord bool
	// URL resumes this upload URL instead of creating an upload (for an URL
	// saved elsewhere). It takes precedence over Store.
	URL string
	// OnProgress is called as bytes go out and as the server confirms
	// them. Calls never overlap, all of them happen before Run returns, and
	// they may come from a goroutine of the HTTP transport; keep them short.
	OnProgress func(Progress)
	// OnCreated is called when the upload URL is known: after creation, or
	// when a stored upload is found on the server. With parallel uploads it
	// is called once, with the final upload's URL.
	OnCreated func(url string)
	// OnRetry is called before each wait for a retry.
	OnRetry func(err error, attempt int, delay time.Duration)
}

// Progress reports an upload's state.
type Progress struct {
	// Sent counts bytes handed to the network. It includes bytes the server
	// has not confirmed, and goes back to Offset when a request fails.
	Sent int64
	// Offset counts bytes the server has confirmed.
	Offset int64
	// Size is the upload length, or -1 while a stream's end is unknown.
	Size int64
}

// Upload is one file or stream on its way to the server. Create it with
// [Client.NewUpload] or [Client.NewStreamUpload], then call [Upload.Run].
// URL, Offset and Progress may be called from any goroutine at any time;
// Run and Terminate must not run at the same time (the second returns
// [ErrBusy]).
type Upload struct {
	c        *Client
	opts     UploadOptions
	meta     string // encoded Upload-Metadata
	src      source
	ra       io.ReaderAt // set for random-access sources (parallel needs it)
	declared int64       // size given by the caller, -1 unknown

	runMu sync.Mutex // held by Run and Terminate

	mu       sync.Mutex // guards size, parts, single, done, finalURL and the url/offset/sent fields of each part
	size     int64      // the data length, -1 while a stream's end is unknown
	single   *part
	parts    []*part // parallel uploads
	finalURL string  // parallel: the concatenated upload
	done     bool

	progMu     sync.Mutex // serializes OnProgress calls; guards reported, lastReport
	reported   bool
	lastReport Progress
	saveMu     sync.Mutex // serializes Store.Put so the newest state wins
}

// part is one Tus upload: the whole data, or one partial upload.
type part struct {
	src     source
	partial bool // Upload-Concat: partial
	start   int64
	size    int64 // -1 until a stream's end is known

	// guarded by Upload.mu (read by progress reporting)
	url    string
	offset int64 // confirmed
	sent   int64

	// touched only by the goroutine transferring this part
	// maxSent is the end of the furthest data any request for url carried:
	// the most the server can hold. -1 while unknown (url came from a Store
	// or UploadOptions.URL and has not been synced yet).
	maxSent        int64
	needSync       bool
	lengthDeclared bool
	restarts       int
	announced      bool // OnCreated was called for url
	scratch        []byte
}

func (p *part) complete() bool {
	return p.url != "" && p.size >= 0 && p.offset == p.size && !p.needSync
}

// NewUpload prepares an upload of size bytes read from r with ReadAt. r
// must keep returning the same bytes for the whole upload (and, to resume
// after a restart, across processes). No data is buffered: memory use does
// not depend on size.
func (c *Client) NewUpload(r io.ReaderAt, size int64, opts UploadOptions) (*Upload, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil io.ReaderAt", ErrInvalidConfig)
	}
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size %d", ErrInvalidConfig, size)
	}
	u, err := c.newUpload(opts, size)
	if err != nil {
		return nil, err
	}
	u.ra = r
	u.src = &readerAtSource{ra: r, size: size}
	return u, nil
}

// NewStreamUpload prepares an upload read once from r, for data produced
// on the fly. A negative size means unknown: the upload is created with
// Upload-Defer-Length (creation-defer-length) unless the whole stream fits
// in the first chunk, and the last PATCH declares the length. One chunk
// ([Config.ChunkSize]) is buffered, so a failed request can be resent. To
// resume after a process restart, r must produce the same bytes again; the
// bytes the server already has are read and skipped, not sent.
func (c *Client) NewStreamUpload(r io.Reader, size int64, opts UploadOptions) (*Upload, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil io.Reader", ErrInvalidConfig)
	}
	if size < 0 {
		size = -1
	}
	u, err := c.newUpload(opts, size)
	if err != nil {
		return nil, err
	}
	u.src = newStreamSource(r, size, c.cfg.ChunkSize)
	return u, nil
}

func (c *Client) newUpload(opts UploadOptions, size int64) (*Upload, error) {
	meta, err := opts.Metadata.Encode()
	if err != nil {
		return nil, err
	}
	if opts.URL != "" {
		if _, err := c.checkURL(opts.URL); err != nil {
			return nil, fmt.Errorf("%w: UploadOptions.URL: %w", ErrInvalidConfig, err)
		}
	}
	opts.Metadata = append(Metadata(nil), opts.Metadata...)
	return &Upload{c: c, opts: opts, meta: meta, declared: size, size: size}, nil
}

// URL returns the upload URL, or "" before it is known. With parallel
// uploads it is the final upload's URL, known once the parts are
// concatenated.
func (u *Upload) URL() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.parts != nil {
		return u.finalURL
	}
	if u.single != nil {
		return u.single.url
	}
	return u.opts.URL
}

// Offset returns how many bytes the server has confirmed.
func (u *Upload) Offset() int64 { return u.Progress().Offset }

// Progress returns the current progress.
func (u *Upload) Progress() Progress {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.progressLocked()
}

func (u *Upload) progressLocked() Progress {
	pr := Progress{Size: u.size}
	if u.parts != nil {
		for _, p := range u.parts {
			pr.Sent += p.sent
			pr.Offset += p.offset
		}
		if u.done {
			pr.Offset, pr.Sent = pr.Size, pr.Size
		}
		return pr
	}
	if u.single != nil {
		pr.Sent, pr.Offset = u.single.sent, u.single.offset
	}
	return pr
}

// report calls OnProgress with the current progress, unless it equals the
// previous report.
func (u *Upload) report() {
	if u.opts.OnProgress == nil {
		return
	}
	u.progMu.Lock()
	defer u.progMu.Unlock()
	u.mu.Lock()
	pr := u.progressLocked()
	u.mu.Unlock()
	if u.reported && pr == u.lastReport {
		return
	}
	u.reported, u.lastReport = true, pr
	u.opts.OnProgress(pr)
}

// learnSize records the length of a stream once it is known.
func (u *Upload) learnSize(p *part, n int64) {
	p.size = n
	if !p.partial {
		u.mu.Lock()
		u.size = n
		u.mu.Unlock()
	}
}

// setPart updates a part's shared fields under the lock.
func (u *Upload) setPart(p *part, url string, offset, sent int64) {
	u.mu.Lock()
	p.url, p.offset, p.sent = url, offset, sent
	u.mu.Unlock()
}

// Run uploads the data: it creates the upload (or resumes the one in
// UploadOptions.URL, in the Store, or from an earlier Run of this Upload),
// sends what the server lacks, retries failures per [Config.Retry], and
// returns nil once the server holds every byte. Cancelling ctx stops the
// request in flight and returns an error matching ctx.Err(); calling Run
// again resumes. After success, Run returns nil at once.
func (u *Upload) Run(ctx context.Context) error {
	if !u.runMu.TryLock() {
		return ErrBusy
	}
	defer u.runMu.Unlock()
	u.mu.Lock()
	done := u.done
	u.mu.Unlock()
	if done {
		return nil
	}
	caps, algo, err := u.prepare(ctx)
	if err != nil {
		return err
	}
	if n := u.parallelParts(caps); n > 1 || u.parts != nil {
		err = u.runParallel(ctx, caps, algo, n)
	} else {
		err = u.runSingle(ctx, caps, algo)
	}
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.done = true
	u.mu.Unlock()
	u.report()
	if u.opts.Store != nil && u.opts.Fingerprint != "" && !u.opts.KeepRecord {
		if err := u.opts.Store.Delete(ctx, u.opts.Fingerprint); err != nil {
			return fmt.Errorf("tusclient: upload complete, but removing its resume record failed: %w", err)
		}
	}
	return nil
}

// prepare fetches capabilities when an option depends on them and picks
// the checksum algorithm.
func (u *Upload) prepare(ctx context.Context) (serverCaps, string, error) {
	cfg := &u.c.cfg
	need := cfg.Checksum != ChecksumOff || cfg.UploadDataDuringCreation || cfg.ParallelUploads > 1 || u.declared < 0
	if !need {
		return serverCaps{}, "", nil
	}
	caps, err := u.c.capabilities(ctx)
	if err != nil {
		return serverCaps{}, "", err
	}
	switch cfg.Checksum {
	case ChecksumOff:
		return caps, "", nil
	case checksumAuto:
		for _, a := range checksumPreference {
			if caps.HasChecksum(a) {
				return caps, a, nil
			}
		}
		return caps, "", nil
	default:
		if !caps.HasChecksum(cfg.Checksum) {
			return caps, "", fmt.Errorf("%w: checksum algorithm %q (server offers extensions %v, algorithms %v)",
				ErrUnsupported, cfg.Checksum, caps.Extensions, caps.ChecksumAlgorithms)
		}
		return caps, cfg.Checksum, nil
	}
}

// runSingle uploads the data as one Tus upload.
func (u *Upload) runSingle(ctx context.Context, caps serverCaps, algo string) error {
	u.mu.Lock()
	p := u.single
	if p == nil {
		p = &part{src: u.src, size: u.declared, url: u.opts.URL}
		if p.url != "" {
			p.maxSent = -1
		}
		u.single = p
	}
	u.mu.Unlock()
	if p.url == "" && u.opts.Store != nil && u.opts.Fingerprint != "" {
		rec, ok, err := u.opts.Store.Get(ctx, u.opts.Fingerprint)
		if err != nil {
			return fmt.Errorf("tusclient: reading resume record: %w", err)
		}
		if ok && rec.Endpoint == u.c.endpoint.String() && rec.Size == u.declared && len(rec.Parts) == 0 && rec.URL != "" {
			if _, err := u.c.checkURL(rec.URL); err != nil {
				return err
			}
			u.setPart(p, rec.URL, 0, 0)
			p.maxSent = -1
		}
	}
	if p.url != "" {
		p.needSync = true
	}
	return u.transfer(ctx, p, caps, algo, true)
}

// transfer drives one part to completion: create, sync, patch, retry.
func (u *Upload) transfer(ctx context.Context, p *part, caps serverCaps, algo string, announce bool) error {
	rs := newRetryState(u.c.cfg.Retry)
	for !p.complete() {
		err := u.step(ctx, p, caps, algo, announce)
		if err == nil {
			continue
		}
		var he *HTTPError
		gone := errors.As(err, &he) && (errors.Is(err, ErrNotFound) || he.StatusCode == http.StatusForbidden)
		if gone && p.needSync && p.src.canRestart() && p.restarts == 0 && ctx.Err() == nil {
			// The stored upload is gone: start a new one with all the data.
			p.restarts++
			u.c.log.Info("tusclient: stored upload is gone, creating a new one", "status", he.StatusCode)
			u.setPart(p, "", 0, 0)
			p.needSync = false
			p.lengthDeclared = false
			continue
		}
		delay, ok := rs.next(ctx, err, p.offset)
		if !ok {
			return u.c.giveUp(ctx, err, rs.total())
		}
		u.c.log.Info("tusclient: retrying", "attempt", rs.total(), "delay", delay, "offset", p.offset, "error", err)
		if u.opts.OnRetry != nil {
			u.opts.OnRetry(err, rs.total(), delay)
		}
		if serr := retry.Sleep(ctx, delay); serr != nil {
			return waitError(serr, err)
		}
		if p.url != "" {
			p.needSync = true
		}
	}
	return nil
}

func (u *Upload) step(ctx context.Context, p *part, caps serverCaps, algo string, announce bool) error {
	switch {
	case p.url == "":
		return u.create(ctx, p, caps, algo, announce)
	case p.needSync:
		return u.sync(ctx, p, announce)
	default:
		return u.patch(ctx, p, algo)
	}
}

// create POSTs a new upload, with the first chunk when
// creation-with-upload is on.
func (u *Upload) create(ctx context.Context, p *part, caps serverCaps, algo string, announce bool) error {
	h := map[string]string{}
	if p.size < 0 {
		// A stream: if it ends within the first chunk its length is known
		// now and the upload need not be deferred.
		c, err := p.src.chunk(0, u.c.cfg.ChunkSize)
		if err != nil {
			return err
		}
		if c.final {
			u.learnSize(p, c.total)
		}
	}
	if p.size >= 0 {
		h[hUploadLength] = itoa(p.size)
		p.lengthDeclared = true
	} else {
		if caps.Known && !caps.Has(extDeferLength) {
			return permanentf(ErrUnsupported, "stream of unknown length needs creation-defer-length (server offers %v)", caps.Extensions)
		}
		h[hUploadDeferLength] = "1"
	}
	if p.partial {
		h[hUploadConcat] = "partial"
	} else if u.meta != "" {
		h[hUploadMetadata] = u.meta
	}
	req := &request{method: http.MethodPost, url: u.c.endpoint.String(), header: h}
	var c chunk
	withData := u.c.cfg.UploadDataDuringCreation && caps.Has(extCreationWithData) && p.size != 0
	if withData {
		var err error
		if c, err = p.src.chunk(0, u.c.cfg.ChunkSize); err != nil {
			return err
		}
		if err := u.addBody(req, p, c, algo, 0); err != nil {
			return err
		}
		h["Expect"] = "100-continue"
	}
	resp, err := u.c.roundTrip(ctx, req)
	if err != nil {
		u.setPart(p, "", 0, 0)
		return err
	}
	if resp.status != http.StatusCreated {
		u.setPart(p, "", 0, 0)
		u.report()
		return resp.err()
	}
	loc, err := u.c.resolveLocation(req.url, resp.header.Get("Location"))
	if err != nil {
		return err
	}
	var off int64
	if withData {
		if off, err = resp.offset(); err != nil {
			return err
		}
		if off > c.n {
			return permanentf(ErrProtocol, "POST: Upload-Offset %d beyond the %d bytes sent", off, c.n)
		}
		if c.final && off == c.n && p.size < 0 {
			u.learnSize(p, c.total)
		}
	}
	u.setPart(p, loc, off, off)
	p.maxSent = c.n
	p.needSync = false
	if err := u.save(ctx); err != nil {
		return err
	}
	if announce && u.opts.OnCreated != nil {
		p.announced = true
		u.opts.OnCreated(loc)
	}
	u.report()
	return nil
}

// save writes the resume record from the current state.
func (u *Upload) save(ctx context.Context) error {
	if u.opts.Store == nil || u.opts.Fingerprint == "" {
		return nil
	}
	u.saveMu.Lock()
	defer u.saveMu.Unlock()
	rec := Record{Endpoint: u.c.endpoint.String(), Size: u.declared, Created: time.Now().UTC()}
	u.mu.Lock()
	if u.parts != nil {
		rec.URL = u.finalURL
		for _, p := range u.parts {
			rec.Parts = append(rec.Parts, PartRecord{URL: p.url, Start: p.start, Length: p.size})
		}
	} else if u.single != nil {
		rec.URL = u.single.url
	}
	u.mu.Unlock()
	if err := u.opts.Store.Put(ctx, u.opts.Fingerprint, rec); err != nil {
		return retry.Permanent(fmt.Errorf("tusclient: saving resume record: %w", err))
	}
	return nil
}

// sync asks the server for the offset with HEAD.
func (u *Upload) sync(ctx context.Context, p *part, announce bool) error {
	resp, err := u.c.roundTrip(ctx, &request{method: http.MethodHead, url: p.url})
	if err != nil {
		return err
	}
	if resp.status != http.StatusOK && resp.status != http.StatusNoContent {
		return resp.err()
	}
	off, err := resp.offset()
	if err != nil {
		return err
	}
	if v := resp.header.Get(hUploadLength); v != "" {
		n, err := parseOffset(v)
		if err != nil {
			return permanentf(ErrProtocol, "HEAD: Upload-Length %q: %v", httpx.CleanBody([]byte(v)), err)
		}
		if p.size >= 0 && n != p.size {
			return permanentf(ErrProtocol, "HEAD: server says Upload-Length %d, the data has %d bytes", n, p.size)
		}
		if l := p.src.length(); p.size < 0 && l >= 0 && l != n {
			return permanentf(ErrProtocol, "HEAD: server says Upload-Length %d, the stream has %d bytes", n, l)
		}
		u.learnSize(p, n)
		p.lengthDeclared = true
	} else if resp.header.Get(hUploadDeferLength) != "" {
		p.lengthDeclared = false
	}
	if p.size >= 0 && off > p.size {
		return permanentf(ErrProtocol, "HEAD: Upload-Offset %d beyond Upload-Length %d", off, p.size)
	}
	if p.maxSent >= 0 && off > p.maxSent {
		// Going on would skip the bytes in between.
		return permanentf(ErrProtocol, "HEAD: Upload-Offset %d beyond the %d bytes sent", off, p.maxSent)
	}
	p.maxSent = max(p.maxSent, off)
	u.setPart(p, p.url, off, off)
	p.needSync = false
	if announce && !p.announced && u.opts.OnCreated != nil {
		p.announced = true
		u.opts.OnCreated(p.url)
	}
	u.report()
	return nil
}

var errNoProgress = errors.New("tusclient: server accepted none of the chunk")

// patch sends the next chunk.
func (u *Upload) patch(ctx context.Context, p *part, algo string) error {
	c, err := p.src.chunk(p.offset, u.c.cfg.ChunkSize)
	if err != nil {
		return err
	}
	h := map[string]string{hUploadOffset: itoa(p.offset)}
	declares := p.size < 0 && c.final && !p.lengthDeclared
	if declares {
		h[hUploadLength] = itoa(c.total)
	}
	if c.n == 0 && !declares {
		return permanentf(ErrProtocol, "nothing to send at offset %d but the upload is not complete", p.offset)
	}
	req := &request{method: http.MethodPatch, url: p.url, header: h}
	start := p.offset
	if err := u.addBody(req, p, c, algo, start); err != nil {
		return err
	}
	p.maxSent = max(p.maxSent, start+c.n)
	resp, err := u.c.roundTrip(ctx, req)
	if err != nil {
		u.setPart(p, p.url, start, start)
		u.report()
		return err
	}
	if resp.status != http.StatusNoContent && resp.status != http.StatusOK {
		u.setPart(p, p.url, start, start)
		u.report()
		return resp.err()
	}
	off, err := resp.offset()
	if err != nil {
		return err
	}
	if off < start || off > start+c.n {
		return permanentf(ErrProtocol, "PATCH at %d with %d bytes: server answered Upload-Offset %d", start, c.n, off)
	}
	if declares {
		p.lengthDeclared = true
		u.learnSize(p, c.total)
	}
	u.setPart(p, p.url, off, off)
	u.report()
	if off == start && c.n > 0 {
		return errNoProgress
	}
	return nil
}

// addBody attaches chunk c to req, with its checksum and progress
// reporting from offset start.
func (u *Upload) addBody(req *request, p *part, c chunk, algo string, start int64) error {
	req.header["Content-Type"] = offsetOctetStream
	req.body, req.n = c.open, c.n
	if algo != "" {
		if p.scratch == nil && c.mem == nil {
			p.scratch = make([]byte, 64<<10)
		}
		sum, err := checksum(algo, c, p.scratch)
		if err != nil {
			return err
		}
		req.header[hUploadChecksum] = sum
	}
	var sent int64
	req.onRead = func(n int) {
		sent += int64(n)
		u.mu.Lock()
		p.sent = start + sent
		u.mu.Unlock()
		u.report()
	}
	return nil
}

// Terminate deletes the upload on the server (termination extension),
// including the partial uploads of a parallel upload, and removes its
// Store record. It finds the upload from this Upload's state, or from the
// Store when this Upload never ran (after a process restart). Cancel Run's
// context and wait for Run to return first; otherwise Terminate returns
// [ErrBusy]. After Terminate, Run starts a new upload.
func (u *Upload) Terminate(ctx context.Context) error {
	if !u.runMu.TryLock() {
		return ErrBusy
	}
	defer u.runMu.Unlock()
	var urls []string
	u.mu.Lock()
	if u.finalURL != "" {
		urls = append(urls, u.finalURL)
	}
	for _, p := range u.parts {
		if p.url != "" {
			urls = append(urls, p.url)
		}
	}
	if u.single != nil && u.single.url != "" {
		urls = append(urls, u.single.url)
	}
	if len(urls) == 0 && u.opts.URL != "" {
		urls = append(urls, u.opts.URL)
	}
	u.mu.Unlock()
	hasStore := u.opts.Store != nil && u.opts.Fingerprint != ""
	if len(urls) == 0 && hasStore {
		rec, ok, err := u.opts.Store.Get(ctx, u.opts.Fingerprint)
		if err != nil {
			return fmt.Errorf("tusclient: reading resume record: %w", err)
		}
		if ok && rec.Endpoint == u.c.endpoint.String() {
			if rec.URL != "" {
				urls = append(urls, rec.URL)
			}
			for _, pr := range rec.Parts {
				if pr.URL != "" {
					urls = append(urls, pr.URL)
				}
			}
		}
	}
	var errs []error
	for _, url := range urls {
		if err := u.c.Terminate(ctx, url); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if hasStore {
		if err := u.opts.Store.Delete(ctx, u.opts.Fingerprint); err != nil {
			return fmt.Errorf("tusclient: removing resume record: %w", err)
		}
	}
	u.mu.Lock()
	u.single, u.parts, u.finalURL, u.done = nil, nil, "", false
	u.opts.URL = ""
	u.mu.Unlock()
	return nil
}
