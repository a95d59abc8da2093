package kheops

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/dicombridge/dicombridge/internal/origin"
)

// Token is a secret: a user access token, a capability token, a viewer
// token or a webhook secret. It formats as "[redacted]" with every fmt
// verb and in slog; convert explicitly, string(t), where the raw value is
// needed.
type Token string

const redacted = "[redacted]"

// String returns "[redacted]".
func (Token) String() string { return redacted }

// GoString returns "[redacted]", also for %#v.
func (Token) GoString() string { return redacted }

// Format writes "[redacted]" for every verb.
func (Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue keeps the token out of slog output.
func (Token) LogValue() slog.Value { return slog.StringValue(redacted) }

// TokenSource supplies the token for each request, like x/oauth2's: a
// static token ([StaticToken]) or one refreshed from an OpenID provider.
type TokenSource interface {
	Token(ctx context.Context) (Token, error)
}

// StaticToken returns a TokenSource that always returns t.
func StaticToken(t Token) TokenSource { return staticToken{t} }

// staticToken formats as "[redacted]" so that printing a Config or a
// Transport (fmt reaches the source through them) never shows the token.
type staticToken struct{ t Token }

func (s staticToken) Token(context.Context) (Token, error) { return s.t, nil }

func (staticToken) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

var capabilityPattern = regexp.MustCompile(`^[A-Za-z0-9]{22}$`)

// IsCapabilityToken reports whether t has the shape of a KHEOPS capability
// token (22 letters and digits). Access tokens from KHEOPS's OpenID
// provider are JWTs, which contain dots, so the shapes never overlap.
func IsCapabilityToken(t Token) bool { return capabilityPattern.MatchString(string(t)) }

// Transport is an http.RoundTripper that adds a KHEOPS token to a clone of
// each request, as x/oauth2's Transport does: "Authorization: Bearer
// <token>", or with Basic "Authorization: Basic" with the token as the
// password. When Origin is set, requests to any other origin are refused
// without sending, so that a URL taken from a response cannot carry the
// token elsewhere. Safe for concurrent use if Source and Base are.
type Transport struct {
	// Source supplies the token. Required.
	Source TokenSource
	// Base sends the request; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Basic sends the token as an HTTP Basic password (user "token").
	Basic bool
	// Origin, "scheme://host:port" as KHEOPS's root URL has it, limits
	// where the token goes; empty sends it everywhere.
	Origin string
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	fail := func(err error) (*http.Response, error) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	if t.Origin != "" && origin.Of(req.URL) != t.Origin {
		return fail(fmt.Errorf("%w: the token is only sent to %s", ErrForbiddenDestination, t.Origin))
	}
	if t.Source == nil {
		return fail(fmt.Errorf("%w: Transport.Source is nil", ErrInvalid))
	}
	tok, err := t.Source.Token(req.Context())
	if err != nil {
		return fail(fmt.Errorf("kheops: token source: %w", err))
	}
	if tok == "" {
		return fail(fmt.Errorf("%w: the token source returned an empty token", ErrInvalid))
	}
	r := req.Clone(req.Context())
	if t.Basic {
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("token:"+string(tok))))
	} else {
		r.Header.Set("Authorization", "Bearer "+string(tok))
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}
