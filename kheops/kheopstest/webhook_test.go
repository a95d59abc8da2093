package kheopstest_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops"
	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

// receiver is a partner's webhook endpoint: kheops.WebhookHandler behind a
// front that records every attempt and can fail the first ones.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	attempts []http.Header // every request, in order
	bodies   [][]byte
	events   []*kheops.WebhookEvent // what OnEvent was handed
	failNext int                    // answer 503 to this many attempts first
}

func newReceiver(t *testing.T, secret string) *receiver {
	t.Helper()
	rc := &receiver{}
	h := &kheops.WebhookHandler{Secret: secret, OnEvent: func(_ context.Context, ev *kheops.WebhookEvent) error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.events = append(rc.events, ev)
		return nil
	}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytesReader(body))
		rc.mu.Lock()
		rc.attempts = append(rc.attempts, r.Header.Clone())
		rc.bodies = append(rc.bodies, body)
		fail := rc.failNext > 0
		if fail {
			rc.failNext--
		}
		rc.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) snapshot() ([]http.Header, [][]byte, []*kheops.WebhookEvent) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]http.Header(nil), rc.attempts...), append([][]byte(nil), rc.bodies...), append([]*kheops.WebhookEvent(nil), rc.events...)
}

// waitFor polls until cond holds (deliveries are asynchronous).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventuallyf(t, cond, 10*time.Second, 5*time.Millisecond, "waiting for %s", what)
}

const hookSecret = "s3cret-ü" // not ASCII: the key is the secret's UTF-8 bytes

func fastHooks() []kheopstest.Option {
	return []kheopstest.Option{kheopstest.WithWebhookRetryUnit(2 * time.Millisecond), kheopstest.WithNewSeriesDelay(50 * time.Millisecond)}
}

func (f *fake) webhook(target string, form url.Values) string {
	f.t.Helper()
	form.Set("url", target)
	if form.Get("name") == "" {
		form.Set("name", "partner")
	}
	r := f.do(http.MethodPost, "/api/albums/"+f.album+"/webhooks", f.alice, form)
	require.Equalf(f.t, http.StatusCreated, r.Status, "%s", r.Body)
	var h struct{ ID string }
	r.decode(f.t, &h)
	require.Regexp(f.t, `^[A-Za-z0-9]{20}$`, h.ID)
	return h.ID
}

func TestWebhookDeliveredOnceDespiteRetries(t *testing.T) {
	t.Parallel()
	f := newFake(t, fastHooks()...)
	rc := newReceiver(t, hookSecret)
	rc.failNext = 2
	id := f.webhook(rc.srv.URL+"/hook", url.Values{"secret": {hookSecret}, "event": {"NEW_USER"}})
	require.Equal(t, http.StatusCreated, f.do(http.MethodPut, "/api/albums/"+f.album+"/users/carol", f.alice, nil).Status)

	waitFor(t, "the event", func() bool { _, _, ev := rc.snapshot(); return len(ev) == 1 })
	hdrs, bodies, events := rc.snapshot()
	require.Len(t, hdrs, 3, "two 503s, then a 200")
	for i, h := range hdrs {
		assert.Equal(t, "new_user", h.Get("X-Kheops-Event"))
		assert.Regexp(t, `^[A-Za-z0-9]{30}$`, h.Get("X-Kheops-Delivery"))
		assert.Equal(t, hdrs[0].Get("X-Kheops-Delivery"), h.Get("X-Kheops-Delivery"), "one delivery id for every retry")
		assert.Equal(t, string(rune('1'+i))+"/5", h.Get("X-Kheops-Attempt"))
		m := hmac.New(sha256.New, []byte(hookSecret))
		m.Write(bodies[i])
		assert.Equal(t, hex.EncodeToString(m.Sum(nil)), h.Get("X-Kheops-Signature"))
		assert.Equal(t, "application/json", h.Get("Content-Type"))
	}
	ev := events[0]
	assert.Equal(t, hdrs[0].Get("X-Kheops-Delivery"), ev.Delivery)
	assert.Equal(t, f.k.URL, ev.Host)
	assert.Equal(t, f.album, ev.AlbumID)
	require.NotNil(t, ev.NewUser)
	assert.Equal(t, "carol", ev.NewUser.Sub)
	require.NotNil(t, ev.Source)
	assert.Equal(t, "alice@example.org", ev.Source.Email)
	assert.WithinDuration(t, time.Now(), ev.EventTime, time.Minute)

	// A retry of a delivery the receiver already handed over is answered
	// 200 without a second OnEvent: replay the last attempt by hand.
	req, _ := http.NewRequest(http.MethodPost, rc.srv.URL+"/hook", bytesReader(bodies[2]))
	req.Header = hdrs[2]
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	_, _, events = rc.snapshot()
	assert.Len(t, events, 1)

	// KHEOPS records the attempts: status per attempt, "pass" overall.
	waitFor(t, "the attempts", func() bool {
		return regexpMatch(`"attempts":\[\{"status":503,"time":"[^"]+Z","attempt":1\},\{"status":503,[^]]*"attempt":2\},\{"status":200,[^]]*"attempt":3\}\]`,
			f.do(http.MethodGet, "/api/albums/"+f.album+"/webhooks/"+id, f.alice, nil).Body)
	})
	list := f.do(http.MethodGet, "/api/albums/"+f.album+"/webhooks", f.alice, nil)
	assert.Contains(t, list.Body, `"last_triggers":[{"id":"`+hdrs[0].Get("X-Kheops-Delivery")+`","status":"pass"}]`)
	assert.Contains(t, list.Body, `"use_secret":true`)
	assert.NotContains(t, list.Body, hookSecret)
}

func TestWebhookGivesUpAfterFiveAttempts(t *testing.T) {
	t.Parallel()
	f := newFake(t, fastHooks()...)
	rc := newReceiver(t, hookSecret)
	rc.failNext = 100
	id := f.webhook(rc.srv.URL, url.Values{"secret": {hookSecret}, "event": {"new_user"}})
	start := time.Now()
	require.Equal(t, http.StatusCreated, f.do(http.MethodPut, "/api/albums/"+f.album+"/users/carol", f.alice, nil).Status)
	waitFor(t, "five attempts", func() bool { h, _, _ := rc.snapshot(); return len(h) == 5 })
	// 4+3+2+1 retry units (KHEOPS: 20+15+10+5 s).
	assert.GreaterOrEqual(t, time.Since(start), 10*2*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	h, _, events := rc.snapshot()
	assert.Len(t, h, 5, "no sixth attempt")
	assert.Empty(t, events)
	waitFor(t, "the failed trigger", func() bool {
		return regexpMatch(`"last_triggers":\[\{"id":"[A-Za-z0-9]{30}","status":"fail"\}\]`, f.do(http.MethodGet, "/api/albums/"+f.album+"/webhooks", f.alice, nil).Body)
	})
	// A refused connection is recorded as status -1.
	f.k.Close()
	g := newFake(t, fastHooks()...)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	gid := g.webhook(dead.URL, url.Values{"event": {"new_user"}})
	require.Equal(t, http.StatusCreated, g.do(http.MethodPut, "/api/albums/"+g.album+"/users/carol", g.alice, nil).Status)
	waitFor(t, "five refused attempts", func() bool {
		return regexpMatch(`("status":-1,[^]]*){5}`, g.do(http.MethodGet, "/api/albums/"+g.album+"/webhooks/"+gid, g.alice, nil).Body)
	})
	_ = id
}

func TestWebhookNewSeriesIsDebounced(t *testing.T) {
	t.Parallel()
	// A debounce long enough that a loaded machine still uploads the three
	// series within it (600 ms was not, once, with 8 test runs at a time).
	const delay = 1500 * time.Millisecond
	f := newFake(t, append(fastHooks(), kheopstest.WithNewSeriesDelay(delay))...)
	rc := newReceiver(t, hookSecret)
	f.webhook(rc.srv.URL, url.Values{"secret": {hookSecret}, "event": {"new_series", "remove_series"}})
	// Three uploads of one study within the delay, by the same user: one delivery.
	for i := range 3 {
		n := string(rune('1' + i))
		r := f.stow("/api/studies?album="+f.album, f.bob, kheopstest.NewInstance(kheopstest.InstanceSpec{
			StudyUID: "1.2.3", SeriesUID: "1.2.3.9" + n, SOPInstanceUID: "1.2.3.9" + n + ".1", PatientName: "DOE^JOHN", PatientID: "P1", StudyDescription: "Chest", Modality: "SR"}))
		require.Equalf(t, http.StatusOK, r.Status, "%s", r.Body)
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, "the new_series event", func() bool { _, _, ev := rc.snapshot(); return len(ev) == 1 })
	time.Sleep(delay + 100*time.Millisecond) // a second delivery would be here by now
	_, _, events := rc.snapshot()
	require.Len(t, events, 1, "one delivery for the three additions")
	st := events[0].UpdatedStudy
	require.NotNil(t, st)
	assert.Equal(t, "1.2.3", st.StudyUID)
	assert.Equal(t, "DOE^JOHN", st.PatientName)
	require.Len(t, st.Series, 3)
	assert.Equal(t, "1.2.3.91", st.Series[0].SeriesUID)
	assert.Equal(t, "SR", st.Series[0].Modality)
	assert.Equal(t, 1, st.Series[0].NumberOfNewInstances)
	assert.Equal(t, "bob", events[0].Source.Sub)

	// Sharing into the album says so; removing fires remove_series.
	require.Equal(t, http.StatusNoContent, f.do(http.MethodDelete, "/api/studies/1.2.3/albums/"+f.album, f.alice, nil).Status)
	waitFor(t, "remove_series", func() bool { _, _, ev := rc.snapshot(); return len(ev) == 2 })
	_, _, events = rc.snapshot()
	assert.Equal(t, kheops.EventRemoveSeries, events[1].Event)
	assert.True(t, events[1].RemoveAllSeries)
	require.NotNil(t, events[1].RemovedStudy)
	assert.Len(t, events[1].RemovedStudy.Series, 4)
}

func TestWebhookDeleteAlbumAndManualTriggers(t *testing.T) {
	t.Parallel()
	f := newFake(t, fastHooks()...)
	rc := newReceiver(t, hookSecret)
	id := f.webhook(rc.srv.URL, url.Values{"secret": {hookSecret}, "event": {"delete_album"}, "enabled": {"false"}})

	// PATCH: add_event wins over remove_event; event= replaces; mixing is 400.
	p := f.do(http.MethodPatch, "/api/albums/"+f.album+"/webhooks/"+id, f.alice, url.Values{"add_event": {"new_user"}, "remove_event": {"delete_album"}})
	assert.Contains(t, p.Body, `"events":["delete_album","new_user"]`)
	assert.Equal(t, http.StatusBadRequest, f.do(http.MethodPatch, "/api/albums/"+f.album+"/webhooks/"+id, f.alice, url.Values{"event": {"new_user"}, "add_event": {"new_series"}}).Status)
	p = f.do(http.MethodPatch, "/api/albums/"+f.album+"/webhooks/"+id, f.alice, url.Values{"event": {""}})
	assert.Contains(t, p.Body, `"events":[]`)
	p = f.do(http.MethodPatch, "/api/albums/"+f.album+"/webhooks/"+id, f.alice, url.Values{"event": {"delete_album"}})
	assert.Contains(t, p.Body, `"enabled":false`)

	// A manual trigger is sent although the webhook is disabled.
	bad := f.do(http.MethodPost, "/api/albums/"+f.album+"/webhooks/"+id+"/trigger", f.alice, url.Values{"event": {"new_user"}, "user": {"bob"}, "StudyInstanceUID": {"1.2.3"}})
	assert.Equal(t, http.StatusBadRequest, bad.Status)
	tr := f.do(http.MethodPost, "/api/albums/"+f.album+"/webhooks/"+id+"/trigger", f.alice, url.Values{"event": {"new_series"}, "StudyInstanceUID": {"1.2.3"}, "SeriesInstanceUID": {"1.2.3.1"}})
	require.Equal(t, http.StatusAccepted, tr.Status)
	waitFor(t, "the manual trigger", func() bool { _, _, ev := rc.snapshot(); return len(ev) == 1 })
	_, _, events := rc.snapshot()
	assert.True(t, events[0].IsManualTrigger)
	assert.Equal(t, kheops.EventNewSeries, events[0].Event)

	// Disabled: the album's deletion is not sent; enabled, it is, without
	// a delivery id.
	require.Equal(t, http.StatusOK, f.do(http.MethodPatch, "/api/albums/"+f.album+"/webhooks/"+id, f.alice, url.Values{"enabled": {"true"}}).Status)
	require.Equal(t, http.StatusNoContent, f.do(http.MethodDelete, "/api/albums/"+f.album, f.alice, nil).Status)
	waitFor(t, "delete_album", func() bool { _, _, ev := rc.snapshot(); return len(ev) == 2 })
	hdrs, _, events := rc.snapshot()
	assert.Equal(t, kheops.EventDeleteAlbum, events[1].Event)
	assert.Empty(t, hdrs[len(hdrs)-1].Values("X-Kheops-Delivery"))
	assert.Equal(t, f.album, events[1].AlbumID)
}

func TestWebhookWrongSecretIsRefusedByTheReceiver(t *testing.T) {
	t.Parallel()
	f := newFake(t, fastHooks()...)
	rc := newReceiver(t, hookSecret)
	f.webhook(rc.srv.URL, url.Values{"secret": {"another"}, "event": {"new_user"}})
	require.Equal(t, http.StatusCreated, f.do(http.MethodPut, "/api/albums/"+f.album+"/users/carol", f.alice, nil).Status)
	waitFor(t, "five refused attempts", func() bool { h, _, _ := rc.snapshot(); return len(h) == 5 })
	_, _, events := rc.snapshot()
	assert.Empty(t, events, "403 from the handler, never OnEvent")
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
