package hmac

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// maxAuthorization bounds the Authorization header the parser accepts; a
// genuine one is about 200 bytes.
const maxAuthorization = 4096

// authorization is a parsed Authorization header.
type authorization struct {
	credential    string // the app id
	signedHeaders string // as sent, e.g. "content-type;host;x-aura-nonce;x-aura-timestamp"
	signature     [sha256.Size]byte
}

// parseAuthorization parses
//
//	AURA-HMAC-SHA256 Credential=<appId>,SignedHeaders=<h1;h2;...>,Signature=<64 lower-case hex>
//
// as docs/aura-hmac.md, "Verification", describes: the algorithm up to the
// first space, then comma-separated Key=Value pairs. Each of the three keys must appear
// exactly once, in any order; spaces around a pair are tolerated (the
// reference signer writes none); anything else is an error wrapping
// ErrMalformed. Errors never repeat the header's content.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	if len(h) > maxAuthorization {
		return a, fmt.Errorf("%w: Authorization header longer than %d bytes", ErrMalformed, maxAuthorization)
	}
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != Algorithm {
		return a, fmt.Errorf("%w: Authorization scheme is not %s", ErrMalformed, Algorithm)
	}
	var haveCred, haveHeaders, haveSig bool
	for {
		var part string
		var more bool
		part, rest, more = strings.Cut(rest, ",")
		part = strings.Trim(part, " \t")
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return a, fmt.Errorf("%w: Authorization field without '='", ErrMalformed)
		}
		switch key {
		case "Credential":
			if haveCred {
				return a, fmt.Errorf("%w: Credential given twice", ErrMalformed)
			}
			if !validAppID(val) {
				return a, fmt.Errorf("%w: Credential is not 1-256 printable ASCII characters", ErrMalformed)
			}
			a.credential, haveCred = val, true
		case "SignedHeaders":
			if haveHeaders {
				return a, fmt.Errorf("%w: SignedHeaders given twice", ErrMalformed)
			}
			if !validHeaderList(val) {
				return a, fmt.Errorf("%w: SignedHeaders is not a ';'-separated list of lower-case header names", ErrMalformed)
			}
			a.signedHeaders, haveHeaders = val, true
		case "Signature":
			if haveSig {
				return a, fmt.Errorf("%w: Signature given twice", ErrMalformed)
			}
			if !decodeLowerHex(a.signature[:], val) {
				return a, fmt.Errorf("%w: Signature is not 64 lower-case hex digits", ErrMalformed)
			}
			haveSig = true
		default:
			return a, fmt.Errorf("%w: unknown Authorization field", ErrMalformed)
		}
		if !more {
			break
		}
	}
	if !haveCred || !haveHeaders || !haveSig {
		return a, fmt.Errorf("%w: Authorization needs Credential, SignedHeaders and Signature", ErrMalformed)
	}
	return a, nil
}

// validHeaderList reports whether s is a non-empty ';'-separated list of
// non-empty header names in lower case.
func validHeaderList(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	prev := byte(';')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ';':
			if prev == ';' {
				return false
			}
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
		prev = c
	}
	return prev != ';'
}

// decodeLowerHex decodes exactly len(dst)*2 lower-case hex digits from s.
func decodeLowerHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}
