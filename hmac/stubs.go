package hmac

// Placeholders for the parts of the agreed API that are not implemented
// yet; they keep dependent branches compiling. Replaced in later commits.

import (
	"context"
	"errors"
	"net/http"
	"time"
)

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
