package kheops

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// checkID refuses an empty or non-alphanumeric album, webhook, capability
// or client id before it is put in a path.
func checkID(kind, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: %s id must be 1 to 64 letters and digits", ErrInvalid, kind)
	}
	return nil
}

// checkUser refuses an empty user reference (an e-mail or an OIDC sub).
func checkUser(user string) error {
	if user == "" || len(user) > 512 {
		return fmt.Errorf("%w: user must be an e-mail address or an OIDC subject", ErrInvalid)
	}
	return nil
}

// AlbumSettings are the fields of [Client.CreateAlbum] and
// [Client.EditAlbum]. Nil or empty fields are not sent: KHEOPS keeps its
// value (or its default on create). Notification flags are the caller's
// own and only apply to an edit.
type AlbumSettings struct {
	Name                                                                        string
	Description                                                                 *string
	AddUser, DownloadSeries, SendSeries, DeleteSeries, AddSeries, WriteComments *bool
	NotificationNewSeries, NotificationNewComment                               *bool
}

func (s *AlbumSettings) form() url.Values {
	v := form("name", s.Name)
	if s.Description != nil {
		v.Set("description", *s.Description)
	}
	for _, f := range []struct {
		name string
		b    *bool
	}{{"addUser", s.AddUser}, {"downloadSeries", s.DownloadSeries}, {"sendSeries", s.SendSeries},
		{"deleteSeries", s.DeleteSeries}, {"addSeries", s.AddSeries}, {"writeComments", s.WriteComments},
		{"notificationNewSeries", s.NotificationNewSeries}, {"notificationNewComment", s.NotificationNewComment}} {
		setBool(v, f.name, f.b)
	}
	return v
}

// CreateAlbum creates an album (POST /albums); the caller becomes its
// admin. Name is required. User token.
func (c *Client) CreateAlbum(ctx context.Context, s AlbumSettings) (*Album, error) {
	if s.Name == "" {
		return nil, fmt.Errorf("%w: album name is required", ErrInvalid)
	}
	var a Album
	err := c.call(ctx, request{method: http.MethodPost, path: []string{"albums"}, form: s.form(), want: []int{http.StatusCreated}}, &a)
	return ret(&a, err)
}

// AlbumQuery filters [Client.Albums]. Sort is one of created_time,
// last_event_time, name, number_of_users, number_of_studies,
// number_of_comments, with a leading "-" for descending order; empty
// means "-created_time". The booleans only filter when true;
// FuzzyMatching makes Name match approximately.
type AlbumQuery struct {
	Sort, Name, Modality                                       string
	Favorite, CanAddSeries, CanCreateCapability, FuzzyMatching bool
}

// Albums lists the caller's albums (GET /albums). User token.
func (c *Client) Albums(q AlbumQuery) *Pager[Album] {
	v := form("sort", q.Sort, "name", q.Name, "modality", q.Modality)
	for name, b := range map[string]bool{"favorite": q.Favorite, "canAddSeries": q.CanAddSeries, "canCreateCapabilityToken": q.CanCreateCapability, "fuzzymatching": q.FuzzyMatching} {
		if b {
			v.Set(name, "true")
		}
	}
	return newPager[Album](c, request{method: http.MethodGet, path: []string{"albums"}, query: v})
}

// Album gets one album (GET /albums/{album}); with users, its members
// too (includeUsers=true). Any token with access to the album.
func (c *Client) Album(ctx context.Context, album string, users bool) (*Album, error) {
	if err := checkID("album", album); err != nil {
		return nil, err
	}
	var q url.Values
	if users {
		q = url.Values{"includeUsers": {"true"}}
	}
	var a Album
	err := c.call(ctx, request{method: http.MethodGet, path: []string{"albums", album}, query: q, want: []int{http.StatusOK}}, &a)
	return ret(&a, err)
}

// EditAlbum changes an album (PATCH /albums/{album}). KHEOPS clears the
// description of a PATCH that omits it, so when s.Description is nil the
// client first reads the album and sends its current description back.
// Only album admins may edit (KHEOPS refuses every other member, even for
// their own notification flags). Any token with admin access.
func (c *Client) EditAlbum(ctx context.Context, album string, s AlbumSettings) (*Album, error) {
	if err := checkID("album", album); err != nil {
		return nil, err
	}
	if s.Description == nil {
		cur, err := c.Album(ctx, album, false)
		if err != nil {
			return nil, err
		}
		s.Description = &cur.Description
	}
	var a Album
	err := c.call(ctx, request{method: http.MethodPatch, path: []string{"albums", album}, form: s.form(), want: []int{http.StatusOK}}, &a)
	return ret(&a, err)
}

// DeleteAlbum deletes an album (DELETE /albums/{album}); KHEOPS sends its
// delete_album webhooks. Admins only.
func (c *Client) DeleteAlbum(ctx context.Context, album string) error {
	return c.albumCall(ctx, http.MethodDelete, album, nil, nil, http.StatusNoContent)
}

// albumCall runs method on /albums/{album}/rest... expecting status.
func (c *Client) albumCall(ctx context.Context, method, album string, rest []string, f url.Values, status int) error {
	if err := checkID("album", album); err != nil {
		return err
	}
	return c.call(ctx, request{method: method, path: append([]string{"albums", album}, rest...), form: f, want: []int{status}}, nil)
}

// AlbumUsers lists an album's members (GET /albums/{album}/users), with
// IsAdmin set. User token.
func (c *Client) AlbumUsers(album string) *Pager[User] {
	return newPager[User](c, request{method: http.MethodGet, path: []string{"albums", album}, query: nil}).sub(album, "users")
}

// AddAlbumUser adds a user, by e-mail or sub, to an album (PUT
// /albums/{album}/users/{user}); KHEOPS sends new_user webhooks. Adding
// an existing member changes nothing; adding yourself is refused (403).
// Needs the album's add_user permission. User token.
func (c *Client) AddAlbumUser(ctx context.Context, album, user string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	return c.albumCall(ctx, http.MethodPut, album, []string{"users", user}, nil, http.StatusCreated)
}

// RemoveAlbumUser removes a member (DELETE /albums/{album}/users/{user}).
// Anyone may leave; only admins remove others. Removing the last member
// deletes the album. User token.
func (c *Client) RemoveAlbumUser(ctx context.Context, album, user string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	return c.albumCall(ctx, http.MethodDelete, album, []string{"users", user}, nil, http.StatusNoContent)
}

// SetAlbumAdmin promotes (admin true: PUT, adding the user if needed) or
// demotes (DELETE) /albums/{album}/users/{user}/admin. Demoting revokes
// the capability tokens that admin made for the album. Admins only; user
// token.
func (c *Client) SetAlbumAdmin(ctx context.Context, album, user string, admin bool) error {
	if err := checkUser(user); err != nil {
		return err
	}
	return c.albumCall(ctx, putOrDelete(admin), album, []string{"users", user, "admin"}, nil, http.StatusNoContent)
}

// SetAlbumFavorite marks (PUT) or unmarks (DELETE) /albums/{album}/favorites
// for the caller. User token.
func (c *Client) SetAlbumFavorite(ctx context.Context, album string, favorite bool) error {
	return c.albumCall(ctx, putOrDelete(favorite), album, []string{"favorites"}, nil, http.StatusNoContent)
}

func putOrDelete(put bool) string {
	if put {
		return http.MethodPut
	}
	return http.MethodDelete
}

// AlbumEvents lists an album's history (GET /albums/{album}/events):
// comments, mutations, or both when comments and mutations are equal.
// Album capability tokens see comments only. Any token with access.
func (c *Client) AlbumEvents(album string, comments, mutations bool) *Pager[Event] {
	var q url.Values
	if comments != mutations {
		q = url.Values{"types": {map[bool]string{true: "comments", false: "mutations"}[comments]}}
	}
	p := newPager[Event](c, request{method: http.MethodGet, query: q}).sub(album, "events")
	return p
}

// CommentAlbum posts a comment in an album (POST /albums/{album}/comments),
// private to toUser when it is not empty. Needs write_comments; user token.
func (c *Client) CommentAlbum(ctx context.Context, album, comment, toUser string) error {
	if comment == "" || len(comment) > 1024 {
		return fmt.Errorf("%w: comment must have 1 to 1024 characters", ErrInvalid)
	}
	return c.albumCall(ctx, http.MethodPost, album, []string{"comments"}, form("comment", comment, "to_user", toUser), http.StatusNoContent)
}

// sub points p at /albums/{album}/{rest...}; a bad album id makes every
// page fail with ErrInvalid.
func (p *Pager[T]) sub(album string, rest ...string) *Pager[T] {
	p.r.path = append([]string{"albums", album}, rest...)
	p.bad = checkID("album", album)
	return p
}

// ret returns v, or nil and err.
func ret[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}
