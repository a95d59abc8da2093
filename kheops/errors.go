package kheops

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// Errors of the REST client for refusals made before anything is sent,
// and for answers that cannot be read; test with errors.Is. Errors from
// KHEOPS itself are [*Error].
var (
	// ErrInvalid: an argument or a Config field is missing or malformed
	// (an album id, a UID, a contradictory set of options); nothing was
	// sent.
	ErrInvalid = errors.New("kheops: invalid argument")
	// ErrUserTokenRequired: the call manages capability tokens, which
	// KHEOPS allows only with the user's own access token, and the
	// client's token is a capability token; nothing was sent.
	ErrUserTokenRequired = errors.New("kheops: this call needs the user's own access token, not a capability token")
	// ErrForbiddenDestination: a request would carry the token to another
	// origin than KHEOPS's.
	ErrForbiddenDestination = errors.New("kheops: destination not allowed")
	// ErrMalformedResponse: a success answer is not the JSON document
	// KHEOPS sends.
	ErrMalformedResponse = errors.New("kheops: malformed response")
)

// Error is a failure answered by KHEOPS: any status a call does not
// expect. KHEOPS answers errors in three shapes, all read into this one
// type: the management API's {"message","detail","help"} (Message,
// Detail, Help), the token endpoint's OAuth {"error","error_description"}
// (Code, Description), and bare or plain-text bodies (only Body). Body
// keeps the start of the body for diagnosis (at most 512 bytes, control
// characters and anything token-like removed). Test with errors.As.
type Error struct {
	Method      string // e.g. "PATCH"
	URL         string // without query, fragment or user info
	StatusCode  int
	Body        string
	Message     string // "message", e.g. "Album Not Found"
	Detail      string // "detail"
	Help        string // "help", a link to KHEOPS's documentation
	Code        string // OAuth "error", e.g. "invalid_grant" (POST /token)
	Description string // OAuth "error_description"
}

// Error returns the method, URL, status and KHEOPS's message or OAuth
// error; it never contains the token.
func (e *Error) Error() string {
	msg := fmt.Sprintf("kheops: %s %s: HTTP %d", e.Method, e.URL, e.StatusCode)
	switch {
	case e.Code != "":
		msg += ": " + e.Code
		if e.Description != "" {
			msg += ": " + e.Description
		}
	case e.Message != "":
		msg += ": " + e.Message
		if e.Detail != "" {
			msg += ": " + e.Detail
		}
	}
	return msg
}

// newError reads resp (whose body is data) into an *Error.
func newError(resp *http.Response, data []byte) *Error {
	r := httpx.DescribeResponse(resp, data)
	e := &Error{Method: r.Method, URL: r.URL, StatusCode: r.StatusCode, Body: r.Body}
	var doc struct {
		Message     any `json:"message"`
		Detail      any `json:"detail"`
		Help        any `json:"help"`
		Error       any `json:"error"`
		Description any `json:"error_description"`
	}
	if json.Unmarshal(data, &doc) == nil {
		e.Message, e.Detail, e.Help = text(doc.Message), text(doc.Detail), text(doc.Help)
		e.Code, e.Description = text(doc.Error), text(doc.Description)
	}
	return e
}

// text cleans a remote JSON string for an error; other JSON types give "".
func text(v any) string {
	s, ok := v.(string)
	if !ok {
		return ""
	}
	s = httpx.CleanBody([]byte(s))
	n := 256
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
