package reportprovider

import (
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// Sentinel errors. Every error this package returns for one of these
// categories wraps the sentinel, so callers test with errors.Is. Messages name
// the offending parameter or field but never echo a token, code or assertion.
var (
	// ErrInvalidConfiguration: a provider configuration document (ours or one
	// being checked) breaks the rules KHEOPS applies at registration.
	ErrInvalidConfiguration = errors.New("reportprovider: invalid provider configuration")

	// ErrInvalidLaunch: the launch parameters are missing, repeated,
	// malformed, or belong to a flow this provider is not configured for.
	ErrInvalidLaunch = errors.New("reportprovider: invalid launch")

	// ErrUntrustedIssuer: conf_uri does not name an allowlisted KHEOPS
	// instance (checked before any network I/O), or the client_id is not one
	// the allowlist entry accepts.
	ErrUntrustedIssuer = errors.New("reportprovider: untrusted KHEOPS instance")

	// ErrInvalidInstanceConfiguration: the KHEOPS configuration document
	// behind conf_uri is malformed, names another issuer, or points an
	// endpoint at another origin.
	ErrInvalidInstanceConfiguration = errors.New("reportprovider: invalid KHEOPS configuration document")

	// ErrReplayedLaunch: the authorization code (or implicit-flow token) of
	// this launch was already used. KHEOPS accepts a code many times; this
	// package never sends one twice.
	ErrReplayedLaunch = errors.New("reportprovider: launch already used")

	// ErrTokenRejected: introspection says the token is inactive, or that it
	// was issued for another client, redirect_uri, issuer, user or set of
	// studies than the launch claims (token substitution).
	ErrTokenRejected = errors.New("reportprovider: access token rejected")

	// ErrForbiddenDestination: a request would go to an origin that is not
	// the allowlisted KHEOPS instance (including through a redirect), or to
	// a private, loopback or link-local address the allowlist entry does not
	// permit.
	ErrForbiddenDestination = errors.New("reportprovider: destination not allowed")

	// ErrCodeStoreFull: the in-memory single-use code store is at capacity
	// with unexpired entries. It fails closed rather than forget a code.
	ErrCodeStoreFull = errors.New("reportprovider: code store full")
)

// OAuthError is an OAuth 2.0 error response from the KHEOPS token endpoint
// (RFC 6749 §5.2). KHEOPS answers every token error with HTTP 400 and one of
// invalid_request, invalid_client, invalid_grant, unauthorized_client,
// unsupported_grant_type or invalid_scope (see docs/kheops.md, "Token
// endpoint errors"). Test with errors.As.
type OAuthError struct {
	Method      string // "POST"
	URL         string // the token endpoint, without query or user info
	StatusCode  int    // HTTP status, 400 for KHEOPS
	Code        string // the "error" member
	Description string // the "error_description" member, possibly empty, cleaned and bounded
}

func (e *OAuthError) Error() string {
	msg := fmt.Sprintf("reportprovider: token endpoint: %s", e.Code)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.StatusCode)
}

// HTTPError is an unexpected HTTP status from KHEOPS (configuration
// document, token endpoint, introspection, userinfo, DICOMweb), with the
// fields every remote error of the SDK has. Body holds the start of the
// response body for diagnosis (at most 512 bytes, control characters and
// anything token-like removed); it is not part of Error().
type HTTPError struct {
	Method     string
	URL        string // without query, fragment or user info
	StatusCode int
	Body       string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("reportprovider: %s %s: unexpected HTTP status %d", e.Method, e.URL, e.StatusCode)
}

// httpError builds the HTTPError of resp, whose body (already read) is data.
func httpError(resp *http.Response, data []byte) *HTTPError {
	r := httpx.DescribeResponse(resp, data)
	return &HTTPError{Method: r.Method, URL: r.URL, StatusCode: r.StatusCode, Body: r.Body}
}

// cleanText makes remote text safe for an error and cuts it to max bytes
// (on a rune boundary).
func cleanText(s string, max int) string {
	s = httpx.CleanBody([]byte(s))
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}
