package uploadtoken

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/hmac"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// captured is one request as the server saw it.
type captured struct {
	method, path, host string
	header             http.Header
	body               []byte
}

// fakeAura serves the exchange with a fixed answer and records requests.
// The client reaches it as aura.example.com (port 80) through a dialer
// override, so the signed Host is the one of the spec's vectors.
func fakeAura(t *testing.T, status int, answer string, header http.Header) (*http.Client, *[]captured) {
	t.Helper()
	var mu sync.Mutex
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{r.Method, r.URL.Path, r.Host, r.Header.Clone(), b})
		mu.Unlock()
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, &got
}

// The reference request of Aura's HMAC documentation (docs/aura-hmac.md):
// our default exchange body is the reference body, so the whole request,
// signature included, is known.
func TestExchangeReferenceRequest(t *testing.T) {
	t.Parallel()
	hc, got := fakeAura(t, 200, `{"token":"`+secretValue+`","expires_at":"2024-01-25T13:00:00Z","scopes":["upload:init","upload:manage","integration:read"],"max_uses":100}`, nil)
	c := &Client{
		BaseURL: "http://aura.example.com/api/",
		APIKey:  "aura_au_myservice_abc123",
		Signer: &hmac.Signer{AppID: "aura_pk_testapp123", Secret: "aura_sk_supersecretkey456",
			Now:   func() time.Time { return time.Unix(1706184000, 0) },
			Nonce: func() string { return "f47ac10b-58cc-4372-a567-0e02b2c3d479" }},
		HTTPClient: hc,
		Now:        func() time.Time { return time.Unix(1706184000, 0) }, // 1 h before expires_at
	}
	tok, err := c.Exchange(context.Background(), ExchangeRequest{})
	require.NoError(t, err)
	require.Len(t, *got, 1)
	r := (*got)[0]
	assert.Equal(t, `{"ttl":3600,"scopes":["upload:init","upload:manage","integration:read"]}`, string(r.body))
	wantHeaders := map[string]string{
		"Authorization":    "AURA-HMAC-SHA256 Credential=aura_pk_testapp123,SignedHeaders=content-type;host;x-aura-nonce;x-aura-timestamp,Signature=a1ce57d8b3c240fbfdfdd704cdba0ce38563f76f3d291cca6580089b8a7462c5",
		"Content-Type":     "application/json",
		"Accept":           "application/json",
		"X-Api-Key":        "aura_au_myservice_abc123",
		"X-Aura-Timestamp": "1706184000",
		"X-Aura-Nonce":     "f47ac10b-58cc-4372-a567-0e02b2c3d479",
	}
	for k, v := range wantHeaders {
		assert.Equal(t, []string{v}, r.header.Values(k), k)
	}
	assert.Equal(t, "POST", r.method)
	assert.Equal(t, "/api/auth/exchange", r.path)
	assert.Equal(t, "aura.example.com", r.host)
	want := &Token{Value: secretValue, ExpiresAt: time.Date(2024, 1, 25, 13, 0, 0, 0, time.UTC),
		Scopes: []string{"upload:init", "upload:manage", "integration:read"}, MaxUses: 100}
	assert.Equal(t, want, tok)
}

func TestExchangeBodies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		req  ExchangeRequest
		want string
		err  bool
	}{
		{"defaults", ExchangeRequest{}, `{"ttl":3600,"scopes":["upload:init","upload:manage","integration:read"]}`, false},
		{"seed phase 1", ExchangeRequest{TTL: time.Hour, Scopes: []string{"upload:init", "upload:manage"}}, `{"ttl":3600,"scopes":["upload:init","upload:manage"]}`, false},
		{"max uses", ExchangeRequest{TTL: 90 * time.Second, Scopes: []string{"upload:init"}, MaxUses: 100}, `{"ttl":90,"scopes":["upload:init"],"max_uses":100}`, false},
		{"rounds up", ExchangeRequest{TTL: 1500 * time.Millisecond, Scopes: []string{"x"}}, `{"ttl":2,"scopes":["x"]}`, false},
		{"24h", ExchangeRequest{TTL: 24 * time.Hour}, `{"ttl":86400,"scopes":["upload:init","upload:manage","integration:read"]}`, false},
		{"too long", ExchangeRequest{TTL: 24*time.Hour + time.Second}, "", true},
		{"negative", ExchangeRequest{TTL: -time.Second}, "", true},
		{"negative uses", ExchangeRequest{MaxUses: -1}, "", true},
		{"blank scope", ExchangeRequest{Scopes: []string{""}}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := tc.req.Body()
			if tc.err {
				assert.ErrorIs(t, err, ErrInvalidRequest)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(b))
		})
	}
}

func TestExchangeErrors(t *testing.T) {
	t.Parallel()
	signer := &hmac.Signer{AppID: "aura_pk_x", Secret: "aura_sk_topsecretvalue"}
	for _, tc := range []struct {
		name   string
		status int
		body   string
		header http.Header
		is     error
		msg    string
	}{
		{"bad signature", 403, `{"error":{"message":"Invalid signature"}}`, nil, ErrForbidden, "Invalid signature"},
		{"bad key", 401, `{"error":{"message":"Invalid API key."}}`, nil, ErrUnauthorized, "Invalid API key."},
		{"throttled", 429, `{"message":"Too Many Attempts."}`, http.Header{"Retry-After": {"42"}}, ErrRateLimited, "Too Many Attempts."},
		{"validation", 422, `{"message":"x","errors":{"ttl":["The ttl field must be between 1 and 86400."]}}`, nil, nil, "The ttl field must be between 1 and 86400."},
		{"ok but no token", 200, `{"expires_in":3600}`, nil, ErrBadResponse, ""},
		{"ok but garbage", 200, `<html>`, nil, ErrBadResponse, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hc, _ := fakeAura(t, tc.status, tc.body, tc.header)
			c := &Client{BaseURL: "http://aura.example.com/api", APIKey: "aura_au_key", Signer: signer, HTTPClient: hc}
			_, err := c.Exchange(context.Background(), ExchangeRequest{})
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "uploadtoken: "), "error %q does not start with the package name", err)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			if tc.msg != "" {
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, tc.msg, apiErr.Message)
				assert.Equal(t, tc.status, apiErr.StatusCode)
				assert.Equal(t, "POST", apiErr.Method)
				assert.Equal(t, "http://aura.example.com/api/auth/exchange", apiErr.URL)
				assert.Equal(t, tc.body, apiErr.Body)
				if tc.status == 429 {
					assert.Equal(t, 42*time.Second, apiErr.RetryAfter)
				}
			}
			for _, secret := range []string{"aura_sk_topsecretvalue", "topsecret", "aura_au_key"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}

func TestExchangeRefusesBadConfig(t *testing.T) {
	t.Parallel()
	signer := &hmac.Signer{AppID: "a", Secret: "s"}
	for name, tc := range map[string]struct {
		c    *Client
		want string
	}{
		"no signer":     {&Client{BaseURL: "https://h/api", APIKey: "k"}, "uploadtoken: Client.Signer is nil"},
		"no key":        {&Client{BaseURL: "https://h/api", Signer: signer}, "uploadtoken: APIKey is required"},
		"no base":       {&Client{APIKey: "k", Signer: signer}, "uploadtoken: BaseURL is required"},
		"relative base": {&Client{BaseURL: "/api", APIKey: "k", Signer: signer}, "uploadtoken: BaseURL must be a valid URL: not an absolute http or https URL"},
		"query":         {&Client{BaseURL: "https://h/api?x=1", APIKey: "k", Signer: signer}, "uploadtoken: BaseURL must be a valid URL: must not have a query, fragment or user info"},
		"ftp":           {&Client{BaseURL: "ftp://h/api", APIKey: "k", Signer: signer}, "uploadtoken: BaseURL must be a valid URL: not an absolute http or https URL"},
	} {
		_, err := tc.c.Exchange(context.Background(), ExchangeRequest{})
		assert.EqualError(t, err, tc.want, name)
	}
}

func TestParseExchangeResponse(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		body string
		want *Token
		err  bool
	}{
		{"readme shape", `{"token":"aubt_x","expires_at":"2026-01-01T12:00:00Z","scopes":["upload:init","upload:manage"],"max_uses":100}`,
			&Token{Value: "aubt_x", ExpiresAt: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Scopes: []string{"upload:init", "upload:manage"}, MaxUses: 100}, false},
		{"c# fixture shape", `{"access_token":"test-token-123","token_type":"Bearer","expires_in":3600,"scopes":["upload:init","upload:manage"]}`,
			&Token{Value: "test-token-123", ExpiresAt: now.Add(time.Hour), Scopes: []string{"upload:init", "upload:manage"}}, false},
		{"fractional expires_at with offset", `{"token":"t","expires_at":"2026-01-01T14:00:00.5+02:00"}`,
			&Token{Value: "t", ExpiresAt: time.Date(2026, 1, 1, 12, 0, 0, 5e8, time.UTC)}, false},
		{"expires_in as string", `{"token":"t","expires_in":"60"}`, &Token{Value: "t", ExpiresAt: now.Add(time.Minute)}, false},
		{"no expiry uses fallback", `{"token":"t"}`, &Token{Value: "t", ExpiresAt: now.Add(DefaultTTL)}, false},
		{"space separated scopes", `{"token":"t","expires_in":1,"scopes":"upload:init upload:manage"}`,
			&Token{Value: "t", ExpiresAt: now.Add(time.Second), Scopes: []string{"upload:init", "upload:manage"}}, false},
		{"token wins over access_token", `{"token":"a","access_token":"b","expires_in":1}`, &Token{Value: "a", ExpiresAt: now.Add(time.Second)}, false},
		{"year-1 expires_at", `{"token":"t","expires_at":"0001-01-01T00:00:00Z"}`, nil, true},
		{"year-1 expires_at with offset", `{"token":"t","expires_at":"0001-01-01T00:00:00+00:00"}`, nil, true},
		{"year-1 expires_at east of UTC", `{"token":"t","expires_at":"0001-01-01T00:00:00+02:00"}`, nil, true},
		{"expired already", `{"token":"t","expires_at":"2025-12-31T23:59:59Z"}`, nil, true},
		{"expires at now", `{"token":"t","expires_at":"2026-01-01T00:00:00Z"}`, nil, true},
		{"expires in 9999", `{"token":"t","expires_at":"9999-12-31T23:59:59Z"}`, nil, true},
		{"expires_in beyond 10 years", `{"token":"t","expires_in":315360001}`, nil, true},
		{"empty token", `{"token":"","expires_in":1}`, nil, true},
		{"no token", `{"expires_in":1}`, nil, true},
		{"bad expires_at", `{"token":"t","expires_at":"tomorrow"}`, nil, true},
		{"negative expires_in", `{"token":"t","expires_in":-1}`, nil, true},
		{"fraction expires_in", `{"token":"t","expires_in":1.5}`, nil, true},
		{"wrong token type", `{"access_token":"t","token_type":"mac","expires_in":1}`, nil, true},
		{"header injection", `{"token":"t\r\nX: y","expires_in":1}`, nil, true},
		{"scopes object", `{"token":"t","expires_in":1,"scopes":{}}`, nil, true},
		{"max_uses negative", `{"token":"t","expires_in":1,"max_uses":-3}`, nil, true},
		{"array", `[]`, nil, true},
		{"null", `null`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok, err := parseExchangeResponse([]byte(tc.body), now, DefaultTTL)
			if tc.err {
				assert.ErrorIs(t, err, ErrBadResponse)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want.Value, tok.Value)
			assert.True(t, tok.ExpiresAt.Equal(tc.want.ExpiresAt), "expires %s, want %s", tok.ExpiresAt, tc.want.ExpiresAt)
			assert.Equal(t, tc.want.Scopes, tok.Scopes)
			assert.Equal(t, tc.want.MaxUses, tok.MaxUses)
		})
	}
}

func FuzzParseExchangeResponse(f *testing.F) {
	for _, s := range []string{
		`{"token":"aubt_x","expires_at":"2025-01-24T12:00:00Z","scopes":["upload:init"],"max_uses":100}`,
		`{"access_token":"t","token_type":"Bearer","expires_in":3600,"scopes":["a"]}`,
		`{"token":"t","expires_in":"60","scopes":"a b"}`, `{}`, `null`, `{"token":1}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseExchangeResponse(body, now, time.Hour)
		if err != nil {
			require.ErrorIs(t, err, ErrBadResponse)
			return
		}
		require.NotEmpty(t, tok.Value)
		require.True(t, isPrintableASCII(tok.Value), "unusable token accepted: %q", tok.Value)
		require.GreaterOrEqual(t, tok.MaxUses, 0)
		require.False(t, tok.ExpiresAt.IsZero(), "a token without a known expiry")
		_ = tok.String()
	})
}

// TestClientNeverPrintsCredentials: a Client printed with any verb (a
// configuration logged at start-up, an error wrapping it) shows neither the
// API key nor the signer's secret.
func TestClientNeverPrintsCredentials(t *testing.T) {
	t.Parallel()
	c := &Client{BaseURL: "https://aura.example.com/api", APIKey: "aura_au_myservice_abc123",
		Signer: &hmac.Signer{AppID: "aura_pk_app", Secret: "aura_sk_supersecretkey456"}}
	type config struct{ Aura *Client }
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		for name, v := range map[string]any{"pointer": c, "nested": config{c}} {
			out := fmt.Sprintf(verb, v)
			for _, secret := range []string{"myservice_abc123", "supersecretkey456", "6d7973657276696365"} {
				assert.NotContains(t, out, secret, "Sprintf(%s, %s)", verb, name)
			}
		}
	}
	assert.Equal(t, "uploadtoken.Client{BaseURL:https://aura.example.com/api APIKey:aura_au_…#"+fingerprint(c.APIKey)+" Signer:hmac.Signer{AppID:aura_pk_app Secret:[redacted]}}", fmt.Sprint(c))
}

// TestClientNeverLogsCredentials: the same with slog's JSON handler, which
// would otherwise marshal APIKey and the Signer's Secret.
func TestClientNeverLogsCredentials(t *testing.T) {
	t.Parallel()
	c := &Client{BaseURL: "https://aura.example/api", APIKey: "aura_au_svc_topsecretkey",
		Signer: &hmac.Signer{AppID: "aura_pk_app", Secret: "aura_sk_supersecretkey456"}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("configured", "client", c)
	out := buf.String()
	assert.NotContains(t, out, "topsecret")
	assert.NotContains(t, out, "supersecret")
	assert.Contains(t, out, "aura.example")
}

// fingerprint is the first 8 hex digits of SHA-256(s), as redactions show.
func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
