package hmac

// This file is the agreed public surface of package hmac. The bodies are
// placeholders until the implementation lands; names and signatures here are
// a contract that other packages (uploadtoken, auratest, redisstore) and
// external conformance suites code against.

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Algorithm is the value that starts every Authorization header.
const Algorithm = "AURA-HMAC-SHA256"

// Sentinel errors returned (wrapped) by [Verifier.Verify]; test with errors.Is.
var (
	ErrMissingSignature = errors.New("hmac: missing signature")
	ErrMalformed        = errors.New("hmac: malformed signature")
	ErrUnknownApp       = errors.New("hmac: unknown app")
	ErrBadSignature     = errors.New("hmac: signature mismatch")
	ErrStale            = errors.New("hmac: timestamp outside allowed skew")
	ErrReplay           = errors.New("hmac: nonce already used")
)

// Signer signs outgoing requests with AURA-HMAC-SHA256.
type Signer struct {
	AppID, Secret string
	Now           func() time.Time // nil: time.Now
	Nonce         func() string    // nil: random lowercase UUID v4
}

// Sign adds X-Aura-Timestamp, X-Aura-Nonce, Content-Type (when needed) and
// Authorization to req.
func (s *Signer) Sign(req *http.Request) error { return errors.New("hmac: not implemented") }

// NonceStore remembers nonces; of N concurrent Claims of one key exactly one
// returns fresh == true.
type NonceStore interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (fresh bool, err error)
}

// Verifier checks incoming AURA-HMAC-SHA256 requests.
type Verifier struct {
	Secret  func(ctx context.Context, appID string) (string, error)
	MaxSkew time.Duration    // 0: 5 minutes
	Nonces  NonceStore       // nil: bounded in-memory store
	Now     func() time.Time // nil: time.Now
	MaxBody int64            // 0: default body limit
}

// Verify checks req and returns the app id it was signed for.
func (v *Verifier) Verify(req *http.Request) (appID string, err error) {
	return "", errors.New("hmac: not implemented")
}

// Transport is an http.RoundTripper that clones and signs every request.
type Transport struct {
	Signer *Signer
	Base   http.RoundTripper // nil: http.DefaultTransport
}

// RoundTrip signs a clone of req and sends it through Base.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return nil, errors.New("hmac: not implemented")
}

// Middleware verifies each request with v before calling next, answering
// like Aura on failure, and stores the app id in the request context.
func Middleware(v *Verifier, next http.Handler) http.Handler { return next }

// AppIDFromContext returns the app id [Middleware] stored in ctx.
func AppIDFromContext(ctx context.Context) (string, bool) { return "", false }
