package hmac

import "errors"

// Algorithm is the value that starts every Authorization header, and the
// first line of every string to sign.
const Algorithm = "AURA-HMAC-SHA256"

// Sentinel errors returned (wrapped) by [Verifier.Verify]; test with
// errors.Is. Their text never contains a secret, a derived key, or the
// signature the verifier expected.
var (
	// ErrMissingSignature: the request has no Authorization header.
	ErrMissingSignature = errors.New("hmac: missing signature")
	// ErrMalformed: the Authorization, X-Aura-Timestamp or X-Aura-Nonce
	// header (or the request path) cannot be parsed.
	ErrMalformed = errors.New("hmac: malformed signature")
	// ErrUnknownApp: Verifier.Secret does not know the app id.
	ErrUnknownApp = errors.New("hmac: unknown app")
	// ErrBadSignature: the signature does not match the request, or does
	// not cover every header it must.
	ErrBadSignature = errors.New("hmac: signature mismatch")
	// ErrStale: X-Aura-Timestamp is further from the verifier's clock than
	// MaxSkew, in either direction.
	ErrStale = errors.New("hmac: timestamp outside allowed skew")
	// ErrReplay: the nonce was already used by this app within the skew
	// window.
	ErrReplay = errors.New("hmac: nonce already used")
	// ErrNonCanonicalPath: the request path is not spelled in the
	// canonical form the signature covers ("/api//auth/exchange",
	// "/api/x/../auth/exchange", "/api/auth/%65xchange" for
	// "/api/auth/exchange"), so a router could deliver it to another
	// handler than the one it was signed for. See
	// [Verifier.AllowNonCanonicalPath].
	ErrNonCanonicalPath = errors.New("hmac: request path is not in canonical form")
)
