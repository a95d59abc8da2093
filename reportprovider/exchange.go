package reportprovider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// clientAssertionType is the client_assertion_type of private_key_jwt
// (RFC 7523 §2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionLifetime keeps assertions well under KHEOPS's 10-minute cap
// even with a few minutes of clock skew.
const maxAssertionLifetime = 5 * time.Minute

// clientAssertion signs a private_key_jwt assertion (see docs/kheops.md,
// "Client assertion (private_key_jwt)"): RS256 with the kid of
// the first key, iss = sub = clientID, aud = audience (a single string), a
// random 128-bit jti and exp = now + the assertion lifetime. There is no
// iat: it is optional, and KHEOPS refuses one more than 60 s in its future,
// which would lock out a provider whose clock runs ahead; exp alone bounds
// the assertion (KHEOPS refuses one more than 10 minutes ahead).
func (p *Provider) clientAssertion(clientID, audience string) (Token, error) {
	var b [16]byte
	if _, err := io.ReadFull(p.rand, b[:]); err != nil {
		return "", fmt.Errorf("reportprovider: jti: %w", err)
	}
	now := p.now()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": clientID,
		"sub": clientID,
		"aud": audience,
		"jti": base64.RawURLEncoding.EncodeToString(b[:]),
		"exp": now.Add(p.assertionLifetime).Unix(),
	})
	k := p.keys[0]
	t.Header["kid"] = k.id
	s, err := t.SignedString(k.priv)
	if err != nil {
		return "", fmt.Errorf("reportprovider: sign client assertion: %w", err)
	}
	return Token(s), nil
}

// exchangeForm builds the token request body with the fields in the order
// of the KHEOPS documentation.
func exchangeForm(code Token, clientID, redirectURI string, assertion Token) string {
	var b strings.Builder
	pairs := [...][2]string{
		{"grant_type", "authorization_code"},
		{"code", string(code)},
		{"client_id", clientID},
		{"redirect_uri", redirectURI},
		{"client_assertion_type", clientAssertionType},
		{"client_assertion", string(assertion)},
	}
	for i, kv := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(kv[0])
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[1]))
	}
	return b.String()
}

// tokenResponse is the token endpoint's success body.
type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
}

// exchange redeems an authorization code at the token endpoint with a fresh
// client assertion. It returns the access token and its lifetime.
func (p *Provider) exchange(ctx context.Context, conf *instanceConfiguration, l *Launch) (Token, time.Duration, error) {
	assertion, err := p.clientAssertion(l.ClientID, conf.TokenEndpoint)
	if err != nil {
		return "", 0, err
	}
	body := exchangeForm(l.Code, l.ClientID, p.cfg.RedirectURI, assertion)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, conf.TokenEndpoint, strings.NewReader(body))
	if err != nil {
		return "", 0, fmt.Errorf("reportprovider: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("reportprovider: token request: %w", err)
	}
	defer httpx.DrainAndClose(resp.Body)
	data, err := httpx.ReadLimited(resp.Body, 64<<10)
	if err != nil {
		return "", 0, fmt.Errorf("reportprovider: read token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			r := httpx.DescribeResponse(resp, data)
			return "", 0, &OAuthError{
				Method:      r.Method,
				URL:         r.URL,
				StatusCode:  resp.StatusCode,
				Code:        cleanText(e.Error, 64),
				Description: cleanText(e.Description, 256),
			}
		}
		return "", 0, httpError(resp, data)
	}
	var tr tokenResponse
	if err := json.Unmarshal(data, &tr); err != nil {
		return "", 0, fmt.Errorf("reportprovider: token response is not JSON: %w", err)
	}
	if !strings.EqualFold(tr.TokenType, "bearer") {
		return "", 0, fmt.Errorf("reportprovider: token response: token_type is not bearer")
	}
	if !opaqueOK(tr.AccessToken) {
		return "", 0, fmt.Errorf("reportprovider: token response: access_token is missing or malformed")
	}
	var secs int64
	if len(tr.ExpiresIn) > 0 && string(tr.ExpiresIn) != "null" {
		// RFC 6749 says a number; some servers send a string.
		n, err := strconv.ParseInt(strings.Trim(string(tr.ExpiresIn), `"`), 10, 64)
		if err != nil || n <= 0 || n > 366*24*3600 {
			return "", 0, fmt.Errorf("reportprovider: token response: expires_in is not a positive number of seconds")
		}
		secs = n
	}
	return Token(tr.AccessToken), time.Duration(secs) * time.Second, nil
}
