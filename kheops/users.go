package kheops

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// LookupUser finds a user by exact e-mail or OIDC sub (GET
// /users?reference=). It returns nil, nil when KHEOPS knows no such user
// (it answers 204). User token.
func (c *Client) LookupUser(ctx context.Context, reference string) (*User, error) {
	if err := checkUser(reference); err != nil {
		return nil, err
	}
	resp, data, err := c.send(ctx, request{method: http.MethodGet, path: []string{"users"},
		query: url.Values{"reference": {reference}}, want: []int{http.StatusOK, http.StatusNoContent}})
	if err != nil || resp.StatusCode == http.StatusNoContent {
		return nil, err
	}
	var u User
	if err := decode(resp, data, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// SearchUsers finds users whose e-mail or name contains search (at least
// 3 characters), the caller excluded (GET /users?search=). With album
// (the caller needs to see its members) or study, each user's
// AlbumAccess or StudyAccess says whether they already see it. KHEOPS
// sends no total for this list. User token.
func (c *Client) SearchUsers(search, album, study string) *Pager[User] {
	p := newPager[User](c, request{method: http.MethodGet, path: []string{"users"},
		query: form("search", search, "album", album, "studyInstanceUID", study)})
	switch {
	case len([]rune(search)) < 3:
		p.bad = fmt.Errorf("%w: search needs at least 3 characters", ErrInvalid)
	case album != "":
		p.bad = checkID("album", album)
	}
	if p.bad == nil && study != "" {
		p.bad = checkUIDs(study)
	}
	return p
}

// InboxInfo summarises the caller's inbox (GET /inboxinfo). User token.
func (c *Client) InboxInfo(ctx context.Context) (*InboxInfo, error) {
	var in InboxInfo
	err := c.call(ctx, request{method: http.MethodGet, path: []string{"inboxinfo"}, want: []int{http.StatusOK}}, &in)
	return ret(&in, err)
}

// ViewerToken is a token for one study, exchanged at KHEOPS's token
// endpoint, that a viewer uses for DICOMweb.
type ViewerToken struct {
	AccessToken Token
	Expiry      time.Time // KHEOPS grants 5 hours
}

// ViewerToken exchanges the client's token for a viewer token for one
// study (POST /token, grant urn:ietf:params:oauth:grant-type:token-exchange,
// scope "viewer read" or "viewer read write"), read through from: an
// album, the inbox, or (zero) wherever the caller sees it. Errors are
// *Error with Code and Description. Any token except a viewer token (a
// five-part JWE), which the client refuses locally.
func (c *Client) ViewerToken(ctx context.Context, study string, from Place, write bool) (*ViewerToken, error) {
	if err := checkUIDs(study); err != nil {
		return nil, err
	}
	if from.Album != "" && from.Inbox {
		return nil, fmt.Errorf("%w: a Place is an album or the inbox, not both", ErrInvalid)
	}
	tok, err := c.tr.Source.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("kheops: token source: %w", err)
	}
	if strings.Count(string(tok), ".") == 4 {
		// A JWE (5 parts) is a viewer token, which KHEOPS never exchanges.
		return nil, fmt.Errorf("%w: a viewer token cannot be exchanged for another", ErrInvalid)
	}
	scope := "viewer read"
	if write {
		scope += " write"
	}
	f := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {string(tok)},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"scope":              {scope},
		"studyUID":           {study},
	}
	switch {
	case from.Album != "":
		if err := checkID("album", from.Album); err != nil {
			return nil, err
		}
		f.Set("source_type", "album")
		f.Set("source_id", from.Album)
	case from.Inbox:
		f.Set("source_type", "inbox")
	}
	var doc struct {
		AccessToken Token  `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	now := time.Now()
	if err := c.call(ctx, request{method: http.MethodPost, path: []string{"token"}, form: f, want: []int{http.StatusOK}}, &doc); err != nil {
		return nil, err
	}
	if doc.AccessToken == "" {
		return nil, fmt.Errorf("%w: token response without access_token", ErrMalformedResponse)
	}
	return &ViewerToken{AccessToken: doc.AccessToken, Expiry: now.Add(time.Duration(min(max(doc.ExpiresIn, 0), 1<<31)) * time.Second)}, nil
}

// CreateReportProvider registers a report provider in an album (POST
// /albums/{album}/reportproviders) from its configuration URL; the answer
// carries its ClientID. Admins only; user token.
func (c *Client) CreateReportProvider(ctx context.Context, album, name, configURL string) (*ReportProvider, error) {
	if name == "" || configURL == "" {
		return nil, fmt.Errorf("%w: name and configuration URL are required", ErrInvalid)
	}
	var p ReportProvider
	err := c.providerCall(ctx, http.MethodPost, album, "", form("url", configURL, "name", name), http.StatusCreated, &p)
	return ret(&p, err)
}

func (c *Client) providerCall(ctx context.Context, method, album, clientID string, f url.Values, status int, out any) error {
	if err := checkID("album", album); err != nil {
		return err
	}
	path := []string{"albums", album, "reportproviders"}
	if method != http.MethodPost {
		if err := checkClientID(clientID); err != nil {
			return err
		}
		path = append(path, clientID)
	}
	return c.call(ctx, request{method: method, path: path, form: f, want: []int{status}}, out)
}

func checkClientID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("%w: client id must have 1 to 128 characters", ErrInvalid)
	}
	return nil
}

// ReportProviders lists an album's report providers, newest first (GET
// /albums/{album}/reportproviders). Any member; user token.
func (c *Client) ReportProviders(album string) *Pager[ReportProvider] {
	return newPager[ReportProvider](c, request{method: http.MethodGet}).sub(album, "reportproviders")
}

// ReportProvider gets one report provider (GET
// /albums/{album}/reportproviders/{clientID}). Any member; user token.
func (c *Client) ReportProvider(ctx context.Context, album, clientID string) (*ReportProvider, error) {
	var p ReportProvider
	err := c.providerCall(ctx, http.MethodGet, album, clientID, nil, http.StatusOK, &p)
	return ret(&p, err)
}

// EditReportProvider changes a report provider's name or configuration
// URL (PATCH /albums/{album}/reportproviders/{clientID}); empty values
// are unchanged. Admins only; user token.
func (c *Client) EditReportProvider(ctx context.Context, album, clientID, name, configURL string) (*ReportProvider, error) {
	var p ReportProvider
	err := c.providerCall(ctx, http.MethodPatch, album, clientID, form("url", configURL, "name", name), http.StatusOK, &p)
	return ret(&p, err)
}

// DeleteReportProvider removes a report provider (DELETE
// /albums/{album}/reportproviders/{clientID}). Admins only; user token.
func (c *Client) DeleteReportProvider(ctx context.Context, album, clientID string) error {
	return c.providerCall(ctx, http.MethodDelete, album, clientID, nil, http.StatusNoContent, nil)
}

// CheckReportProvider asks KHEOPS to fetch and check a provider's
// configuration document (POST /reportproviders/metadata). valid says
// whether KHEOPS would register it; fields holds the fields KHEOPS read
// from it (empty when invalid). Any token.
func (c *Client) CheckReportProvider(ctx context.Context, configURL string) (valid bool, fields map[string]json.RawMessage, err error) {
	if configURL == "" {
		return false, nil, fmt.Errorf("%w: configuration URL is required", ErrInvalid)
	}
	var doc map[string]json.RawMessage
	if err := c.call(ctx, request{method: http.MethodPost, path: []string{"reportproviders", "metadata"},
		form: url.Values{"url": {configURL}}, want: []int{http.StatusOK}}, &doc); err != nil {
		return false, nil, err
	}
	if err := json.Unmarshal(doc["valid"], &valid); err != nil {
		return false, nil, fmt.Errorf("%w: metadata answer without a boolean \"valid\"", ErrMalformedResponse)
	}
	delete(doc, "valid")
	return valid, doc, nil
}
