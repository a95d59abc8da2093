package auraclient

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// Error is a non-2xx answer of the Aura API. uploadtoken.APIError has
// exactly these fields, so that a *Error converts to it; its methods call
// [Error.Text] and [Error.Category].
type Error struct {
	Method     string              // request method, e.g. "POST"
	URL        string              // request URL without query (httpx.RedactURL)
	StatusCode int                 // HTTP status
	Body       string              // start of the body, cleaned (httpx.CleanBody)
	Message    string              // human-readable cause, never empty
	Fields     map[string][]string // Laravel validation errors by field; nil if none
	RetryAfter time.Duration       // from Retry-After; 0 if absent
}

// NewError builds the error for resp, whose body (already read through a
// size limit) is body: the common remote-error fields from
// httpx.DescribeResponse, then Message and Fields read in the order Aura's
// own client reads them (docs/aura.md, "Errors"): Laravel validation
// errors {"errors":{"field":["msg",…]}} joined with ", "; then
// {"error":{"message":…}} (or {"error":"…"}); then {"message":…}; else
// the status text.
func NewError(resp *http.Response, body []byte) *Error {
	r := httpx.DescribeResponse(resp, body)
	e := &Error{Method: r.Method, URL: r.URL, StatusCode: r.StatusCode, Body: r.Body}
	e.RetryAfter = httpx.RetryAfter(resp.Header, time.Now())
	e.Message, e.Fields = parseErrorBody(body)
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
		if e.Message == "" {
			e.Message = "HTTP " + strconv.Itoa(resp.StatusCode)
		}
	}
	return e
}

// Text is the error text: "aura api: POST <url>: 401 Unauthorized: msg".
func (e *Error) Text() string {
	var b strings.Builder
	b.WriteString("aura api: ")
	if e.Method != "" || e.URL != "" {
		b.WriteString(strings.TrimSpace(e.Method + " " + e.URL))
		b.WriteString(": ")
	}
	b.WriteString(strconv.Itoa(e.StatusCode))
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" ")
		b.WriteString(t)
	}
	if e.Message != "" && e.Message != http.StatusText(e.StatusCode) {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after ")
		b.WriteString(e.RetryAfter.String())
		b.WriteString(")")
	}
	return b.String()
}

// Error implements error for a *Error that was not converted.
func (e *Error) Error() string { return e.Text() }

// Temporary reports whether the same request may succeed later: 429, 500,
// 502, 503 and 504.
func (e *Error) Temporary() bool {
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// parseErrorBody extracts the message and fields from Aura's three error
// body shapes. It returns "" when none applies.
func parseErrorBody(body []byte) (string, map[string][]string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return "", nil
	}
	var top struct {
		Errors  json.RawMessage `json:"errors"`
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &top) != nil {
		return "", nil
	}
	if keys, fields := parseFields(top.Errors); len(keys) > 0 {
		var msgs []string
		for _, k := range keys {
			msgs = append(msgs, fields[k]...)
		}
		msg := Clean(strings.Join(msgs, ", "))
		if msg == "" {
			msg = jsonString(top.Message)
		}
		return msg, fields
	}
	if len(top.Error) > 0 {
		if s := jsonString(top.Error); s != "" {
			return s, nil
		}
		var nested struct {
			Message json.RawMessage `json:"message"`
		}
		if json.Unmarshal(top.Error, &nested) == nil {
			if s := jsonString(nested.Message); s != "" {
				return s, nil
			}
		}
	}
	return jsonString(top.Message), nil
}

// parseFields decodes a Laravel "errors" object keeping the order of its
// fields (the joined message follows the body). Each value may be a list
// of strings or a single string.
func parseFields(raw json.RawMessage) ([]string, map[string][]string) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil
	}
	var keys []string
	fields := map[string][]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil
		}
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return nil, nil
		}
		var msgs []string
		if s := jsonString(v); s != "" {
			msgs = []string{s}
		} else {
			var list []json.RawMessage
			if json.Unmarshal(v, &list) == nil {
				for _, item := range list {
					if s := jsonString(item); s != "" {
						msgs = append(msgs, s)
					}
				}
			}
		}
		if len(msgs) == 0 {
			continue
		}
		if _, dup := fields[key]; !dup {
			keys = append(keys, key)
		}
		fields[key] = append(fields[key], msgs...)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return keys, fields
}

// jsonString returns raw as a cleaned string if it is a JSON string.
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return Clean(s)
}

// Clean makes server text safe to print: httpx.CleanBody (no control
// characters, credentials redacted, bounded).
func Clean(s string) string { return httpx.CleanBody([]byte(s)) }

// redactPrefixes are credential prefixes that are not secret on their own
// and make a redacted value recognisable.
var redactPrefixes = []string{"aubt_", "aura_au_", "aura_sk_"}

// Redact returns a printable stand-in for a secret: a known prefix
// ("aubt_", "aura_au_", "aura_sk_") is kept and the rest becomes "…#" plus
// [Fingerprint]. The empty string stays empty.
func Redact(secret string) string {
	if secret == "" {
		return ""
	}
	prefix := ""
	for _, p := range redactPrefixes {
		if strings.HasPrefix(secret, p) {
			prefix = p
			break
		}
	}
	return prefix + "…#" + Fingerprint(secret)
}

// Fingerprint returns the first 8 hex digits of SHA-256(secret): enough to
// tell secrets apart in logs, useless for recovering them.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}
