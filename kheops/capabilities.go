package kheops

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// CapabilityRequest describes a capability token to create. An empty
// Album makes a user token (it acts as the user, except for managing
// capability tokens; KHEOPS stores only Read and Write for it); with an
// Album, a token for that one album with the given permissions (the
// caller must be the album's admin). Download and Appropriate need Read.
// Zero times leave KHEOPS's defaults: valid from now for three months.
type CapabilityRequest struct {
	Title string
	Album string
	CapabilityPermissions
	NotBefore, Expiration time.Time
}

// requireUserToken refuses a capability token for the calls KHEOPS
// reserves to the user's own token.
func (c *Client) requireUserToken(ctx context.Context) error {
	tok, err := c.tr.Source.Token(ctx)
	if err != nil {
		return fmt.Errorf("kheops: token source: %w", err)
	}
	if IsCapabilityToken(tok) {
		return ErrUserTokenRequired
	}
	return nil
}

// CreateCapability creates a capability token (POST /capabilities). The
// answer's Secret is the token: KHEOPS shows it this once. User's own
// token only ([ErrUserTokenRequired]).
func (c *Client) CreateCapability(ctx context.Context, r CapabilityRequest) (*Capability, error) {
	if r.Title == "" || len(r.Title) > 255 {
		return nil, fmt.Errorf("%w: title must have 1 to 255 characters", ErrInvalid)
	}
	if (r.Download || r.Appropriate) && !r.Read {
		return nil, fmt.Errorf("%w: download and appropriate need read", ErrInvalid)
	}
	f := url.Values{"title": {r.Title}, "scope_type": {"user"}}
	if r.Album != "" {
		if err := checkID("album", r.Album); err != nil {
			return nil, err
		}
		f.Set("scope_type", "album")
		f.Set("album", r.Album)
	}
	for name, b := range map[string]bool{"read_permission": r.Read, "write_permission": r.Write,
		"download_permission": r.Download, "appropriate_permission": r.Appropriate} {
		f.Set(name, fmt.Sprint(b))
	}
	if !r.NotBefore.IsZero() {
		f.Set("not_before_time", r.NotBefore.UTC().Format(time.RFC3339))
	}
	if !r.Expiration.IsZero() {
		f.Set("expiration_time", r.Expiration.UTC().Format(time.RFC3339))
	}
	if err := c.requireUserToken(ctx); err != nil {
		return nil, err
	}
	var cp Capability
	err := c.call(ctx, request{method: http.MethodPost, path: []string{"capabilities"}, form: f, want: []int{http.StatusCreated}}, &cp)
	return ret(&cp, err)
}

// Capabilities lists capability tokens (GET /capabilities): the caller's
// own, or with album those of the album (admins only; user, an e-mail or
// sub, keeps those that user created), only the valid ones when valid is
// true. No secrets. User's own token only: every page
// fails with [ErrUserTokenRequired] for a capability token.
func (c *Client) Capabilities(album, user string, valid bool) *Pager[Capability] {
	q := form("album", album, "user", user)
	if valid {
		q.Set("valid", "true")
	}
	p := newPager[Capability](c, request{method: http.MethodGet, path: []string{"capabilities"}, query: q})
	if album != "" {
		p.bad = checkID("album", album)
	}
	p.check = c.requireUserToken
	return p
}

// Capability gets one of the caller's capability tokens (GET
// /capabilities/{id}), without its secret. User token.
func (c *Client) Capability(ctx context.Context, id string) (*Capability, error) {
	if err := checkID("capability", id); err != nil {
		return nil, err
	}
	var cp Capability
	err := c.call(ctx, request{method: http.MethodGet, path: []string{"capabilities", id}, want: []int{http.StatusOK}}, &cp)
	return ret(&cp, err)
}

// RevokeCapability revokes a capability token (POST
// /capabilities/{id}/revoke) and returns it; revoking a revoked or
// expired token changes nothing. User's own token only.
func (c *Client) RevokeCapability(ctx context.Context, id string) (*Capability, error) {
	if err := checkID("capability", id); err != nil {
		return nil, err
	}
	if err := c.requireUserToken(ctx); err != nil {
		return nil, err
	}
	var cp Capability
	err := c.call(ctx, request{method: http.MethodPost, path: []string{"capabilities", id, "revoke"}, form: url.Values{}, want: []int{http.StatusOK}}, &cp)
	return ret(&cp, err)
}
