package hmac

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Signer signs outgoing requests with AURA-HMAC-SHA256, byte-identical to
// Aura's reference TypeScript signer for every request Aura serves.
//
// A Signer is safe for concurrent use once its fields are set. It caches the
// signing key derived from Secret for the current UTC day, which saves four
// HMAC key schedules per request. The cache is an atomic.Value holding an
// immutable key that records the secret and day it was derived for; it is
// rebuilt when either changes, so setting a new Secret takes effect at once.
// The cache belongs to the Signer (there is no package-level state); a copy
// of a Signer starts from the same immutable key, which is harmless.
type Signer struct {
	// AppID is the app id Aura issued (aura_pk_...). It is sent as
	// Credential in the Authorization header. Required; it must be
	// printable ASCII without spaces or commas.
	AppID string
	// Secret is the app secret (aura_sk_...). Required. It never leaves
	// the process and never appears in an error.
	Secret string
	// Now returns the signing time; nil means time.Now. The date of the
	// key derivation is the UTC date of X-Aura-Timestamp, never a second
	// clock reading, so requests signed just before midnight verify.
	Now func() time.Time
	// Nonce returns X-Aura-Nonce; nil means a random lower-case UUID v4
	// from crypto/rand. Custom nonces must be 1-128 characters of
	// A-Z a-z 0-9 - . _ ~ and must never repeat.
	Nonce func() string

	key atomic.Value // *dayKey: the cached derived key; see the type comment
}

// Format prints the Signer for every fmt verb (%v, %+v, %#v, %s, %x, ...)
// as hmac.Signer{AppID:<id> Secret:[redacted]}: a Signer logged with a
// configuration, or wrapped into an error, never shows its Secret or the
// derived key it caches.
func (s Signer) Format(f fmt.State, _ rune) {
	secret := ""
	if s.Secret != "" {
		secret = "[redacted]"
	}
	fmt.Fprintf(f, "hmac.Signer{AppID:%s Secret:%s}", s.AppID, secret)
}

// LogValue makes slog print the Signer as Format does, with any handler
// (the JSON handler would otherwise marshal the Secret).
func (s *Signer) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(s)) }

// Sign signs req in place. It sets X-Aura-Timestamp (Unix seconds),
// X-Aura-Nonce and Authorization, and Content-Type: application/json when
// req has a body but no Content-Type; any earlier values of those headers
// are replaced, so re-signing a request for a retry is correct. It signs
// content-type (when present and not blank), host, x-aura-nonce and
// x-aura-timestamp, as the reference signer does.
//
// What is signed is what goes on the wire:
//
//   - the host is req.Host, else req.URL.Host, with its port if it has one
//     (the Host header net/http sends); a request without a host is refused,
//     because Aura rejects requests whose Host is not signed;
//   - the path is req.URL.EscapedPath() canonicalized as the TypeScript
//     signer does (dot segments resolved, "//" collapsed, each segment
//     decoded and re-encoded with the encodeURIComponent set, upper-case
//     hex); the query is req.URL.RawQuery, its "k=v" pieces kept verbatim
//     and sorted; build it with [EscapeComponent] to match other signers;
//   - the payload hash is SHA-256 of exactly the body bytes net/http will
//     send. When req.GetBody is set (http.NewRequest sets it for
//     *bytes.Buffer, *bytes.Reader and *strings.Reader bodies), Sign hashes
//     a fresh copy from GetBody and leaves req.Body untouched. Otherwise it
//     reads req.Body into memory, closes it, and replaces it (and GetBody
//     and ContentLength) with an in-memory copy of the same bytes.
//
// Where Sign deliberately differs from the TypeScript signer (docs/aura-hmac.md,
// "Reference bugs we do not reproduce"):
// Go requests always carry a parsed URL, so an absolute URL cannot be
// mis-signed as "/https%3A/host/..." (TypeScript's bug); byte bodies are
// hashed as raw bytes, never as JSON of a byte array; Content-Type is found
// case-insensitively, so it is never duplicated; a missing host is an error
// instead of a silently unsigned Host; and a path starting with "//" is
// the wire path it is, not a URL authority.
//
// Sign returns an error, and leaves the headers unchanged, if AppID or
// Secret is empty, the host is missing, not ASCII, or holds bytes net/http
// would not send (it would send an empty Host instead), URL.Opaque is set,
// the path has
// malformed escapes or invalid UTF-8, the query holds characters that cannot
// be sent verbatim (space, '#', control or non-ASCII bytes), Content-Type
// has more than one value, or the body cannot be read.
func (s *Signer) Sign(req *http.Request) error {
	if s == nil {
		return errors.New("hmac: nil Signer")
	}
	if s.AppID == "" {
		return errors.New("hmac: Signer.AppID is empty")
	}
	if !validAppID(s.AppID) {
		return errors.New("hmac: Signer.AppID must be 1-256 printable ASCII characters without spaces or commas")
	}
	if s.Secret == "" {
		return errors.New("hmac: Signer.Secret is empty")
	}
	c, err := requestCanonical(req)
	if err != nil {
		return err
	}
	ctValues := req.Header.Values("Content-Type")
	if len(ctValues) > 1 {
		return errors.New("hmac: request has more than one Content-Type header")
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	addContentType := hasBody && len(ctValues) == 0
	switch {
	case addContentType:
		c.contentType = "application/json"
	case len(ctValues) == 1:
		c.contentType = normalizeValue(ctValues[0])
	}

	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ts := now().Unix()
	if ts < 0 {
		return errors.New("hmac: signing time is before 1970")
	}
	// The timestamp and nonce share one allocation.
	var tn [20 + 128]byte
	t := strconv.AppendInt(tn[:0], ts, 10)
	tsLen := len(t)
	if s.Nonce != nil {
		n := s.Nonce()
		if !validNonce(n) {
			return errors.New("hmac: Signer.Nonce returned a nonce that is not 1-128 characters of A-Z a-z 0-9 - . _ ~")
		}
		t = append(t, n...)
	} else {
		t = appendNonce(t)
	}
	tsNonce := string(t)
	c.timestamp, c.nonce = tsNonce[:tsLen], tsNonce[tsLen:]

	k, _ := s.key.Load().(*dayKey)
	if !k.matches(s.Secret, ts) {
		k = newDayKey(s.Secret, ts)
		s.key.Store(k)
	}

	if c.payloadHash, err = hashOutgoingBody(req); err != nil {
		return err
	}

	var buf [1024]byte // on the stack unless the URL is very long
	b := c.appendRequest(buf[:0])
	crh := sha256.Sum256(b)
	b = appendStringToSign(k.appendInner(b[:0]), c.timestamp, s.AppID, k.date, &crh)
	sig := k.finish(b)
	authz := string(appendAuthorization(b[:0], s.AppID, c.signedHeaders(), &sig))

	if req.Header == nil {
		req.Header = make(http.Header, 4)
	}
	vals := make([]string, 4) // one allocation for the header values
	vals[0], vals[1], vals[2], vals[3] = c.timestamp, c.nonce, authz, "application/json"
	req.Header["X-Aura-Timestamp"] = vals[0:1:1]
	req.Header["X-Aura-Nonce"] = vals[1:2:2]
	req.Header["Authorization"] = vals[2:3:3]
	if addContentType {
		req.Header["Content-Type"] = vals[3:4:4]
	}
	return nil
}

// requestCanonical fills method, path, query and host of a canonical
// request from req, refusing what cannot be signed as it will be sent.
func requestCanonical(req *http.Request) (canonical, error) {
	var c canonical
	if req == nil || req.URL == nil {
		return c, errors.New("hmac: request has no URL")
	}
	if req.URL.Opaque != "" {
		return c, errors.New("hmac: cannot sign a request whose URL.Opaque is set; set URL.Path (or RawPath) instead")
	}
	c.method = upperASCII(req.Method)
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if host == "" {
		return c, errors.New("hmac: request has no host (set req.Host or use an absolute URL); Aura rejects requests whose Host is not signed")
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return c, errors.New("hmac: request host is not ASCII; use its punycode form, which is what net/http sends")
		}
		if !validHostByte(host[i]) {
			// net/http would send an empty Host instead.
			return c, fmt.Errorf("hmac: request host has byte %#02x, which net/http does not send", host[i])
		}
	}
	c.host = removeZone(host)
	p, err := canonicalPath(req.URL.EscapedPath())
	if err != nil {
		return c, fmt.Errorf("hmac: cannot canonicalize the request path: %w", err)
	}
	c.path = p
	q := req.URL.RawQuery
	for i := 0; i < len(q); i++ {
		if q[i] <= ' ' || q[i] >= 0x7f || q[i] == '#' {
			return c, fmt.Errorf("hmac: request query has byte %#02x that cannot be sent verbatim; encode it (see EscapeComponent)", q[i])
		}
	}
	c.query = canonicalQuery(q)
	return c, nil
}

// smallBody is the largest known-length body hashOutgoingBody reads into
// one buffer rather than streaming through a digest.
const smallBody = 64 << 10

// hashOutgoingBody returns SHA-256 of the bytes req will send, leaving
// req.Body readable from its start (see Sign).
func hashOutgoingBody(req *http.Request) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if req.Body == nil || req.Body == http.NoBody {
		return sha256.Sum256(nil), nil
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return sum, fmt.Errorf("hmac: request GetBody: %w", err)
		}
		defer rc.Close()
		if n := req.ContentLength; n > 0 && n <= smallBody {
			// One exact allocation instead of a digest plus copies.
			b := make([]byte, n+1)
			got, err := io.ReadFull(rc, b)
			if err == io.ErrUnexpectedEOF {
				return sha256.Sum256(b[:got]), nil
			}
			if err == nil {
				// Longer than ContentLength: hash it all (net/http
				// would fail to send it anyway).
				h := sha256.New()
				h.Write(b)
				if _, err = io.Copy(h, rc); err == nil {
					h.Sum(sum[:0])
					return sum, nil
				}
			}
			return sum, fmt.Errorf("hmac: reading the request body: %w", err)
		}
		h := sha256.New()
		if _, err = io.Copy(h, rc); err != nil {
			return sum, fmt.Errorf("hmac: reading the request body: %w", err)
		}
		h.Sum(sum[:0])
		return sum, nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		// Keep what was read in front of what is left, so nothing is lost.
		req.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), req.Body), req.Body}
		return sum, fmt.Errorf("hmac: reading the request body: %w", err)
	}
	req.Body.Close()
	setBody(req, body)
	return sha256.Sum256(body), nil
}

// setBody makes req's body the bytes b, re-readable through GetBody.
func setBody(req *http.Request, b []byte) {
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	req.ContentLength = int64(len(b))
	if len(b) == 0 {
		req.Body = http.NoBody
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
}

// upperASCII returns the method in upper case ("" means GET), as the
// TypeScript signer does with toUpperCase().
func upperASCII(m string) string {
	if m == "" {
		return http.MethodGet
	}
	for i := 0; i < len(m); i++ {
		if 'a' <= m[i] && m[i] <= 'z' {
			b := []byte(m)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return m
}

// removeZone removes an IPv6 zone ("[fe80::1%en0]:80" → "[fe80::1]:80"),
// as net/http does before writing the Host header.
func removeZone(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	i := strings.LastIndex(host, "]")
	if i < 0 {
		return host
	}
	j := strings.LastIndex(host[:i], "%")
	if j < 0 {
		return host
	}
	return host[:j] + host[i:]
}

// validHostByte reports whether net/http sends c in a Host header
// (httpguts.ValidHostHeader): letters, digits and !$%&'()*+,-.:;=[]_~.
func validHostByte(c byte) bool {
	return keepLiteral(c) || strings.IndexByte("$%&+,:;=[]", c) >= 0
}

// appendNonce appends a random lower-case UUID v4, like
// crypto.randomUUID().
func appendNonce(b []byte) []byte {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails (crypto/rand crashes the program instead)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	b = hex.AppendEncode(b, u[0:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[8:10])
	b = append(b, '-')
	return hex.AppendEncode(b, u[10:])
}

// validNonce reports whether n is 1-128 characters of the RFC 3986
// unreserved set. UUIDs qualify; '/' never does, so "<appID>/<nonce>" is an
// unambiguous nonce-store key.
func validNonce(n string) bool {
	if len(n) == 0 || len(n) > 128 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// validAppID reports whether id is 1-256 bytes of printable ASCII other
// than ',' (which would end the Credential field) and space.
func validAppID(id string) bool {
	if len(id) == 0 || len(id) > 256 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f || id[i] == ',' {
			return false
		}
	}
	return true
}
