package kheops_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
	"github.com/dicombridge/dicombridge/kheops"
)

// secret is not ASCII on purpose: KHEOPS keys the HMAC with the secret's
// UTF-8 bytes.
const secret = "wh-s3cret-ünï"

// newSeriesSig is `openssl dgst -sha256 -hmac 'wh-s3cret-ünï' -r <
// testdata/new_series.json`, computed once outside Go.
const newSeriesSig = "16cb4bd3de70e2c0252544968971445ff3f7cdb4dd7c155691a0d884adfe9c2d"

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	require.NoError(t, err)
	return b
}

// sign is the signature as KHEOPS computes it, written independently of
// the package: lower-case hex HMAC-SHA256 of the body.
func sign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// externalSign computes the signature with openssl, or else with
// Debian's python3 hmac module (CI has python3; a missing tool fails
// under CI).
func externalSign(t *testing.T, key string, body []byte) string {
	t.Helper()
	var cmd *exec.Cmd
	if p, err := exec.LookPath("openssl"); err == nil {
		cmd = exec.Command(p, "dgst", "-sha256", "-hmac", key, "-r")
	} else {
		py := testenv.DebianPython(t)
		cmd = exec.Command(py, "-c", `import hmac,hashlib,sys
print(hmac.new(sys.argv[1].encode("utf-8"), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())`, key)
	}
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.Output()
	require.NoError(t, err)
	f := strings.Fields(string(out))
	require.NotEmpty(t, f)
	return f[0]
}

// delivery builds a request exactly as KHEOPS sends one.
func delivery(t testing.TB, url, event, id string, attempt int, body []byte, sig string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Kheops-Event", event)
	if id != "" {
		req.Header.Set("X-Kheops-Delivery", id)
	}
	req.Header.Set("X-Kheops-Attempt", string(rune('0'+attempt))+"/5")
	if sig != "" {
		req.Header.Set("X-Kheops-Signature", sig)
	}
	return req
}

func send(t testing.TB, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// recorder collects the events handed to OnEvent.
type recorder struct {
	mu     sync.Mutex
	events []*kheops.WebhookEvent
	fail   atomic.Int32 // fail the next n calls
}

func (r *recorder) OnEvent(_ context.Context, ev *kheops.WebhookEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if r.fail.Load() > 0 {
		r.fail.Add(-1)
		return errors.New("downstream unavailable")
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func serve(t testing.TB, h *kheops.WebhookHandler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/hooks/kheops"
}

func TestSignatureKnownAnswer(t *testing.T) {
	t.Parallel()
	body := golden(t, "new_series")
	assert.Equal(t, newSeriesSig, sign(secret, body), "crypto/hmac")
	for _, name := range []string{"new_series", "new_user", "remove_series", "delete_album", "new_comment"} {
		b := golden(t, name)
		ext := externalSign(t, secret, b)
		assert.Equal(t, ext, sign(secret, b), name)
		assert.NoError(t, kheops.Verify(secret, b, ext), name)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := golden(t, "new_series")
	tampered := bytes.Replace(body, []byte(`"patient_ID":"123"`), []byte(`"patient_ID":"124"`), 1)
	require.NotEqual(t, body, tampered)
	for _, tc := range []struct {
		name, secret, sig string
		body              []byte
		want              error
	}{
		{"valid", secret, newSeriesSig, body, nil},
		{"upper-case hex", secret, strings.ToUpper(newSeriesSig), body, nil},
		{"missing", secret, "", body, kheops.ErrMissingSignature},
		{"tampered body", secret, newSeriesSig, tampered, kheops.ErrBadSignature},
		{"wrong secret", "another", newSeriesSig, body, kheops.ErrBadSignature},
		{"secret as Latin-1", "wh-s3cret-\xfcn\xef", newSeriesSig, body, kheops.ErrBadSignature},
		{"sha256= prefix", secret, "sha256=" + newSeriesSig, body, kheops.ErrBadSignature},
		{"truncated", secret, newSeriesSig[:63], body, kheops.ErrBadSignature},
		{"not hex", secret, "zz" + newSeriesSig[2:], body, kheops.ErrBadSignature},
		{"no secret", "", newSeriesSig, body, kheops.ErrNoSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := kheops.Verify(tc.secret, tc.body, tc.sig)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
			if err != nil {
				assert.NotContains(t, err.Error(), newSeriesSig[:16])
			}
		})
	}
}

func TestHandlerGolden(t *testing.T) {
	t.Parallel()
	when := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return tm
	}
	ada := &kheops.User{Email: "ada@example.org", Name: "Ada Admin", Sub: "a1"}
	for _, tc := range []struct {
		file, event, id string
		want            kheops.WebhookEvent
	}{
		{"new_series", kheops.EventNewSeries, "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5", kheops.WebhookEvent{
			Host: "https://kheops.example", AlbumID: "Ab12Cd34Ef", EventTime: when("2025-01-02T10:11:12.345678Z"),
			Source:       &kheops.User{Email: "jane@example.org", Name: "Jane Doe", Sub: "6f0c5b1e-8a5e-4d7e-9b7c-0d7c0f1f2a3b"},
			ImportSource: "send",
			UpdatedStudy: &kheops.Study{PatientName: "DOE^JOHN", PatientID: "123", StudyUID: "1.2.3", StudyDate: "20240102",
				StudyTime: "101112", TimezoneOffsetFromUTC: "+0100", StudyDescription: "CT CHEST", StudyID: "S1",
				AccessionNumber: "A1", ReferringPhysicianName: "WHO^DR", PatientBirthDate: "19700101", PatientSex: "M",
				RetrieveURL: "https://kheops.example/api/studies/1.2.3",
				Series: []kheops.Series{{Modality: "SR", SeriesDescription: "Report", SeriesUID: "1.2.3.4",
					NumberOfSeriesRelatedInstances: 1, TimeZoneOffsetFromUTC: "+0100", SeriesNumber: 99,
					BodyPartExamined: "CHEST", RetrieveURL: "https://kheops.example/api/studies/1.2.3/series/1.2.3.4",
					NumberOfNewInstances: 1}}},
		}},
		{"new_user", kheops.EventNewUser, "b1b2c3d4e5f6g7h8i9j0k1l2m3n4o5", kheops.WebhookEvent{
			Host: "https://kheops.example", AlbumID: "Ab12Cd34Ef", EventTime: when("2025-01-02T10:11:00Z"),
			Source: &kheops.User{Email: "ada@example.org", Name: "Ada Admin", Sub: "a1",
				ReportProvider: &kheops.ReportProvider{Name: "AI reporter", ClientID: "Xy12Zw34Qr"}},
			IsManualTrigger: true,
			NewUser:         &kheops.User{Email: "bob@example.org", Name: "Bob Member", Sub: "b2"},
		}},
		{"remove_series", kheops.EventRemoveSeries, "c1b2c3d4e5f6g7h8i9j0k1l2m3n4o5", kheops.WebhookEvent{
			Host: "https://kheops.example", AlbumID: "Ab12Cd34Ef", EventTime: when("2025-01-02T10:11:12Z"),
			Source: &kheops.User{Email: "ada@example.org", Name: "Ada Admin", Sub: "a1",
				CapabilityToken: json.RawMessage(`{"id":"AbCdEfGhIj","title":"pipeline","scope_type":"album","read_permission":true}`)},
			RemoveAllSeries: true,
			RemovedStudy: &kheops.Study{PatientID: "123", StudyUID: "1.2.3",
				Series: []kheops.Series{{Modality: "CT", SeriesUID: "1.2.3.5", NumberOfSeriesRelatedInstances: 120}}},
		}},
		{"delete_album", kheops.EventDeleteAlbum, "", kheops.WebhookEvent{
			Host: "https://kheops.example", AlbumID: "Ab12Cd34Ef", EventTime: when("2025-01-02T10:11:12.123456789Z"), Source: ada,
		}},
		// An event this package does not know: common fields only, even
		// though the body has an updated_study.
		{"new_comment", "new_comment", "d1b2c3d4e5f6g7h8i9j0k1l2m3n4o5", kheops.WebhookEvent{
			Host: "https://kheops.example", AlbumID: "Ab12Cd34Ef", EventTime: when("2025-01-02T10:11:12.5Z"), Source: ada,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			url := serve(t, &kheops.WebhookHandler{Secret: secret, OnEvent: rec.OnEvent})
			body := golden(t, tc.file)
			require.Equal(t, http.StatusOK, send(t, delivery(t, url, tc.event, tc.id, 2, body, externalSign(t, secret, body))))
			require.Equal(t, 1, rec.count())
			want := tc.want
			want.Event, want.Delivery, want.Attempt, want.Body = tc.event, tc.id, 2, body
			assert.Equal(t, &want, rec.events[0])
			assert.Equal(t, time.UTC, rec.events[0].EventTime.Location())
		})
	}
}

// config is the part of a WebhookHandler a table case sets (a handler
// holds locks and must not be copied).
type config struct {
	Secret        string
	AllowUnsigned bool
	MaxBodyBytes  int64
}

func TestHandlerRefusals(t *testing.T) {
	t.Parallel()
	body := golden(t, "new_series")
	sig := sign(secret, body)
	tampered := bytes.Replace(body, []byte(`"SR"`), []byte(`"CT"`), 1)
	big := append(bytes.Clone(body[:len(body)-1]), []byte(`,"pad":"`+strings.Repeat("x", 2000)+`"}`)...)
	for _, tc := range []struct {
		name    string
		h       config
		method  string
		event   string
		body    []byte
		sig     string
		status  int
		logged  string // in the log record
		handled bool   // OnEvent called
	}{
		{name: "valid", h: config{Secret: secret}, body: body, sig: sig, status: 200, handled: true},
		{name: "upper-case hex", h: config{Secret: secret}, body: body, sig: strings.ToUpper(sig), status: 200, handled: true},
		{name: "missing signature", h: config{Secret: secret}, body: body, status: 401, logged: kheops.ErrMissingSignature.Error()},
		{name: "tampered body", h: config{Secret: secret}, body: tampered, sig: sig, status: 403, logged: kheops.ErrBadSignature.Error()},
		{name: "wrong secret", h: config{Secret: "other"}, body: body, sig: sig, status: 403, logged: kheops.ErrBadSignature.Error()},
		{name: "garbage signature", h: config{Secret: secret}, body: body, sig: "sha256=abc", status: 403, logged: kheops.ErrBadSignature.Error()},
		{name: "zero handler refuses", body: body, sig: sig, status: 500, logged: kheops.ErrNoSecret.Error()},
		{name: "AllowUnsigned accepts unsigned", h: config{AllowUnsigned: true}, body: body, status: 200, handled: true},
		{name: "AllowUnsigned ignored with a secret", h: config{Secret: secret, AllowUnsigned: true}, body: body, status: 401, logged: kheops.ErrMissingSignature.Error()},
		{name: "over the limit", h: config{Secret: secret, MaxBodyBytes: 1024}, body: big, sig: sign(secret, big), status: 413, logged: kheops.ErrTooLarge.Error()},
		{name: "at the limit", h: config{Secret: secret, MaxBodyBytes: int64(len(big))}, body: big, sig: sign(secret, big), status: 200, handled: true},
		{name: "not JSON", h: config{Secret: secret}, body: []byte("event=new_series"), sig: sign(secret, []byte("event=new_series")), status: 400, logged: kheops.ErrMalformed.Error()},
		{name: "JSON array", h: config{Secret: secret}, body: []byte("[1]"), sig: sign(secret, []byte("[1]")), status: 400, logged: kheops.ErrMalformed.Error()},
		{name: "bad event_time", h: config{Secret: secret}, body: []byte(`{"event_time":"2025-01-02 10:11:12"}`), sig: sign(secret, []byte(`{"event_time":"2025-01-02 10:11:12"}`)), status: 400, logged: "event_time"},
		{name: "no event header", h: config{Secret: secret}, event: "-", body: body, sig: sig, status: 400, logged: "X-Kheops-Event"},
		{name: "new_series relabelled delete_album", h: config{Secret: secret}, event: kheops.EventDeleteAlbum, body: body, sig: sig, status: 400, logged: "does not match event"},
		{name: "new_series relabelled remove_series", h: config{Secret: secret}, event: kheops.EventRemoveSeries, body: body, sig: sig, status: 400, logged: "does not match event"},
		{name: "new_series labelled with a newer event", h: config{Secret: secret}, event: "new_comment", body: body, sig: sig, status: 200, handled: true},
		{name: "GET", h: config{Secret: secret}, method: http.MethodGet, body: body, sig: sig, status: 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			var calls atomic.Int32
			h := &kheops.WebhookHandler{Secret: tc.h.Secret, AllowUnsigned: tc.h.AllowUnsigned, MaxBodyBytes: tc.h.MaxBodyBytes}
			h.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			h.OnEvent = func(context.Context, *kheops.WebhookEvent) error { calls.Add(1); return nil }
			url := serve(t, h)
			req := delivery(t, url, kheops.EventNewSeries, "e1b2c3d4e5f6g7h8i9j0k1l2m3n4o5", 1, tc.body, tc.sig)
			if tc.method != "" {
				req.Method = tc.method
			}
			switch tc.event {
			case "":
			case "-":
				req.Header.Del("X-Kheops-Event")
			default:
				req.Header.Set("X-Kheops-Event", tc.event)
			}
			assert.Equal(t, tc.status, send(t, req))
			assert.Equal(t, tc.handled, calls.Load() == 1)
			assert.Contains(t, logs.String(), tc.logged)
			assert.NotContains(t, logs.String(), secret)
			assert.NotContains(t, logs.String(), sig[:16])
		})
	}
}

func TestParseEventErrors(t *testing.T) {
	t.Parallel()
	h := http.Header{"X-Kheops-Event": {"new_series"}}
	for name, body := range map[string]string{
		"empty":                 "",
		"not an object":         `"x"`,
		"wrong type":            `{"album_id":5}`,
		"study of wrong type":   `{"updated_study":[]}`,
		"zone in event_time":    `{"event_time":"2025-01-02T10:11:12Z"}`,
		"ten fraction digits":   `{"event_time":"2025-01-02T10:11:12.1234567890"}`,
		"date only":             `{"event_time":"2025-01-02"}`,
		"trailing garbage":      `{}x`,
		"event_time not string": `{"event_time":1}`,
	} {
		_, err := kheops.ParseEvent(h, []byte(body))
		assert.ErrorIs(t, err, kheops.ErrMalformed, name)
	}
	for event, body := range map[string]string{
		kheops.EventNewSeries:    `{"album_id":"a"}`,
		kheops.EventNewUser:      `{"updated_study":{}}`,
		kheops.EventRemoveSeries: `{"new_user":{},"removed_study":{}}`,
		kheops.EventDeleteAlbum:  `{"remove_all_series":true}`,
	} {
		_, err := kheops.ParseEvent(http.Header{"X-Kheops-Event": {event}}, []byte(body))
		assert.ErrorIs(t, err, kheops.ErrMalformed, "%s with %s", event, body)
	}
	_, err := kheops.ParseEvent(http.Header{}, []byte(`{}`))
	assert.ErrorIs(t, err, kheops.ErrMalformed, "no event header")

	for v, want := range map[string]int{"1/5": 1, "5/5": 5, "": 0, "x/5": 0, "3": 0, "-1/5": 0, "12345/5": 0} {
		ev, err := kheops.ParseEvent(http.Header{"X-Kheops-Event": {"delete_album"}, "X-Kheops-Attempt": {v}}, []byte(`{}`))
		require.NoError(t, err)
		assert.Equal(t, want, ev.Attempt, "attempt %q", v)
	}
}

func TestHandlerDuplicates(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	url := serve(t, &kheops.WebhookHandler{Secret: secret, OnEvent: rec.OnEvent})
	body := golden(t, "new_series")
	sig := sign(secret, body)
	for attempt := 1; attempt <= 5; attempt++ {
		assert.Equal(t, http.StatusOK, send(t, delivery(t, url, kheops.EventNewSeries, "same-id", attempt, body, sig)))
	}
	assert.Equal(t, 1, rec.count())
	// Another delivery id is another event, even with the same body.
	assert.Equal(t, http.StatusOK, send(t, delivery(t, url, kheops.EventNewSeries, "other-id", 1, body, sig)))
	assert.Equal(t, 2, rec.count())
}

func TestHandlerRetryAfterError(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	rec.fail.Store(2)
	url := serve(t, &kheops.WebhookHandler{Secret: secret, OnEvent: rec.OnEvent})
	body := golden(t, "new_user")
	sig := sign(secret, body)
	want := []int{500, 500, 200, 200, 200}
	for i, status := range want {
		assert.Equal(t, status, send(t, delivery(t, url, kheops.EventNewUser, "retry-id", i+1, body, sig)), "attempt %d", i+1)
	}
	require.Equal(t, 3, rec.count(), "two failures, one success, then duplicates")
	assert.Equal(t, []int{1, 2, 3}, []int{rec.events[0].Attempt, rec.events[1].Attempt, rec.events[2].Attempt})
}

func TestHandlerDeleteAlbumWithoutDelivery(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	url := serve(t, &kheops.WebhookHandler{Secret: secret, OnEvent: rec.OnEvent})
	body := golden(t, "delete_album")
	for attempt := 1; attempt <= 3; attempt++ {
		assert.Equal(t, http.StatusOK, send(t, delivery(t, url, kheops.EventDeleteAlbum, "", attempt, body, sign(secret, body))))
	}
	require.Equal(t, 1, rec.count(), "retries of one delete_album are recognised by their body")
	assert.Empty(t, rec.events[0].Delivery)
	other := bytes.Replace(body, []byte("Ab12Cd34Ef"), []byte("Zz98Yy76Xx"), 1)
	assert.Equal(t, http.StatusOK, send(t, delivery(t, url, kheops.EventDeleteAlbum, "", 1, other, sign(secret, other))))
	assert.Equal(t, 2, rec.count(), "another album's deletion is another event")
}

func TestHandlerConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	url := serve(t, &kheops.WebhookHandler{Secret: secret, OnEvent: func(context.Context, *kheops.WebhookEvent) error {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		return nil
	}})
	body := golden(t, "new_series")
	sig := sign(secret, body)
	var wg sync.WaitGroup
	var ok, busy atomic.Int32
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch send(t, delivery(t, url, kheops.EventNewSeries, "race-id", 1, body, sig)) {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusConflict:
				busy.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), calls.Load())
	assert.Equal(t, int32(64), ok.Load()+busy.Load(), "every answer is 200 or 409")
}

// failingStore is a DeliveryStore whose backend is down.
type failingStore struct{}

func (failingStore) Claim(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("connection refused")
}
func (failingStore) Release(context.Context, string) error { return nil }

func TestHandlerStoreFailure(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	url := serve(t, &kheops.WebhookHandler{Secret: secret, OnEvent: rec.OnEvent, Deliveries: failingStore{}})
	body := golden(t, "new_series")
	assert.Equal(t, http.StatusServiceUnavailable, send(t, delivery(t, url, kheops.EventNewSeries, "id", 1, body, sign(secret, body))))
	assert.Equal(t, 0, rec.count())
}

func TestHandlerPanicReleasesClaim(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	store := kheops.NewMemoryStore(10)
	h := &kheops.WebhookHandler{Secret: secret, Deliveries: store, OnEvent: func(context.Context, *kheops.WebhookEvent) error {
		if calls.Add(1) == 1 {
			panic("bug in OnEvent")
		}
		return nil
	}}
	body := golden(t, "new_series")
	rec := httptest.NewRecorder()
	req := delivery(t, "http://127.0.0.1/hook", kheops.EventNewSeries, "panic-id", 1, body, sign(secret, body))
	assert.Panics(t, func() { h.ServeHTTP(rec, req) })
	rec = httptest.NewRecorder()
	req = delivery(t, "http://127.0.0.1/hook", kheops.EventNewSeries, "panic-id", 2, body, sign(secret, body))
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, int32(2), calls.Load(), "the retry after a panic is handed over")
}

// A retry that arrives while the first copy is still in OnEvent is told to
// come back (409), so that if that OnEvent fails the event is not lost.
func TestHandlerDuplicateWhileInFlight(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	url := serve(t, &kheops.WebhookHandler{Secret: secret, OnEvent: func(context.Context, *kheops.WebhookEvent) error {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
			return errors.New("downstream unavailable")
		}
		return nil
	}})
	body := golden(t, "new_series")
	sig := sign(secret, body)
	first := make(chan int, 1)
	go func() { first <- send(t, delivery(t, url, kheops.EventNewSeries, "slow-id", 1, body, sig)) }()
	<-entered
	assert.Equal(t, http.StatusConflict, send(t, delivery(t, url, kheops.EventNewSeries, "slow-id", 2, body, sig)))
	close(release)
	assert.Equal(t, http.StatusInternalServerError, <-first)
	assert.Equal(t, http.StatusOK, send(t, delivery(t, url, kheops.EventNewSeries, "slow-id", 3, body, sig)))
	assert.Equal(t, int32(2), calls.Load(), "the failed first copy, then attempt 3")
}
