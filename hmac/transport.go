package hmac

import (
	"errors"
	"net/http"
)

// Transport is an http.RoundTripper that signs every request it sends with
// Signer, like oauth2.Transport adds a token: it clones the request (the
// caller's request is never modified, as RoundTripper requires) and signs
// the clone. Each RoundTrip is a new attempt with a new timestamp and nonce,
// so retries and redirects are never rejected as replays.
//
// Give requests a body with GetBody (http.NewRequest does for bytes and
// strings readers) so the body can be hashed without buffering it. Transport
// is safe for concurrent use.
type Transport struct {
	Signer *Signer
	Base   http.RoundTripper // nil: http.DefaultTransport
}

// RoundTrip signs a clone of req and sends it through Base. If signing
// fails it closes req.Body and returns the error without sending anything.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t == nil || t.Signer == nil {
		closeBody(req)
		return nil, errors.New("hmac: Transport.Signer is nil")
	}
	signed := req.Clone(req.Context())
	if err := t.Signer.Sign(signed); err != nil {
		closeBody(req)
		return nil, err
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(signed)
}

func closeBody(req *http.Request) {
	if req != nil && req.Body != nil {
		req.Body.Close()
	}
}
