package uploader

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/dicombridge/dicombridge/internal/auraclient"
	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// maxReport bounds the message sent to POST /uploader/upload/error.
const maxReport = 1000

// reportMessage is the text sent to Aura's error endpoint for err: the real
// cause (which step, the status and message of the failing server), never
// a credential, and never a local file path (paths can name patients).
func reportMessage(err error, secrets ...string) string {
	var msg string
	var (
		sc  *SourcesChangedError
		he  *tusclient.HTTPError
		ae  *uploadtoken.APIError
		fe  *dicomscan.FileError
		pe  *fs.PathError
		cfg *ConfigError
	)
	switch {
	case errors.As(err, &sc):
		msg = "source files changed since the upload began; the archive cannot be completed"
	case errors.As(err, &he):
		msg = fmt.Sprintf("tus %s failed: %d %s", he.Method, he.StatusCode, http.StatusText(he.StatusCode))
		if b := strings.TrimSpace(string(he.Body)); b != "" {
			msg += ": " + b
		}
	case errors.As(err, &ae):
		msg = fmt.Sprintf("aura api %s %s failed: %d %s", ae.Method, apiPath(ae), ae.StatusCode, ae.Message)
	case errors.As(err, &fe):
		msg = "reading a source file failed: " + fe.Reason()
	case errors.As(err, &pe):
		msg = "local file error: " + pe.Op + ": " + pe.Err.Error()
	case errors.As(err, &cfg):
		msg = cfg.Message
	default:
		msg = err.Error()
	}
	switch {
	case sc != nil:
	case strings.Contains(err.Error(), "uploader: tus"):
		if !strings.HasPrefix(msg, "tus ") {
			msg = "tus upload failed: " + strings.TrimPrefix(msg, "uploader: tus upload: ")
		}
	case strings.Contains(err.Error(), "uploader: packing"):
		msg = "packing the archive failed: " + msg
	}
	msg = strings.ReplaceAll(msg, "uploader: ", "")
	return truncate(scrub(msg, secrets...), maxReport)
}

// scrubbedError hides credentials in the text of an error it wraps.
type scrubbedError struct {
	err     error
	secrets []string
}

func (e *scrubbedError) Error() string { return scrub(e.err.Error(), e.secrets...) }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrubError makes err safe to return, log and print: the server texts
// it carries (a Tus answer's body, an API message) are cleaned in place,
// and its text is scrubbed, so a server echoing the lift token or the API
// key cannot leak them through the SDK.
func scrubError(err error, secrets ...string) error {
	var he *tusclient.HTTPError
	if errors.As(err, &he) {
		he.Body = scrub(he.Body, secrets...)
	}
	var ae *uploadtoken.APIError
	if errors.As(err, &ae) {
		ae.Message = scrub(ae.Message, secrets...)
	}
	return &scrubbedError{err: err, secrets: secrets}
}

// credentialLike matches Aura's credential formats.
var credentialLike = regexp.MustCompile(`(aubt_|aura_sk_|aura_au_|aura_pk_)[A-Za-z0-9_\-]+`)

// scrub removes the given secrets, anything shaped like an Aura credential
// or a bearer value, and control characters.
func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = credentialLike.ReplaceAllStringFunc(s, auraclient.Redact)
	s = bearer.ReplaceAllString(s, "${1}[redacted]")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

var bearer = regexp.MustCompile(`(?i)(bearer\s+)[^\s,;"']+`)

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// newUUID returns a random UUID v4 in lower case, as crypto.randomUUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("uploader: random: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// nanoidAlphabet is the URL-safe alphabet of Uppy's nanoid upload ids.
const nanoidAlphabet = "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict"

// newAssemblyID returns a 21-character nanoid-style id, the shape of the
// reference client's assembly_id (see docs/uploader.md, "Steps of one
// upload").
func newAssemblyID() (string, error) {
	var b [21]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("uploader: random: %w", err)
	}
	for i := range b {
		b[i] = nanoidAlphabet[b[i]&63]
	}
	return string(b[:]), nil
}
