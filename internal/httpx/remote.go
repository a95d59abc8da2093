package httpx

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxErrorBody is the most bytes of a response body that any error of the
// SDK keeps (after [CleanBody]).
const MaxErrorBody = 512

// Remote describes a failed HTTP exchange with the fields every package's
// remote error type has: Method, URL, StatusCode and Body. Packages keep
// their own error types (so that errors.As finds tusclient.HTTPError,
// share.RemoteError, ...) and fill those four fields from a Remote built
// by [DescribeResponse]; exported types never embed Remote, since no
// exported signature may mention an internal package.
type Remote struct {
	Method     string // request method, e.g. "PATCH"
	URL        string // request URL, redacted by RedactURL
	StatusCode int    // response status
	Body       string // start of the response body, cleaned by CleanBody
}

// DescribeResponse builds a Remote from resp. body is what the caller
// already read of resp.Body; when it is nil, up to MaxErrorBody·4 bytes
// are read from resp.Body (which is not closed). resp.Request, if set,
// gives Method and URL.
func DescribeResponse(resp *http.Response, body []byte) Remote {
	r := Remote{StatusCode: resp.StatusCode}
	if req := resp.Request; req != nil {
		r.Method = req.Method
		r.URL = RedactURL(req.URL)
	}
	if body == nil && resp.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 4*MaxErrorBody))
	}
	r.Body = CleanBody(body)
	return r
}

// RedactURL returns u without user info, query and fragment, the parts of
// a URL that carry credentials (a password, a signed-URL signature, a
// token parameter). It returns "" for nil.
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	v := *u
	v.User = nil
	v.RawQuery = ""
	v.ForceQuery = false
	v.Fragment = ""
	v.RawFragment = ""
	return v.String()
}

// RedactRawURL is RedactURL for a URL in text form; an unparsable URL
// gives "(unparsable URL)".
func RedactRawURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return RedactURL(u)
}

// secretLike matches text that looks like a credential a server might echo
// back: a Bearer or Basic value, a JWT, an Aura upload token or key.
var secretLike = regexp.MustCompile(`((?i:\b(?:bearer|basic)) )[A-Za-z0-9._~+/=-]+|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*|\b(?:aubt|aura_sk|aura_au)_[A-Za-z0-9_-]+`)

// CleanBody turns remote bytes into text that is safe to put in an error
// or a log line: invalid UTF-8 and control characters are dropped (line
// breaks and tabs become spaces, so no log line can be forged), runs of
// white space become one space, anything shaped like a credential becomes
// "[redacted]", and the result is cut to MaxErrorBody bytes on a rune
// boundary, with "…" marking the cut.
func CleanBody(b []byte) string {
	var sb strings.Builder
	space := false
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		switch {
		case r == utf8.RuneError && n <= 1:
			continue
		case unicode.IsSpace(r):
			space = sb.Len() > 0
			continue
		case unicode.IsControl(r) || r == utf8.RuneError:
			continue
		}
		if space {
			sb.WriteByte(' ')
			space = false
		}
		sb.WriteRune(r)
		if sb.Len() > 8*MaxErrorBody {
			break
		}
	}
	s := secretLike.ReplaceAllString(sb.String(), "${1}[redacted]")
	if len(s) > MaxErrorBody {
		cut := MaxErrorBody - len("…")
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// RetryAfter reads the Retry-After header of h: delay-seconds, or an HTTP
// date taken relative to the response's Date header (else now). It
// returns 0 when the header is absent, malformed or in the past, and at
// most 24 hours.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	const most = 24 * time.Hour
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return min(time.Duration(min(n, int64(most/time.Second)))*time.Second, most)
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		now = d
	}
	return min(max(at.Sub(now), 0), most)
}
