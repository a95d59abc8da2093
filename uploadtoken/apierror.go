package uploadtoken

import (
	"errors"
	"net/http"
	"time"

	"github.com/dicombridge/dicombridge/internal/auraclient"
)

// Sentinel errors an [*APIError] matches with errors.Is, by status code.
var (
	ErrUnauthorized = errors.New("uploadtoken: unauthorized")      // 401: bad API key or token, expired, missing scope
	ErrForbidden    = errors.New("uploadtoken: forbidden")         // 403: bad HMAC signature, clock skew, host mismatch
	ErrRateLimited  = errors.New("uploadtoken: too many requests") // 429: see APIError.RetryAfter
)

// APIError is a non-2xx answer from the Aura API, from the token exchange
// or any uploader endpoint (package uploader returns it too). Use
// errors.As to get it and errors.Is with [ErrUnauthorized],
// [ErrForbidden] or [ErrRateLimited] to classify it.
//
// Method, URL, StatusCode and Body are the fields every remote error of
// the SDK has. Message is taken from the body in the order Aura's own
// client reads it (docs/aura.md, "Errors"): Laravel validation errors
// {"errors":{"field":["msg",...]}} joined with ", "; then
// {"error":{"message":"..."}} (or {"error":"..."}); then {"message":"..."};
// else the HTTP status text. Anything in Message or Body that looks like a
// credential is redacted.
type APIError struct {
	Method     string              // request method, e.g. "POST"
	URL        string              // request URL without query or user info
	StatusCode int                 // HTTP status
	Body       string              // start of the body (at most 512 bytes), cleaned
	Message    string              // human-readable cause, never empty
	Fields     map[string][]string // Laravel validation errors by field; nil if none
	RetryAfter time.Duration       // from Retry-After (seconds or HTTP date); 0 if absent
}

// Error returns "aura api: POST https://…/api/auth/exchange: 401
// Unauthorized: msg".
func (e *APIError) Error() string { return (*auraclient.Error)(e).Text() }

// Is reports whether e belongs to the category target names.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// Temporary reports whether the same request may succeed later: 429, 502,
// 503 and 504 (and 500, which Laravel returns for transient faults).
func (e *APIError) Temporary() bool { return (*auraclient.Error)(e).Temporary() }

// wrapError gives an Aura API error its public type.
func wrapError(e *auraclient.Error) error { return (*APIError)(e) }
