package reportprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// stringList decodes a JSON string or array of strings (KHEOPS sends aud
// and studyUID as a string when there is one value, an array otherwise).
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*s = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = stringList{one}
		return nil
	default:
		var many []string
		if err := json.Unmarshal(b, &many); err != nil {
			return err
		}
		*s = many
		return nil
	}
}

// introspection is the RFC 7662 response of KHEOPS for a provider token.
type introspection struct {
	Active      bool        `json:"active"`
	Issuer      string      `json:"iss"`
	Subject     string      `json:"sub"`
	Audience    stringList  `json:"aud"`
	Expiry      json.Number `json:"exp"`
	IssuedAt    json.Number `json:"iat"`
	NotBefore   json.Number `json:"nbf"`
	RedirectURI string      `json:"redirect_uri"`
	AZP         string      `json:"azp"`
	ClientID    string      `json:"client_id"`
	Scope       string      `json:"scope"`
	StudyUIDs   stringList  `json:"studyUID"`
	AlbumID     string      `json:"album_id"`
}

// introspect asks KHEOPS about tok, unauthenticated (KHEOPS allows it for
// provider tokens, and implicit-flow providers have no key).
func (p *Provider) introspect(ctx context.Context, conf *instanceConfiguration, tok Token) (*introspection, error) {
	body := "token=" + url.QueryEscape(string(tok))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, conf.IntrospectionEndpoint, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("reportprovider: introspection request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var in introspection
	if err := p.fetchJSON(req, "introspection", 256<<10, &in); err != nil {
		return nil, err
	}
	return &in, nil
}

// checkIntrospection refuses a token that is inactive, expired, or issued
// for anything other than this launch: another issuer, client, redirect_uri
// or set of studies (token substitution; see docs/kheops.md, "Introspection"). It returns the expiry
// and scope words.
func (p *Provider) checkIntrospection(in *introspection, is *issuer, l *Launch) (time.Time, []string, error) {
	reject := func(what string) (time.Time, []string, error) {
		return time.Time{}, nil, fmt.Errorf("%w: %s", ErrTokenRejected, what)
	}
	if !in.Active {
		return reject("token is not active")
	}
	if !sameIssuer(in.Issuer, is.URL) {
		return reject("iss is not the KHEOPS instance of the launch")
	}
	if in.ClientID != l.ClientID || (in.AZP != "" && in.AZP != l.ClientID) {
		return reject("token was issued to another client_id")
	}
	if in.RedirectURI != p.cfg.RedirectURI {
		return reject("token was issued for another redirect_uri")
	}
	if in.Subject == "" {
		return reject("token has no subject")
	}
	if !sameSet(in.StudyUIDs, l.StudyUIDs) {
		return reject("token studies differ from the launch studyUID parameters")
	}
	for _, u := range in.StudyUIDs {
		if !validUID(u) {
			return reject("token names an invalid study UID")
		}
	}
	exp, err := in.Expiry.Int64()
	if err != nil || exp <= 0 {
		return reject("token has no expiry")
	}
	expiry := time.Unix(exp, 0)
	if !p.now().Before(expiry) {
		return reject("token has expired")
	}
	scope := strings.Fields(in.Scope)
	if !slices.Contains(scope, "read") {
		return reject("token lacks the read scope")
	}
	for _, w := range scope {
		if w != "read" && w != "write" {
			return reject("token has an unknown scope word")
		}
	}
	if l.Scope != "" && !sameSet(strings.Fields(l.Scope), scope) {
		return reject("token scope differs from the launch scope parameter")
	}
	return expiry, scope, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := make(map[string]int, len(a))
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		if m[s] == 0 {
			return false
		}
		m[s]--
	}
	return true
}

// UserInfo is the KHEOPS userinfo response: who launched the provider.
type UserInfo struct {
	Subject string `json:"sub"`
	Name    string `json:"name,omitempty"`
	Email   string `json:"email,omitempty"`
}

func (p *Provider) userinfo(ctx context.Context, conf *instanceConfiguration, tok Token) (*UserInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, conf.UserinfoEndpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: userinfo request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+string(tok))
	var ui UserInfo
	if err := p.fetchJSON(req, "userinfo", 64<<10, &ui); err != nil {
		return nil, err
	}
	return &ui, nil
}

// fetchJSON sends req with [Provider.fetch] and decodes the answer into v.
func (p *Provider) fetchJSON(req *http.Request, what string, limit int64, v any) error {
	data, err := p.fetch(req, what, limit)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("reportprovider: %s response is not valid: %w", what, err)
	}
	return nil
}

// fetch sends req (asking for JSON) with the provider's guarded client and
// returns at most limit bytes of a 200 answer. Any other status is an
// [*HTTPError]; what names the call in errors.
func (p *Provider) fetch(req *http.Request, what string, limit int64) ([]byte, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: %s: %w", what, err)
	}
	defer httpx.DrainAndClose(resp.Body)
	data, err := httpx.ReadLimited(resp.Body, limit)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: read %s: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, httpError(resp, data)
	}
	return data, nil
}
