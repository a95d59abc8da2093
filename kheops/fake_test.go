package kheops_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomweb"
	"github.com/dicombridge/dicombridge/kheops"
	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

// fakeEnv is the fake KHEOPS under /kheops with two users.
type fakeEnv struct {
	fake       *kheopstest.Server
	alice, bob *kheops.Client
	aliceToken string
}

func newFakeEnv(t *testing.T) *fakeEnv {
	fake := kheopstest.NewServer(kheopstest.WithBasePath("/kheops"), kheopstest.WithWebhookRetryUnit(time.Millisecond), kheopstest.WithNewSeriesDelay(20*time.Millisecond))
	t.Cleanup(fake.Close)
	e := &fakeEnv{fake: fake}
	e.aliceToken = fake.AddUser(kheopstest.User{Sub: "alice", Name: "Alice Doe", Email: "alice@example.org"})
	bobToken := fake.AddUser(kheopstest.User{Sub: "bob", Name: "Bob Roe", Email: "bob@example.org"})
	e.alice = e.client(t, kheops.Token(e.aliceToken), false)
	e.bob = e.client(t, kheops.Token(bobToken), false)
	return e
}

func (e *fakeEnv) client(t *testing.T, tok kheops.Token, basic bool) *kheops.Client {
	c, err := kheops.New(kheops.Config{URL: e.fake.URL, Token: kheops.StaticToken(tok), HTTPClient: e.fake.Client(), Basic: basic})
	require.NoError(t, err)
	return c
}

func instance(study, series, sop string) []byte {
	return kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: study, SeriesUID: series, SOPInstanceUID: sop,
		PatientName: "DOE^JANE", PatientID: "P1", StudyDescription: "CT chest", StudyDate: "20240506", SeriesNumber: 1})
}

// collect drains a pager.
func collect[T any](t *testing.T, p *kheops.Pager[T]) []T {
	t.Helper()
	var out []T
	for v, err := range p.All(context.Background()) {
		require.NoError(t, err)
		out = append(out, v)
	}
	return out
}

func TestClientAgainstFake(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	ctx := context.Background()

	// Albums.
	album, err := e.alice.CreateAlbum(ctx, kheops.AlbumSettings{Name: "Tumour board", Description: ptr("weekly"), AddUser: ptr(true)})
	require.NoError(t, err)
	assert.True(t, album.IsAdmin)
	assert.True(t, album.AddUser)
	assert.False(t, album.CreatedTime.IsZero())
	edited, err := e.alice.EditAlbum(ctx, album.ID, kheops.AlbumSettings{Name: "Board"})
	require.NoError(t, err)
	assert.Equal(t, "weekly", edited.Description, "EditAlbum keeps the description KHEOPS would clear")
	assert.Equal(t, "Board", edited.Name)
	albums := collect(t, e.alice.Albums(kheops.AlbumQuery{}))
	require.Len(t, albums, 1)
	pg, err := e.alice.Albums(kheops.AlbumQuery{}).Page(ctx, 1, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, pg.Total)

	// Upload a study into the album over DICOMweb with the same token.
	res, err := e.alice.DICOMweb().StoreWithQuery(ctx, "", map[string][]string{"album": {album.ID}},
		bytes.NewReader(instance("2.25.10", "2.25.10.1", "2.25.10.1.1")))
	require.NoError(t, err)
	assert.Len(t, res.Stored, 1)
	studies, err := e.alice.DICOMweb().SearchStudies(ctx, map[string][]string{"album": {album.ID}})
	require.NoError(t, err)
	require.Len(t, studies, 1)
	empty, err := e.alice.DICOMweb().SearchStudies(ctx, map[string][]string{"StudyInstanceUID": {"2.25.999"}})
	require.NoError(t, err)
	assert.Empty(t, empty, "an empty search (204) is an empty result")

	// A report whose attributes differ from the study is refused with 0x0106 and the tags.
	bad := kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "2.25.10", SeriesUID: "2.25.10.2", SOPInstanceUID: "2.25.10.2.1",
		PatientName: "DOE^JANE", PatientID: "OTHER", StudyDescription: "CT chest", StudyDate: "20240506", SeriesNumber: 2})
	_, err = e.alice.DICOMweb().StoreWithQuery(ctx, "2.25.10", map[string][]string{"album": {album.ID}}, bytes.NewReader(bad))
	var se *dicomweb.StoreError
	require.ErrorAs(t, err, &se)
	require.Len(t, se.Failed, 1)
	assert.Equal(t, dicomweb.ReasonAttributeMismatch, se.Failed[0].Reason)
	assert.Contains(t, se.Failed[0].Tags, uint32(0x00100020), "PatientID differs")

	// Members, admins, favorites, comments, events.
	require.NoError(t, e.alice.AddAlbumUser(ctx, album.ID, "bob@example.org"))
	users := collect(t, e.alice.AlbumUsers(album.ID))
	assert.Len(t, users, 2)
	require.NoError(t, e.alice.SetAlbumAdmin(ctx, album.ID, "bob", true))
	require.NoError(t, e.alice.SetAlbumAdmin(ctx, album.ID, "bob", false))
	require.NoError(t, e.bob.SetAlbumFavorite(ctx, album.ID, true))
	fav, err := e.bob.Album(ctx, album.ID, true)
	require.NoError(t, err)
	assert.True(t, fav.IsFavorite)
	assert.Len(t, fav.Users, 2)
	require.NoError(t, e.bob.CommentAlbum(ctx, album.ID, "seen", ""))
	comments := collect(t, e.alice.AlbumEvents(album.ID, true, false))
	require.NotEmpty(t, comments)
	assert.Equal(t, "seen", comments[0].Comment)
	mutations := collect(t, e.alice.AlbumEvents(album.ID, false, true))
	assert.NotEmpty(t, mutations)
	require.NoError(t, e.alice.CommentStudy(ctx, "2.25.10", "look", ""))
	assert.NotEmpty(t, collect(t, e.alice.StudyComments("2.25.10")))

	// Sharing: to bob's inbox, favorites there, out of it.
	require.NoError(t, e.alice.ShareStudy(ctx, "2.25.10", "bob@example.org", kheops.Place{Album: album.ID}))
	inbox, err := e.bob.InboxInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, inbox.NumberOfStudies)
	require.NoError(t, e.bob.SetFavorite(ctx, "2.25.10", "", kheops.Place{Inbox: true}, true))
	require.NoError(t, e.bob.SetFavorite(ctx, "2.25.10", "2.25.10.1", kheops.Place{Inbox: true}, false))
	require.NoError(t, e.bob.RemoveSeries(ctx, "2.25.10", "2.25.10.1", kheops.Place{Inbox: true}))
	require.NoError(t, e.alice.ShareSeries(ctx, "2.25.10", "2.25.10.1", "bob"))
	require.NoError(t, e.bob.RemoveStudy(ctx, "2.25.10", kheops.Place{Inbox: true}))

	// Users.
	u, err := e.alice.LookupUser(ctx, "bob@example.org")
	require.NoError(t, err)
	require.NotNil(t, u)
	assert.Equal(t, "bob", u.Sub)
	none, err := e.alice.LookupUser(ctx, "nobody@example.org")
	require.NoError(t, err)
	assert.Nil(t, none)
	found := collect(t, e.alice.SearchUsers("roe", album.ID, ""))
	require.Len(t, found, 1)
	assert.True(t, found[0].AlbumAccess)

	// Second album: add from the first, remove, appropriate.
	second, err := e.alice.CreateAlbum(ctx, kheops.AlbumSettings{Name: "Teaching"})
	require.NoError(t, err)
	require.NoError(t, e.alice.AddStudy(ctx, "2.25.10", kheops.Place{Album: second.ID}, kheops.Place{Album: album.ID}))
	require.NoError(t, e.alice.RemoveSeries(ctx, "2.25.10", "2.25.10.1", kheops.Place{Album: second.ID}))
	require.NoError(t, e.alice.AddSeries(ctx, "2.25.10", "2.25.10.1", kheops.Place{Album: second.ID}))
	require.NoError(t, e.alice.RemoveStudy(ctx, "2.25.10", kheops.Place{Album: second.ID}))
	require.NoError(t, e.alice.AddStudy(ctx, "2.25.10", kheops.Place{Inbox: true}, kheops.Place{Album: album.ID}))
	require.NoError(t, e.alice.DeleteAlbum(ctx, second.ID))
	_, err = e.alice.Album(ctx, second.ID, false)
	var ke *kheops.Error
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, http.StatusNotFound, ke.StatusCode)
	assert.Equal(t, "Album Not Found", ke.Message)

	// Report providers: none yet; an unreachable configuration is not valid.
	assert.Empty(t, collect(t, e.alice.ReportProviders(album.ID)))
	_, err = e.alice.ReportProvider(ctx, album.ID, "AbCdEfGhIjKlMnOpQrStUv")
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, http.StatusNotFound, ke.StatusCode)
	valid, fields, err := e.alice.CheckReportProvider(ctx, "http://127.0.0.1:1/.well-known/kheops-report-configuration")
	require.NoError(t, err)
	assert.False(t, valid)
	assert.Empty(t, fields)

	// Viewer token for one study.
	vt, err := e.alice.ViewerToken(ctx, "2.25.10", kheops.Place{Album: album.ID}, false)
	require.NoError(t, err)
	viewer := e.client(t, vt.AccessToken, false)
	vs, err := viewer.DICOMweb().SearchStudies(ctx, nil)
	require.NoError(t, err)
	assert.Len(t, vs, 1)
}

func TestCapabilitiesAgainstFake(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	ctx := context.Background()
	album, err := e.alice.CreateAlbum(ctx, kheops.AlbumSettings{Name: "Shared"})
	require.NoError(t, err)
	_, err = e.alice.DICOMweb().StoreWithQuery(ctx, "", map[string][]string{"album": {album.ID}},
		bytes.NewReader(instance("2.25.20", "2.25.20.1", "2.25.20.1.1")))
	require.NoError(t, err)

	cp, err := e.alice.CreateCapability(ctx, kheops.CapabilityRequest{Title: "read-only link", Album: album.ID,
		CapabilityPermissions: kheops.CapabilityPermissions{Read: true, Download: true}})
	require.NoError(t, err)
	require.True(t, kheops.IsCapabilityToken(cp.Secret))
	assert.Equal(t, "album", cp.ScopeType)
	assert.False(t, cp.Expiration.IsZero())

	// The capability reads the album's studies as Bearer, as Basic, and in the link URL.
	for _, basic := range []bool{false, true} {
		studies, err := e.client(t, cp.Secret, basic).DICOMweb().SearchStudies(ctx, nil)
		require.NoError(t, err)
		assert.Len(t, studies, 1)
	}
	link, err := kheops.LinkEndpoint(e.fake.URL, cp.Secret)
	require.NoError(t, err)
	studies, err := (&dicomweb.Client{Endpoint: link, HTTPClient: e.fake.Client()}).SearchStudies(ctx, nil)
	require.NoError(t, err)
	assert.Len(t, studies, 1)
	// ... but cannot write, nor use the management API for users.
	capClient := e.client(t, cp.Secret, false)
	_, err = capClient.InboxInfo(ctx)
	var ke *kheops.Error
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, http.StatusForbidden, ke.StatusCode)
	_, err = capClient.CreateCapability(ctx, kheops.CapabilityRequest{Title: "x"})
	assert.ErrorIs(t, err, kheops.ErrUserTokenRequired)

	list := collect(t, e.alice.Capabilities(album.ID, "", true))
	require.Len(t, list, 1)
	assert.Empty(t, list[0].Secret)
	got, err := e.alice.Capability(ctx, cp.ID)
	require.NoError(t, err)
	assert.Equal(t, "read-only link", got.Title)
	revoked, err := e.alice.RevokeCapability(ctx, cp.ID)
	require.NoError(t, err)
	assert.True(t, revoked.Revoked)
	_, err = capClient.DICOMweb().SearchStudies(ctx, nil)
	var he *dicomweb.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusUnauthorized, he.StatusCode)
	assert.Empty(t, collect(t, e.alice.Capabilities(album.ID, "", true)))
}

func TestWebhooksAgainstFake(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	var got []*kheops.WebhookEvent
	hook := httptest.NewServer(&kheops.WebhookHandler{Secret: "s3cr3t", OnEvent: func(_ context.Context, ev *kheops.WebhookEvent) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
		return nil
	}})
	t.Cleanup(hook.Close)
	events := func() []*kheops.WebhookEvent {
		mu.Lock()
		defer mu.Unlock()
		return append([]*kheops.WebhookEvent(nil), got...)
	}

	album, err := e.alice.CreateAlbum(ctx, kheops.AlbumSettings{Name: "Hooks"})
	require.NoError(t, err)
	secret := kheops.Token("s3cr3t")
	wh, err := e.alice.CreateWebhook(ctx, album.ID, kheops.WebhookSettings{URL: hook.URL + "/hook", Name: "partner", Secret: &secret,
		Events: []string{kheops.EventNewUser}})
	require.NoError(t, err)
	assert.True(t, wh.UseSecret)
	assert.Equal(t, []string{kheops.EventNewUser}, wh.Events)
	edited, err := e.alice.EditWebhook(ctx, album.ID, wh.ID, kheops.WebhookSettings{AddEvents: []string{kheops.EventNewSeries, kheops.EventRemoveSeries},
		RemoveEvents: []string{kheops.EventRemoveSeries}})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{kheops.EventNewUser, kheops.EventNewSeries}, edited.Events, "both add and remove applied")

	require.NoError(t, e.alice.AddAlbumUser(ctx, album.ID, "bob"))
	_, err = e.alice.DICOMweb().StoreWithQuery(ctx, "", map[string][]string{"album": {album.ID}},
		bytes.NewReader(instance("2.25.30", "2.25.30.1", "2.25.30.1.1")))
	require.NoError(t, err)
	require.NoError(t, e.alice.TriggerNewUser(ctx, album.ID, wh.ID, "bob"))
	require.NoError(t, e.alice.TriggerNewSeries(ctx, album.ID, wh.ID, "2.25.30", "2.25.30.1"))
	require.Eventually(t, func() bool { return len(events()) >= 4 }, 10*time.Second, 10*time.Millisecond)
	kinds := map[string]int{}
	for _, ev := range events() {
		kinds[ev.Event]++
	}
	assert.Equal(t, map[string]int{kheops.EventNewUser: 2, kheops.EventNewSeries: 2}, kinds)

	list := collect(t, e.alice.Webhooks(album.ID, ""))
	require.Len(t, list, 1)
	one, err := e.alice.Webhook(ctx, album.ID, wh.ID)
	require.NoError(t, err)
	require.NotEmpty(t, one.Triggers)
	assert.NotEmpty(t, one.Triggers[0].Attempts)
	assert.Equal(t, 200, one.Triggers[0].Attempts[0].Status)
	_, err = e.alice.EditWebhook(ctx, album.ID, wh.ID, kheops.WebhookSettings{Events: []string{}})
	require.NoError(t, err)
	require.NoError(t, e.alice.DeleteWebhook(ctx, album.ID, wh.ID))
	assert.Empty(t, collect(t, e.alice.Webhooks(album.ID, "")))
}
