package dicomweb

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// Errors for local refusals and unreadable responses, checked with
// errors.Is.
var (
	// ErrInvalidUID: a UID argument is empty where one is required, or is
	// not a dotted OID of at most 256 characters; nothing was sent.
	ErrInvalidUID = errors.New("dicomweb: invalid UID")
	// ErrMalformed: a response is not the DICOM JSON or multipart
	// document its status promises.
	ErrMalformed = errors.New("dicomweb: malformed response")
)

// HTTPError is an unexpected HTTP status from the DICOMweb server, with
// the fields every remote error of the SDK has. Body holds the start of
// the response body for diagnosis (at most 512 bytes, control characters
// and anything token-like removed); it is not part of Error().
type HTTPError struct {
	Method     string
	URL        string // without query, fragment, user info or link token
	StatusCode int
	Body       string
}

// Error returns the method, URL and status (not the body).
func (e *HTTPError) Error() string {
	return fmt.Sprintf("dicomweb: %s %s: unexpected HTTP status %d", e.Method, e.URL, e.StatusCode)
}

// StoreError reports instances a STOW-RS request did not store: HTTP 202
// for a partial store, 409 when nothing was stored, or failed items in a
// 200. Failed lists each refused instance with its FailureReason and, for
// KHEOPS's attribute check ([ReasonAttributeMismatch]), the mismatched
// tags. Use errors.As.
type StoreError struct {
	Method     string
	URL        string // without query, fragment, user info or link token
	StatusCode int
	Failed     []FailedInstance
}

// Error returns the status and the first three failed instances with
// their reasons and mismatched tags.
func (e *StoreError) Error() string {
	msg := fmt.Sprintf("dicomweb: stow-rs: %d instance(s) not stored (HTTP %d)", len(e.Failed), e.StatusCode)
	for i, f := range e.Failed {
		if i == 3 {
			msg += "; …"
			break
		}
		msg += fmt.Sprintf("; %s: reason 0x%04X", httpx.CleanBody([]byte(f.SOPInstanceUID)), f.Reason)
		for j, t := range f.Tags {
			if j == 0 {
				msg += " tags"
			}
			msg += fmt.Sprintf(" (%04X,%04X)", t>>16, t&0xFFFF)
		}
	}
	return msg
}

// httpError builds the HTTPError of resp, whose body (already read, or
// nil to read a little) is data.
func httpError(resp *http.Response, data []byte) *HTTPError {
	r := httpx.DescribeResponse(resp, data)
	return &HTTPError{Method: r.Method, URL: redactLink(r.URL), StatusCode: r.StatusCode, Body: r.Body}
}

// redactLink hides the path segment after ".../link/": KHEOPS accepts a
// capability token there (ROOT/api/link/{token}/studies), and an error
// must not carry it.
func redactLink(u string) string {
	i := strings.Index(u, "/link/")
	if i < 0 {
		return u
	}
	rest := u[i+len("/link/"):]
	j := strings.IndexByte(rest, '/')
	if j < 0 {
		j = len(rest)
	}
	return u[:i] + "/link/[redacted]" + rest[j:]
}

// redactErr removes credentials from the URL a *url.Error prints (net/http
// puts the full request URL in transport errors).
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		c := *ue
		c.URL = redactLink(httpx.RedactRawURL(ue.URL))
		return &c
	}
	return err
}
