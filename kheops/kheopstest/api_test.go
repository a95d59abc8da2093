package kheopstest_test

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/api")

// fake is a KHEOPS under /kheops with an album (KHEOPS's default
// settings) whose admin is alice and member bob; carol is in no album.
// Study 1.2.3 (one CT series) is in the album.
type fake struct {
	t                 *testing.T
	k                 *kheopstest.Server
	alice, bob, carol string
	album             string
}

func newFake(t *testing.T, opts ...kheopstest.Option) *fake {
	t.Helper()
	f := &fake{t: t, k: kheopstest.NewServer(append([]kheopstest.Option{kheopstest.WithBasePath("/kheops")}, opts...)...)}
	t.Cleanup(f.k.Close)
	f.alice = f.k.AddUser(kheopstest.User{Sub: "alice", Name: "Alice Admin", Email: "alice@example.org"})
	f.bob = f.k.AddUser(kheopstest.User{Sub: "bob", Name: "Bob Member", Email: "bob@example.org"})
	f.carol = f.k.AddUser(kheopstest.User{Sub: "carol", Name: "Carol Outsider", Email: "carol@example.org"})
	f.album = f.k.AddAlbum("AlbumOne01", nil)
	require.NoError(t, f.k.AddMember(f.album, "alice", true))
	require.NoError(t, f.k.AddMember(f.album, "bob", false))
	_, err := f.k.AddInstance(f.album, kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.3.1",
		SOPInstanceUID: "1.2.3.1.1", PatientName: "DOE^JOHN", PatientID: "P1", StudyDescription: "Chest"}))
	require.NoError(t, err)
	return f
}

// reply is an answer of the fake.
type reply struct {
	Status int
	Header http.Header
	Body   string
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	require.NoErrorf(t, json.Unmarshal([]byte(r.Body), v), "body %q", r.Body)
}

// do sends a request with a bearer token ("" sends none) and, when form
// is not nil, a form body.
func (f *fake) do(method, path, token string, form url.Values) reply {
	f.t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return f.send(method, path, h, form)
}

func (f *fake) send(method, path string, h http.Header, form url.Values) reply {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.k.URL+path, body)
	require.NoError(f.t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := f.k.Client().Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// stow uploads instances as one multipart/related request.
func (f *fake) stow(path, token string, instances ...[]byte) reply {
	f.t.Helper()
	ct, body := multipartBody(f.t, "application/dicom", instances...)
	h := http.Header{"Content-Type": {ct}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	req, err := http.NewRequest(http.MethodPost, f.k.URL+path, body)
	require.NoError(f.t, err)
	req.Header = h
	resp, err := f.k.Client().Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// capability creates a capability token as alice and returns its secret
// and id.
func (f *fake) capability(form url.Values) (secret, id string) {
	f.t.Helper()
	r := f.do(http.MethodPost, "/api/capabilities", f.alice, form)
	require.Equalf(f.t, http.StatusCreated, r.Status, "%s", r.Body)
	var c struct {
		ID          string `json:"id"`
		Secret      string `json:"secret"`
		AccessToken string `json:"access_token"`
	}
	r.decode(f.t, &c)
	require.Equal(f.t, c.Secret, c.AccessToken)
	return c.Secret, c.ID
}

// golden compares got with testdata/api/name, after replacing what
// changes between runs (ids, times, the server's port).
func golden(t *testing.T, name string, got string, f *fake) {
	t.Helper()
	got = strings.ReplaceAll(got, f.k.URL, "ROOT")
	got = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?`).ReplaceAllString(got, "TIME")
	got = regexp.MustCompile(`"(id|secret|access_token|album_id)":"[A-Za-z0-9]{10,30}"`).ReplaceAllString(got, `"$1":"ID"`)
	path := filepath.Join("testdata", "api", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

func basic(user, password string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}}
}

func TestAlbumsLifecycle(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	// Create: form fields in camelCase, JSON answer in snake_case, creator admin.
	r := f.do(http.MethodPost, "/api/albums", f.bob, url.Values{"name": {"  Teaching  "}, "description": {"cases"}, "addUser": {"TRUE"}, "writeComments": {"false"}})
	require.Equalf(t, http.StatusCreated, r.Status, "%s", r.Body)
	golden(t, "album_created.json", r.Body, f)
	var a struct {
		AlbumID  string `json:"album_id"`
		IsAdmin  bool   `json:"is_admin"`
		AddUser  bool   `json:"add_user"`
		AddSer   bool   `json:"add_series"`
		Comments bool   `json:"write_comments"`
	}
	r.decode(t, &a)
	assert.Regexp(t, `^[A-Za-z0-9]{10}$`, a.AlbumID)
	assert.True(t, a.IsAdmin)
	assert.True(t, a.AddUser, "addUser=TRUE is true (Boolean.valueOf)")
	assert.True(t, a.AddSer, "omitted: KHEOPS's default")
	assert.False(t, a.Comments)

	// JSON bodies are not read: the name is missing.
	req := f.send(http.MethodPost, "/api/albums", http.Header{"Authorization": {"Bearer " + f.bob}, "Content-Type": {"application/json"}}, nil)
	assert.Equal(t, http.StatusUnsupportedMediaType, req.Status)
	assert.Equal(t, http.StatusBadRequest, f.do(http.MethodPost, "/api/albums", f.bob, url.Values{"name": {"  "}}).Status)

	// List: paging with X-Total-Count, newest first by default, sort checked.
	list := f.do(http.MethodGet, "/api/albums?limit=1", f.bob, nil)
	require.Equal(t, http.StatusOK, list.Status)
	assert.Equal(t, "2", list.Header.Get("X-Total-Count"))
	assert.Equal(t, "X-Total-Count", list.Header.Get("Access-Control-Expose-Headers"))
	var page []struct {
		AlbumID string `json:"album_id"`
	}
	list.decode(t, &page)
	require.Len(t, page, 1)
	assert.Equal(t, a.AlbumID, page[0].AlbumID)
	byName := f.do(http.MethodGet, "/api/albums?sort=name&offset=1", f.bob, nil)
	byName.decode(t, &page)
	require.Len(t, page, 1)
	assert.Equal(t, a.AlbumID, page[0].AlbumID, "AlbumOne01 < Teaching")
	bad := f.do(http.MethodGet, "/api/albums?sort=size", f.bob, nil)
	assert.Equal(t, http.StatusBadRequest, bad.Status)
	golden(t, "bad_sort.json", bad.Body, f)

	// PATCH: a member who is not admin is always refused (KHEOPS fills in
	// description before its admin check); an admin PATCH without
	// description clears it.
	assert.Equal(t, http.StatusForbidden, f.do(http.MethodPatch, "/api/albums/"+f.album, f.bob, url.Values{"notificationNewSeries": {"false"}}).Status)
	p := f.do(http.MethodPatch, "/api/albums/"+a.AlbumID, f.bob, url.Values{"name": {"Renamed"}})
	require.Equalf(t, http.StatusOK, p.Status, "%s", p.Body)
	assert.Contains(t, p.Body, `"name":"Renamed","description":""`)

	// includeUsers, then delete (admins only).
	g := f.do(http.MethodGet, "/api/albums/"+f.album+"?includeUsers=true", f.bob, nil)
	assert.Contains(t, g.Body, `"users":[{"email":"alice@example.org","name":"Alice Admin","sub":"alice","is_admin":true},{"email":"bob@example.org","name":"Bob Member","sub":"bob","is_admin":false}]`)
	assert.Equal(t, http.StatusForbidden, f.do(http.MethodDelete, "/api/albums/"+f.album, f.bob, nil).Status)
	assert.Equal(t, http.StatusNoContent, f.do(http.MethodDelete, "/api/albums/"+a.AlbumID, f.bob, nil).Status)
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodGet, "/api/albums/"+a.AlbumID, f.bob, nil).Status)
}

func TestAuthenticationAndErrorShapes(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	none := f.send(http.MethodGet, "/api/albums", nil, nil)
	assert.Equal(t, http.StatusUnauthorized, none.Status)
	assert.Equal(t, []string{"Basic", "Bearer"}, none.Header.Values("WWW-Authenticate"))
	assert.Empty(t, none.Body)
	badTok := f.do(http.MethodGet, "/api/albums", "nonsense", nil)
	assert.Equal(t, http.StatusUnauthorized, badTok.Status)
	assert.Empty(t, badTok.Header.Values("WWW-Authenticate"))

	// The scheme is case-insensitive; Basic carries the token as password.
	assert.Equal(t, http.StatusOK, f.send(http.MethodGet, "/api/albums", http.Header{"Authorization": {"bEaReR " + f.bob}}, nil).Status)
	assert.Equal(t, http.StatusOK, f.send(http.MethodGet, "/api/albums", basic("ignored", f.bob), nil).Status)
	three := f.send(http.MethodGet, "/api/albums", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("a:b:"+f.bob))}}, nil)
	assert.Equal(t, http.StatusUnauthorized, three.Status, "three parts")
	assert.Equal(t, []string{"Basic", "Bearer"}, three.Header.Values("WWW-Authenticate"), "no credentials, as KHEOPS reads it")

	notFound := f.do(http.MethodGet, "/api/albums/"+f.album, f.carol, nil)
	assert.Equal(t, http.StatusNotFound, notFound.Status)
	golden(t, "album_not_found.json", notFound.Body, f)
	perm := f.do(http.MethodGet, "/api/albums/"+f.album+"/webhooks", f.bob, nil)
	assert.Equal(t, http.StatusForbidden, perm.Status)
	golden(t, "album_permission.json", perm.Body, f)

	cap, _ := f.capability(url.Values{"title": {"ro"}, "scope_type": {"album"}, "album": {f.album}, "read_permission": {"true"}})
	tokType := f.do(http.MethodGet, "/api/albums/"+f.album+"/users", cap, nil)
	assert.Equal(t, http.StatusForbidden, tokType.Status)
	golden(t, "token_type.json", tokType.Body, f)

	users := f.do(http.MethodGet, "/api/users", f.bob, nil)
	assert.Equal(t, http.StatusBadRequest, users.Status)
	assert.Equal(t, "Use query param 'search' xor 'reference'", users.Body)
}

// TestPermissionTable drives KHEOPS's permission table through the
// endpoints that check each permission, for an admin, a member under
// several album settings, album capability tokens and a user capability
// token.
func TestPermissionTable(t *testing.T) {
	t.Parallel()
	type check struct {
		name            string
		method, path    string
		form            url.Values
		allowed, denied int
	}
	checks := []check{
		{"ADD_USER", http.MethodPut, "/api/albums/{a}/users/carol", nil, 201, 403},
		{"WRITE_COMMENT", http.MethodPost, "/api/albums/{a}/comments", url.Values{"comment": {"hi"}}, 204, 403},
		{"ADD_SERIES", http.MethodPut, "/api/studies/1.2.9/albums/{a}?inbox=true", nil, 201, 403},
		{"EDIT_FAVORITES", http.MethodPut, "/api/studies/1.2.3/favorites?album={a}", nil, 204, 403},
		{"DELETE_SERIES", http.MethodDelete, "/api/studies/1.2.3/series/1.2.3.1/albums/{a}", nil, 204, 403},
		{"MANAGE_WEBHOOK", http.MethodGet, "/api/albums/{a}/webhooks", nil, 200, 403},
		{"LIST_USERS", http.MethodGet, "/api/albums/{a}/users", nil, 200, 403},
	}
	on := Permissions{AddUser: true, DownloadSeries: true, SendSeries: true, DeleteSeries: true, AddSeries: true, WriteComments: true}
	type who struct {
		name  string
		flags *Permissions // album settings
		token func(f *fake, album string) string
		want  map[string]bool // permission -> allowed
	}
	member := func(f *fake, album string) string {
		require.NoError(t, f.k.AddMember(album, "bob", false))
		return f.bob
	}
	admin := func(f *fake, album string) string { return f.alice }
	albumCap := func(perms ...string) func(f *fake, album string) string {
		return func(f *fake, album string) string {
			form := url.Values{"title": {"t"}, "scope_type": {"album"}, "album": {album}}
			for _, p := range perms {
				form.Set(p+"_permission", "true")
			}
			s, _ := f.capability(form)
			return s
		}
	}
	all := map[string]bool{"ADD_USER": true, "WRITE_COMMENT": true, "ADD_SERIES": true, "EDIT_FAVORITES": true, "DELETE_SERIES": true, "MANAGE_WEBHOOK": true, "LIST_USERS": true}
	for _, w := range []who{
		{"admin of a locked album", &Permissions{}, admin, all},
		{"member, every setting on", &on, member, map[string]bool{"ADD_USER": true, "WRITE_COMMENT": true, "ADD_SERIES": true, "EDIT_FAVORITES": true, "DELETE_SERIES": true, "LIST_USERS": true}},
		{"member, every setting off", &Permissions{}, member, map[string]bool{"LIST_USERS": true}},
		{"member, KHEOPS defaults", nil, member, map[string]bool{"WRITE_COMMENT": true, "ADD_SERIES": true, "EDIT_FAVORITES": true, "LIST_USERS": true}},
		{"album capability read+write", &on, albumCap("read", "write"), map[string]bool{"DELETE_SERIES": true}},
		{"album capability write", &on, albumCap("write"), map[string]bool{}},
		{"user capability of the admin", &Permissions{}, func(f *fake, album string) string {
			s, _ := f.capability(url.Values{"title": {"t"}, "scope_type": {"user"}, "read_permission": {"true"}, "write_permission": {"true"}})
			return s
		}, all},
	} {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) {
					f := newFake(t)
					album := f.k.AddAlbum("", w.flags)
					require.NoError(t, f.k.AddMember(album, "alice", true))
					_, err := f.k.AddInstance(album, kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPInstanceUID: "1.2.3.1.1"}))
					require.NoError(t, err)
					tok := w.token(f, album)
					for i, user := range []string{f.alice, f.bob} { // a study in their inboxes, for ADD_SERIES
						n := string(rune('1' + i))
						r := f.stow("/api/studies", user,
							kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.9", SeriesUID: "1.2.9." + n, SOPInstanceUID: "1.2.9." + n + ".1"}))
						require.Equalf(t, http.StatusOK, r.Status, "%s", r.Body)
					}
					want := c.denied
					if w.want[c.name] {
						want = c.allowed
					}
					if strings.HasPrefix(w.name, "album capability") && c.name != "DELETE_SERIES" && want == 403 && strings.Contains(c.path, "/albums/{a}/") {
						// Endpoints that need user access refuse the token type first (403 too).
						want = 403
					}
					r := f.do(c.method, strings.ReplaceAll(c.path, "{a}", album), tok, c.form)
					assert.Equalf(t, want, r.Status, "%s %s: %s", c.method, c.path, r.Body)
				})
			}
		})
	}
}

// Permissions is a shorter name in the table above.
type Permissions = kheopstest.Permissions

func TestCapabilityTokens(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	// Creating needs the user's own token: a user capability gets 401.
	userCap, userCapID := f.capability(url.Values{"title": {"mine"}, "scope_type": {"USER"}, "read_permission": {"true"},
		"download_permission": {"true"}, "expiration_time": {"2099-12-31T23:59+01:00"}})
	assert.Regexp(t, `^[A-Za-z0-9]{22}$`, userCap)
	assert.Equal(t, http.StatusUnauthorized, f.do(http.MethodPost, "/api/capabilities", userCap, url.Values{"title": {"x"}, "scope_type": {"user"}}).Status)
	assert.Equal(t, http.StatusUnauthorized, f.do(http.MethodGet, "/api/capabilities", userCap, nil).Status)
	// ... but may read itself, and acts as the user elsewhere.
	got := f.do(http.MethodGet, "/api/capabilities/"+userCapID, userCap, nil)
	require.Equal(t, http.StatusOK, got.Status)
	golden(t, "capability_user.json", got.Body, f)
	assert.Contains(t, got.Body, `"expiration_time":"2099-12-31T22:59Z"`, "UTC, no seconds when zero")
	assert.NotContains(t, got.Body, "read_permission", "user tokens carry no permission flags")
	assert.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/albums", userCap, nil).Status)

	// Create errors.
	for name, form := range map[string]url.Values{
		"scope":         {"title": {"x"}, "scope_type": {"study"}},
		"download":      {"title": {"x"}, "scope_type": {"user"}, "download_permission": {"true"}},
		"time":          {"title": {"x"}, "scope_type": {"user"}, "expiration_time": {"2099-12-31T23:59:59"}},
		"no title":      {"scope_type": {"user"}},
		"album missing": {"title": {"x"}, "scope_type": {"album"}},
	} {
		r := f.do(http.MethodPost, "/api/capabilities", f.alice, form)
		assert.Equalf(t, http.StatusBadRequest, r.Status, "%s: %s", name, r.Body)
		assert.Containsf(t, r.Body, `"message":"Bad Query Parameter"`, name)
	}
	assert.Equal(t, http.StatusForbidden, f.do(http.MethodPost, "/api/capabilities", f.bob, url.Values{"title": {"x"}, "scope_type": {"album"}, "album": {f.album}}).Status,
		"album tokens need an album admin")

	// An album token reaches its album's studies, over every transport.
	albumCap, albumCapID := f.capability(url.Values{"title": {"ro"}, "scope_type": {"album"}, "album": {f.album}, "read_permission": {"true"}})
	ag := f.do(http.MethodGet, "/api/capabilities/"+albumCapID, f.alice, nil)
	golden(t, "capability_album.json", ag.Body, f)
	for name, h := range map[string]http.Header{
		"bearer": {"Authorization": {"Bearer " + albumCap}},
		"basic":  basic("anyone", albumCap),
	} {
		r := f.send(http.MethodGet, "/api/studies", h, nil)
		assert.Equalf(t, http.StatusOK, r.Status, name)
		assert.Contains(t, r.Body, "1.2.3", name)
	}
	link := f.send(http.MethodGet, "/api/link/"+albumCap+"/studies/1.2.3/series", nil, nil)
	assert.Equal(t, http.StatusOK, link.Status)
	assert.Contains(t, link.Body, "1.2.3.1")
	assert.Equal(t, http.StatusNotFound, f.send(http.MethodGet, "/api/link/"+albumCap+"/albums", nil, nil).Status, "no management API under /link")
	assert.Equal(t, http.StatusForbidden, f.do(http.MethodGet, "/api/albums", albumCap, nil).Status, "no user access")
	intro := f.do(http.MethodPost, "/api/token/introspect", "", url.Values{"token": {albumCap}})
	assert.Contains(t, intro.Body, `"album_id":"`+f.album+`"`)
	assert.Contains(t, intro.Body, `"scope":"read"`)

	// Revocation: immediate; a second revocation is a 200 no-op; someone
	// else's token is 404.
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodPost, "/api/capabilities/"+albumCapID+"/revoke", f.bob, url.Values{}).Status)
	rv := f.do(http.MethodPost, "/api/capabilities/"+albumCapID+"/revoke", f.alice, url.Values{})
	require.Equal(t, http.StatusOK, rv.Status)
	assert.Contains(t, rv.Body, `"revoked":true`)
	assert.Equal(t, http.StatusOK, f.do(http.MethodPost, "/api/capabilities/"+albumCapID+"/revoke", f.alice, url.Values{}).Status)
	assert.Equal(t, http.StatusUnauthorized, f.do(http.MethodGet, "/api/studies", albumCap, nil).Status)
	valid := f.do(http.MethodGet, "/api/capabilities?valid=true", f.alice, nil)
	assert.Equal(t, "1", valid.Header.Get("X-Total-Count"))

	// Demoting an admin revokes the album tokens they created.
	other, _ := f.capability(url.Values{"title": {"rw"}, "scope_type": {"album"}, "album": {f.album}, "read_permission": {"true"}})
	require.Equal(t, http.StatusNoContent, f.do(http.MethodPut, "/api/albums/"+f.album+"/users/bob/admin", f.alice, nil).Status)
	require.Equal(t, http.StatusNoContent, f.do(http.MethodDelete, "/api/albums/"+f.album+"/users/alice/admin", f.bob, nil).Status)
	assert.Equal(t, http.StatusUnauthorized, f.do(http.MethodGet, "/api/studies", other, nil).Status)
}

func TestStudySearch(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for i, uid := range []string{"1.2.4", "1.2.5"} {
		_, err := f.k.AddInstance(f.album, kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: uid, SeriesUID: uid + ".1", SOPInstanceUID: uid + ".1." + string(rune('1'+i))}))
		require.NoError(t, err)
	}
	r := f.do(http.MethodGet, "/api/studies?limit=2&offset=1", f.bob, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "3", r.Header.Get("X-Total-Count"))
	var ds []map[string]json.RawMessage
	r.decode(t, &ds)
	assert.Len(t, ds, 2)
	empty := f.do(http.MethodGet, "/api/studies?inbox=true", f.bob, nil)
	assert.Equal(t, http.StatusNoContent, empty.Status)
	assert.Equal(t, "0", empty.Header.Get("X-Total-Count"))
	assert.Empty(t, empty.Body)
	assert.Equal(t, http.StatusNoContent, f.do(http.MethodGet, "/api/studies", f.carol, nil).Status)
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodGet, "/api/studies?album="+f.album, f.carol, nil).Status)
}

func TestSharingAndInbox(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	// Bob sends the album's study to carol's inbox.
	assert.Equal(t, http.StatusCreated, f.do(http.MethodPut, "/api/studies/1.2.3/users/CAROL@example.org?album="+f.album, f.bob, nil).Status)
	inbox := f.do(http.MethodGet, "/api/studies?inbox=true", f.carol, nil)
	require.Equal(t, http.StatusOK, inbox.Status)
	assert.Contains(t, inbox.Body, "1.2.3")
	info := f.do(http.MethodGet, "/api/inboxinfo", f.carol, nil)
	assert.JSONEq(t, `{"modalities":["CT"],"number_of_studies":1,"number_of_series":1,"number_of_instances":1}`, info.Body)
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodPut, "/api/studies/1.2.3/users/nobody?album="+f.album, f.bob, nil).Status)
	assert.Equal(t, http.StatusBadRequest, f.do(http.MethodPut, "/api/studies/1.2.3/users/carol?album="+f.album+"&inbox=true", f.bob, nil).Status)

	// Carol adds it from her inbox to a new album of hers, marks it favorite.
	r := f.do(http.MethodPost, "/api/albums", f.carol, url.Values{"name": {"Mine"}})
	var a struct {
		AlbumID string `json:"album_id"`
	}
	r.decode(t, &a)
	assert.Equal(t, http.StatusCreated, f.do(http.MethodPut, "/api/studies/1.2.3/albums/"+a.AlbumID+"?inbox=true", f.carol, nil).Status)
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodPut, "/api/studies/9.9.9/albums/"+a.AlbumID+"?inbox=true", f.carol, nil).Status)
	assert.Equal(t, http.StatusNoContent, f.do(http.MethodPut, "/api/studies/1.2.3/favorites?album="+a.AlbumID, f.carol, nil).Status)
	assert.Equal(t, http.StatusBadRequest, f.do(http.MethodPut, "/api/studies/1.2.3/favorites", f.carol, nil).Status, "album xor inbox")
	ev := f.do(http.MethodGet, "/api/albums/"+a.AlbumID+"/events?types=mutations", f.carol, nil)
	assert.Contains(t, ev.Body, `"mutation_type":"IMPORT_STUDY"`)
	assert.Contains(t, ev.Body, `"study":{"UID":"1.2.3","series":[{"UID":"1.2.3.1","is_present_in_album":true}]}`)

	// Removing it from her inbox leaves the album copy.
	assert.Equal(t, http.StatusNoContent, f.do(http.MethodDelete, "/api/studies/1.2.3", f.carol, nil).Status)
	assert.Equal(t, http.StatusNoContent, f.do(http.MethodGet, "/api/studies?inbox=true", f.carol, nil).Status)
	assert.Equal(t, http.StatusOK, f.do(http.MethodGet, "/api/studies?album="+a.AlbumID, f.carol, nil).Status)

	// Appropriate: an unknown series UID is claimed, so a user may upload it.
	assert.Equal(t, http.StatusCreated, f.do(http.MethodPut, "/api/studies/1.2.3/series/2.25.1", f.carol, nil).Status)
}

func TestAlbumUsersAndComments(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	assert.Equal(t, http.StatusForbidden, f.do(http.MethodPut, "/api/albums/"+f.album+"/users/alice", f.alice, nil).Status, "adding yourself")
	assert.Equal(t, http.StatusCreated, f.do(http.MethodPut, "/api/albums/"+f.album+"/users/bob", f.alice, nil).Status, "an existing member")
	assert.Equal(t, http.StatusForbidden, f.do(http.MethodDelete, "/api/albums/"+f.album+"/users/alice", f.bob, nil).Status)
	rm := f.do(http.MethodDelete, "/api/albums/"+f.album+"/users/carol/admin", f.alice, nil)
	assert.Equal(t, http.StatusNotFound, rm.Status)
	assert.NotContains(t, rm.Body, "{", "a plain string body")
	users := f.do(http.MethodGet, "/api/albums/"+f.album+"/users?limit=1", f.bob, nil)
	assert.Equal(t, "2", users.Header.Get("X-Total-Count"))

	// A private comment is seen by its author and recipient only.
	require.Equal(t, http.StatusNoContent, f.do(http.MethodPost, "/api/albums/"+f.album+"/comments", f.alice, url.Values{"comment": {"public"}}).Status)
	require.Equal(t, http.StatusCreated, f.do(http.MethodPut, "/api/albums/"+f.album+"/users/carol", f.alice, nil).Status)
	require.Equal(t, http.StatusNoContent, f.do(http.MethodPost, "/api/albums/"+f.album+"/comments", f.alice, url.Values{"comment": {"psst"}, "to_user": {"bob"}}).Status)
	for tok, n := range map[string]string{f.bob: "2", f.carol: "1"} {
		r := f.do(http.MethodGet, "/api/albums/"+f.album+"/events?types=comments", tok, nil)
		assert.Equal(t, n, r.Header.Get("X-Total-Count"))
	}
	c := f.do(http.MethodGet, "/api/albums/"+f.album+"/events?types=comments&limit=1", f.bob, nil)
	assert.Regexp(t, `^\[\{"event_type":"Comment","source":\{"email":"alice@example.org","name":"Alice Admin","sub":"alice"\},"post_date":"[0-9T:.-]+","comment":"psst","is_private":true,"target":\{[^}]*"sub":"bob"\}\}\]$`, c.Body)

	// Study comments.
	require.Equal(t, http.StatusNoContent, f.do(http.MethodPost, "/api/studies/1.2.3/comments", f.bob, url.Values{"comment": {"nice"}}).Status)
	sc := f.do(http.MethodGet, "/api/studies/1.2.3/comments", f.alice, nil)
	assert.Contains(t, sc.Body, `"comment":"nice"`)
	dave := f.k.AddUser(kheopstest.User{Sub: "dave"})
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodGet, "/api/studies/1.2.3/comments", dave, nil).Status, "a study dave cannot see")

	// The last member leaving deletes the album.
	require.Equal(t, http.StatusNoContent, f.do(http.MethodDelete, "/api/albums/"+f.album+"/users/bob", f.alice, nil).Status)
	require.Equal(t, http.StatusNoContent, f.do(http.MethodDelete, "/api/albums/"+f.album+"/users/carol", f.alice, nil).Status)
	require.Equal(t, http.StatusNoContent, f.do(http.MethodDelete, "/api/albums/"+f.album+"/users/alice", f.alice, nil).Status)
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodGet, "/api/albums/"+f.album, f.alice, nil).Status)
}

func TestUserLookup(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	r := f.do(http.MethodGet, "/api/users?reference=BOB@EXAMPLE.ORG", f.alice, nil)
	assert.JSONEq(t, `{"email":"bob@example.org","name":"Bob Member","sub":"bob"}`, r.Body)
	assert.Equal(t, http.StatusNoContent, f.do(http.MethodGet, "/api/users?reference=nobody", f.alice, nil).Status)
	s := f.do(http.MethodGet, "/api/users?search=EXAMPLE.org&album="+f.album, f.alice, nil)
	require.Equal(t, http.StatusOK, s.Status)
	assert.Empty(t, s.Header.Get("X-Total-Count"))
	assert.Equal(t, `[{"email":"bob@example.org","name":"Bob Member","sub":"bob","is_admin":false,"album_access":true},{"email":"carol@example.org","name":"Carol Outsider","sub":"carol","album_access":false}]`, s.Body, "the caller is left out")
	assert.Equal(t, http.StatusBadRequest, f.do(http.MethodGet, "/api/users?search=ab", f.alice, nil).Status)
	assert.Equal(t, http.StatusNoContent, f.do(http.MethodGet, "/api/users?search=zzz", f.alice, nil).Status)
}

func TestSeriesMetadataAndInstanceSearch(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	_, err := f.k.AddInstance(f.album, kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.3.2",
		SOPInstanceUID: "1.2.3.2.1", PatientName: "DOE^JOHN", PatientID: "P1", StudyDescription: "Chest", InstanceNumber: 4}))
	require.NoError(t, err)
	meta := f.do(http.MethodGet, "/api/studies/1.2.3/series/1.2.3.2/metadata", f.bob, nil)
	require.Equal(t, http.StatusOK, meta.Status)
	var ds []map[string]json.RawMessage
	meta.decode(t, &ds)
	require.Len(t, ds, 1)
	assert.JSONEq(t, `{"vr":"UI","Value":["1.2.3.2.1"]}`, string(ds[0]["00080018"]))
	inst := f.do(http.MethodGet, "/api/studies/1.2.3/series/1.2.3.2/instances", f.bob, nil)
	require.Equal(t, http.StatusOK, inst.Status)
	assert.Equal(t, `[{"00080016":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]},"00080018":{"vr":"UI","Value":["1.2.3.2.1"]},`+
		`"00081190":{"vr":"UR","Value":["`+f.k.URL+`/api/studies/1.2.3/series/1.2.3.2/instances/1.2.3.2.1"]},"0020000D":{"vr":"UI","Value":["1.2.3"]},`+
		`"0020000E":{"vr":"UI","Value":["1.2.3.2"]},"00200013":{"vr":"IS","Value":[4]}}]`, inst.Body)
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodGet, "/api/studies/1.2.3/series/9.9/metadata", f.bob, nil).Status)
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodGet, "/api/studies/1.2.3/series/1.2.3.2/instances", f.carol, nil).Status)
}
