package kheopstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// Option configures a [Server], for [NewServer]. With none, the server is
// a faithful KHEOPS at the root of a 127.0.0.1 server.
type Option func(*config)

type config struct {
	basePath                               string
	now                                    func() time.Time
	httpClient                             *http.Client
	strictSingleUseCodes                   bool
	rejectJTIReplay                        bool
	standardPortsOnly                      bool
	launchAsRedirect                       bool
	trailingSlashRoot                      bool
	webhookRetryUnit                       time.Duration
	newSeriesDelay                         time.Duration
	internalClientID, internalClientSecret string
}

// WithBasePath serves KHEOPS below a path, e.g. "/kheops", so that ROOT
// (Server.URL) has a path: clients that join URLs wrongly then fail.
func WithBasePath(p string) Option { return func(c *config) { c.basePath = p } }

// WithNow sets the clock; default time.Now.
func WithNow(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithHTTPClient sets the client that fetches provider configuration
// documents and JWKS and posts webhook deliveries (it must trust the
// provider's TLS certificate in TLS tests). Default: a client with a 30 s
// timeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithStrictSingleUseCodes makes a redeemed code invalid (invalid_grant).
// Real KHEOPS accepts a code any number of times until it expires.
func WithStrictSingleUseCodes() Option { return func(c *config) { c.strictSingleUseCodes = true } }

// WithJTIReplayRejected refuses a client assertion whose jti was seen
// before (invalid_request). Real KHEOPS only checks that jti is present.
func WithJTIReplayRejected() Option { return func(c *config) { c.rejectJTIReplay = true } }

// WithStandardPortsOnly refuses configuration URLs that are not http or
// https on their default port, as the KHEOPS wiki (not its code) says.
func WithStandardPortsOnly() Option { return func(c *config) { c.standardPortsOnly = true } }

// WithLaunchAsRedirect answers a launch with a 302 instead of the
// meta-refresh page KHEOPS sends.
func WithLaunchAsRedirect() Option { return func(c *config) { c.launchAsRedirect = true } }

// WithTrailingSlashRoot models a KHEOPS whose root URL was configured
// with a trailing slash, which KHEOPS uses verbatim: its issuer is then
// URL + "/", and conf_uri, every endpoint, return_uri and the assertion
// audience it expects contain "//api" or "//albums". The server answers
// both spellings of a path, as KHEOPS's proxy does.
func WithTrailingSlashRoot() Option { return func(c *config) { c.trailingSlashRoot = true } }

// WithWebhookRetryUnit spaces the retries of a webhook delivery: after
// failed attempt n (of 5) the next comes 5-n units later. Zero (the
// default) means 5 s, KHEOPS's 20, 15, 10 and 5 s; tests set a few
// milliseconds.
func WithWebhookRetryUnit(d time.Duration) Option {
	return func(c *config) { c.webhookRetryUnit = d }
}

// WithNewSeriesDelay sets how long new_series deliveries wait for more
// series of the same study from the same source; each addition restarts
// the wait. Zero (the default) means 30 s, as in KHEOPS.
func WithNewSeriesDelay(d time.Duration) Option {
	return func(c *config) { c.newSeriesDelay = d }
}

// WithInternalClient sets the HTTP Basic credentials of the internal
// client (KHEOPS's DICOMweb proxy) that may request pep tokens. Default:
// no internal client.
func WithInternalClient(id, secret string) Option {
	return func(c *config) { c.internalClientID, c.internalClientSecret = id, secret }
}

// Server is a fake KHEOPS: authorization server (report providers, token,
// introspection, userinfo) and a DICOMweb store, on a real 127.0.0.1
// listener. Its methods are safe for concurrent use.
type Server struct {
	// URL is ROOT: the KHEOPS root URL (scheme, host, port and base path,
	// no trailing slash). Every API is under URL + "/api".
	URL string

	cfg    config
	srv    *httptest.Server
	base   string // the base path, cleaned
	root   string // ROOT as KHEOPS spells it: URL, or URL + "/" (WithTrailingSlashRoot)
	secret []byte // HS256 key of codes and tokens
	fetch  *http.Client
	// registerTimeout bounds the fetches of a registration (5 s in KHEOPS).
	registerTimeout time.Duration

	stop   context.Context // cancelled by Close: ends webhook deliveries
	cancel context.CancelFunc
	wg     sync.WaitGroup // webhook deliveries in flight

	mu            sync.Mutex // guards everything below
	closed        bool
	users         map[string]*User
	inboxes       map[string]*album // by sub
	albums        map[string]*album
	studyComments map[string][]*event
	caps          map[string]*capability // by id
	capsByHash    map[string]*capability // by SHA-256 of the secret
	pending       map[string]*pendingSeries
	providers     map[string]*provider
	studies       map[string]*study
	viewers       map[string]viewerToken
	usedCodes     map[string]bool
	usedJTIs      map[string]bool
	calls         []Call
	fetches       []string
	failures      []*failure
}

// NewServer starts a fake KHEOPS on 127.0.0.1. The caller must Close it
// (in a test, t.Cleanup(s.Close)). NewServer panics if it cannot listen,
// as httptest.NewServer does.
func NewServer(opts ...Option) *Server {
	s := &Server{
		users:         make(map[string]*User),
		inboxes:       make(map[string]*album),
		albums:        make(map[string]*album),
		studyComments: make(map[string][]*event),
		caps:          make(map[string]*capability),
		capsByHash:    make(map[string]*capability),
		pending:       make(map[string]*pendingSeries),
		providers:     make(map[string]*provider),
		studies:       make(map[string]*study),
		viewers:       make(map[string]viewerToken),
		usedCodes:     make(map[string]bool),
		usedJTIs:      make(map[string]bool),
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	s.base = strings.TrimRight(s.cfg.basePath, "/")
	if s.base != "" && !strings.HasPrefix(s.base, "/") {
		s.base = "/" + s.base
	}
	s.secret = make([]byte, 32)
	if _, err := rand.Read(s.secret); err != nil {
		panic("kheopstest: no randomness: " + err.Error())
	}
	s.registerTimeout = 5 * time.Second
	s.fetch = s.cfg.httpClient
	if s.fetch == nil {
		s.fetch = &http.Client{Timeout: 30 * time.Second}
	}
	s.stop, s.cancel = context.WithCancel(context.Background())
	s.srv = httptest.NewServer(s.handler())
	s.URL = s.srv.URL + s.base
	s.root = s.URL
	if s.cfg.trailingSlashRoot {
		s.root += "/"
	}
	return s
}

// Close stops webhook deliveries in progress and shuts the server down.
func (s *Server) Close() {
	s.stopDeliveries(s.cancel)
	s.srv.Close()
}

// Client returns an *http.Client for talking to the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// ConfigurationURL returns the conf_uri this instance sends with launches:
// ROOT/api/.well-known/report-provider-configuration.
func (s *Server) ConfigurationURL() string {
	return s.root + "/api/.well-known/report-provider-configuration"
}

func (s *Server) now() time.Time {
	if s.cfg.now != nil {
		return s.cfg.now()
	}
	return time.Now()
}

// Call is one request the server received.
type Call struct {
	Method string
	Path   string // relative to URL, e.g. "/api/token"
	Query  url.Values
	Header http.Header
	Body   []byte // the first 64 KiB of the request body
	Status int
}

// Calls returns the requests received so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsTo returns the received requests whose path (relative to URL) is p.
func (s *Server) CallsTo(p string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Path == p {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the recorded calls and fetches.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.fetches = nil
}

// Fetches returns the URLs of the outbound requests the server made so
// far (provider configurations and JWKS), oldest first, failed ones
// included. KHEOPS fetches a provider's configuration on every launch
// (twice), every code redemption and every introspection, and its JWKS on
// every assertion.
func (s *Server) Fetches() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.fetches...)
}

// Failure makes the server misbehave on matching requests, for testing a
// client's error handling (see [Server.Fail]).
type Failure struct {
	// Method restricts the failure to one method; "" matches any.
	Method string
	// Times is how many matching requests fail; after that the route works
	// again. 0 fails every matching request until [Server.ClearFailures].
	Times int
	// Delay is waited first (or until the request is cancelled).
	Delay time.Duration
	// Status is the status to answer with, and Body the body; 0 handles the
	// request normally after Delay, which makes a pure delay.
	Status int
	Body   string
	// Header holds extra answer headers, e.g. Location for a redirect.
	// Without a Content-Type the answer is application/json.
	Header http.Header
}

// failure is an injected Failure on a path and how many requests it has
// affected.
type failure struct {
	Failure
	path string
	seen int
}

// Fail makes the server misbehave on requests to path (relative to URL,
// e.g. "/api/token"). Failures are matched in the order added; one with
// Times > 0 stops matching after that many requests.
func (s *Server) Fail(path string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failure{Failure: f, path: path})
}

// ClearFailures removes every injected failure.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = nil
}

func (s *Server) takeFailure(method, path string) *Failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.failures {
		if (f.Method != "" && !strings.EqualFold(f.Method, method)) || f.path != path {
			continue
		}
		if f.Times > 0 && f.seen >= f.Times {
			continue
		}
		f.seen++
		cp := f.Failure
		return &cp
	}
	return nil
}

// teeBody copies the first 64 KiB read from a request body.
type teeBody struct {
	io.ReadCloser
	buf bytes.Buffer
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if room := 64<<10 - t.buf.Len(); room > 0 && n > 0 {
		t.buf.Write(p[:min(n, room)])
	}
	return n, err
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	s.routes(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel, ok := strings.CutPrefix(r.URL.Path, s.base)
		if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
			http.NotFound(w, r)
			return
		}
		if s.cfg.trailingSlashRoot && strings.HasPrefix(rel, "//") {
			// ROOT + "/api/..." with ROOT ending in "/": a proxy that merges
			// slashes serves it as "/api/...".
			rel = rel[1:]
			r.URL.Path = s.base + rel
			r.URL.RawPath = ""
		}
		if tok, rest, ok := linkPath(rel); ok {
			// ROOT/api/link/{token}/... is the DICOMweb API with the token
			// in the path; the management API is not reachable that way.
			if !isDICOMweb(rest) {
				http.NotFound(w, r)
				return
			}
			r = withLink(r, tok)
			rel = rest
			r.URL.Path = s.base + rel
			r.URL.RawPath = ""
		}
		tee := &teeBody{ReadCloser: r.Body}
		r.Body = tee
		rec := &httpx.StatusRecorder{ResponseWriter: w}
		defer func() {
			c := Call{Method: r.Method, Path: rel, Query: r.URL.Query(), Header: r.Header.Clone(),
				Body: bytes.Clone(tee.buf.Bytes()), Status: rec.Status}
			s.mu.Lock()
			s.calls = append(s.calls, c)
			s.mu.Unlock()
		}()
		if f := s.takeFailure(r.Method, rel); f != nil {
			if f.Delay > 0 {
				// Read a small body first: the server only notices that the
				// client went away once the body is consumed.
				if b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20)); err == nil && len(b) < 1<<20 {
					r.Body = io.NopCloser(bytes.NewReader(b))
				} else {
					r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), r.Body))
				}
				t := time.NewTimer(f.Delay)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
			if f.Status != 0 {
				_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10)) // so that Call.Body is recorded
				rec.Header().Set("Content-Type", "application/json")
				for k, v := range f.Header {
					rec.Header()[k] = v
				}
				rec.WriteHeader(f.Status)
				_, _ = io.WriteString(rec, f.Body)
				return
			}
		}
		mux.ServeHTTP(rec, r)
	})
}

func (s *Server) routes(mux *http.ServeMux) {
	b := s.base + "/api"
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /.well-known/report-provider-configuration":         s.serveConfiguration,
		"POST /albums/{album}/reportproviders":                   s.serveRegister,
		"GET /albums/{album}/reportproviders":                    s.serveListProviders,
		"GET /albums/{album}/reportproviders/{client}":           s.serveGetProvider,
		"PATCH /albums/{album}/reportproviders/{client}":         s.servePatchProvider,
		"DELETE /albums/{album}/reportproviders/{client}":        s.serveDeleteProvider,
		"POST /reportproviders/metadata":                         s.serveTestURL,
		"POST /report":                                           s.serveLaunch,
		"POST /token":                                            s.serveToken,
		"POST /token/introspect":                                 s.serveIntrospect,
		"/userinfo":                                              s.serveUserinfo,
		"GET /studies":                                           s.serveSearchStudies,
		"GET /studies/{study}/series":                            s.serveSearchSeries,
		"GET /studies/{study}/metadata":                          s.serveMetadata,
		"GET /studies/{study}/series/{series}/metadata":          s.serveMetadata,
		"GET /studies/{study}/series/{series}/instances":         s.serveSearchInstances,
		"POST /studies":                                          s.serveStore,
		"POST /studies/{study}":                                  s.serveStore,
		"POST /albums":                                           s.serveCreateAlbum,
		"GET /albums":                                            s.serveListAlbums,
		"GET /albums/{album}":                                    s.serveGetAlbum,
		"PATCH /albums/{album}":                                  s.servePatchAlbum,
		"DELETE /albums/{album}":                                 s.serveDeleteAlbum,
		"GET /albums/{album}/users":                              s.serveAlbumUsers,
		"PUT /albums/{album}/users/{user}":                       s.servePutUser,
		"DELETE /albums/{album}/users/{user}":                    s.serveDeleteUser,
		"PUT /albums/{album}/users/{user}/admin":                 s.servePutAdmin,
		"DELETE /albums/{album}/users/{user}/admin":              s.serveDeleteAdmin,
		"PUT /albums/{album}/favorites":                          s.serveAlbumFavorite,
		"DELETE /albums/{album}/favorites":                       s.serveAlbumFavorite,
		"GET /albums/{album}/events":                             s.serveAlbumEvents,
		"POST /albums/{album}/comments":                          s.servePostAlbumComment,
		"GET /studies/{study}/comments":                          s.serveStudyComments,
		"POST /studies/{study}/comments":                         s.servePostStudyComment,
		"PUT /studies/{study}/users/{user}":                      s.serveSendToUser,
		"PUT /studies/{study}/series/{series}/users/{user}":      s.serveSendToUser,
		"PUT /studies/{study}":                                   s.serveAppropriate,
		"PUT /studies/{study}/series/{series}":                   s.serveAppropriate,
		"DELETE /studies/{study}":                                s.serveRemoveFromInbox,
		"DELETE /studies/{study}/series/{series}":                s.serveRemoveFromInbox,
		"PUT /studies/{study}/albums/{album}":                    s.serveAddToAlbum,
		"PUT /studies/{study}/series/{series}/albums/{album}":    s.serveAddToAlbum,
		"DELETE /studies/{study}/albums/{album}":                 s.serveRemoveFromAlbum,
		"DELETE /studies/{study}/series/{series}/albums/{album}": s.serveRemoveFromAlbum,
		"PUT /studies/{study}/favorites":                         s.serveFavorite,
		"DELETE /studies/{study}/favorites":                      s.serveFavorite,
		"PUT /studies/{study}/series/{series}/favorites":         s.serveFavorite,
		"DELETE /studies/{study}/series/{series}/favorites":      s.serveFavorite,
		"POST /capabilities":                                     s.serveCreateCapability,
		"GET /capabilities":                                      s.serveListCapabilities,
		"GET /capabilities/{id}":                                 s.serveGetCapability,
		"POST /capabilities/{id}/revoke":                         s.serveRevokeCapability,
		"POST /albums/{album}/webhooks":                          s.serveCreateWebhook,
		"GET /albums/{album}/webhooks":                           s.serveListWebhooks,
		"GET /albums/{album}/webhooks/{webhook}":                 s.serveGetWebhook,
		"PATCH /albums/{album}/webhooks/{webhook}":               s.servePatchWebhook,
		"DELETE /albums/{album}/webhooks/{webhook}":              s.serveDeleteWebhook,
		"POST /albums/{album}/webhooks/{webhook}/trigger":        s.serveTriggerWebhook,
		"GET /users":     s.serveUsers,
		"GET /inboxinfo": s.serveInboxInfo,
	} {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "", method
		} else {
			method += " "
		}
		mux.HandleFunc(method+b+path, h)
	}
	// WADO-RS retrieve, for viewers (retrieve.go).
	mux.HandleFunc("GET "+b+"/studies/{study}/series/{series}/instances/{instance}", s.serveInstance)
}

// linkPath splits "/api/link/{token}/rest" into the token and "/api/rest".
func linkPath(rel string) (token, rest string, ok bool) {
	after, ok := strings.CutPrefix(rel, "/api/link/")
	if !ok {
		return "", "", false
	}
	token, rest, ok = strings.Cut(after, "/")
	if !ok || token == "" {
		return "", "", false
	}
	return token, "/api/" + rest, true
}

// isDICOMweb says whether a path (relative to ROOT) is a DICOMweb read or
// upload, which the link form reaches.
func isDICOMweb(rel string) bool {
	return rel == "/api/studies" || strings.HasPrefix(rel, "/api/studies/") && !strings.Contains(rel, "/users") &&
		!strings.Contains(rel, "/albums") && !strings.Contains(rel, "/favorites") && !strings.Contains(rel, "/comments")
}

// configurationDocument is the KHEOPS configuration behind conf_uri.
func (s *Server) configurationDocument() map[string]any {
	return map[string]any{
		"issuer":                                s.root,
		"dicomweb_endpoint":                     s.root + "/api",
		"dicomweb_uri_endpoint":                 s.root + "/api/wado",
		"token_endpoint":                        s.root + "/api/token",
		"introspection_endpoint":                s.root + "/api/token/introspect",
		"userinfo_endpoint":                     s.root + "/api/userinfo",
		"grant_types_supported":                 []string{"authorization_code", "implicit"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported":         []string{"RS256"},
		"introspection_endpoint_auth_methods_supported":            []string{"private_key_jwt", "none"},
		"introspection_endpoint_auth_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":                                 []string{"code", "token"},
		"response_modes_supported":                                 []string{"query", "fragment"},
	}
}

func (s *Server) serveConfiguration(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.configurationDocument())
}

// randomID returns n characters from [A-Za-z0-9], like KHEOPS client and
// album IDs.
func randomID(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, n)
	var b [1]byte
	for i := 0; i < n; {
		if _, err := rand.Read(b[:]); err != nil {
			panic("kheopstest: no randomness: " + err.Error())
		}
		if int(b[0]) < 256-256%len(alphabet) {
			out[i] = alphabet[int(b[0])%len(alphabet)]
			i++
		}
	}
	return string(out)
}

func randomB64(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("kheopstest: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

type timeoutKey struct{}

// registerContext marks the fetches of a registration or a configuration
// test, which KHEOPS bounds with 5 s timeouts; its other fetches (launch,
// token, JWKS, introspection) have none.
func (s *Server) registerContext(r *http.Request) context.Context {
	return context.WithValue(r.Context(), timeoutKey{}, s.registerTimeout)
}

// fetchURL GETs u with the fetch client, records it, and returns the body
// (at most 1 MiB) of a 2xx answer.
func (s *Server) fetchURL(ctx context.Context, u string, accept string) ([]byte, error) {
	if d, ok := ctx.Value(timeoutKey{}).(time.Duration); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	s.mu.Lock()
	s.fetches = append(s.fetches, u)
	s.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := s.fetch.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("kheopstest: GET %s: HTTP %d", u, resp.StatusCode)
	}
	return body, nil
}

// hostPort splits an authority for the WithStandardPortsOnly rule.
func hostPort(authority string) (string, string) {
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	h, p, err := net.SplitHostPort(authority)
	if err != nil {
		return authority, ""
	}
	return h, p
}
