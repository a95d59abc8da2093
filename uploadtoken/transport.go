package uploadtoken

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Transport is an http.RoundTripper that authenticates requests to the
// Aura API as Aura's browser widget does (docs/aura.md, "Authentication"):
// on a clone of each request it sets "Authorization: Bearer <token>",
// with the token from Source, and "X-Api-Key" when APIKey is set. When the
// API answers 401 and Source has an Invalidate(*Token) method
// ([CachingSource] has), the token is dropped so that the next request
// gets a new one. Package uploader sends every uploader call through it.
//
// A Transport is safe for concurrent use if Source and Base are.
type Transport struct {
	// Source supplies the upload token for each request. Required.
	Source Source
	// APIKey is the service API key (aura_au_…) sent as X-Api-Key; empty
	// sends none (the manage endpoints need none).
	APIKey string
	// Base sends the authenticated request; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper. It fails without sending
// anything when Source fails or returns a token without the "aubt_" prefix.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	closeBody := func() {
		if req.Body != nil {
			_ = req.Body.Close()
		}
	}
	if t.Source == nil {
		closeBody()
		return nil, errors.New("uploadtoken: Transport.Source is nil")
	}
	tok, err := t.Source.Token(req.Context())
	if err != nil {
		closeBody()
		return nil, fmt.Errorf("uploadtoken: upload token: %w", err)
	}
	if tok == nil || !strings.HasPrefix(tok.Value, Prefix) {
		closeBody()
		return nil, fmt.Errorf("uploadtoken: upload token must start with '%s'", Prefix)
	}
	r := req.Clone(req.Context()) // a RoundTripper must not modify the request
	r.Header.Set("Authorization", "Bearer "+tok.Value)
	if t.APIKey != "" {
		r.Header.Set("X-Api-Key", t.APIKey)
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		if inv, ok := t.Source.(interface{ Invalidate(*Token) }); ok {
			inv.Invalidate(tok)
		}
	}
	return resp, err
}
