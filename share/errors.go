package share

import (
	"errors"
	"fmt"
)

// Sentinel errors. Functions of this package wrap them, so test with
// errors.Is. None of the messages ever contains a token or a secret.
var (
	// ErrWeakSecret: a signing secret is shorter than [MinSecretLen] bytes.
	ErrWeakSecret = errors.New("share: secret shorter than 32 bytes")

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

// RemoteError is a failed call to Orthanc or to the MedDream token
// service: a non-2xx status or an unusable answer. Test with errors.As.
type RemoteError struct {
	Service    string // "orthanc" or "meddream"
	Op         string // e.g. "POST /tools/lookup"
	StatusCode int    // 0 when the answer, not the status, was wrong
	Body       string // at most 512 bytes of the answer, for diagnosis
}

func (e *RemoteError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("share: %s %s: HTTP %d: %s", e.Service, e.Op, e.StatusCode, e.Body)
	}
	return fmt.Sprintf("share: %s %s: %s", e.Service, e.Op, e.Body)
}
