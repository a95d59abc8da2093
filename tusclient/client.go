package tusclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/internal/httpx"
	"github.com/dicombridge/dicombridge/internal/origin"
	"github.com/dicombridge/dicombridge/internal/retry"
)

// defaultChunkSize is the PATCH body size when [Config.ChunkSize] is 0.
const defaultChunkSize = 8 << 20

// defaultStallTimeout is [Config.StallTimeout] when it is 0.
const defaultStallTimeout = 30 * time.Second

// maxResponseBody bounds how much of a response body the client reads.
const maxResponseBody = 64 << 10

// Checksum settings for [Config.Checksum].
const (
	// checksumAuto uses the checksum extension when the server offers it,
	// with the first of sha256, sha1, sha512, md5 it supports.
	checksumAuto = ""
	// ChecksumOff never sends Upload-Checksum.
	ChecksumOff = "off"
)

// checksumPreference is the order checksumAuto tries algorithms in.
var checksumPreference = []string{"sha256", "sha1", "sha512", "md5"}

// Config configures a [Client]. Only Endpoint is required; every other
// zero value is a working default.
type Config struct {
	// Endpoint is the upload creation URL (for tusd, its base path, such as
	// https://tus.example.org/files/). Required; http or https.
	Endpoint string
	// HTTPClient sends the requests. Nil means the SDK's default client:
	// bounded dial, TLS and response-header waits, and no overall timeout (an upload takes as long as its size
	// needs; StallTimeout catches dead connections instead). The client
	// uses a copy of it that follows a redirect only to a URL that passes
	// CheckUploadURL, then applies its CheckRedirect, if any.
	HTTPClient *http.Client
	// Header holds headers added to every request, for example a static
	// Authorization. Tus protocol headers set by the client take precedence.
	Header http.Header
	// BeforeRequest, if set, is called with every request just before it is
	// sent, after all headers are set: add a Bearer token that may change,
	// sign the request, add a request id. An error aborts the request and is
	// not retried. It may be called from several goroutines at once when
	// parallel uploads are used.
	BeforeRequest func(*http.Request) error
	// ChunkSize is the most bytes one PATCH carries. 0 means 8 MiB. Streams
	// of unknown length ([NewStreamUpload]) hold one chunk in memory; uploads
	// from an io.ReaderAt hold none.
	ChunkSize int64
	// Retry says when failed requests are retried. The zero value retries
	// after 0, 1, 3 and 5 s.
	Retry RetryPolicy
	// StallTimeout is the longest a request may make no progress (the
	// server takes no body bytes and sends no response) before it is
	// abandoned with [ErrStalled] and retried. 0 means 30 s; negative
	// disables the watchdog.
	StallTimeout time.Duration
	// Checksum selects the checksum extension: "" (the default:
	// use it when the server offers it), [ChecksumOff], or an algorithm name
	// (sha1, sha256, sha512, md5) that must then be offered by the server
	// (else [ErrUnsupported]).
	Checksum string
	// UploadDataDuringCreation sends the first chunk in the creation POST
	// (creation-with-upload) when the server offers it, saving one round
	// trip.
	UploadDataDuringCreation bool
	// ParallelUploads, when above 1, splits uploads from an io.ReaderAt into
	// that many partial uploads sent at once and concatenates them
	// (concatenation extension). It falls back to one upload when the server
	// does not offer concatenation, for streams, and for tiny files.
	ParallelUploads int
	// OverridePatchMethod sends PATCH and DELETE as POST with
	// X-HTTP-Method-Override, for networks whose proxies drop those methods.
	OverridePatchMethod bool
	// CheckUploadURL vets each upload URL the server hands out (Location,
	// or a redirect) or a [Store] holds before any request, including
	// credentials, is sent to it. Nil means the URL must have the endpoint's scheme, host and
	// port, so a server (or a tampered store file) cannot redirect
	// credentials elsewhere.
	CheckUploadURL func(*url.URL) error
	// Logger receives debug lines for requests and info lines for retries;
	// nil means silent. Header values are never logged.
	Logger *slog.Logger
}

// Client uploads to one Tus endpoint. Create it with [New]. It is safe for
// concurrent use; uploads share its connections and what the server
// announced in its OPTIONS response.
type Client struct {
	endpoint *url.URL
	cfg      Config // defaults applied
	hc       *http.Client
	log      *slog.Logger

	// capsSem is a one-slot semaphore that guards caps; it is held during
	// OPTIONS so concurrent callers share one request, and waiting for it
	// honours the waiter's context.
	capsSem chan struct{}
	caps    *serverCaps // nil until fetched
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("%w: endpoint: %v", ErrInvalidConfig, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: endpoint %q must be an absolute http or https URL", ErrInvalidConfig, httpx.RedactURL(u))
	}
	if cfg.ChunkSize < 0 {
		return nil, fmt.Errorf("%w: negative ChunkSize %d", ErrInvalidConfig, cfg.ChunkSize)
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = defaultChunkSize
	}
	if cfg.ParallelUploads < 0 {
		return nil, fmt.Errorf("%w: negative ParallelUploads %d", ErrInvalidConfig, cfg.ParallelUploads)
	}
	for _, d := range cfg.Retry.Delays {
		if d < 0 {
			return nil, fmt.Errorf("%w: negative retry delay %v", ErrInvalidConfig, d)
		}
	}
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = defaultStallTimeout
	}
	switch cfg.Checksum {
	case checksumAuto, ChecksumOff:
	default:
		if newHash(cfg.Checksum) == nil {
			return nil, fmt.Errorf("%w: unknown checksum algorithm %q (want sha1, sha256, sha512 or md5)", ErrInvalidConfig, cfg.Checksum)
		}
	}
	cfg.Header = cfg.Header.Clone()
	if cfg.Retry.Delays != nil {
		// Copy, keeping an empty non-nil slice (no retries) non-nil.
		cfg.Retry.Delays = append(make([]time.Duration, 0, len(cfg.Retry.Delays)), cfg.Retry.Delays...)
	}
	c := &Client{endpoint: u, cfg: cfg, log: cfg.Logger, capsSem: make(chan struct{}, 1)}
	hc := http.Client{Transport: httpx.NewTransport()}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	// A redirect is an upload URL handed out by the server as much as a
	// Location is: vet it the same way before the request, its headers
	// and its body go there. The redirect limit is the SDK's one.
	next := hc.CheckRedirect
	hc.CheckRedirect = origin.Redirects(func(req *http.Request, via []*http.Request) error {
		if _, err := c.checkURL(req.URL.String()); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	})
	c.hc = &hc
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// CloseIdleConnections closes idle connections of the client's
// http.Client, as http.Client.CloseIdleConnections does.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// capabilities returns what the server announces in its OPTIONS response,
// fetching it once and caching it. A server that answers OPTIONS with an
// error status yields serverCaps with Known false (and that is cached);
// network errors are retried per [Config.Retry] and returned, not cached.
func (c *Client) capabilities(ctx context.Context) (serverCaps, error) {
	select {
	case c.capsSem <- struct{}{}:
	case <-ctx.Done():
		return serverCaps{}, fmt.Errorf("tusclient: waiting for OPTIONS: %w", ctx.Err())
	}
	defer func() { <-c.capsSem }()
	if c.caps != nil {
		return *c.caps, nil
	}
	var caps serverCaps
	err := c.retrying(ctx, func() error {
		resp, err := c.roundTrip(ctx, &request{method: http.MethodOptions, url: c.endpoint.String(), noTus: true})
		if err != nil {
			return err
		}
		if resp.status == http.StatusOK || resp.status == http.StatusNoContent {
			caps = parseCapabilities(resp.header)
		} else if resp.status >= 500 {
			return resp.err()
		}
		return nil
	})
	if err != nil {
		return serverCaps{}, err
	}
	c.caps = &caps
	return caps, nil
}

// Supports reports whether the server announces the Tus extension ext
// ("creation-defer-length", "checksum", "termination", ...) in its OPTIONS
// response, fetched once per Client. A server that answers OPTIONS with an
// error status announces nothing; network errors are returned.
func (c *Client) Supports(ctx context.Context, ext string) (bool, error) {
	caps, err := c.capabilities(ctx)
	if err != nil {
		return false, err
	}
	return caps.Has(ext), nil
}

// Terminate deletes the upload at uploadURL (termination extension). An
// upload the server no longer knows (404, 410) counts as deleted. Failed
// requests are retried per [Config.Retry].
func (c *Client) Terminate(ctx context.Context, uploadURL string) error {
	u, err := c.checkURL(uploadURL)
	if err != nil {
		return err
	}
	return c.retrying(ctx, func() error {
		resp, err := c.roundTrip(ctx, &request{method: http.MethodDelete, url: u.String()})
		if err != nil {
			return err
		}
		switch resp.status {
		case http.StatusNoContent, http.StatusOK, http.StatusNotFound, http.StatusGone:
			return nil
		}
		return resp.err()
	})
}

// retrying runs f until it succeeds, the retry policy gives up, or ctx is
// done. It suits requests with no upload progress (OPTIONS, POST, DELETE).
func (c *Client) retrying(ctx context.Context, f func() error) error {
	rs := newRetryState(c.cfg.Retry)
	for {
		err := f()
		if err == nil {
			return nil
		}
		delay, ok := rs.next(ctx, err, 0)
		if !ok {
			return c.giveUp(ctx, err, rs.total())
		}
		c.log.Info("tusclient: retrying", "attempt", rs.total(), "delay", delay, "error", err)
		if serr := retry.Sleep(ctx, delay); serr != nil {
			return waitError(serr, err)
		}
	}
}

// waitError is the error of a retry wait that ended with the context:
// it wraps the context's cause and the failure being retried.
func waitError(cause, last error) error {
	return fmt.Errorf("tusclient: %w (while waiting to retry after: %w)", cause, last)
}

// giveUp wraps the last error when retries were made.
func (c *Client) giveUp(ctx context.Context, err error, retries int) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("tusclient: %w (last error: %w)", retry.Ended(ctx), err)
	}
	if retries > 0 {
		return fmt.Errorf("tusclient: giving up after %d retries: %w", retries, err)
	}
	return err
}

// checkURL parses an upload URL and vets it with CheckUploadURL.
func (c *Client) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, permanentf(ErrProtocol, "upload URL %q is not an absolute http(s) URL", raw)
	}
	check := c.cfg.CheckUploadURL
	if check == nil {
		check = c.sameOrigin
	}
	if err := check(u); err != nil {
		return nil, retry.Permanent(fmt.Errorf("%w: upload URL %s refused: %w", ErrProtocol, httpx.RedactURL(u), err))
	}
	return u, nil
}

func (c *Client) sameOrigin(u *url.URL) error {
	if err := origin.Check(c.endpoint, u); err != nil {
		return fmt.Errorf("%w (set Config.CheckUploadURL to allow it)", err)
	}
	return nil
}

// resolveLocation turns a Location header into an absolute, vetted URL.
func (c *Client) resolveLocation(base string, loc string) (string, error) {
	if loc == "" {
		return "", permanentf(ErrProtocol, "201 Created without a Location header")
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", permanentf(ErrProtocol, "bad base URL: %v", err)
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", permanentf(ErrProtocol, "malformed Location header: %v", err)
	}
	u, err := c.checkURL(b.ResolveReference(l).String())
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// request is one Tus request.
type request struct {
	method string
	url    string
	header map[string]string // Tus headers
	noTus  bool              // OPTIONS: no Tus-Resumable
	// body, if set, opens a fresh reader over the n bytes to send.
	body func() io.Reader
	n    int64
	// onRead is told about body bytes as the transport takes them.
	onRead func(n int)
}

// response is a response whose body has been read (bounded) and closed.
type response struct {
	method string
	url    string
	status int
	header http.Header
	body   []byte
	remote httpx.Remote // for errors
}

func (r *response) err() error {
	return &HTTPError{Method: r.method, URL: r.remote.URL, StatusCode: r.remote.StatusCode, Body: r.remote.Body,
		retryAfter: httpx.RetryAfter(r.header, time.Now())}
}

// offset reads Upload-Offset from the response.
func (r *response) offset() (int64, error) {
	v := r.header.Get(hUploadOffset)
	n, err := parseOffset(v)
	if err != nil {
		return 0, permanentf(ErrProtocol, "%s %s: %d response with Upload-Offset %q: %v", r.method, httpx.RedactRawURL(r.url), r.status, httpx.CleanBody([]byte(v)), err)
	}
	return n, nil
}

// roundTrip sends one request and reads its response. Errors are transport
// errors (wrapped, with the URL redacted), [ErrStalled], a source read
// error, or the caller's context error; HTTP statuses are left to the
// caller.
func (c *Client) roundTrip(ctx context.Context, r *request) (*response, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var timer *time.Timer
	if c.cfg.StallTimeout > 0 {
		timer = time.AfterFunc(c.cfg.StallTimeout, func() { cancel(ErrStalled) })
		defer timer.Stop()
	}
	method := r.method
	if c.cfg.OverridePatchMethod && (method == http.MethodPatch || method == http.MethodDelete) {
		method = http.MethodPost
	}
	var body *bodyReader
	var rbody io.Reader
	if r.body != nil {
		body = &bodyReader{r: r.body(), want: r.n, onRead: r.onRead, timer: timer, stall: c.cfg.StallTimeout}
		rbody = body
	}
	req, err := http.NewRequestWithContext(rctx, method, r.url, rbody)
	if err != nil {
		return nil, retry.Permanent(fmt.Errorf("tusclient: %s %s: %w", r.method, httpx.RedactRawURL(r.url), err))
	}
	if r.body != nil {
		req.ContentLength = r.n
		if r.n == 0 {
			req.Body = http.NoBody
		}
		req.GetBody = func() (io.ReadCloser, error) {
			return io.NopCloser(io.LimitReader(r.body(), r.n)), nil
		}
	}
	for k, vs := range c.cfg.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if !r.noTus {
		req.Header.Set(hTusResumable, tusVersion)
	}
	if method != r.method {
		req.Header.Set(hMethodOverride, r.method)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if c.cfg.BeforeRequest != nil {
		if err := c.cfg.BeforeRequest(req); err != nil {
			return nil, retry.Permanent(fmt.Errorf("tusclient: BeforeRequest: %w", err))
		}
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if body != nil {
		if serr := body.finish(); serr != nil {
			if resp != nil {
				httpx.DrainAndClose(resp.Body)
			}
			return nil, &sourceError{serr}
		}
	}
	if err != nil {
		return nil, c.requestError(ctx, rctx, r, err)
	}
	b, rerr := httpx.ReadLimited(resp.Body, maxResponseBody)
	httpx.DrainAndClose(resp.Body)
	if rerr != nil && !errors.Is(rerr, httpx.ErrTooLarge) {
		return nil, c.requestError(ctx, rctx, r, rerr)
	}
	c.log.Debug("tusclient: request", "method", r.method, "url", httpx.RedactRawURL(r.url), "status", resp.StatusCode,
		"bytes", r.n, "duration", time.Since(start))
	return &response{method: r.method, url: r.url, status: resp.StatusCode, header: resp.Header, body: b,
		remote: httpx.DescribeResponse(resp, b)}, nil
}

func (c *Client) requestError(ctx, rctx context.Context, r *request, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // url.Error repeats the full URL, query included
	}
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case errors.Is(context.Cause(rctx), ErrStalled):
		err = fmt.Errorf("%w after %v", ErrStalled, c.cfg.StallTimeout)
	}
	return fmt.Errorf("tusclient: %s %s: %w", r.method, httpx.RedactRawURL(r.url), err)
}

// bodyReader wraps a request body: it resets the stall timer on every read,
// reports progress, and keeps the source's read error apart from network
// errors. The transport may read it from another goroutine, even after Do
// returned; mu orders those reads with finish.
type bodyReader struct {
	r      io.Reader
	want   int64 // bytes the request declared
	onRead func(int)
	timer  *time.Timer
	stall  time.Duration

	mu     sync.Mutex // guards srcErr, done and calls to onRead
	srcErr error
	got    int64
	done   bool
}

var errBodyClosed = errors.New("tusclient: request body used after request ended")

func (b *bodyReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return 0, errBodyClosed
	}
	n, err := b.r.Read(p)
	b.got += int64(n)
	if err == io.EOF && b.got < b.want {
		err = fmt.Errorf("%w: source gave %d of %d bytes", ErrSourceChanged, b.got, b.want)
	}
	if b.timer != nil {
		b.timer.Reset(b.stall)
	}
	if n > 0 && b.onRead != nil {
		b.onRead(n)
	}
	if err != nil && err != io.EOF {
		b.srcErr = err
	}
	return n, err
}

// Close is called by the transport; the source stays open.
func (b *bodyReader) Close() error { return nil }

// finish ends the body's life and returns the source error, if any. After
// finish returns, onRead is never called again.
func (b *bodyReader) finish() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	return b.srcErr
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
