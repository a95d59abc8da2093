package share

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// Sentinel errors. Functions of this package wrap them, so test with
// errors.Is. None of the messages ever contains a token or a secret.
var (
	// ErrWeakSecret: a signing secret is shorter than [MinSecretLen] bytes.
	ErrWeakSecret = errors.New("share: secret shorter than 32 bytes")
)

// Why a token is not valid at all:
var (
	// ErrNoToken: the request carried no token.
	ErrNoToken = errors.New("share: no token")
	// ErrMalformed: the token is not a compact JWS with a payload of a
	// known layout.
	ErrMalformed = errors.New("share: malformed token")
	// ErrSignature: the token is not HS256 or its signature does not
	// verify with any configured secret.
	ErrSignature = errors.New("share: invalid token signature")
	// ErrExpired: the token's expiration date (or exp claim) has passed.
	ErrExpired = errors.New("share: token expired")
	// ErrNotYetValid: the token's nbf claim lies in the future.
	ErrNotYetValid = errors.New("share: token not valid yet")
	// ErrRevoked: the token was revoked.
	ErrRevoked = errors.New("share: token revoked")
)

// Errors of minting, links and the service's stores:
var (
	// ErrInvalidShare: a share to mint is incomplete or inconsistent.
	ErrInvalidShare = errors.New("share: invalid share")
	// ErrNoURL: no link can be built for the share (a type without a
	// viewer, missing ids, or the viewer's root URL is not configured).
	ErrNoURL = errors.New("share: cannot build link")
	// ErrNotFound: Orthanc does not know the resource.
	ErrNotFound = errors.New("share: resource not found in Orthanc")
	// ErrStoreFull: the in-memory revocation store reached its bound.
	ErrStoreFull = errors.New("share: revocation store full")
)

// RemoteError is a failed call to Orthanc ([OrthancClient]) or to the
// MedDream token service ([MedDreamClient]): a non-2xx status, or a 2xx
// answer this package cannot use. It has the fields of every remote error
// of the SDK. Test with errors.As.
type RemoteError struct {
	Method     string // request method, e.g. "POST"
	URL        string // request URL without credentials, query or fragment
	StatusCode int    // the response status
	// Body is the start of the answer (at most 512 bytes, control
	// characters and anything shaped like a credential removed). It is
	// empty when the answer may itself be a secret (a MedDream token).
	Body string

	problem string // what was wrong with a 2xx answer
}

func (e *RemoteError) Error() string {
	msg := fmt.Sprintf("share: %s %s: HTTP %d", e.Method, e.URL, e.StatusCode)
	if e.problem != "" {
		msg += ": " + e.problem
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// remoteError describes a failed exchange; problem says what was wrong
// with an answer whose status was fine, and keepBody is false when the
// body must not be echoed.
func remoteError(resp *http.Response, body []byte, problem string, keepBody bool) *RemoteError {
	if !keepBody {
		body = []byte{}
	}
	r := httpx.DescribeResponse(resp, body)
	return &RemoteError{Method: r.Method, URL: r.URL, StatusCode: r.StatusCode, Body: r.Body, problem: problem}
}

// Why a valid token does not grant the access asked for:
var (
	// ErrSystemLevel: the access names no resource (system level); share
	// tokens never grant those.
	ErrSystemLevel = errors.New("share: system-level access denied")
	// ErrMethod: the HTTP method is not allowed for share tokens.
	ErrMethod = errors.New("share: method not allowed for share tokens")
	// ErrTokenType: the token's type does not grant Orthanc access.
	ErrTokenType = errors.New("share: token type not allowed")
	// ErrServerID: the token is not valid on the Orthanc server that asks.
	ErrServerID = errors.New("share: token not valid on this server")
	// ErrResource: the token does not cover the requested resource.
	ErrResource = errors.New("share: resource not covered by token")
)
