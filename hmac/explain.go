package hmac

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Explanation is how AURA-HMAC-SHA256 sees one signed request: the values
// to compare between client and server when Aura answers 401 or 403
// (docs/aura-hmac.md, "Debugging a 401 or 403"). It holds no secret: not
// the app secret, not the derived keys, not the signature.
type Explanation struct {
	AppID            string // Credential of the Authorization header
	Timestamp        string // X-Aura-Timestamp
	Nonce            string // X-Aura-Nonce
	Date             string // UTC YYYYMMDD of Timestamp, used in the key derivation
	CredentialScope  string // <AppID>/<Date>/aura_request
	SignedHeaders    string // the headers this request must sign
	PayloadHash      string // hex SHA-256 of the body
	CanonicalRequest string
	StringToSign     string
}

// String returns the explanation as labelled blocks, for logs and
// terminals. It contains no secret.
func (e *Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "app id:         %s\ntimestamp:      %s (date %s)\nnonce:          %s\nsigned headers: %s\npayload hash:   %s\n",
		e.AppID, e.Timestamp, e.Date, e.Nonce, e.SignedHeaders, e.PayloadHash)
	fmt.Fprintf(&b, "canonical request:\n%s\nstring to sign:\n%s\n", indent(e.CanonicalRequest), indent(e.StringToSign))
	return b.String()
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

// Explain returns the canonical request and string to sign of a signed
// request, computed exactly as [Signer.Sign] and [Verifier.Verify] compute
// them: call it on a request after Sign (client side) or in a handler
// (server side) and compare the two when a signature does not verify.
//
// It reads the app id from Authorization and the timestamp and nonce from
// their headers. It hashes the body as Sign does: through GetBody when set,
// otherwise by reading req.Body into memory and replacing it with an
// identical in-memory copy, so req stays usable.
func Explain(req *http.Request) (*Explanation, error) {
	c, err := requestCanonical(req)
	if err != nil {
		return nil, err
	}
	a, err := parseAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		return nil, fmt.Errorf("hmac: explain: %w", err)
	}
	if c.timestamp, err = single(req.Header, "X-Aura-Timestamp"); err != nil {
		return nil, err
	}
	ts, err := parseTimestamp(c.timestamp)
	if err != nil {
		return nil, err
	}
	if c.nonce, err = single(req.Header, "X-Aura-Nonce"); err != nil {
		return nil, err
	}
	ct := req.Header.Values("Content-Type")
	if len(ct) > 1 {
		return nil, errors.New("hmac: request has more than one Content-Type header")
	}
	if len(ct) == 1 {
		c.contentType = normalizeValue(ct[0])
	}
	if c.payloadHash, err = hashOutgoingBody(req); err != nil {
		return nil, err
	}
	date := dateOf(ts)
	creq := c.appendRequest(nil)
	crh := sha256.Sum256(creq)
	return &Explanation{
		AppID:            a.credential,
		Timestamp:        c.timestamp,
		Nonce:            c.nonce,
		Date:             date,
		CredentialScope:  string(appendScope(nil, a.credential, date)),
		SignedHeaders:    c.signedHeaders(),
		PayloadHash:      hex.EncodeToString(c.payloadHash[:]),
		CanonicalRequest: string(creq),
		StringToSign:     string(appendStringToSign(nil, c.timestamp, a.credential, date, &crh)),
	}, nil
}

// single returns the only value of header name, or an error wrapping
// ErrMalformed if it is absent or repeated.
func single(h http.Header, name string) (string, error) {
	v := h.Values(name)
	switch len(v) {
	case 1:
		return v[0], nil
	case 0:
		return "", fmt.Errorf("%w: no %s header", ErrMalformed, name)
	}
	return "", fmt.Errorf("%w: more than one %s header", ErrMalformed, name)
}

// parseTimestamp parses X-Aura-Timestamp: 1 to 12 decimal digits, nothing
// else (the reference signer writes floor(ms/1000) without padding or sign).
func parseTimestamp(s string) (int64, error) {
	if len(s) == 0 || len(s) > 12 {
		return 0, fmt.Errorf("%w: X-Aura-Timestamp is not Unix seconds", ErrMalformed)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: X-Aura-Timestamp is not Unix seconds", ErrMalformed)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
