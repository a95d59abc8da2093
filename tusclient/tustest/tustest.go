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
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"

	"github.com/dicombridge/dicombridge/internal/tusdlock"
	xslog "golang.org/x/exp/slog"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// DefaultBasePath is where the server mounts tusd unless
// [Options.BasePath] says otherwise. It is not the root, so that URL-joining
// bugs show.
const DefaultBasePath = "/tus/files/"

// Options configures a [Server]. The zero value is a plain tusd.
type Options struct {
	// BasePath is the URL path of the creation endpoint; default
	// DefaultBasePath.
	BasePath string
	// Dir is the filestore directory; default a new t.TempDir(). Pass the
	// Dir of an earlier Server to simulate a new server process over the
	// same disk.
	Dir string
	// MaxSize is tusd's Tus-Max-Size; 0 means no limit.
	MaxSize int64
	// Checksum puts the checksum extension (sha1, sha256, sha512, md5) in
	// front of tusd, which lacks it. See [ChecksumHandler].
	Checksum bool
	// DisableConcatenation turns tusd's concatenation extension off.
	DisableConcatenation bool
	// PatchDelay delays every PATCH before tusd sees it, to slow an upload
	// down for tests that interrupt it.
	PatchDelay time.Duration
	// InterruptLocks keeps tusd's own locking, where a request for an
	// upload interrupts the request holding it. By default a request waits
	// for the holder to finish instead, because tusd v2.10.0 has a data race
	// on the interruption path (handler/context.go reads the body that
	// writeChunk sets; see tus/tusd#1192) which -race reports in tests that
	// cut connections.
	InterruptLocks bool
	// PreUploadCreate, if set, is tusd's PreUploadCreateCallback: it can
	// inspect metadata and headers of creation requests, or reject them.
	PreUploadCreate func(handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error)
}

// Server is tusd v2 (filestore on disk, memorylocker) served on 127.0.0.1,
// with request recording and failure injection. It is safe for concurrent
// use.
type Server struct {
	// URL is the creation endpoint, such as
	// http://127.0.0.1:40123/tus/files/.
	URL string
	// Dir is the filestore directory; each upload is Dir/<id> with its
	// metadata in Dir/<id>.info.
	Dir string

	opts   Options
	addr   string
	port   *portKeeper // holds the port across Stop and Start
	ownDir bool        // Dir was made by New; Close removes it

	mu       sync.Mutex // guards srv, store, stopped, fails, corrupt, requests, clients, opts.PatchDelay
	srv      *http.Server
	stop     chan struct{} // closed by Stop
	store    filestore.FileStore
	stopped  bool
	fails    []failRule
	corrupt  int
	requests []Request
	clients  []*http.Client

	inflight sync.WaitGroup // handlers running
}

type failRule struct {
	method string
	status int
	n      int
}

// Request is one request the server received.
type Request struct {
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
}

// New starts a Server. The caller must Close it. If Options.Dir is empty,
// New makes a temporary directory and Close removes it.
func New(opts Options) (*Server, error) {
	if opts.BasePath == "" {
		opts.BasePath = DefaultBasePath
	}
	if !strings.HasSuffix(opts.BasePath, "/") {
		opts.BasePath += "/"
	}
	s := &Server{opts: opts, Dir: opts.Dir}
	if s.Dir == "" {
		d, err := os.MkdirTemp("", "tustest-")
		if err != nil {
			return nil, fmt.Errorf("tustest: %w", err)
		}
		s.Dir, s.ownDir = d, true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.removeDir()
		return nil, fmt.Errorf("tustest: listen: %w", err)
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr + opts.BasePath
	s.port = newPortKeeper(ln)
	if err := s.serve(s.port.open()); err != nil {
		s.port.Close()
		s.removeDir()
		return nil, fmt.Errorf("tustest: %w", err)
	}
	return s, nil
}

// NewServer starts a Server and closes it when the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *Server) removeDir() {
	if s.ownDir {
		_ = os.RemoveAll(s.Dir)
	}
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

func (s *Server) serve(ln net.Listener) error {
	store := filestore.New(s.Dir)
	composer := handler.NewStoreComposer()
	store.UseIn(composer)
	if s.opts.InterruptLocks {
		memorylocker.New().UseIn(composer)
	} else {
		composer.UseLocker(tusdlock.New())
	}
	h, err := handler.NewHandler(handler.Config{
		BasePath:                         s.opts.BasePath,
		StoreComposer:                    composer,
		MaxSize:                          s.opts.MaxSize,
		DisableConcatenation:             s.opts.DisableConcatenation,
		Logger:                           xslog.New(xslog.NewTextHandler(io.Discard, nil)),
		PreUploadCreateCallback:          s.opts.PreUploadCreate,
		GracefulRequestCompletionTimeout: 20 * time.Millisecond,
		AcquireLockTimeout:               5 * time.Second,
		NetworkTimeout:                   10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("tusd: %w", err)
	}
	var tus http.Handler = h
	if s.opts.Checksum {
		tus = &ChecksumHandler{Next: h, corrupt: s.takeCorrupt}
	}
	mux := http.NewServeMux()
	mux.Handle(s.opts.BasePath, s.wrap(http.StripPrefix(strings.TrimSuffix(s.opts.BasePath, "/"), tus)))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv, s.store, s.stopped, s.stop = srv, store, false, make(chan struct{})
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

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
		s.mu.Unlock()
		defer s.inflight.Done()
		method := r.Method
		if o := r.Header.Get("X-HTTP-Method-Override"); method == http.MethodPost && o != "" {
			method = o
		}
		rec := &httpx.StatusRecorder{ResponseWriter: w}
		defer func() {
			s.mu.Lock()
			s.requests = append(s.requests, Request{
				Method: method, Path: r.URL.Path, Header: r.Header.Clone(),
				ContentLength: r.ContentLength, Status: rec.Status,
			})
			s.mu.Unlock()
		}()
		if status := s.takeFailure(method); status != 0 {
			// Consume the body like a real server that fails after reading.
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
			rec.Header().Set("Tus-Resumable", "1.0.0")
			rec.WriteHeader(status)
			fmt.Fprintf(rec, "tustest: injected failure %d", status)
			return
		}
		if d, stop := s.patchDelay(); method == http.MethodPatch && d > 0 {
			// The server reads no body meanwhile, so it cannot notice a
			// client that gives up; Stop ends the wait.
			t := time.NewTimer(d)
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
		next.ServeHTTP(rec, r)
	})
}

func (s *Server) takeFailure(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.fails {
		f := &s.fails[i]
		if f.n > 0 && (f.method == "" || f.method == method) {
			f.n--
			return f.status
		}
	}
	return 0
}

func (s *Server) patchDelay() (time.Duration, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.PatchDelay, s.stop
}

// SetPatchDelay changes [Options.PatchDelay] for requests that arrive from
// now on.
func (s *Server) SetPatchDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.PatchDelay = d
}

func (s *Server) takeCorrupt() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.corrupt > 0 {
		s.corrupt--
		return true
	}
	return false
}

// FailNext makes the next n requests with the method ("" for any) fail
// with status before they reach tusd; the request body is read and
// discarded. Rules add up and apply in the order they were made.
func (s *Server) FailNext(method string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, failRule{method: method, status: status, n: n})
}

// ClearFailures drops the failures FailNext injected that have not
// happened yet.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = nil
}

// CorruptNext flips one bit in each of the next n request bodies that carry
// Upload-Checksum, before the checksum is verified, as damage in transit
// would. It needs [Options.Checksum].
func (s *Server) CorruptNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupt += n
}

// Requests returns the requests received so far, in order of completion.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// HTTPClient returns an *http.Client for this server whose idle
// connections are closed when the server closes.
func (s *Server) HTTPClient() *http.Client {
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

// Restart is Stop then Start.
func (s *Server) Restart() error {
	s.Stop()
	return s.Start()
}

// Close stops the server for good, closes idle connections of the
// clients from HTTPClient, and removes Dir if New made it.
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

// ID returns the upload id in an upload URL of this server.
func (s *Server) ID(uploadURL string) (string, error) {
	u, err := url.Parse(uploadURL)
	if err != nil {
		return "", err
	}
	id, ok := strings.CutPrefix(u.Path, s.opts.BasePath)
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("tustest: %q is not an upload URL under %s", uploadURL, s.opts.BasePath)
	}
	return id, nil
}

// Info is what tusd stores about an upload.
type Info struct {
	ID             string
	Size           int64
	SizeIsDeferred bool
	Offset         int64
	MetaData       map[string]string
	IsPartial      bool
	IsFinal        bool
	PartialUploads []string
}

// Info reads the stored state of the upload at uploadURL.
func (s *Server) Info(uploadURL string) (Info, error) {
	id, err := s.ID(uploadURL)
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
		ID: fi.ID, Size: fi.Size, SizeIsDeferred: fi.SizeIsDeferred, Offset: fi.Offset,
		MetaData: fi.MetaData, IsPartial: fi.IsPartial, IsFinal: fi.IsFinal, PartialUploads: fi.PartialUploads,
	}, nil
}

// StoredFile returns the path of the file holding the upload's bytes.
func (s *Server) StoredFile(uploadURL string) (string, error) {
	id, err := s.ID(uploadURL)
	if err != nil {
		return "", err
	}
	p := filepath.Join(s.Dir, id)
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// StoredSHA256 returns the hex SHA-256 of the upload's stored bytes.
func (s *Server) StoredSHA256(uploadURL string) (string, error) {
	p, err := s.StoredFile(uploadURL)
	if err != nil {
		return "", err
	}
	return FileSHA256(p)
}

// FileSHA256 returns the hex SHA-256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
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
