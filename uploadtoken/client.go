package uploadtoken

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/auraclient"
)

// exchangePath is the exchange endpoint, relative to the API base URL.
const exchangePath = "/auth/exchange"

// Client exchanges HMAC credentials for upload tokens on a partner backend
// (docs/aura.md, "Token exchange"). The zero value is not usable: BaseURL,
// APIKey and Signer are required. A Client is safe for concurrent use; it
// must not be copied after first use (it keeps its default HTTP client),
// so share a *Client.
type Client struct {
	// BaseURL is the Aura API root including /api, e.g.
	// "https://aura.example.com/api". The request goes to BaseURL +
	// "/auth/exchange" and the signature covers that full wire path.
	BaseURL string
	// APIKey is the service API key (aura_au_…), sent as X-Api-Key and not
	// signed.
	APIKey string
	// Signer signs the request with the app id and secret.
	Signer *hmac.Signer
	// HTTPClient sends the request; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock used for expires_in; nil means time.Now.
	Now func() time.Time
	// Logger receives one debug line per exchange (never the token); nil
	// means silence.
	Logger *slog.Logger
	// MaxBody bounds the response read; 0 means 1 MiB.
	MaxBody int64

	def auraclient.DefaultClient // used when HTTPClient is nil
}

// Format prints the Client for every fmt verb without its credentials:
// uploadtoken.Client{BaseURL:<url> APIKey:aura_au_…#<fingerprint>
// Signer:hmac.Signer{AppID:<id> Secret:[redacted]}}, so a Client logged
// with a configuration, or wrapped into an error, does not leak them.
func (c *Client) Format(f fmt.State, _ rune) {
	fmt.Fprint(f, auraclient.Describe("uploadtoken.Client", c.BaseURL, c.APIKey, fmt.Sprintf(" Signer:%v", c.Signer)))
}

// LogValue makes slog print the Client as Format does, with any handler
// (the JSON handler would otherwise marshal APIKey and the Signer's Secret).
func (c *Client) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(c)) }

// ExchangeRequest is the body of POST /auth/exchange.
type ExchangeRequest struct {
	// TTL is the token lifetime, sent in whole seconds (rounded up). Zero
	// means DefaultTTL (1 h); more than MaxTTL (24 h) is an error.
	TTL time.Duration
	// Scopes to request; nil or empty means DefaultScopes.
	Scopes []string
	// MaxUses limits how many API calls the token may make; 0 omits it.
	MaxUses int
}

// ErrInvalidRequest is wrapped by errors about bad arguments: a TTL out of
// range, unknown scopes, a negative max_uses.
var ErrInvalidRequest = errors.New("uploadtoken: invalid request")

// Body returns the exact JSON the exchange sends, with keys in the order of
// Aura's examples: {"ttl":3600,"scopes":[...],"max_uses":N}.
func (r ExchangeRequest) Body() ([]byte, error) {
	ttl, err := r.ttl()
	if err != nil {
		return nil, err
	}
	if r.MaxUses < 0 {
		return nil, fmt.Errorf("%w: max_uses %d is negative", ErrInvalidRequest, r.MaxUses)
	}
	scopes := r.Scopes
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return nil, fmt.Errorf("%w: scope %q", ErrInvalidRequest, s)
		}
	}
	body := struct {
		TTL     int64    `json:"ttl"`
		Scopes  []string `json:"scopes"`
		MaxUses int      `json:"max_uses,omitempty"`
	}{int64(ttl / time.Second), scopes, r.MaxUses}
	return marshalJS(body)
}

func (r ExchangeRequest) ttl() (time.Duration, error) {
	switch {
	case r.TTL == 0:
		return DefaultTTL, nil
	case r.TTL < 0:
		return 0, fmt.Errorf("%w: ttl %v is negative", ErrInvalidRequest, r.TTL)
	case r.TTL > MaxTTL:
		return 0, fmt.Errorf("%w: ttl %v exceeds the maximum of %v", ErrInvalidRequest, r.TTL, MaxTTL)
	}
	return (r.TTL + time.Second - 1).Truncate(time.Second), nil
}

// Exchange trades the app's HMAC credentials for an upload token. Failures
// from Aura are an [*APIError]; the returned error never contains the
// secret, the signature or the token.
func (c *Client) Exchange(ctx context.Context, req ExchangeRequest) (*Token, error) {
	if c.Signer == nil {
		return nil, errors.New("uploadtoken: Client.Signer is nil")
	}
	body, err := req.Body()
	if err != nil {
		return nil, err
	}
	conn := &auraclient.Conn{Pkg: "uploadtoken", BaseURL: c.BaseURL, APIKey: c.APIKey, HTTPClient: c.def.Or(c.HTTPClient),
		Logger: c.Logger, MaxBody: c.MaxBody, Wrap: wrapError}
	now := c.now()
	data, err := conn.Do(ctx, auraclient.Request{Method: http.MethodPost, Path: exchangePath, Body: body,
		Prepare: func(r *http.Request) error {
			r.Header.Set("X-Api-Key", c.APIKey)
			if err := c.Signer.Sign(r); err != nil {
				return fmt.Errorf("sign: %w", err)
			}
			return nil
		}})
	if err != nil {
		return nil, err
	}
	ttl, _ := req.ttl()
	tok, err := parseExchangeResponse(data, now, ttl)
	if err != nil {
		return nil, err
	}
	if len(tok.Scopes) == 0 {
		tok.Scopes = append([]string(nil), req.Scopes...)
		if len(tok.Scopes) == 0 {
			tok.Scopes = append([]string(nil), DefaultScopes...)
		}
	}
	if tok.MaxUses == 0 {
		tok.MaxUses = req.MaxUses
	}
	return tok, nil
}

// maxExpiry bounds how far in the future an exchange answer may say its
// token expires (Aura issues them for 24 h at most).
const maxExpiry = 10 * 365 * 24 * time.Hour

// ErrBadResponse is wrapped by errors about a 2xx response that is not a
// usable token.
var ErrBadResponse = errors.New("uploadtoken: bad exchange response")

// parseExchangeResponse decodes either documented response shape (docs/aura.md,
// "Token exchange"): {"token","expires_at","scopes","max_uses"} or {"access_token",
// "token_type","expires_in","scopes"}. A relative expires_in counts from
// now; if neither expiry is present, the token is assumed to live for
// fallbackTTL from now (0 leaves ExpiresAt zero).
func parseExchangeResponse(data []byte, now time.Time, fallbackTTL time.Duration) (*Token, error) {
	var r struct {
		Token       *string         `json:"token"`
		AccessToken *string         `json:"access_token"`
		TokenType   *string         `json:"token_type"`
		ExpiresAt   *string         `json:"expires_at"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Scopes      json.RawMessage `json:"scopes"`
		MaxUses     json.RawMessage `json:"max_uses"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %s", ErrBadResponse, jsonErrorText(err))
	}
	tok := &Token{}
	switch {
	case r.Token != nil && *r.Token != "":
		tok.Value = *r.Token
	case r.AccessToken != nil && *r.AccessToken != "":
		tok.Value = *r.AccessToken
	default:
		return nil, fmt.Errorf("%w: no token or access_token", ErrBadResponse)
	}
	if strings.ContainsAny(tok.Value, " \t\r\n") || !isPrintableASCII(tok.Value) {
		return nil, fmt.Errorf("%w: token has characters a bearer token cannot carry", ErrBadResponse)
	}
	if r.TokenType != nil && *r.TokenType != "" && !strings.EqualFold(*r.TokenType, "bearer") {
		return nil, fmt.Errorf("%w: token_type %q is not Bearer", ErrBadResponse, auraclient.Clean(*r.TokenType))
	}
	switch {
	case r.ExpiresAt != nil && *r.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339Nano, *r.ExpiresAt)
		if err != nil {
			return nil, fmt.Errorf("%w: expires_at %q is not RFC 3339", ErrBadResponse, auraclient.Clean(*r.ExpiresAt))
		}
		// A present expiry is always checked: a year-1 date (Go's zero
		// time, or near it) must not read as "no expiry".
		if !t.After(now) || t.After(now.Add(maxExpiry)) {
			return nil, fmt.Errorf("%w: expires_at %s is not between now and %v from now", ErrBadResponse, t.UTC().Format(time.RFC3339), maxExpiry)
		}
		tok.ExpiresAt = t
	case len(r.ExpiresIn) > 0 && string(r.ExpiresIn) != "null":
		n, err := auraclient.ParseInt(r.ExpiresIn)
		if err != nil || n < 0 || n > int64(maxExpiry/time.Second) {
			return nil, fmt.Errorf("%w: expires_in %s is not a number of seconds", ErrBadResponse, clip(r.ExpiresIn))
		}
		tok.ExpiresAt = now.Add(time.Duration(n) * time.Second)
	case fallbackTTL > 0:
		tok.ExpiresAt = now.Add(fallbackTTL)
	}
	if len(r.Scopes) > 0 && string(r.Scopes) != "null" {
		if err := json.Unmarshal(r.Scopes, &tok.Scopes); err != nil {
			// Some servers send a space-separated string, as OAuth does.
			var s string
			if json.Unmarshal(r.Scopes, &s) != nil {
				return nil, fmt.Errorf("%w: scopes is neither a list nor a string", ErrBadResponse)
			}
			tok.Scopes = strings.Fields(s)
		}
	}
	if len(r.MaxUses) > 0 && string(r.MaxUses) != "null" {
		n, err := auraclient.ParseInt(r.MaxUses)
		if err != nil || n < 0 || n > 1<<31-1 {
			return nil, fmt.Errorf("%w: max_uses %s is not a count", ErrBadResponse, clip(r.MaxUses))
		}
		tok.MaxUses = int(n)
	}
	return tok, nil
}

func clip(raw []byte) string {
	const max = 40
	s := auraclient.Clean(string(raw))
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// jsonErrorText keeps json's message without the offending input.
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error at offset " + strconv.FormatInt(se.Offset, 10)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + te.Field + " has the wrong type"
	}
	return "invalid JSON"
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// marshalJS encodes v as JavaScript's JSON.stringify would: compact, and
// without Go's HTML escaping of <, > and &. (Go still escapes U+2028 and
// U+2029; the bodies built here never contain them.)
func marshalJS(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
