package hmac

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// service is the last element of the credential scope and the data of the
// second key-derivation step.
const service = "aura_request"

// The four header names AURA-HMAC-SHA256 can sign, in canonical order.
// content-type is signed whenever it is present; the other three always.
const (
	signedWithContentType    = "content-type;host;x-aura-nonce;x-aura-timestamp"
	signedWithoutContentType = "host;x-aura-nonce;x-aura-timestamp"
)

// emptyPayloadHash is hex(sha256("")), the payload hash of a request without
// a body.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// errPathEncoding is wrapped by canonicalPath for escapes that JavaScript's
// decodeURIComponent rejects; the TypeScript signer throws URIError there.
var errPathEncoding = errors.New("malformed percent-encoding or invalid UTF-8 in path")

// canonical holds the already-canonicalized inputs of one canonical request.
// Signer, Verifier and Explain fill it from an *http.Request; the vector tests
// fill it from the JSON vectors, so every wire rule lives in the methods here.
type canonical struct {
	method      string // upper case
	path        string // canonicalPath output
	query       string // canonicalQuery output
	contentType string // normalizeValue output; "" = not signed
	host        string // normalizeValue output; "" = not signed (only the X5 vector)
	nonce       string
	timestamp   string // decimal Unix seconds, exactly as in X-Aura-Timestamp
	payloadHash [sha256.Size]byte
}

// signedHeaders returns the SignedHeaders list for c: the lower-case names
// of the present headers, sorted and joined with ';'.
func (c *canonical) signedHeaders() string {
	switch {
	case c.host != "" && c.contentType != "":
		return signedWithContentType
	case c.host != "":
		return signedWithoutContentType
	case c.contentType != "":
		return "content-type;x-aura-nonce;x-aura-timestamp"
	default:
		return "x-aura-nonce;x-aura-timestamp"
	}
}

// appendRequest appends the canonical request: METHOD, path, query,
// canonical headers (each "name:value\n"), an empty line, SignedHeaders and
// the hex payload hash, joined with '\n'.
func (c *canonical) appendRequest(b []byte) []byte {
	b = append(b, c.method...)
	b = append(b, '\n')
	b = append(b, c.path...)
	b = append(b, '\n')
	b = append(b, c.query...)
	b = append(b, '\n')
	if c.contentType != "" {
		b = append(b, "content-type:"...)
		b = append(b, c.contentType...)
		b = append(b, '\n')
	}
	if c.host != "" {
		b = append(b, "host:"...)
		b = append(b, c.host...)
		b = append(b, '\n')
	}
	b = append(b, "x-aura-nonce:"...)
	b = append(b, c.nonce...)
	b = append(b, "\nx-aura-timestamp:"...)
	b = append(b, c.timestamp...)
	b = append(b, "\n\n"...)
	b = append(b, c.signedHeaders()...)
	b = append(b, '\n')
	return hex.AppendEncode(b, c.payloadHash[:])
}

// appendStringToSign appends
// "AURA-HMAC-SHA256\n<ts>\n<appID>/<date>/aura_request\n<hex(crh)>".
func appendStringToSign(b []byte, timestamp, appID, date string, crh *[sha256.Size]byte) []byte {
	b = append(b, Algorithm...)
	b = append(b, '\n')
	b = append(b, timestamp...)
	b = append(b, '\n')
	b = appendScope(b, appID, date)
	b = append(b, '\n')
	return hex.AppendEncode(b, crh[:])
}

// appendScope appends the credential scope "<appID>/<date>/aura_request".
func appendScope(b []byte, appID, date string) []byte {
	b = append(b, appID...)
	b = append(b, '/')
	b = append(b, date...)
	b = append(b, '/')
	return append(b, service...)
}

// appendAuthorization appends the Authorization header value.
func appendAuthorization(b []byte, appID, signedHeaders string, sig *[sha256.Size]byte) []byte {
	b = append(b, Algorithm...)
	b = append(b, " Credential="...)
	b = append(b, appID...)
	b = append(b, ",SignedHeaders="...)
	b = append(b, signedHeaders...)
	b = append(b, ",Signature="...)
	return hex.AppendEncode(b, sig[:])
}

// keepLiteral reports whether JavaScript's encodeURIComponent leaves c as
// is: A-Z a-z 0-9 - _ . ! ~ * ' ( ). Everything else is percent-encoded.
func keepLiteral(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '!', '~', '*', '\'', '(', ')':
		return true
	}
	return false
}

const upperHex = "0123456789ABCDEF"

// EscapeComponent percent-encodes s exactly like JavaScript's
// encodeURIComponent applied to the UTF-8 text s: it keeps
// A-Z a-z 0-9 - _ . ! ~ * ' ( ) and writes every other byte as %XX with
// upper-case hex (a space becomes %20, never +).
//
// Use it to build the RawQuery of a signed request the way Aura's
// TypeScript signer encodes its params map, so that a query signs the same
// in every implementation. Bytes of invalid UTF-8 are encoded one by one
// (where encodeURIComponent would throw).
func EscapeComponent(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !keepLiteral(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	return string(appendEscaped(make([]byte, 0, len(s)+2*n), s))
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keepLiteral(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return b
}

// canonicalPath canonicalizes a request path as Aura's TypeScript signer
// does (docs/aura-hmac.md, "Path canonicalization"):
//
//  1. a missing leading '/' is added;
//  2. dot segments are resolved, including their %2e/%2E forms and a trailing
//     "." or ".." (which leaves a trailing '/'), never above the root;
//  3. empty segments are dropped ("//" collapses);
//  4. a trailing '/' is kept;
//  5. each segment is percent-decoded, then encoded again with the
//     encodeURIComponent set ([EscapeComponent]): "%2f" stays "%2F" because
//     the split happens before decoding, "%41" becomes "A", "+" becomes "%2B".
//
// Malformed escapes and invalid UTF-8 are an error (the TypeScript signer
// throws). As in the reference signer's URL parsing, '\' counts as '/' and a
// "#fragment" is dropped, as WHATWG URL parsing does in TypeScript; neither
// character ever appears in a Go request's EscapedPath.
//
// One deliberate difference: TypeScript parses a path that starts with "//"
// as a URL authority ("//a/b" signs as "/b"). p here is always the wire path,
// which has no authority, so "//a/b" is the path "/a/b".
func canonicalPath(p string) (string, error) {
	if isCanonicalPath(p) {
		return p, nil
	}
	if i := strings.IndexByte(p, '#'); i >= 0 {
		p = p[:i]
	}
	segs := make([]string, 0, 8)
	trailing := false
	var dec []byte
	for rest := p; ; {
		seg, more, found := cutSeparator(rest)
		rest = more
		var err error
		dec, err = percentDecode(dec[:0], seg)
		if err != nil {
			return "", err
		}
		last := !found
		switch string(dec) {
		case "":
			// Empty segments vanish; an empty last segment means the
			// path ended in '/'.
			if last && len(p) > 0 {
				trailing = true
			}
		case ".":
			trailing = last
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
			trailing = last
		default:
			segs = append(segs, string(appendEscaped(nil, string(dec))))
			trailing = false
		}
		if last {
			break
		}
	}
	if len(segs) == 0 {
		return "/", nil
	}
	n := len(segs)
	for _, s := range segs {
		n += len(s)
	}
	if trailing {
		n++
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if trailing {
		b.WriteByte('/')
	}
	return b.String(), nil
}

// cutSeparator splits s at its first '/' or '\'.
func cutSeparator(s string) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == '\\' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// isCanonicalPath reports whether p is already its own canonical form:
// it starts with '/', has only encodeURIComponent-literal bytes between
// slashes, no empty segment except a trailing one, and no dot segment.
// This is the common case (/api/auth/exchange) and costs no allocation.
func isCanonicalPath(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || p[0] != '/' {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			if !keepLiteral(p[i]) {
				return false
			}
			continue
		}
		switch p[start:i] {
		case "":
			if i < len(p) {
				return false // "//"
			}
		case ".", "..":
			return false
		}
		start = i + 1
	}
	return true
}

// percentDecode appends the decoding of s to dst, like decodeURIComponent:
// every '%' must start a two-digit hex escape, and the result must be valid
// UTF-8.
func percentDecode(dst []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			dst = append(dst, c)
			continue
		}
		if i+2 >= len(s) {
			return dst, fmt.Errorf("%w: truncated escape", errPathEncoding)
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return dst, fmt.Errorf("%w: bad escape", errPathEncoding)
		}
		dst = append(dst, hi<<4|lo)
		i += 2
	}
	if !utf8.Valid(dst) {
		return dst, fmt.Errorf("%w: not UTF-8", errPathEncoding)
	}
	return dst, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// canonicalQuery canonicalizes a raw query as Aura's TypeScript signer does
// (docs/aura-hmac.md, "Query canonicalization"): the pieces between '&'
// are kept verbatim (never decoded or re-encoded) and sorted as whole "k=v" strings in JavaScript's default
// order (UTF-16 code units), then joined with '&'. Empty pieces are kept and
// sort first; "a=2&a=1" becomes "a=1&a=2"; "a-b=2" sorts before "a=1".
func canonicalQuery(raw string) string {
	if strings.IndexByte(raw, '&') < 0 || querySorted(raw) {
		return raw
	}
	pieces := strings.Split(raw, "&")
	sort.SliceStable(pieces, func(i, j int) bool { return lessUTF16(pieces[i], pieces[j]) })
	return strings.Join(pieces, "&")
}

// querySorted reports whether the pieces of raw are already in order, so
// that the common case allocates nothing.
func querySorted(raw string) bool {
	prev, rest, _ := strings.Cut(raw, "&")
	for rest != "" || strings.HasSuffix(raw, "&") {
		var cur string
		var found bool
		cur, rest, found = strings.Cut(rest, "&")
		if lessUTF16(cur, prev) {
			return false
		}
		prev = cur
		if !found {
			break
		}
	}
	return true
}

// lessUTF16 orders a and b as JavaScript compares strings: by UTF-16 code
// units. For valid UTF-8 this is byte order except that characters above
// U+FFFF (surrogate pairs, 0xD800-0xDBFF first) sort before U+E000-U+FFFF.
// Invalid UTF-8 falls back to byte order.
func lessUTF16(a, b string) bool {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(a) || i == len(b) {
		return len(a) < len(b)
	}
	if a[i] < utf8.RuneSelf || b[i] < utf8.RuneSelf {
		return a[i] < b[i]
	}
	// Both differ inside a multi-byte character: back up to its start,
	// which is the same in both strings because the bytes before i match.
	s := i
	for s > 0 && !utf8.RuneStart(a[s]) {
		s--
	}
	ra, na := utf8.DecodeRuneInString(a[s:])
	rb, nb := utf8.DecodeRuneInString(b[s:])
	if (ra == utf8.RuneError && na <= 1) || (rb == utf8.RuneError && nb <= 1) {
		return a[i] < b[i]
	}
	ua, ub := utf16First(ra), utf16First(rb)
	if ua != ub {
		return ua < ub
	}
	return ra < rb
}

// utf16First returns the first UTF-16 code unit of r.
func utf16First(r rune) rune {
	if r < 0x10000 {
		return r
	}
	return 0xD800 + (r-0x10000)>>10
}

// isJSSpace reports whether r is matched by JavaScript's \s (and removed by
// String.prototype.trim): WhiteSpace and LineTerminator of ECMA-262.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return 0x2000 <= r && r <= 0x200A
}

// normalizeValue trims a header value and collapses every run of
// whitespace inside it to one space, as the TypeScript signer does with
// trim() and /\s+/g (docs/aura-hmac.md, "Header values"):
// " application/json ;\t charset=utf-8 " becomes
// "application/json ; charset=utf-8".
func normalizeValue(v string) string {
	if valueIsNormal(v) {
		return v
	}
	b := make([]byte, 0, len(v))
	space := false
	for i := 0; i < len(v); {
		r, n := utf8.DecodeRuneInString(v[i:])
		if n == 1 && r == utf8.RuneError {
			r = -1 // an invalid byte is not a space; copied as is
		}
		if isJSSpace(r) {
			space = true
		} else {
			if space && len(b) > 0 {
				b = append(b, ' ')
			}
			space = false
			b = append(b, v[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

// valueIsNormal reports whether v is ASCII without control characters,
// without leading or trailing spaces and without two spaces in a row.
func valueIsNormal(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c >= utf8.RuneSelf {
			return false
		}
		if c == ' ' && (i == 0 || i == len(v)-1 || v[i+1] == ' ') {
			return false
		}
	}
	return true
}

// reservedInPath reports whether c is one of the RFC 3986 reserved
// characters a path segment may hold literally (sub-delims, ':' and '@').
// HTTP clients send them literally or escaped, as the URL they were given
// spelled them; AURA-HMAC-SHA256 signs both spellings alike.
func reservedInPath(c byte) bool {
	return strings.IndexByte("!$&'()*+,;=:@", c) >= 0
}

// spelledCanonically reports whether the wire path raw is spelled as its
// canonical form canon (canonicalPath(raw)), allowing only one freedom:
// each reserved character ([reservedInPath]) may be written literally or
// as an upper-case escape, because Go's net/http and browsers send
// ':' literally while the reference signer signs "%3A", and Go escapes
// '!' where the signer keeps it. Everything that makes two spellings of
// one canonical path route differently is refused: dot segments (also
// %2E), empty segments, escapes of characters that need none ("%65" for
// 'e'), and lower-case hex. See docs/aura-hmac.md, "Path spelling".
//
// It does not allocate.
func spelledCanonically(raw, canon string) bool {
	if raw == canon {
		return true
	}
	if raw == "" {
		return canon == "/" // a client request without a path sends "/"
	}
	j := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' && i+2 < len(raw) && isUpperHex(raw[i+1]) && isUpperHex(raw[i+2]) {
			hi, _ := unhex(raw[i+1])
			lo, _ := unhex(raw[i+2])
			if d := hi<<4 | lo; reservedInPath(d) {
				c = d
				i += 2
			}
		}
		if !reservedInPath(c) {
			if j >= len(canon) || canon[j] != c {
				return false
			}
			j++
			continue
		}
		// A reserved character: the canonical form writes it literally
		// if encodeURIComponent keeps it, else as %XX.
		if keepLiteral(c) {
			if j >= len(canon) || canon[j] != c {
				return false
			}
			j++
			continue
		}
		if j+3 > len(canon) || canon[j] != '%' || canon[j+1] != upperHex[c>>4] || canon[j+2] != upperHex[c&15] {
			return false
		}
		j += 3
	}
	return j == len(canon)
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }
