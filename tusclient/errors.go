package tusclient

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/internal/retry"
)

// Sentinel errors, checked with errors.Is. An [*HTTPError] matches the
// sentinel of its status code (see [HTTPError.Is]).
var (
	// ErrInvalidConfig reports a bad [Config] or [UploadOptions] value, or a
	// bad argument to a constructor.
	ErrInvalidConfig = errors.New("tusclient: invalid configuration")
	// ErrInvalidMetadata reports Upload-Metadata that breaks the Tus rules:
	// an empty key, a key with a space, comma or non-printable byte, a
	// duplicate key, or a value that is not standard Base64.
	ErrInvalidMetadata = errors.New("tusclient: invalid Upload-Metadata")
)

// Failures of the upload as a whole:
var (
	// ErrUnsupported: the server does not offer an extension the upload
	// needs (for example creation-defer-length for a stream of unknown
	// length), or a checksum algorithm that was required explicitly.
	ErrUnsupported = errors.New("tusclient: not supported by server")
	// ErrProtocol: the server answered in a way Tus 1.0 does not allow (a
	// missing or malformed Upload-Offset or Location, an offset that moved
	// backwards or beyond the data sent, a Location on another origin).
	ErrProtocol = errors.New("tusclient: protocol violation by server")
	// ErrStalled: a request made no progress (no body bytes taken, no
	// response) for [Config.StallTimeout]. It is retried like a network
	// error.
	ErrStalled = errors.New("tusclient: request stalled")
	// ErrStreamRewind: the server asked to resume a stream ([NewStreamUpload])
	// from before the bytes the client still holds, which a one-way reader
	// cannot provide.
	ErrStreamRewind = errors.New("tusclient: cannot rewind stream")
	// ErrSourceChanged: the source ended before its declared size, or a
	// stream was shorter than the offset the server already holds.
	ErrSourceChanged = errors.New("tusclient: source shorter than expected")
	// ErrBusy: [Upload.Run] was called while the same upload was running.
	ErrBusy = errors.New("tusclient: upload already running")
	// ErrStore: the resume [Store] failed; the error wraps the cause.
	ErrStore = errors.New("tusclient: resume store")
)

// statusChecksumMismatch is the Tus checksum extension's status code.
const statusChecksumMismatch = 460

// HTTPError is a response with a status code the request did not expect.
// Use errors.As to get it:
//
//	var he *tusclient.HTTPError
//	if errors.As(err, &he) && he.StatusCode == http.StatusForbidden { ... }
//
// Its fields are those of every remote error of this SDK. It never holds
// headers, so credentials cannot leak through it.
type HTTPError struct {
	// Method is the Tus request method (PATCH, POST, HEAD, DELETE,
	// OPTIONS), also when it was sent as POST with X-HTTP-Method-Override.
	Method string
	// URL is the request URL without user info, query and fragment.
	URL string
	// StatusCode is the response status.
	StatusCode int
	// Body is the start of the response body, at most 512 bytes, with
	// control characters removed and anything shaped like a credential
	// redacted.
	Body string

	retryAfter time.Duration // the response's Retry-After, for the retry loop
}

// Error returns "tusclient: METHOD URL: STATUS TEXT: body".
func (e *HTTPError) Error() string {
	var b strings.Builder
	b.WriteString("tusclient: ")
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.URL)
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if t := statusText(e.StatusCode); t != "" {
		b.WriteByte(' ')
		b.WriteString(t)
	}
	if e.Body != "" {
		b.WriteString(": ")
		b.WriteString(e.Body)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) and the other status sentinels true
// for the matching status codes.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusGone
	case ErrOffsetMismatch:
		return e.StatusCode == http.StatusConflict
	case ErrLocked:
		return e.StatusCode == http.StatusLocked
	case ErrChecksumMismatch:
		return e.StatusCode == statusChecksumMismatch
	case ErrTooLarge:
		return e.StatusCode == http.StatusRequestEntityTooLarge
	}
	return false
}

// Server answers, matched by an [*HTTPError] of the status code:
var (
	// ErrNotFound: the server no longer knows the upload (404 Not Found or
	// 410 Gone), for example because it expired or was terminated.
	ErrNotFound = errors.New("tusclient: upload not found")
	// ErrOffsetMismatch: the server's offset differs from the one a PATCH
	// carried (409 Conflict). The client re-reads the offset and retries.
	ErrOffsetMismatch = errors.New("tusclient: offset mismatch")
	// ErrLocked: another request holds the upload (423 Locked).
	ErrLocked = errors.New("tusclient: upload locked")
	// ErrChecksumMismatch: the server computed a different checksum for a
	// chunk than the client sent (460 Checksum Mismatch) and discarded it.
	ErrChecksumMismatch = errors.New("tusclient: checksum mismatch")
	// ErrTooLarge: the upload exceeds the server's Tus-Max-Size (413).
	ErrTooLarge = errors.New("tusclient: upload too large for server")
)

func statusText(code int) string {
	if code == statusChecksumMismatch {
		return "Checksum Mismatch"
	}
	return http.StatusText(code)
}

// sourceError marks a failure to read the caller's data, which no retry can
// fix.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "tusclient: read source: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// permanentf returns an error wrapping sentinel that the retry loop never
// retries, whatever ShouldRetry says: bad input, protocol violations.
func permanentf(sentinel error, format string, args ...any) error {
	return retry.Permanent(fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...))
}
