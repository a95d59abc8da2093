package uploadtoken

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors an [*APIError] matches with errors.Is, by status code.
var (
	ErrUnauthorized = errors.New("uploadtoken: unauthorized")      // 401: bad API key or token, expired, missing scope
	ErrForbidden    = errors.New("uploadtoken: forbidden")         // 403: bad HMAC signature, clock skew, host mismatch
	ErrRateLimited  = errors.New("uploadtoken: too many requests") // 429: see APIError.RetryAfter
)

// APIError is a non-2xx answer from the Aura API, from the token exchange
// or any uploader endpoint. Use errors.As to get it and errors.Is with
// [ErrUnauthorized], [ErrForbidden] or [ErrRateLimited] to classify it.
//
// Message is taken from the body in the order Aura's own client reads it
// (spec §3): Laravel validation errors {"errors":{"field":["msg",...]}}
// joined with ", "; then {"error":{"message":"..."}} (or {"error":"..."});
// then {"message":"..."}; else the HTTP status text. Anything in it that
// looks like an upload token is redacted.
type APIError struct {
	Method     string              // request method, e.g. "POST"
	Path       string              // request path, e.g. "/api/auth/exchange"
	StatusCode int                 // HTTP status
	Message    string              // human-readable cause, never empty
	Fields     map[string][]string // Laravel validation errors by field; nil if none
	RetryAfter time.Duration       // from Retry-After (seconds or HTTP date); 0 if absent
}

// Error returns "aura api: POST /api/auth/exchange: 401 Unauthorized: msg".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("aura api: ")
	if e.Method != "" || e.Path != "" {
		b.WriteString(strings.TrimSpace(e.Method + " " + e.Path))
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
func (e *APIError) Temporary() bool {
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// maxMessage bounds Message; Aura's messages are one sentence.
const maxMessage = 1024

// NewAPIError builds the error for resp, whose body (already read through a
// size limit) is body. It never fails: an unparsable body gives the status
// text as Message.
func NewAPIError(resp *http.Response, body []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		if resp.Request.URL != nil {
			e.Path = resp.Request.URL.Path
		}
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), resp.Header.Get("Date"))
	e.Message, e.Fields = parseErrorBody(body)
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
		if e.Message == "" {
			e.Message = "HTTP " + strconv.Itoa(resp.StatusCode)
		}
	}
	return e
}

// parseErrorBody extracts the message and fields from the three error body
// shapes of spec §3. It returns "" when none applies.
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
		msg := cleanMessage(strings.Join(msgs, ", "))
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
// fields (Go maps lose it; the joined message must follow the body). Each
// value may be a list of strings or a single string.
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
	return cleanMessage(s)
}

// tokenLike finds anything shaped like an upload token or an Aura secret,
// so that a server echoing one back cannot leak it into our error text.
var tokenLike = regexp.MustCompile(`(aubt_|aura_sk_|aura_au_)[A-Za-z0-9_\-]+`)

// cleanMessage makes a server message safe to print: secrets redacted,
// control characters dropped, length bounded.
func cleanMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != ' ') {
			if r == '\n' || r == '\t' || r == '\r' {
				return ' '
			}
			return -1
		}
		return r
	}, s)
	s = tokenLike.ReplaceAllStringFunc(strings.TrimSpace(s), Redact)
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// parseRetryAfter reads a Retry-After value: delay-seconds, or an HTTP date
// taken relative to the response's Date header (else the local clock).
func parseRetryAfter(v, date string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > 24*3600 {
			n = 24 * 3600
		}
		return time.Duration(n) * time.Second
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	now := time.Now()
	if d, err := http.ParseTime(date); err == nil {
		now = d
	}
	if d := at.Sub(now); d > 0 {
		if d > 24*time.Hour {
			d = 24 * time.Hour
		}
		return d
	}
	return 0
}
