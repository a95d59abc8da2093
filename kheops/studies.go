package kheops

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// Place names where studies are taken from or put: an album (Album set)
// or the caller's inbox (Inbox true). The zero Place, as a source, means
// everything the caller can see.
type Place struct {
	Album string
	Inbox bool
}

// query is the source selector KHEOPS reads: ?album={id} or ?inbox=true.
func (p Place) query() (url.Values, error) {
	switch {
	case p.Album != "" && p.Inbox:
		return nil, fmt.Errorf("%w: a Place is an album or the inbox, not both", ErrInvalid)
	case p.Album != "":
		if err := checkID("album", p.Album); err != nil {
			return nil, err
		}
		return url.Values{"album": {p.Album}}, nil
	case p.Inbox:
		return url.Values{"inbox": {"true"}}, nil
	}
	return nil, nil
}

// checkUIDs refuses UIDs KHEOPS would not route (an OID in dotted form,
// leading zeros allowed, at most 256 characters here); empty ones are
// refused too.
func checkUIDs(uids ...string) error {
	for _, u := range uids {
		if len(u) > 256 || !dicomio.IsOID(u) {
			return fmt.Errorf("%w: UID must be a dotted OID of at most 256 characters", ErrInvalid)
		}
	}
	return nil
}

// studyPath is studies/{study}[/series/{series}] + rest.
func studyPath(study, series string, rest ...string) []string {
	p := []string{"studies", study}
	if series != "" {
		p = append(p, "series", series)
	}
	return append(p, rest...)
}

// studyCall checks the UIDs and runs method on studyPath(...).
func (c *Client) studyCall(ctx context.Context, method, study, series string, q url.Values, status int, rest ...string) error {
	uids := []string{study}
	if series != "" {
		uids = append(uids, series)
	}
	if err := checkUIDs(uids...); err != nil {
		return err
	}
	return c.call(ctx, request{method: method, path: studyPath(study, series, rest...), query: q, want: []int{status}}, nil)
}

// ShareStudy sends a study to a user's inbox (PUT
// /studies/{study}/users/{user}): every series of it the caller can see
// in from (zero: anywhere). Sending from an album needs its send_series
// permission. Any token.
func (c *Client) ShareStudy(ctx context.Context, study, user string, from Place) error {
	q, err := from.query()
	if err != nil {
		return err
	}
	if err := checkUser(user); err != nil {
		return err
	}
	return c.studyCall(ctx, http.MethodPut, study, "", q, http.StatusCreated, "users", user)
}

// ShareSeries sends one series to a user's inbox (PUT
// /studies/{study}/series/{series}/users/{user}). Any token.
func (c *Client) ShareSeries(ctx context.Context, study, series, user string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if series == "" {
		return fmt.Errorf("%w: series UID is required", ErrInvalid)
	}
	return c.studyCall(ctx, http.MethodPut, study, series, nil, http.StatusCreated, "users", user)
}

// AddStudy puts a study's series into an album or the inbox:
//
//   - to an album: PUT /studies/{study}/albums/{album}, taking the series
//     the caller sees in from (zero: anywhere); needs add_series in the
//     target album and send_series in a source album; user token. KHEOPS
//     sends new_series webhooks (debounced 30 s) and answers 404 when
//     there is nothing to add.
//   - to the inbox ("appropriate"): PUT /studies/{study}, from an album
//     (send_series) or anywhere. Any token.
func (c *Client) AddStudy(ctx context.Context, study string, to, from Place) error {
	q, err := from.query()
	if err != nil {
		return err
	}
	switch {
	case to.Album != "" && !to.Inbox:
		if err := checkID("album", to.Album); err != nil {
			return err
		}
		return c.studyCall(ctx, http.MethodPut, study, "", q, http.StatusCreated, "albums", to.Album)
	case to.Inbox && to.Album == "":
		if from.Inbox {
			return fmt.Errorf("%w: the study is already in the inbox", ErrInvalid)
		}
		return c.studyCall(ctx, http.MethodPut, study, "", q, http.StatusCreated)
	}
	return fmt.Errorf("%w: the target is one album or the inbox", ErrInvalid)
}

// AddSeries puts one series into an album (PUT
// /studies/{study}/series/{series}/albums/{album}; add_series; user
// token) or into the inbox (PUT /studies/{study}/series/{series}: KHEOPS
// calls it "appropriate"; it also claims a series UID it does not know
// yet, which a user must do before storing it over STOW-RS; any token).
func (c *Client) AddSeries(ctx context.Context, study, series string, to Place) error {
	if series == "" {
		return fmt.Errorf("%w: series UID is required", ErrInvalid)
	}
	switch {
	case to.Album != "" && !to.Inbox:
		if err := checkID("album", to.Album); err != nil {
			return err
		}
		return c.studyCall(ctx, http.MethodPut, study, series, nil, http.StatusCreated, "albums", to.Album)
	case to.Inbox && to.Album == "":
		return c.studyCall(ctx, http.MethodPut, study, series, nil, http.StatusCreated)
	}
	return fmt.Errorf("%w: the target is one album or the inbox", ErrInvalid)
}

// RemoveStudy removes a study from an album (DELETE
// /studies/{study}/albums/{album}; delete_series; KHEOPS sends
// remove_series webhooks) or from the caller's inbox (DELETE
// /studies/{study}). Any token.
func (c *Client) RemoveStudy(ctx context.Context, study string, from Place) error {
	return c.remove(ctx, study, "", from)
}

// RemoveSeries removes one series from an album (DELETE
// /studies/{study}/series/{series}/albums/{album}) or from the inbox
// (DELETE /studies/{study}/series/{series}). Any token.
func (c *Client) RemoveSeries(ctx context.Context, study, series string, from Place) error {
	if series == "" {
		return fmt.Errorf("%w: series UID is required", ErrInvalid)
	}
	return c.remove(ctx, study, series, from)
}

func (c *Client) remove(ctx context.Context, study, series string, from Place) error {
	switch {
	case from.Album != "" && !from.Inbox:
		if err := checkID("album", from.Album); err != nil {
			return err
		}
		return c.studyCall(ctx, http.MethodDelete, study, series, nil, http.StatusNoContent, "albums", from.Album)
	case from.Inbox && from.Album == "":
		return c.studyCall(ctx, http.MethodDelete, study, series, nil, http.StatusNoContent)
	}
	return fmt.Errorf("%w: remove from one album or the inbox", ErrInvalid)
}

// SetFavorite marks (PUT) or unmarks (DELETE) a study, or one series of
// it when series is not empty, as a favorite in an album (needs
// add_series there) or in the inbox:
// /studies/{study}[/series/{series}]/favorites?album=|inbox=true. User
// token.
func (c *Client) SetFavorite(ctx context.Context, study, series string, in Place, favorite bool) error {
	q, err := in.query()
	if err != nil {
		return err
	}
	if q == nil {
		return fmt.Errorf("%w: a favorite is set in one album or the inbox", ErrInvalid)
	}
	return c.studyCall(ctx, putOrDelete(favorite), study, series, q, http.StatusNoContent, "favorites")
}

// StudyComments lists a study's comments (GET /studies/{study}/comments).
// Any token.
func (c *Client) StudyComments(study string) *Pager[Event] {
	p := newPager[Event](c, request{method: http.MethodGet, path: studyPath(study, "", "comments")})
	p.bad = checkUIDs(study)
	return p
}

// CommentStudy posts a comment on a study (POST
// /studies/{study}/comments), private to toUser when it is not empty.
// User token.
func (c *Client) CommentStudy(ctx context.Context, study, comment, toUser string) error {
	if comment == "" || len(comment) > 1024 {
		return fmt.Errorf("%w: comment must have 1 to 1024 characters", ErrInvalid)
	}
	if err := checkUIDs(study); err != nil {
		return err
	}
	return c.call(ctx, request{method: http.MethodPost, path: studyPath(study, "", "comments"),
		form: form("comment", comment, "to_user", toUser), want: []int{http.StatusNoContent}}, nil)
}
