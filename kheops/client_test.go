package kheops_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops"
)

// userToken has the shape of a KHEOPS OIDC access token (a JWT);
// capToken the shape of a capability token.
const (
	userToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI2ZjBhIn0.c2ln"
	capToken  = "AbCdEfGhIjKlMnOpQrStUv"
)

// recorded is what the fake REST server saw.
type recorded struct {
	Method, URI, Form, ContentType, Authorization, Accept string
}

// rest is a KHEOPS stand-in under a non-root path that answers each
// request with the next canned response and records the request.
type rest struct {
	srv  *httptest.Server
	root string
	mu   sync.Mutex // guards seen and next
	seen []recorded
	next []canned
}

type canned struct {
	status int
	file   string // testdata/rest/<file>; "" for no body
	header http.Header
}

func newREST(t *testing.T) *rest {
	r := &rest{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.seen = append(r.seen, recorded{req.Method, strings.TrimPrefix(req.URL.RequestURI(), "/kheops/api"), string(body),
			req.Header.Get("Content-Type"), req.Header.Get("Authorization"), req.Header.Get("Accept")})
		var c canned
		if len(r.next) > 0 {
			c, r.next = r.next[0], r.next[1:]
		} else {
			c = canned{status: http.StatusNotFound}
		}
		r.mu.Unlock()
		for k, v := range c.header {
			w.Header()[k] = v
		}
		var data []byte
		if c.file != "" {
			var err error
			data, err = os.ReadFile(filepath.Join("testdata", "rest", c.file))
			if err != nil {
				panic(err)
			}
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(c.status)
		_, _ = w.Write(data)
	}))
	t.Cleanup(r.srv.Close)
	r.root = r.srv.URL + "/kheops"
	return r
}

func (r *rest) answer(c ...canned) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen, r.next = nil, c
}

func (r *rest) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.seen...)
}

func client(t *testing.T, root string, tok kheops.Token) *kheops.Client {
	c, err := kheops.New(kheops.Config{URL: root + "/", Token: kheops.StaticToken(tok)})
	require.NoError(t, err)
	return c
}

const formType = "application/x-www-form-urlencoded"

func ptr[T any](v T) *T { return &v }

// TestGoldenRequests pins every operation to the request KHEOPS expects
// (method, path, query, form body) and reads the recorded answer.
func TestGoldenRequests(t *testing.T) {
	t.Parallel()
	r := newREST(t)
	c := client(t, r.root, userToken)
	ctx := context.Background()
	total := http.Header{"X-Total-Count": {"2"}}
	cases := []struct {
		name   string
		answer []canned
		call   func() (any, error)
		want   []recorded // Method, URI, Form (ContentType is checked from Form)
		check  func(t *testing.T, got any)
	}{
		{"create album", []canned{{201, "album.json", nil}},
			func() (any, error) {
				return c.CreateAlbum(ctx, kheops.AlbumSettings{Name: "Tumour board", Description: ptr("weekly"), AddUser: ptr(false), WriteComments: ptr(true)})
			},
			[]recorded{{Method: "POST", URI: "/albums", Form: "addUser=false&description=weekly&name=Tumour+board&writeComments=true"}},
			func(t *testing.T, got any) {
				a := got.(*kheops.Album)
				assert.Equal(t, "Ab12Cd34Ef", a.ID)
				assert.Equal(t, time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC), a.CreatedTime.Time)
				assert.Equal(t, time.Date(2024, 5, 6, 7, 8, 0, 0, time.UTC), a.LastEventTime.Time)
				assert.Equal(t, kheops.AlbumPermissions{DownloadSeries: true, SendSeries: true, AddSeries: true, WriteComments: true}, a.AlbumPermissions)
				assert.True(t, a.IsAdmin)
				assert.Equal(t, []string{"CT", "SR"}, a.Modalities)
				assert.Equal(t, 3, a.NumberOfInstances)
			}},
		{"list albums", []canned{{200, "albums.json", total}},
			func() (any, error) {
				return c.Albums(kheops.AlbumQuery{Sort: "-name", Favorite: true, CanCreateCapability: true, FuzzyMatching: true}).Page(ctx, 10, 20)
			},
			[]recorded{{Method: "GET", URI: "/albums?canCreateCapabilityToken=true&favorite=true&fuzzymatching=true&limit=10&offset=20&sort=-name"}},
			func(t *testing.T, got any) {
				p := got.(*kheops.Page[kheops.Album])
				assert.Equal(t, 2, p.Total)
				require.Len(t, p.Items, 2)
				assert.Equal(t, time.Date(2024, 5, 5, 1, 2, 3, 5e8, time.UTC), p.Items[1].CreatedTime.Time)
			}},
		{"get album with users", []canned{{200, "album.json", nil}},
			func() (any, error) { return c.Album(ctx, "Ab12Cd34Ef", true) },
			[]recorded{{Method: "GET", URI: "/albums/Ab12Cd34Ef?includeUsers=true"}}, nil},
		{"edit album keeps the description", []canned{{200, "album.json", nil}, {200, "album.json", nil}},
			func() (any, error) {
				return c.EditAlbum(ctx, "Ab12Cd34Ef", kheops.AlbumSettings{AddUser: ptr(true), NotificationNewComment: ptr(false)})
			},
			[]recorded{{Method: "GET", URI: "/albums/Ab12Cd34Ef"},
				{Method: "PATCH", URI: "/albums/Ab12Cd34Ef", Form: "addUser=true&description=weekly&notificationNewComment=false"}}, nil},
		{"edit album with a description", []canned{{200, "album.json", nil}},
			func() (any, error) {
				return c.EditAlbum(ctx, "Ab12Cd34Ef", kheops.AlbumSettings{Name: "B", Description: ptr("")})
			},
			[]recorded{{Method: "PATCH", URI: "/albums/Ab12Cd34Ef", Form: "description=&name=B"}}, nil},
		{"delete album", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.DeleteAlbum(ctx, "Ab12Cd34Ef") },
			[]recorded{{Method: "DELETE", URI: "/albums/Ab12Cd34Ef"}}, nil},
		{"album users", []canned{{200, "users.json", total}},
			func() (any, error) { return c.AlbumUsers("Ab12Cd34Ef").Page(ctx, 0, 0) },
			[]recorded{{Method: "GET", URI: "/albums/Ab12Cd34Ef/users"}},
			func(t *testing.T, got any) {
				p := got.(*kheops.Page[kheops.User])
				assert.True(t, p.Items[0].IsAdmin)
				assert.Equal(t, "bob@example.org", p.Items[1].Email)
			}},
		{"add user", []canned{{201, "", nil}},
			func() (any, error) { return nil, c.AddAlbumUser(ctx, "Ab12Cd34Ef", "bob@example.org") },
			[]recorded{{Method: "PUT", URI: "/albums/Ab12Cd34Ef/users/bob@example.org"}}, nil},
		{"remove user", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.RemoveAlbumUser(ctx, "Ab12Cd34Ef", "a/b c") },
			[]recorded{{Method: "DELETE", URI: "/albums/Ab12Cd34Ef/users/a%2Fb%20c"}}, nil},
		{"promote", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.SetAlbumAdmin(ctx, "Ab12Cd34Ef", "77b1", true) },
			[]recorded{{Method: "PUT", URI: "/albums/Ab12Cd34Ef/users/77b1/admin"}}, nil},
		{"demote", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.SetAlbumAdmin(ctx, "Ab12Cd34Ef", "77b1", false) },
			[]recorded{{Method: "DELETE", URI: "/albums/Ab12Cd34Ef/users/77b1/admin"}}, nil},
		{"album favorite", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.SetAlbumFavorite(ctx, "Ab12Cd34Ef", true) },
			[]recorded{{Method: "PUT", URI: "/albums/Ab12Cd34Ef/favorites"}}, nil},
		{"album unfavorite", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.SetAlbumFavorite(ctx, "Ab12Cd34Ef", false) },
			[]recorded{{Method: "DELETE", URI: "/albums/Ab12Cd34Ef/favorites"}}, nil},
		{"album events", []canned{{200, "events.json", total}},
			func() (any, error) { return c.AlbumEvents("Ab12Cd34Ef", true, false).Page(ctx, 5, 0) },
			[]recorded{{Method: "GET", URI: "/albums/Ab12Cd34Ef/events?limit=5&types=comments"}},
			func(t *testing.T, got any) {
				p := got.(*kheops.Page[kheops.Event])
				require.Len(t, p.Items, 2)
				assert.Equal(t, "look at series 2", p.Items[0].Comment)
				assert.Equal(t, time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC), p.Items[0].PostDate.Time)
				assert.Equal(t, "IMPORT_SERIES", p.Items[1].MutationType)
				assert.Contains(t, string(p.Items[1].Study), `"is_present_in_album":true`)
			}},
		{"comment album", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.CommentAlbum(ctx, "Ab12Cd34Ef", "hello & bye", "bob@example.org") },
			[]recorded{{Method: "POST", URI: "/albums/Ab12Cd34Ef/comments", Form: "comment=hello+%26+bye&to_user=bob%40example.org"}}, nil},
		{"study comments", []canned{{200, "events.json", total}},
			func() (any, error) { return c.StudyComments("2.25.1").Page(ctx, 0, 1) },
			[]recorded{{Method: "GET", URI: "/studies/2.25.1/comments?offset=1"}}, nil},
		{"comment study", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.CommentStudy(ctx, "2.25.1", "ok", "") },
			[]recorded{{Method: "POST", URI: "/studies/2.25.1/comments", Form: "comment=ok"}}, nil},
		{"share study from album", []canned{{201, "", nil}},
			func() (any, error) {
				return nil, c.ShareStudy(ctx, "2.25.1", "bob@example.org", kheops.Place{Album: "Ab12Cd34Ef"})
			},
			[]recorded{{Method: "PUT", URI: "/studies/2.25.1/users/bob@example.org?album=Ab12Cd34Ef"}}, nil},
		{"share series", []canned{{201, "", nil}},
			func() (any, error) { return nil, c.ShareSeries(ctx, "2.25.1", "2.25.1.01", "77b1") },
			[]recorded{{Method: "PUT", URI: "/studies/2.25.1/series/2.25.1.01/users/77b1"}}, nil},
		{"add study to album from inbox", []canned{{201, "", nil}},
			func() (any, error) {
				return nil, c.AddStudy(ctx, "2.25.1", kheops.Place{Album: "Ab12Cd34Ef"}, kheops.Place{Inbox: true})
			},
			[]recorded{{Method: "PUT", URI: "/studies/2.25.1/albums/Ab12Cd34Ef?inbox=true"}}, nil},
		{"appropriate study from album", []canned{{201, "", nil}},
			func() (any, error) {
				return nil, c.AddStudy(ctx, "2.25.1", kheops.Place{Inbox: true}, kheops.Place{Album: "Ab12Cd34Ef"})
			},
			[]recorded{{Method: "PUT", URI: "/studies/2.25.1?album=Ab12Cd34Ef"}}, nil},
		{"add series to album", []canned{{201, "", nil}},
			func() (any, error) {
				return nil, c.AddSeries(ctx, "2.25.1", "2.25.1.1", kheops.Place{Album: "Ab12Cd34Ef"})
			},
			[]recorded{{Method: "PUT", URI: "/studies/2.25.1/series/2.25.1.1/albums/Ab12Cd34Ef"}}, nil},
		{"appropriate series", []canned{{201, "", nil}},
			func() (any, error) { return nil, c.AddSeries(ctx, "2.25.1", "2.25.1.1", kheops.Place{Inbox: true}) },
			[]recorded{{Method: "PUT", URI: "/studies/2.25.1/series/2.25.1.1"}}, nil},
		{"remove study from album", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.RemoveStudy(ctx, "2.25.1", kheops.Place{Album: "Ab12Cd34Ef"}) },
			[]recorded{{Method: "DELETE", URI: "/studies/2.25.1/albums/Ab12Cd34Ef"}}, nil},
		{"remove study from inbox", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.RemoveStudy(ctx, "2.25.1", kheops.Place{Inbox: true}) },
			[]recorded{{Method: "DELETE", URI: "/studies/2.25.1"}}, nil},
		{"remove series from album", []canned{{204, "", nil}},
			func() (any, error) {
				return nil, c.RemoveSeries(ctx, "2.25.1", "2.25.1.1", kheops.Place{Album: "Ab12Cd34Ef"})
			},
			[]recorded{{Method: "DELETE", URI: "/studies/2.25.1/series/2.25.1.1/albums/Ab12Cd34Ef"}}, nil},
		{"remove series from inbox", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.RemoveSeries(ctx, "2.25.1", "2.25.1.1", kheops.Place{Inbox: true}) },
			[]recorded{{Method: "DELETE", URI: "/studies/2.25.1/series/2.25.1.1"}}, nil},
		{"favorite study in album", []canned{{204, "", nil}},
			func() (any, error) {
				return nil, c.SetFavorite(ctx, "2.25.1", "", kheops.Place{Album: "Ab12Cd34Ef"}, true)
			},
			[]recorded{{Method: "PUT", URI: "/studies/2.25.1/favorites?album=Ab12Cd34Ef"}}, nil},
		{"unfavorite series in inbox", []canned{{204, "", nil}},
			func() (any, error) {
				return nil, c.SetFavorite(ctx, "2.25.1", "2.25.1.1", kheops.Place{Inbox: true}, false)
			},
			[]recorded{{Method: "DELETE", URI: "/studies/2.25.1/series/2.25.1.1/favorites?inbox=true"}}, nil},
		{"create album capability", []canned{{201, "capability_created.json", nil}},
			func() (any, error) {
				return c.CreateCapability(ctx, kheops.CapabilityRequest{Title: "viewer link", Album: "Ab12Cd34Ef", CapabilityPermissions: kheops.CapabilityPermissions{Read: true, Download: true},
					Expiration: time.Date(2099, 12, 31, 23, 59, 0, 0, time.FixedZone("CET", 3600))})
			},
			[]recorded{{Method: "POST", URI: "/capabilities", Form: "album=Ab12Cd34Ef&appropriate_permission=false&download_permission=true&expiration_time=2099-12-31T22%3A59%3A00Z&read_permission=true&scope_type=album&title=viewer+link&write_permission=false"}},
			func(t *testing.T, got any) {
				cp := got.(*kheops.Capability)
				assert.Equal(t, capToken, string(cp.Secret))
				assert.Equal(t, time.Date(2099, 12, 31, 22, 59, 0, 0, time.UTC), cp.Expiration.Time)
				assert.Equal(t, time.Date(2024, 5, 6, 7, 8, 9, 5e8, time.UTC), cp.IssuedAt.Time)
				assert.True(t, cp.Read && cp.Download && !cp.Write)
				assert.Equal(t, "Ab12Cd34Ef", cp.Album.ID)
				assert.Equal(t, "jane@example.org", cp.CreatedBy.Email)
				assert.NotContains(t, fmt.Sprintf("%v %+v %#v", cp, cp, cp), capToken)
			}},
		{"create user capability", []canned{{201, "capability_created.json", nil}},
			func() (any, error) {
				return c.CreateCapability(ctx, kheops.CapabilityRequest{Title: "cli", CapabilityPermissions: kheops.CapabilityPermissions{Read: true, Write: true},
					NotBefore: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
			},
			[]recorded{{Method: "POST", URI: "/capabilities", Form: "appropriate_permission=false&download_permission=false&not_before_time=2025-01-02T03%3A04%3A05Z&read_permission=true&scope_type=user&title=cli&write_permission=true"}}, nil},
		{"list capabilities", []canned{{200, "capabilities.json", http.Header{"X-Total-Count": {"1"}}}},
			func() (any, error) { return c.Capabilities("Ab12Cd34Ef", "jane@example.org", true).Page(ctx, 0, 0) },
			[]recorded{{Method: "GET", URI: "/capabilities?album=Ab12Cd34Ef&user=jane%40example.org&valid=true"}},
			func(t *testing.T, got any) {
				p := got.(*kheops.Page[kheops.Capability])
				assert.Equal(t, 1, p.Total)
				assert.Equal(t, time.Date(2024, 5, 7, 0, 0, 0, 0, time.UTC), p.Items[0].LastUsed.Time)
				assert.Empty(t, p.Items[0].Secret)
			}},
		{"get capability", []canned{{200, "capability_revoked.json", nil}},
			func() (any, error) { return c.Capability(ctx, "Cap0123456") },
			[]recorded{{Method: "GET", URI: "/capabilities/Cap0123456"}}, nil},
		{"revoke capability", []canned{{200, "capability_revoked.json", nil}},
			func() (any, error) { return c.RevokeCapability(ctx, "Cap0123456") },
			[]recorded{{Method: "POST", URI: "/capabilities/Cap0123456/revoke", Form: ""}},
			func(t *testing.T, got any) {
				cp := got.(*kheops.Capability)
				assert.True(t, cp.Revoked)
				assert.Equal(t, time.Date(2024, 5, 8, 10, 11, 12, 0, time.UTC), cp.RevokeTime.Time)
			}},
		{"create webhook", []canned{{201, "webhook.json", nil}},
			func() (any, error) {
				return c.CreateWebhook(ctx, "Ab12Cd34Ef", kheops.WebhookSettings{URL: "https://partner.example/hook", Name: "partner",
					Secret: ptr(kheops.Token("s3cr3t")), Events: []string{kheops.EventNewSeries, kheops.EventNewUser}})
			},
			[]recorded{{Method: "POST", URI: "/albums/Ab12Cd34Ef/webhooks", Form: "event=new_series&event=new_user&name=partner&secret=s3cr3t&url=https%3A%2F%2Fpartner.example%2Fhook"}},
			func(t *testing.T, got any) {
				w := got.(*kheops.Webhook)
				assert.True(t, w.UseSecret)
				assert.Equal(t, []kheops.Trigger{{ID: "T00000000000000000000000000001", Status: "pass"}}, w.LastTriggers)
			}},
		{"list webhooks", []canned{{200, "webhooks.json", http.Header{"X-Total-Count": {"1"}}}},
			func() (any, error) { return c.Webhooks("Ab12Cd34Ef", "https://partner.example/hook").Page(ctx, 0, 0) },
			[]recorded{{Method: "GET", URI: "/albums/Ab12Cd34Ef/webhooks?url=https%3A%2F%2Fpartner.example%2Fhook"}}, nil},
		{"get webhook", []canned{{200, "webhook_triggers.json", nil}},
			func() (any, error) { return c.Webhook(ctx, "Ab12Cd34Ef", "Wh0123456789abcdefgh") },
			[]recorded{{Method: "GET", URI: "/albums/Ab12Cd34Ef/webhooks/Wh0123456789abcdefgh"}},
			func(t *testing.T, got any) {
				tr := got.(*kheops.Webhook).Triggers
				require.Len(t, tr, 1)
				assert.Equal(t, []kheops.Attempt{{Status: -1, Time: kheops.Time{Time: time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)}, Attempt: 1},
					{Status: 200, Time: kheops.Time{Time: time.Date(2024, 5, 6, 7, 8, 29, 0, time.UTC)}, Attempt: 2}}, tr[0].Attempts)
				assert.Equal(t, "2.25.1", tr[0].Study.StudyUID)
			}},
		{"edit webhook events", []canned{{200, "webhook.json", nil}},
			func() (any, error) {
				return c.EditWebhook(ctx, "Ab12Cd34Ef", "Wh0123456789abcdefgh", kheops.WebhookSettings{Enabled: ptr(false), Events: []string{}})
			},
			[]recorded{{Method: "PATCH", URI: "/albums/Ab12Cd34Ef/webhooks/Wh0123456789abcdefgh", Form: "enabled=false&event="}}, nil},
		{"edit webhook add and remove", []canned{{200, "webhook.json", nil}, {200, "webhook.json", nil}},
			func() (any, error) {
				return c.EditWebhook(ctx, "Ab12Cd34Ef", "Wh0123456789abcdefgh", kheops.WebhookSettings{Secret: ptr(kheops.Token("")),
					AddEvents: []string{"remove_series"}, RemoveEvents: []string{"new_user"}})
			},
			[]recorded{{Method: "PATCH", URI: "/albums/Ab12Cd34Ef/webhooks/Wh0123456789abcdefgh", Form: "add_event=remove_series&secret="},
				{Method: "PATCH", URI: "/albums/Ab12Cd34Ef/webhooks/Wh0123456789abcdefgh", Form: "remove_event=new_user"}}, nil},
		{"delete webhook", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.DeleteWebhook(ctx, "Ab12Cd34Ef", "Wh0123456789abcdefgh") },
			[]recorded{{Method: "DELETE", URI: "/albums/Ab12Cd34Ef/webhooks/Wh0123456789abcdefgh"}}, nil},
		{"trigger new_series", []canned{{202, "", nil}},
			func() (any, error) {
				return nil, c.TriggerNewSeries(ctx, "Ab12Cd34Ef", "Wh0123456789abcdefgh", "2.25.1", "2.25.1.1", "2.25.1.2")
			},
			[]recorded{{Method: "POST", URI: "/albums/Ab12Cd34Ef/webhooks/Wh0123456789abcdefgh/trigger", Form: "SeriesInstanceUID=2.25.1.1&SeriesInstanceUID=2.25.1.2&StudyInstanceUID=2.25.1&event=new_series"}}, nil},
		{"trigger new_user", []canned{{202, "", nil}},
			func() (any, error) {
				return nil, c.TriggerNewUser(ctx, "Ab12Cd34Ef", "Wh0123456789abcdefgh", "bob@example.org")
			},
			[]recorded{{Method: "POST", URI: "/albums/Ab12Cd34Ef/webhooks/Wh0123456789abcdefgh/trigger", Form: "event=new_user&user=bob%40example.org"}}, nil},
		{"lookup user", []canned{{200, "user.json", nil}},
			func() (any, error) { return c.LookupUser(ctx, "Bob@Example.org") },
			[]recorded{{Method: "GET", URI: "/users?reference=Bob%40Example.org"}},
			func(t *testing.T, got any) { assert.Equal(t, "77b1", got.(*kheops.User).Sub) }},
		{"lookup unknown user", []canned{{204, "", nil}},
			func() (any, error) { return c.LookupUser(ctx, "nobody@example.org") },
			[]recorded{{Method: "GET", URI: "/users?reference=nobody%40example.org"}},
			func(t *testing.T, got any) { assert.Nil(t, got.(*kheops.User)) }},
		{"search users", []canned{{200, "users.json", nil}},
			func() (any, error) { return c.SearchUsers("exa", "Ab12Cd34Ef", "2.25.1").Page(ctx, 0, 0) },
			[]recorded{{Method: "GET", URI: "/users?album=Ab12Cd34Ef&search=exa&studyInstanceUID=2.25.1"}},
			func(t *testing.T, got any) { assert.Equal(t, -1, got.(*kheops.Page[kheops.User]).Total) }},
		{"inbox info", []canned{{200, "inboxinfo.json", nil}},
			func() (any, error) { return c.InboxInfo(ctx) },
			[]recorded{{Method: "GET", URI: "/inboxinfo"}},
			func(t *testing.T, got any) {
				assert.Equal(t, &kheops.InboxInfo{Modalities: []string{"CT"}, NumberOfStudies: 1, NumberOfSeries: 2, NumberOfInstances: 40}, got)
			}},
		{"viewer token", []canned{{200, "token.json", nil}},
			func() (any, error) { return c.ViewerToken(ctx, "2.25.1", kheops.Place{Album: "Ab12Cd34Ef"}, false) },
			[]recorded{{Method: "POST", URI: "/token", Form: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&scope=viewer+read&source_id=Ab12Cd34Ef&source_type=album&studyUID=2.25.1&subject_token=" + userToken + "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"}},
			func(t *testing.T, got any) {
				v := got.(*kheops.ViewerToken)
				assert.True(t, strings.HasPrefix(string(v.AccessToken), "eyJhbGciOiJBMTI4S1ci"))
				assert.WithinDuration(t, time.Now().Add(5*time.Hour), v.Expiry, time.Minute)
				assert.NotContains(t, fmt.Sprintf("%+v", v), "eyJ")
			}},
		{"viewer token from inbox with write", []canned{{200, "token.json", nil}},
			func() (any, error) { return c.ViewerToken(ctx, "2.25.1", kheops.Place{Inbox: true}, true) },
			[]recorded{{Method: "POST", URI: "/token", Form: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&scope=viewer+read+write&source_type=inbox&studyUID=2.25.1&subject_token=" + userToken + "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"}}, nil},
		{"register report provider", []canned{{201, "reportprovider.json", nil}},
			func() (any, error) {
				return c.CreateReportProvider(ctx, "Ab12Cd34Ef", "Reports", "https://rp.example/.well-known/kheops-report-configuration")
			},
			[]recorded{{Method: "POST", URI: "/albums/Ab12Cd34Ef/reportproviders", Form: "name=Reports&url=https%3A%2F%2Frp.example%2F.well-known%2Fkheops-report-configuration"}},
			func(t *testing.T, got any) {
				p := got.(*kheops.ReportProvider)
				assert.Equal(t, capToken, p.ClientID)
				assert.Equal(t, time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC), p.CreatedTime.Time)
			}},
		{"list report providers", []canned{{200, "reportproviders.json", http.Header{"X-Total-Count": {"1"}}}},
			func() (any, error) { return c.ReportProviders("Ab12Cd34Ef").Page(ctx, 1, 0) },
			[]recorded{{Method: "GET", URI: "/albums/Ab12Cd34Ef/reportproviders?limit=1"}}, nil},
		{"get report provider", []canned{{200, "reportprovider.json", nil}},
			func() (any, error) { return c.ReportProvider(ctx, "Ab12Cd34Ef", capToken) },
			[]recorded{{Method: "GET", URI: "/albums/Ab12Cd34Ef/reportproviders/" + capToken}}, nil},
		{"edit report provider", []canned{{200, "reportprovider.json", nil}},
			func() (any, error) { return c.EditReportProvider(ctx, "Ab12Cd34Ef", capToken, "New name", "") },
			[]recorded{{Method: "PATCH", URI: "/albums/Ab12Cd34Ef/reportproviders/" + capToken, Form: "name=New+name"}}, nil},
		{"delete report provider", []canned{{204, "", nil}},
			func() (any, error) { return nil, c.DeleteReportProvider(ctx, "Ab12Cd34Ef", capToken) },
			[]recorded{{Method: "DELETE", URI: "/albums/Ab12Cd34Ef/reportproviders/" + capToken}}, nil},
		{"report provider metadata", []canned{{200, "metadata.json", nil}},
			func() (any, error) {
				valid, fields, err := c.CheckReportProvider(ctx, "https://rp.example/conf")
				return fmt.Sprint(valid, " ", string(fields["client_name"]), " ", len(fields)), err
			},
			[]recorded{{Method: "POST", URI: "/reportproviders/metadata", Form: "url=https%3A%2F%2Frp.example%2Fconf"}},
			func(t *testing.T, got any) { assert.Equal(t, `true "Reports" 4`, got) }},
	}
	for _, tc := range cases {
		r.answer(tc.answer...)
		got, err := tc.call()
		require.NoError(t, err, tc.name)
		seen := r.requests()
		require.Len(t, seen, len(tc.want), tc.name)
		for i, w := range tc.want {
			s := seen[i]
			assert.Equal(t, w.Method, s.Method, tc.name)
			assert.Equal(t, w.URI, s.URI, tc.name)
			assert.Equal(t, w.Form, s.Form, tc.name)
			if s.Method == "POST" || s.Method == "PATCH" {
				assert.Equal(t, formType, s.ContentType, "%s: every body is form-encoded", tc.name)
			} else {
				assert.Empty(t, s.ContentType, tc.name)
			}
			assert.Equal(t, "Bearer "+userToken, s.Authorization, tc.name)
			assert.Equal(t, "application/json", s.Accept, tc.name)
		}
		if tc.check != nil {
			tc.check(t, got)
		}
	}
}

func TestErrorShapes(t *testing.T) {
	t.Parallel()
	r := newREST(t)
	c := client(t, r.root, userToken)
	ctx := context.Background()
	cases := []struct {
		name   string
		answer canned
		call   func() error
		want   kheops.Error
	}{
		{"management JSON", canned{404, "error_message.json", nil}, func() error { _, err := c.Album(ctx, "Ab12Cd34Ef", false); return err },
			kheops.Error{Method: "GET", URL: r.root + "/api/albums/Ab12Cd34Ef", StatusCode: 404, Message: "Album Not Found",
				Detail: "The album does not exist or you don't have access", Help: "https://github.com/OsiriX-Foundation/kheops/wiki"}},
		{"OAuth JSON", canned{400, "error_oauth.json", nil}, func() error { _, err := c.ViewerToken(ctx, "2.25.1", kheops.Place{}, false); return err },
			kheops.Error{Method: "POST", URL: r.root + "/api/token", StatusCode: 400, Code: "invalid_grant", Description: "Bad subject_token"}},
		{"bare 403", canned{403, "", nil}, func() error { return c.ShareSeries(ctx, "2.25.1", "2.25.1.1", "bob") },
			kheops.Error{Method: "PUT", URL: r.root + "/api/studies/2.25.1/series/2.25.1.1/users/bob", StatusCode: 403}},
		{"plain text", canned{400, "", http.Header{}}, func() error { _, err := c.SearchUsers("abc", "", "").Page(ctx, 0, 0); return err },
			kheops.Error{Method: "GET", URL: r.root + "/api/users", StatusCode: 400}},
	}
	for _, tc := range cases {
		r.answer(tc.answer)
		err := tc.call()
		var ke *kheops.Error
		require.ErrorAs(t, err, &ke, tc.name)
		body := ke.Body
		ke.Body = ""
		assert.Equal(t, tc.want, *ke, tc.name)
		if tc.answer.file != "" {
			assert.Contains(t, body, `"`, tc.name)
		}
		assert.True(t, strings.HasPrefix(err.Error(), "kheops: "+tc.want.Method), err.Error())
	}
}

func TestErrorsNeverCarryTheToken(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"message":"bad token %[1]s","detail":"%[1]s","error":"x%[1]s"} %[1]s`, capToken)
	}))
	t.Cleanup(srv.Close)
	c := client(t, srv.URL, capToken)
	_, err := c.InboxInfo(context.Background())
	var ke *kheops.Error
	require.ErrorAs(t, err, &ke)
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", err, ke, ke), capToken)
	assert.Contains(t, ke.Body, "[redacted]")
}

func TestPagerIterates(t *testing.T) {
	t.Parallel()
	r := newREST(t)
	c := client(t, r.root, userToken)
	// KHEOPS returns two users and X-Total-Count 2: All asks for 100 and
	// stops after one page.
	r.answer(canned{200, "users.json", http.Header{"X-Total-Count": {"2"}}})
	var got []string
	for u, err := range c.AlbumUsers("Ab12Cd34Ef").All(context.Background()) {
		require.NoError(t, err)
		got = append(got, u.Email)
	}
	assert.Equal(t, []string{"jane@example.org", "bob@example.org"}, got)
	assert.Equal(t, "/albums/Ab12Cd34Ef/users?limit=100", r.requests()[0].URI)
	// 204 is an empty list.
	r.answer(canned{204, "", http.Header{"X-Total-Count": {"0"}}})
	n := 0
	for _, err := range c.SearchUsers("zzz", "", "").All(context.Background()) {
		require.NoError(t, err)
		n++
	}
	assert.Zero(t, n)
	// An error is yielded once and ends the iteration.
	r.answer(canned{403, "", nil})
	var errs []error
	for _, err := range c.Webhooks("Ab12Cd34Ef", "").All(context.Background()) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	var ke *kheops.Error
	assert.ErrorAs(t, errs[0], &ke)
	// Breaking out stops the fetching.
	r.answer(canned{200, "users.json", http.Header{"X-Total-Count": {"500"}}})
	for range c.AlbumUsers("Ab12Cd34Ef").All(context.Background()) {
		break
	}
	assert.Len(t, r.requests(), 1)
	// A local refusal arrives through the iterator without a request.
	r.answer()
	for _, err := range c.AlbumUsers("../x").All(context.Background()) {
		assert.ErrorIs(t, err, kheops.ErrInvalid)
	}
	assert.Empty(t, r.requests())
}

func TestCapabilityTokenRules(t *testing.T) {
	t.Parallel()
	r := newREST(t)
	ctx := context.Background()
	c := client(t, r.root, capToken)
	r.answer()
	_, err := c.CreateCapability(ctx, kheops.CapabilityRequest{Title: "x", CapabilityPermissions: kheops.CapabilityPermissions{Read: true}})
	assert.ErrorIs(t, err, kheops.ErrUserTokenRequired)
	_, err = c.RevokeCapability(ctx, "Cap0123456")
	assert.ErrorIs(t, err, kheops.ErrUserTokenRequired)
	_, err = c.Capabilities("", "", false).Page(ctx, 0, 0)
	assert.ErrorIs(t, err, kheops.ErrUserTokenRequired)
	assert.Empty(t, r.requests(), "nothing is sent for what KHEOPS always refuses")
	// A capability token may read its own capability and everything else.
	r.answer(canned{200, "capability_revoked.json", nil})
	_, err = c.Capability(ctx, "Cap0123456")
	require.NoError(t, err)
	assert.Equal(t, "Bearer "+capToken, r.requests()[0].Authorization)

	// Basic: any user name, the token as password.
	b, err := kheops.New(kheops.Config{URL: r.root, Token: kheops.StaticToken(capToken), Basic: true})
	require.NoError(t, err)
	r.answer(canned{200, "inboxinfo.json", nil})
	_, err = b.InboxInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("token:"+capToken)), r.requests()[0].Authorization)

	r.answer()
	_, err = client(t, r.root, "eyJhbGciOiJBMTI4S1ciLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0.a.b.c.d").ViewerToken(ctx, "2.25.1", kheops.Place{}, false)
	assert.ErrorIs(t, err, kheops.ErrInvalid, "a viewer token is never exchanged")
	assert.Empty(t, r.requests())

	link, err := kheops.LinkEndpoint(r.root+"/", capToken)
	require.NoError(t, err)
	assert.Equal(t, r.root+"/api/link/"+capToken, link)
	_, err = kheops.LinkEndpoint(r.root, userToken)
	assert.ErrorIs(t, err, kheops.ErrInvalid)
}

func TestLocalRefusals(t *testing.T) {
	t.Parallel()
	r := newREST(t)
	c := client(t, r.root, userToken)
	ctx := context.Background()
	r.answer()
	for name, err := range map[string]error{
		"album id":            c.DeleteAlbum(ctx, "../../x"),
		"study UID":           c.RemoveStudy(ctx, "1.2/../3", kheops.Place{Inbox: true}),
		"empty user":          c.AddAlbumUser(ctx, "Ab12Cd34Ef", ""),
		"place both":          c.ShareStudy(ctx, "2.25.1", "bob", kheops.Place{Album: "Ab12Cd34Ef", Inbox: true}),
		"remove from nowhere": c.RemoveStudy(ctx, "2.25.1", kheops.Place{}),
		"favorite nowhere":    c.SetFavorite(ctx, "2.25.1", "", kheops.Place{}, true),
		"no series":           c.TriggerNewSeries(ctx, "Ab12Cd34Ef", "Wh0123456789abcdefgh", "2.25.1"),
		"empty comment":       c.CommentStudy(ctx, "2.25.1", "", ""),
		"download without read": func() error {
			_, err := c.CreateCapability(ctx, kheops.CapabilityRequest{Title: "t", CapabilityPermissions: kheops.CapabilityPermissions{Download: true}})
			return err
		}(),
		"events and add_event": func() error {
			_, err := c.EditWebhook(ctx, "Ab12Cd34Ef", "Wh0123456789abcdefgh", kheops.WebhookSettings{Events: []string{}, AddEvents: []string{"new_user"}})
			return err
		}(),
		"short search": func() error { _, err := c.SearchUsers("ab", "", "").Page(ctx, 0, 0); return err }(),
	} {
		assert.ErrorIs(t, err, kheops.ErrInvalid, name)
	}
	assert.Empty(t, r.requests())
	for _, bad := range []string{"", "ftp://x", "https://u:p@x", "https://x/?q=1"} {
		_, err := kheops.New(kheops.Config{URL: bad, Token: kheops.StaticToken(userToken)})
		assert.ErrorIs(t, err, kheops.ErrInvalid, bad)
	}
	_, err := kheops.New(kheops.Config{URL: r.root})
	assert.ErrorIs(t, err, kheops.ErrInvalid)
}

func TestTokenStaysWithKheops(t *testing.T) {
	t.Parallel()
	other := newREST(t)
	// A redirect to another origin is not followed, and the token is
	// never sent there.
	redirect := httptest.NewServer(http.RedirectHandler(other.srv.URL+"/x", http.StatusFound))
	t.Cleanup(redirect.Close)
	c := client(t, redirect.URL, userToken)
	_, err := c.InboxInfo(context.Background())
	require.Error(t, err)
	assert.Empty(t, other.requests())
	assert.NotContains(t, err.Error(), userToken)

	// The Transport refuses another origin outright.
	tr := &kheops.Transport{Source: kheops.StaticToken(userToken), Origin: "https://kheops.example:443"}
	req, _ := http.NewRequest(http.MethodGet, other.srv.URL, nil)
	_, err = tr.RoundTrip(req)
	assert.ErrorIs(t, err, kheops.ErrForbiddenDestination)
	assert.Empty(t, other.requests())
	cfg := kheops.Config{URL: "https://kheops.example", Token: kheops.StaticToken(userToken)}
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), "eyJ", "a Config prints without its token")
	kc, err := kheops.New(cfg)
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", kc, kc, kc), "eyJ", "a Client prints without its token")
	tr = &kheops.Transport{Source: cfg.Token}
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", tr, tr, tr), "eyJ")
	var tok kheops.Token = userToken
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %q %s", tok, tok, tok, tok, tok)} {
		assert.NotContains(t, s, "eyJ")
	}
}
