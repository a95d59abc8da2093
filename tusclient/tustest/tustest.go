package tustest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/dicombridge/dicombridge/internal/tusdlock"
	xslog "golang.org/x/exp/slog"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// DefaultBasePath is where the server mounts tusd unless [WithBasePath]
// says otherwise. It is not the root, so that URL-joining bugs show.
const DefaultBasePath = "/tus/files/"

// Option configures a [Server], for [NewServer]. With none, the server is
// a plain tusd.
type Option func(*config)

type config struct {
	basePath        string
	dir             string
	maxSize         int64
	checksum        bool
	noConcatenation bool
	preUploadCreate func(handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error)
}

// WithBasePath sets the URL path of the creation endpoint; default
// DefaultBasePath.
func WithBasePath(p string) Option { return func(c *config) { c.basePath = p } }

// WithDir sets the filestore directory; default a new temporary directory
// that Close removes (dir is left alone). Pass the same dir to a later
// Server to simulate a new server process over the same disk.
func WithDir(dir string) Option { return func(c *config) { c.dir = dir } }

// WithMaxSize sets tusd's Tus-Max-Size; 0 (the default) means no limit.
func WithMaxSize(n int64) Option { return func(c *config) { c.maxSize = n } }

// WithChecksum puts the checksum extension (sha1, sha256, sha512, md5) in
// front of tusd, which lacks it: OPTIONS announces it, a body whose
// Upload-Checksum does not match gets 460 Checksum Mismatch and is
// discarded, a malformed header or unknown algorithm gets 400.
func WithChecksum() Option { return func(c *config) { c.checksum = true } }

// WithoutConcatenation turns tusd's concatenation extension off.
func WithoutConcatenation() Option { return func(c *config) { c.noConcatenation = true } }

// WithPreUploadCreate sets tusd's PreUploadCreateCallback: f can inspect
// metadata and headers of creation requests, or reject them.
func WithPreUploadCreate(f func(handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error)) Option {
	return func(c *config) { c.preUploadCreate = f }
}

// Server is tusd v2 (filestore on disk) served on 127.0.0.1, with request
// recording and failure injection. It is safe for concurrent use.
//
// A request for an upload that another request holds waits for the holder
// to finish instead of interrupting it (tusd's default), because tusd
// v2.10.0 has a data race on the interruption path (tus/tusd#1192) that
// -race reports in tests that cut connections; clients see the same
// outcome, one request later.
type Server struct {
	// URL is the creation endpoint, such as
	// http://127.0.0.1:40123/tus/files/.
	URL string

	cfg    config
	dir    string
	port   *portKeeper // holds the port across Stop and Start
	ownDir bool        // dir was made by NewServer; Close removes it

	mu       sync.Mutex // guards mux, store, stopped, stop, fails, calls, clients
	srv      *http.Server
	mux      http.Handler
	stop     chan struct{} // closed by Stop
	store    filestore.FileStore
	stopped  bool
	fails    []*failure
	calls    []Call
	clients  []*http.Client
	inflight sync.WaitGroup // handlers running
}

// Call is one request the server received, recorded after it answered.
type Call struct {
	// Method is the effective method (X-HTTP-Method-Override applied).
	Method string
	// Path is the URL path.
	Path string
	// Header is a copy of the request headers.
	Header http.Header
	// ContentLength is the declared body length (-1 if unknown).
	ContentLength int64
	// Status is the response status, 0 if none was written (the
	// connection broke first).
	Status int
	// Injected is true when a [Failure] answered, delayed or damaged the
	// request.
	Injected bool
}

// Failure describes how the server misbehaves, for [Server.Fail]. Its
// effects apply in this order: Delay, then either Corrupt (the request
// goes on to the server with its body damaged) or Status (the server
// answers Status without handling the request; the body is read and
// discarded first, like a server that fails after reading).
type Failure struct {
	// Method restricts the failure to one method ("PATCH"); "" matches
	// every method.
	Method string
	// Status is the status to answer instead of handling the request; 0
	// handles it normally (after Delay).
	Status int
	// Times is how many matching requests are affected: N > 0 affects the
	// next N, then the server works again; 0 affects every matching request
	// until ClearFailures.
	Times int
	// Delay is waited before anything else; a client that gives up ends it
	// early, and Stop drops the connection. Use it to slow an upload down.
	Delay time.Duration
	// Corrupt flips one bit in the body of requests that carry
	// Upload-Checksum (only those match), before the checksum is verified,
	// as damage in transit would. It needs [WithChecksum].
	Corrupt bool
}

type failure struct {
	Failure
	seen int
}

// NewServer starts a Server on 127.0.0.1. The caller must Close it (in a
// test, t.Cleanup(s.Close)); unless [WithDir] says otherwise, NewServer
// makes a temporary directory and Close removes it. NewServer panics if it
// cannot listen or create its directory, as httptest.NewServer does (or
// if tusd rejects a malformed [WithBasePath]).
func NewServer(opts ...Option) *Server {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.basePath == "" {
		cfg.basePath = DefaultBasePath
	}
	if !strings.HasSuffix(cfg.basePath, "/") {
		cfg.basePath += "/"
	}
	s := &Server{cfg: cfg, dir: cfg.dir}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "tustest-")
		if err != nil {
			panic("tustest: failed to create a temporary directory: " + err.Error())
		}
		s.dir, s.ownDir = d, true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.removeDir()
		panic("tustest: failed to listen on a port: " + err.Error())
	}
	s.URL = "http://" + ln.Addr().String() + cfg.basePath
	s.port = newPortKeeper(ln)
	if err := s.serve(s.port.open()); err != nil {
		s.port.Close()
		s.removeDir()
		panic("tustest: " + err.Error())
	}
	return s
}

func (s *Server) removeDir() {
	if s.ownDir {
		_ = os.RemoveAll(s.dir)
	}
}

func (s *Server) serve(ln net.Listener) error {
	store := filestore.New(s.dir)
	composer := handler.NewStoreComposer()
	store.UseIn(composer)
	composer.UseLocker(tusdlock.New())
	h, err := handler.NewHandler(handler.Config{
		BasePath:                         s.cfg.basePath,
		StoreComposer:                    composer,
		MaxSize:                          s.cfg.maxSize,
		DisableConcatenation:             s.cfg.noConcatenation,
		Logger:                           xslog.New(xslog.NewTextHandler(io.Discard, nil)),
		PreUploadCreateCallback:          s.cfg.preUploadCreate,
		GracefulRequestCompletionTimeout: 20 * time.Millisecond,
		AcquireLockTimeout:               5 * time.Second,
		NetworkTimeout:                   10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("tusd: %w", err)
	}
	var tus http.Handler = h
	if s.cfg.checksum {
		tus = &checksumHandler{next: h}
	}
	mux := http.NewServeMux()
	mux.Handle(s.cfg.basePath, s.wrap(http.StripPrefix(strings.TrimSuffix(s.cfg.basePath, "/"), tus)))
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv, s.mux, s.store, s.stopped, s.stop = srv, mux, store, false, make(chan struct{})
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Handler returns the server as an http.Handler, for mounting on another
// server (a fake of a system whose Tus endpoint sits beside its API, with
// its own checks in front): requests keep their full path, so mount it
// where the base path is reachable. Calls, failures, Stop and Start apply
// to it as to the server's own listener; while the server is stopped, it
// drops every connection.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		mux := s.mux
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

type corruptKey struct{}

// wrap records requests, injects failures and delays.
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Register under mu, which Stop holds to set stopped before it
		// waits: an Add racing a Wait that has begun is a WaitGroup misuse.
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			panic(http.ErrAbortHandler) // accepted just before Stop: drop it
		}
		s.inflight.Add(1)
		stop := s.stop
		s.mu.Unlock()
		defer s.inflight.Done()
		method := r.Method
		if o := r.Header.Get("X-HTTP-Method-Override"); method == http.MethodPost && o != "" {
			method = o
		}
		rec := &httpx.StatusRecorder{ResponseWriter: w}
		f, injected := s.takeFailure(method, r)
		defer func() {
			s.mu.Lock()
			s.calls = append(s.calls, Call{
				Method: method, Path: r.URL.Path, Header: r.Header.Clone(),
				ContentLength: r.ContentLength, Status: rec.Status, Injected: injected,
			})
			s.mu.Unlock()
		}()
		if f.Delay > 0 {
			// The server reads no body meanwhile, so it cannot notice a
			// client that gives up; Stop ends the wait.
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-stop:
				// A stopped server is a crashed process: drop the connection.
				// Returning normally would let net/http answer an implicit
				// 200 OK before Stop closes the connection.
				t.Stop()
				panic(http.ErrAbortHandler)
			}
		}
		switch {
		case f.Corrupt:
			r = r.WithContext(context.WithValue(r.Context(), corruptKey{}, true))
		case f.Status != 0:
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
			rec.Header().Set("Tus-Resumable", "1.0.0")
			rec.WriteHeader(f.Status)
			fmt.Fprintf(rec, "tustest: injected failure %d", f.Status)
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// takeFailure returns the first Failure that matches the request, if any,
// and counts the match.
func (s *Server) takeFailure(method string, r *http.Request) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.fails {
		if f.Method != "" && !strings.EqualFold(f.Method, method) {
			continue
		}
		if f.Corrupt && r.Header.Get("Upload-Checksum") == "" {
			continue
		}
		if f.Times > 0 && f.seen >= f.Times {
			continue
		}
		f.seen++
		return f.Failure, true
	}
	return Failure{}, false
}

// Fail makes the server misbehave (see [Failure]). Several failures apply
// in the order they were added: a request meets the first that matches it
// and is not used up.
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, &failure{Failure: f})
}

// ClearFailures drops every injected failure.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = nil
}

// Calls returns every request received so far (OPTIONS included), in order
// of completion.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Client returns an *http.Client for this server whose idle connections
// are closed when the server closes.
func (s *Server) Client() *http.Client {
	c := &http.Client{Transport: httpx.NewTransport()}
	s.mu.Lock()
	s.clients = append(s.clients, c)
	s.mu.Unlock()
	return c
}

// Stop shuts the server down like a killed process: every connection
// closes at once and new ones are dropped as soon as they are accepted
// (the port stays reserved, so no other server can take it while this one
// is down), and Stop returns when the handlers have finished, so no stale
// write reaches the files afterwards. URL stays valid for [Server.Start].
func (s *Server) Stop() {
	s.mu.Lock()
	srv, stopped := s.srv, s.stopped
	if !stopped {
		s.stopped = true
		close(s.stop)
	}
	s.mu.Unlock()
	if stopped {
		return
	}
	s.port.pause() // new connections are dropped from now on
	_ = srv.Close()
	s.inflight.Wait()
}

// Start starts a stopped server again on the same address, as a new tusd
// process over the same directory (new handler, new locks).
func (s *Server) Start() error {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if !stopped {
		return nil
	}
	ln := s.port.open()
	if err := s.serve(ln); err != nil {
		s.port.pause()
		ln.Close()
		return fmt.Errorf("tustest: restart: %w", err)
	}
	return nil
}

// Close stops the server for good, closes idle connections of the
// clients from Client, and removes the directory if NewServer made it.
func (s *Server) Close() {
	s.Stop()
	_ = s.port.Close()
	s.mu.Lock()
	clients := s.clients
	s.clients = nil
	s.mu.Unlock()
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	s.removeDir()
}

// id returns the upload id in an upload URL of this server.
func (s *Server) id(uploadURL string) (string, error) {
	u, err := url.Parse(uploadURL)
	if err != nil {
		return "", err
	}
	id, ok := strings.CutPrefix(u.Path, s.cfg.basePath)
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("tustest: %q is not an upload URL under %s", uploadURL, s.cfg.basePath)
	}
	return id, nil
}

// Info is what the server stores about an upload.
type Info struct {
	ID             string
	Size           int64 // the declared length; 0 while deferred
	Offset         int64 // bytes received
	MetaData       map[string]string
	IsPartial      bool     // a partial upload (concatenation extension)
	IsFinal        bool     // the concatenation of PartialUploads
	PartialUploads []string // ids of the parts of a final upload

	sizeIsDeferred bool
}

// Complete reports whether the server holds every byte of the upload: its
// length is declared and its offset has reached it.
func (i Info) Complete() bool { return !i.sizeIsDeferred && i.Offset == i.Size }

// Info reads the stored state of the upload at uploadURL.
func (s *Server) Info(uploadURL string) (Info, error) {
	id, err := s.id(uploadURL)
	if err != nil {
		return Info{}, err
	}
	s.mu.Lock()
	store := s.store
	s.mu.Unlock()
	up, err := store.GetUpload(context.Background(), id)
	if err != nil {
		return Info{}, err
	}
	fi, err := up.GetInfo(context.Background())
	if err != nil {
		return Info{}, err
	}
	return Info{
		ID: fi.ID, Size: fi.Size, sizeIsDeferred: fi.SizeIsDeferred, Offset: fi.Offset,
		MetaData: fi.MetaData, IsPartial: fi.IsPartial, IsFinal: fi.IsFinal, PartialUploads: fi.PartialUploads,
	}, nil
}

// StoredSHA256 returns the hex SHA-256 of the bytes stored for the upload
// at uploadURL.
func (s *Server) StoredSHA256(uploadURL string) (string, error) {
	id, err := s.id(uploadURL)
	if err != nil {
		return "", err
	}
	f, err := os.Open(filepath.Join(s.dir, id))
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
