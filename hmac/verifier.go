package hmac

import (
	"bytes"
	"context"
	stdhmac "crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// DefaultMaxSkew is the clock skew a [Verifier] allows when MaxSkew is 0:
// Aura's documented ±5 minutes.
const DefaultMaxSkew = 5 * time.Minute

// DefaultMaxBody is the body size a [Verifier] reads when MaxBody is 0.
const DefaultMaxBody = 1 << 20

// maxCachedKeys bounds a Verifier's cache of derived daily keys.
const maxCachedKeys = 4096

var (
	// ErrBodyTooLarge is returned by [Verifier.Verify] when the body is
	// larger than MaxBody. The body is not lost: what was read is put back
	// in front of the rest.
	ErrBodyTooLarge = errors.New("hmac: request body too large")
	// ErrInternal is wrapped by [Verifier.Verify] when it cannot decide
	// because of the server, not the request: Secret returned an error
	// other than ErrUnknownApp, the NonceStore failed, or the Verifier is
	// not configured. [Middleware] answers 500 for it.
	ErrInternal = errors.New("hmac: verification failed on the server side")
)

// Verifier checks incoming AURA-HMAC-SHA256 requests, as Aura's server does
// for POST /api/auth/exchange. Configure its fields before first use; it is
// then safe for concurrent use. It keeps two caches of its own (no package
// state): the derived daily key per app id (bounded; guarded by mu) and,
// when Nonces is nil, its default nonce store. A Verifier must not be
// copied after first use.
type Verifier struct {
	// Secret returns the secret of appID. Return an error wrapping
	// ErrUnknownApp (or an empty secret) for an app you do not know; any
	// other error is an internal failure (ErrInternal, HTTP 500), never a
	// reason to accept. Required.
	Secret func(ctx context.Context, appID string) (string, error)
	// MaxSkew is how far X-Aura-Timestamp may be from Now, in either
	// direction; <= 0 means DefaultMaxSkew (5 minutes).
	MaxSkew time.Duration
	// Nonces remembers used nonces, keyed "<appID>/<nonce>"; nil means a
	// MemoryNonceStore of DefaultNonceCapacity owned by this Verifier. Use
	// a shared store (redisstore) when several processes verify.
	Nonces NonceStore
	// Now is the verifier's clock; nil means time.Now.
	Now func() time.Time
	// MaxBody is the largest body Verify reads (it must hash the body
	// before the handler sees it); <= 0 means DefaultMaxBody (1 MiB).
	MaxBody int64
	// Logger receives one record per request Middleware rejects (Info for
	// 4xx, Error for 5xx) with the reason, never a secret or a signature.
	// nil means silent.
	Logger *slog.Logger
	// AllowNonCanonicalPath accepts a request whatever the spelling of
	// its path, as long as it canonicalizes to the signed one (what a
	// verifier that only recomputes the signature does):
	// "/api//auth/exchange",
	// "/api/x/../auth/exchange" and "/api/auth/%65xchange" then verify with
	// a signature made for "/api/auth/exchange". Risky: the signature no
	// longer says which handler a request reaches. A router or proxy in
	// front of the handler that routes such spellings apart (one that
	// does not clean paths, or routes on the raw path) can deliver a
	// request signed for one endpoint to another. Set it only when every
	// router in front of Verify cleans and decodes paths exactly as the
	// signature does, or the handler behind Verify serves one path.
	// The default (false) refuses such requests with ErrNonCanonicalPath.
	AllowNonCanonicalPath bool

	nonceOnce     sync.Once
	defaultNonces *MemoryNonceStore

	mu   sync.Mutex         // guards keys
	keys map[string]*dayKey // derived key of the current day, by app id
}

// Verify checks req and returns the app id it was signed for. The request
// is accepted only if, in this order:
//
//  1. Authorization parses as AURA-HMAC-SHA256 (else ErrMissingSignature
//     or ErrMalformed), and X-Aura-Timestamp and X-Aura-Nonce are present
//     once each and well formed (ErrMalformed);
//  2. the timestamp is within MaxSkew of Now, past or future (ErrStale);
//  3. the path is spelled in its canonical form (ErrNonCanonicalPath),
//     unless AllowNonCanonicalPath is set; see the package doc;
//  4. SignedHeaders lists exactly the headers the request must sign: host,
//     x-aura-nonce, x-aura-timestamp, and content-type when the request has
//     one (ErrBadSignature), so no header can be added or dropped unsigned;
//  5. Secret knows the app (ErrUnknownApp, or ErrInternal);
//  6. the body is at most MaxBody bytes (ErrBodyTooLarge);
//  7. the signature matches, compared in constant time (ErrBadSignature);
//  8. the nonce is fresh for this app (ErrReplay). It is claimed only after
//     the signature checked out, so forged requests cannot burn nonces.
//
// The request is canonicalized exactly as [Signer.Sign] does, from
// req.Host, req.URL.EscapedPath() and req.URL.RawQuery as received: mount
// Verify before anything that rewrites them (http.StripPrefix), and behind
// a proxy make sure it forwards the Host the client signed.
//
// Verify reads the body and replaces req.Body with an in-memory copy, so
// the handler reads the same bytes. On error the app id is "" and the body
// is still readable from its start.
func (v *Verifier) Verify(req *http.Request) (appID string, err error) {
	appID, _, err = v.verify(req)
	return appID, err
}

// verify is Verify, also returning the app id the request claimed (for
// Middleware's log) when verification fails after parsing.
func (v *Verifier) verify(req *http.Request) (appID, claimed string, err error) {
	if v == nil || v.Secret == nil {
		return "", "", fmt.Errorf("%w: Verifier.Secret is not set", ErrInternal)
	}
	if req == nil || req.URL == nil {
		return "", "", fmt.Errorf("%w: request has no URL", ErrMalformed)
	}
	authz := req.Header.Values("Authorization")
	switch {
	case len(authz) == 0 || len(authz) == 1 && authz[0] == "":
		return "", "", ErrMissingSignature
	case len(authz) > 1:
		return "", "", fmt.Errorf("%w: more than one Authorization header", ErrMalformed)
	}
	a, err := parseAuthorization(authz[0])
	if err != nil {
		return "", "", err
	}
	claimed = a.credential
	tsText, err := single(req.Header, "X-Aura-Timestamp")
	if err != nil {
		return "", claimed, err
	}
	ts, err := parseTimestamp(tsText)
	if err != nil {
		return "", claimed, err
	}
	nonce, err := single(req.Header, "X-Aura-Nonce")
	if err != nil {
		return "", claimed, err
	}
	if !validNonce(nonce) {
		return "", claimed, fmt.Errorf("%w: X-Aura-Nonce is not 1-128 characters of A-Z a-z 0-9 - . _ ~", ErrMalformed)
	}

	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if d := now.Unix() - ts; d > int64(skew/time.Second) || -d > int64(skew/time.Second) {
		return "", claimed, fmt.Errorf("%w: timestamp is %ds away from the server clock (allowed %v)", ErrStale, d, skew)
	}

	c, err := requestCanonical(req)
	if err != nil {
		return "", claimed, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if raw := req.URL.EscapedPath(); !v.AllowNonCanonicalPath && !spelledCanonically(raw, c.path) {
		return "", claimed, fmt.Errorf("%w: %q is signed as %q; send it spelled that way", ErrNonCanonicalPath, raw, c.path)
	}
	c.timestamp, c.nonce = tsText, nonce
	ct := req.Header.Values("Content-Type")
	if len(ct) > 1 {
		return "", claimed, fmt.Errorf("%w: more than one Content-Type header", ErrMalformed)
	}
	if len(ct) == 1 {
		c.contentType = normalizeValue(ct[0])
	}
	if want := c.signedHeaders(); a.signedHeaders != want {
		return "", claimed, fmt.Errorf("%w: SignedHeaders %q, but this request must sign %q", ErrBadSignature, a.signedHeaders, want)
	}

	secret, err := v.Secret(req.Context(), a.credential)
	switch {
	case errors.Is(err, ErrUnknownApp):
		return "", claimed, fmt.Errorf("hmac: app %q: %w", a.credential, err)
	case err != nil:
		return "", claimed, fmt.Errorf("%w: looking up the secret of app %q: %w", ErrInternal, a.credential, err)
	case secret == "":
		return "", claimed, fmt.Errorf("%w: %q", ErrUnknownApp, a.credential)
	}

	maxBody := v.MaxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if c.payloadHash, err = hashIncomingBody(req, maxBody); err != nil {
		return "", claimed, err
	}

	k := v.dayKey(a.credential, secret, ts)
	var buf [1024]byte
	b := c.appendRequest(buf[:0])
	crh := sha256.Sum256(b)
	sig := k.finish(appendStringToSign(k.appendInner(b[:0]), c.timestamp, a.credential, k.date, &crh))
	if !stdhmac.Equal(sig[:], a.signature[:]) {
		return "", claimed, ErrBadSignature
	}

	// The nonce must be remembered until the timestamp leaves the window.
	ttl := time.Unix(ts, 0).Add(skew).Sub(now) + time.Second
	if ttl < time.Second {
		ttl = time.Second
	}
	fresh, err := v.nonceStore().Claim(req.Context(), a.credential+"/"+nonce, ttl)
	if err != nil {
		return "", claimed, fmt.Errorf("%w: nonce store: %w", ErrInternal, err)
	}
	if !fresh {
		return "", claimed, ErrReplay
	}
	return a.credential, claimed, nil
}

func (v *Verifier) nonceStore() NonceStore {
	if v.Nonces != nil {
		return v.Nonces
	}
	v.nonceOnce.Do(func() { v.defaultNonces = NewMemoryNonceStore(0) })
	return v.defaultNonces
}

// dayKey returns the derived key of secret for the day of ts, from the
// cache when the app's secret and day are unchanged.
func (v *Verifier) dayKey(appID, secret string, ts int64) *dayKey {
	v.mu.Lock()
	k := v.keys[appID]
	v.mu.Unlock()
	if k.matches(secret, ts) {
		return k
	}
	k = newDayKey(secret, ts)
	v.mu.Lock()
	if v.keys == nil || len(v.keys) >= maxCachedKeys {
		v.keys = make(map[string]*dayKey)
	}
	v.keys[appID] = k
	v.mu.Unlock()
	return k
}

// hashIncomingBody reads at most limit bytes of req.Body, replaces the body
// with an in-memory copy, and returns the SHA-256 of those bytes. On error
// the bytes read are put back in front of the rest of the body.
func hashIncomingBody(req *http.Request, limit int64) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if req.Body == nil || req.Body == http.NoBody {
		return sha256.Sum256(nil), nil
	}
	if req.ContentLength > limit {
		return sum, fmt.Errorf("%w: %d bytes declared, limit %d", ErrBodyTooLarge, req.ContentLength, limit)
	}
	var body []byte
	var err error
	if n := req.ContentLength; n > 0 {
		body = make([]byte, n)
		var got int
		got, err = io.ReadFull(req.Body, body)
		body = body[:got]
	} else {
		body, err = io.ReadAll(io.LimitReader(req.Body, limit+1))
		if err == nil && int64(len(body)) > limit {
			err = fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)
		}
	}
	if err != nil {
		orig := req.Body
		req.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), orig), orig}
		if !errors.Is(err, ErrBodyTooLarge) {
			err = fmt.Errorf("hmac: reading the request body: %w", err)
		}
		return sum, err
	}
	setBody(req, body)
	return sha256.Sum256(body), nil
}
