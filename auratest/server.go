package auratest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/auraserver"
	"github.com/dicombridge/dicombridge/internal/retry"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// Server is a fake Aura API with its Tus server, both listening on
// 127.0.0.1. Create it with [NewServer] and stop it with [Server.Close].
// Its methods are safe for concurrent use.
type Server struct {
	// URL is the API base URL, ending in "/api" (so URL-joining bugs show):
	// what a client takes as its BaseURL.
	URL string
	// TusURL is the Tus creation endpoint handed out as lift.endpoint; it is
	// on a second listener, a different origin, as in production.
	TusURL string
	// AppID, Secret and APIKey are the credentials the server accepts: the
	// HMAC app id (aura_pk_…) and secret (aura_sk_…) for the exchange, and
	// the service API key (aura_au_…) for every API call.
	AppID, Secret, APIKey string

	cfg      config
	issuer   *auraserver.Issuer // mints and checks the upload tokens
	verifier *hmac.Verifier     // checks the exchange's HMAC signatures
	api      *httptest.Server
	tus      *httptest.Server // the Tus origin: the fake's checks, then tusd
	tusd     *tustest.Server  // tusd, mounted on tus
	dir      string
	ownDir   bool
	life     context.Context         // ends when Close starts
	end      context.CancelCauseFunc // ends life
	once     sync.Once               // guards Close

	mu         sync.Mutex // guards every field below
	calls      []Call
	failures   map[Endpoint][]*failure
	sessions   map[string]*Session
	order      []string // upload ids in init order
	uploads    map[string]*uploadRecord
	uploadSeq  []string // tus ids in creation order
	liftTokens map[string]struct{}
	studySeq   int
}

// config holds what the options set.
type config struct {
	appID, secret, apiKey string
	origins               []string
	logger                *slog.Logger
	now                   func() time.Time
	nonces                hmac.NonceStore
	tokens                uploadtoken.Store
	limiter               uploadtoken.Limiter
	rates                 map[Endpoint]uploadtoken.Rate
	noLimits              bool
	oauthShape            bool
	dir                   string
	onCall                func(Call)
}

// Option configures a Server.
type Option func(*config)

// WithCredentials sets the app id, secret and service API key instead of
// random ones.
func WithCredentials(appID, secret, apiKey string) Option {
	return func(c *config) { c.appID, c.secret, c.apiKey = appID, secret, apiKey }
}

// WithAllowedOrigins sets the browser origins (e.g. "http://localhost:5173")
// CORS lets in, on the API and on Tus; "*" allows any. The default is any.
func WithAllowedOrigins(origins ...string) Option {
	return func(c *config) { c.origins = append([]string(nil), origins...) }
}

// WithLogger logs one line per call (endpoint, method, path, status; never
// a secret). The default is silence.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithNow sets the clock of the issuer and the HMAC verifier.
func WithNow(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithSharedState keeps the server's HMAC nonces, issued tokens (with
// their use counts) and rate-limit windows in the given stores instead of
// in memory, so that several servers (several instances of a fake behind
// one address, say) act as one: a replay sent to another instance is
// refused, max_uses is exact across them, and the limits apply to all.
// redisstore provides the three; a nil one stays in memory.
func WithSharedState(nonces hmac.NonceStore, tokens uploadtoken.Store, limits uploadtoken.Limiter) Option {
	return func(c *config) { c.nonces, c.tokens, c.limiter = nonces, tokens, limits }
}

// WithOnCall calls f with each call once it is answered and recorded
// (preflights included), as it happens: for a program that shows the
// traffic live. f runs on the request's goroutine, possibly on several at
// once; it must be quick and safe for concurrent use.
func WithOnCall(f func(Call)) Option { return func(c *config) { c.onCall = f } }

// WithRate replaces the published limit of one endpoint group: EndpointExchange,
// EndpointConfig, or any lifecycle endpoint (the lifecycle shares one budget).
func WithRate(ep Endpoint, r uploadtoken.Rate) Option {
	return func(c *config) {
		if c.rates == nil {
			c.rates = map[Endpoint]uploadtoken.Rate{}
		}
		c.rates[rateGroup(ep)] = r
	}
}

// WithoutRateLimits turns rate limiting off.
func WithoutRateLimits() Option { return func(c *config) { c.noLimits = true } }

// WithOAuthExchangeResponse makes the exchange answer in the C#/Python
// clients' shape {"access_token","token_type","expires_in","scopes"}.
func WithOAuthExchangeResponse() Option { return func(c *config) { c.oauthShape = true } }

// WithDir stores Tus uploads in dir instead of a new temporary directory
// (which Close removes; dir is left alone).
func WithDir(dir string) Option { return func(c *config) { c.dir = dir } }

// NewServer starts a fake Aura API and its Tus server. It panics if it
// cannot listen or create its directory, as httptest.NewServer does.
func NewServer(opts ...Option) *Server {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.appID == "" {
		cfg.appID = "aura_pk_auratest"
	}
	if cfg.secret == "" {
		cfg.secret = "aura_sk_" + randomString(40)
	}
	if cfg.apiKey == "" {
		cfg.apiKey = "aura_au_auratest_" + randomString(24)
	}
	if len(cfg.origins) == 0 {
		cfg.origins = []string{"*"}
	}
	if cfg.limiter == nil {
		cfg.limiter = &uploadtoken.MemoryLimiter{Now: cfg.now}
	}
	life, end := context.WithCancelCause(context.Background())
	s := &Server{
		life:       life,
		end:        end,
		AppID:      cfg.appID,
		Secret:     cfg.secret,
		APIKey:     cfg.apiKey,
		cfg:        cfg,
		failures:   map[Endpoint][]*failure{},
		sessions:   map[string]*Session{},
		uploads:    map[string]*uploadRecord{},
		liftTokens: map[string]struct{}{},
	}
	s.issuer = &auraserver.Issuer{Store: cfg.tokens, Now: cfg.now}
	secret := cfg.secret
	appID := cfg.appID
	s.verifier = &hmac.Verifier{
		Secret: func(ctx context.Context, id string) (string, error) {
			if subtle.ConstantTimeCompare([]byte(id), []byte(appID)) != 1 {
				return "", hmac.ErrUnknownApp
			}
			return secret, nil
		},
		Nonces: cfg.nonces,
		Now:    cfg.now,
		Logger: cfg.logger,
	}

	s.dir = cfg.dir
	if s.dir == "" {
		d, err := os.MkdirTemp("", "auratest-tus-")
		if err != nil {
			panic("auratest: " + err.Error())
		}
		s.dir, s.ownDir = d, true
	}
	s.tusd = tustest.NewServer(tustest.WithBasePath("/files/"), tustest.WithDir(s.dir))
	s.tus = httptest.NewServer(s.tusHandler())
	s.TusURL = s.tus.URL + "/files/"
	s.api = httptest.NewServer(s.apiHandler())
	s.URL = s.api.URL + "/api"
	return s
}

// Close stops both listeners (cutting short any injected delay) and
// removes the temporary upload directory.
func (s *Server) Close() {
	s.once.Do(func() {
		s.end(errClosing)
		s.api.Close()
		s.tus.Close()
		s.tusd.Close()
		if s.ownDir {
			_ = os.RemoveAll(s.dir)
		}
	})
}

// Client returns an HTTP client for both listeners.
func (s *Server) Client() *http.Client { return s.api.Client() }

// Exchanger returns an uploadtoken.Client set up with the server's
// credentials, as a partner backend would configure it.
func (s *Server) Exchanger() *uploadtoken.Client {
	return &uploadtoken.Client{
		BaseURL:    s.URL,
		APIKey:     s.APIKey,
		Signer:     &hmac.Signer{AppID: s.AppID, Secret: s.Secret},
		HTTPClient: s.Client(),
	}
}

// IssueToken mints a token directly, without the HMAC exchange, for tests
// that are not about the exchange. No scopes means all three.
func (s *Server) IssueToken(ctx context.Context, scopes ...string) (*uploadtoken.Token, error) {
	return s.issuer.Issue(ctx, s.AppID, uploadtoken.ExchangeRequest{Scopes: scopes})
}

// errClosing ends the waits of injected delays when the server closes.
var errClosing = errors.New("auratest: server closing")

// sleep waits d unless the request or the server ends first.
func (s *Server) sleep(ctx context.Context, d time.Duration) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer context.AfterFunc(s.life, func() { stop(errClosing) })()
	return retry.Sleep(ctx, d)
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("auratest: crypto/rand: " + err.Error())
	}
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}
