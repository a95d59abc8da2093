package kheopstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

type provider struct {
	clientID string
	url      string
	name     string
	album    string
	created  time.Time
	seq      int // registration order, for equal times
	removed  bool
}

// providerConfig is what KHEOPS reads from a provider configuration
// document (ReportProviderClientMetadata).
type providerConfig struct {
	RedirectURI                 *string  `json:"redirect_uri"`
	ResponseType                *string  `json:"response_type"`
	TokenEndpointAuthMethod     *string  `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg *string  `json:"token_endpoint_auth_signing_alg"`
	JWKSURI                     *string  `json:"jwks_uri"`
	ClientName                  string   `json:"client_name,omitempty"`
	ClientURI                   string   `json:"client_uri,omitempty"`
	LogoURI                     string   `json:"logo_uri,omitempty"`
	TOSURI                      string   `json:"tos_uri,omitempty"`
	PolicyURI                   string   `json:"policy_uri,omitempty"`
	Contacts                    []string `json:"contacts,omitempty"`
	SoftwareVersion             string   `json:"software_version,omitempty"`
	SoftwareID                  string   `json:"software_id,omitempty"`
	Scope                       string   `json:"scope,omitempty"`
	GrantTypes                  []string `json:"grant_types,omitempty"`
	IntrospectionAuthMethod     string   `json:"introspection_endpoint_auth_method,omitempty"`
	IntrospectionAuthSigningAlg string   `json:"introspection_endpoint_auth_signing_alg,omitempty"`
	SupportedModalities         []string `json:"supported_modalities,omitempty"`
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

var javaScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// javaURI splits raw like java.net.URI: the scheme and the raw authority,
// as written. It fails for strings java.net.URI refuses to parse.
func javaURI(raw string) (scheme, authority string, err error) {
	if raw == "" || strings.ContainsAny(raw, " \"<>\\^`{|}") {
		return "", "", errors.New("illegal character")
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f {
			return "", "", errors.New("illegal character")
		}
	}
	if _, err := url.Parse(raw); err != nil {
		return "", "", err
	}
	i := strings.IndexByte(raw, ':')
	if i <= 0 || !javaScheme.MatchString(raw[:i]) {
		return "", "", nil // relative: no scheme, no authority
	}
	scheme = raw[:i]
	rest, ok := strings.CutPrefix(raw[i+1:], "//")
	if !ok {
		return scheme, "", nil
	}
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	return scheme, rest, nil
}

// validate applies validateForConfigUri: the first failure wins.
func (c *providerConfig) validate(configURL string, standardPorts bool) error {
	cs, ca, err := javaURI(configURL)
	if err != nil {
		return fmt.Errorf("bad configuration URL: %w", err)
	}
	if standardPorts {
		if _, port := hostPort(ca); (cs != "http" && cs != "https") || (port != "" && port != "80" && port != "443") {
			return errors.New("configuration URL is not http(s) on a standard port")
		}
	}
	if c.RedirectURI == nil {
		return errors.New("redirect_uri missing")
	}
	rs, ra, err := javaURI(*c.RedirectURI)
	if err != nil {
		return errors.New("redirect_uri unparseable")
	}
	if rs != cs || ra != ca {
		return errors.New("configuration URL root does not match redirect_uri root")
	}
	if c.ResponseType == nil {
		return errors.New("response_type missing")
	}
	switch *c.ResponseType {
	case "code":
		if c.TokenEndpointAuthMethod == nil {
			return errors.New("token_endpoint_auth_method missing")
		}
		if *c.TokenEndpointAuthMethod != "private_key_jwt" {
			return errors.New("unknown token_endpoint_auth_method")
		}
		if c.JWKSURI == nil {
			return errors.New("jwks_uri missing")
		}
		js, ja, err := javaURI(*c.JWKSURI)
		if err != nil {
			return errors.New("jwks_uri unparseable")
		}
		if js != cs || ja != ca {
			return errors.New("configuration URL root does not match jwks_uri root")
		}
		if c.TokenEndpointAuthSigningAlg == nil {
			return errors.New("token_endpoint_auth_signing_alg missing")
		}
		if *c.TokenEndpointAuthSigningAlg != "RS256" {
			return errors.New("unknown token_endpoint_auth_signing_alg")
		}
	case "token":
	default:
		return errors.New("unknown response_type")
	}
	return nil
}

// providerConfiguration fetches and validates a configuration document, as
// KHEOPS does each time it needs one.
func (s *Server) providerConfiguration(ctx context.Context, configURL string) (*providerConfig, error) {
	body, err := s.fetchURL(ctx, configURL, "")
	if err != nil {
		return nil, err
	}
	var c providerConfig
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("kheopstest: configuration is not JSON: %w", err)
	}
	if err := c.validate(configURL, s.cfg.standardPortsOnly); err != nil {
		return nil, err
	}
	return &c, nil
}

// lookupProvider returns a non-removed provider.
func (s *Server) lookupProvider(clientID string) (provider, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.providers[clientID]
	if !ok || p.removed {
		return provider{}, false
	}
	return *p, true
}

// registration is the JSON KHEOPS answers a registration with.
type registration struct {
	Name        string `json:"name"`
	URL         string `json:"url"`
	ClientID    string `json:"client_id"`
	CreatedTime string `json:"created_time"`
}

func (p provider) registration() registration {
	return registration{Name: p.name, URL: p.url, ClientID: p.clientID, CreatedTime: javaTime(p.created)}
}

// albumAdmin authenticates a provider administration request: user
// access, the album, and MANAGE_DICOM_SR (admins) to change providers or
// GET_DICOM_SR (any member) to read them. It returns with s.mu held.
func (s *Server) providerCaller(w http.ResponseWriter, r *http.Request) (*caller, *album) {
	p := permAdmin
	if r.Method == http.MethodGet {
		p = permMember
	}
	return s.albumCaller(w, r, true, p)
}

func (s *Server) serveRegister(w http.ResponseWriter, r *http.Request) {
	if !form(w, r) {
		return
	}
	c, a := s.providerCaller(w, r)
	if a == nil {
		return
	}
	s.mu.Unlock()
	name, configURL := r.PostForm.Get("name"), r.PostForm.Get("url")
	if name == "" {
		badForm(w, "'name' formparam is not valid")
		return
	}
	if _, err := s.providerConfiguration(s.registerContext(r), configURL); err != nil {
		badForm(w, "'url' formparam is not valid")
		return
	}
	p := &provider{clientID: randomID(22), url: configURL, name: name, album: a.id, created: s.now()}
	s.mu.Lock()
	p.seq = len(s.providers)
	s.providers[p.clientID] = p
	s.mutationLocked(c, a, "CREATE_REPORT_PROVIDER", "", "")
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, p.registration())
}

// serveListProviders lists an album's providers, newest first, paged.
func (s *Server) serveListProviders(w http.ResponseWriter, r *http.Request) {
	_, a := s.providerCaller(w, r)
	if a == nil {
		return
	}
	var list []*provider
	for _, p := range s.providers {
		if p.album == a.id && !p.removed {
			list = append(list, p)
		}
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool {
		if !list[i].created.Equal(list[j].created) {
			return list[i].created.After(list[j].created)
		}
		return list[i].seq > list[j].seq
	})
	from, to, ok := page(w, r, len(list))
	if !ok {
		return
	}
	out := []registration{}
	for _, p := range list[from:to] {
		out = append(out, p.registration())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) albumProvider(w http.ResponseWriter, r *http.Request) (*caller, provider, bool) {
	c, a := s.providerCaller(w, r)
	if a == nil {
		return nil, provider{}, false
	}
	s.mu.Unlock()
	p, ok := s.lookupProvider(r.PathValue("client"))
	if !ok || p.album != a.id {
		apiErr(w, http.StatusNotFound, "Client ID not found", "The report provider does not exist in this album")
		return nil, provider{}, false
	}
	return c, p, true
}

func (s *Server) serveGetProvider(w http.ResponseWriter, r *http.Request) {
	if _, p, ok := s.albumProvider(w, r); ok {
		writeJSON(w, http.StatusOK, p.registration())
	}
}

func (s *Server) servePatchProvider(w http.ResponseWriter, r *http.Request) {
	if !form(w, r) {
		return
	}
	_, p, ok := s.albumProvider(w, r)
	if !ok {
		return
	}
	if u := r.PostForm.Get("url"); u != "" {
		if _, err := s.providerConfiguration(s.registerContext(r), u); err != nil {
			badForm(w, "'url' formparam is not valid")
			return
		}
		p.url = u
	}
	if n := r.PostForm.Get("name"); n != "" {
		p.name = n
	}
	s.mu.Lock()
	*s.providers[p.clientID] = p
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, p.registration())
}

func (s *Server) serveDeleteProvider(w http.ResponseWriter, r *http.Request) {
	_, p, ok := s.albumProvider(w, r)
	if !ok {
		return
	}
	s.RemoveProvider(p.clientID)
	w.WriteHeader(http.StatusNoContent)
}

// RemoveProvider deletes a registration. Its codes stop redeeming
// (invalid_client), its tokens introspect as inactive, and its DICOMweb
// access ends, at once.
func (s *Server) RemoveProvider(clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.providers[clientID]; ok {
		p.removed = true
	}
}

// serveTestURL is the UI's "test URL" call (any valid token): always 200.
func (s *Server) serveTestURL(w http.ResponseWriter, r *http.Request) {
	if s.authn(w, r) == nil || !form(w, r) {
		return
	}
	c, err := s.providerConfiguration(s.registerContext(r), r.PostForm.Get("url"))
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]bool{"valid": false})
		return
	}
	out := map[string]any{
		"valid":         true,
		"redirect_uri":  deref(c.RedirectURI),
		"response_type": deref(c.ResponseType),
	}
	for k, v := range map[string]string{
		"token_endpoint_auth_method": deref(c.TokenEndpointAuthMethod), "token_endpoint_auth_signing_alg": deref(c.TokenEndpointAuthSigningAlg),
		"jwks_uri": deref(c.JWKSURI), "client_name": c.ClientName, "client_uri": c.ClientURI, "logo_uri": c.LogoURI,
		"tos_uri": c.TOSURI, "policy_uri": c.PolicyURI, "software_version": c.SoftwareVersion,
		"scope": c.Scope, "software_id": c.SoftwareID, "introspection_endpoint_auth_method": c.IntrospectionAuthMethod,
		"introspection_endpoint_auth_signing_alg": c.IntrospectionAuthSigningAlg,
	} {
		if v != "" {
			out[k] = v
		}
	}
	if len(c.Contacts) > 0 {
		out["contacts"] = c.Contacts
	}
	if len(c.GrantTypes) > 0 {
		out["grant_types"] = c.GrantTypes
	}
	if len(c.SupportedModalities) > 0 {
		out["supported_modalities"] = c.SupportedModalities
	}
	writeJSON(w, http.StatusOK, out)
}

// Register registers a provider in an album through the HTTP API, as an
// album admin holding userToken would, and returns its client_id.
func (s *Server) Register(ctx context.Context, userToken, albumID, name, configURL string) (string, error) {
	form := url.Values{"url": {configURL}, "name": {name}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/albums/"+url.PathEscape(albumID)+"/reportproviders", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+userToken)
	resp, err := s.Client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var reg registration
	body, err := readAll(resp)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", apiError(resp, body)
	}
	if err := json.Unmarshal(body, &reg); err != nil {
		return "", err
	}
	return reg.ClientID, nil
}

// APIError is a non-success answer to one of the Server's helper calls
// ([Server.Register], [Server.Launch]), with the fields every remote error
// of the SDK has.
type APIError struct {
	Method     string
	URL        string // without query or user info
	StatusCode int
	Body       string // the start of the answer, cleaned
}

func (e *APIError) Error() string {
	return fmt.Sprintf("kheopstest: %s %s: HTTP %d: %s", e.Method, e.URL, e.StatusCode, e.Body)
}

// apiError builds the APIError of resp, whose body (already read) is body.
func apiError(resp *http.Response, body []byte) *APIError {
	r := httpx.DescribeResponse(resp, body)
	return &APIError{Method: r.Method, URL: r.URL, StatusCode: r.StatusCode, Body: r.Body}
}
