package kheopstest_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

// world is a fake KHEOPS under /kheops with one album, one admin and a
// code-flow provider served over plain HTTP on 127.0.0.1.
type world struct {
	t        *testing.T
	k        *kheopstest.Server
	rp       *httptest.Server
	key      *rsa.PrivateKey
	admin    string
	clientID string
	confURL  string
	// jwksStd serves the JWKS with padded standard Base64 (which KHEOPS's
	// JWKS library also reads).
	jwksStd atomic.Bool
}

const album = "AlbumOne01"

func newWorld(t *testing.T, opts ...kheopstest.Option) *world {
	t.Helper()
	data, err := os.ReadFile("testdata/k1.pem")
	require.NoError(t, err)
	block, _ := pem.Decode(data)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	w := &world{t: t, key: k.(*rsa.PrivateKey)}
	mux := http.NewServeMux()
	w.rp = httptest.NewServer(mux)
	t.Cleanup(w.rp.Close)
	w.confURL = w.rp.URL + "/cfg"
	mux.HandleFunc("/cfg", func(rw http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(rw, `{"redirect_uri":%q,"response_type":"code","token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_signing_alg":"RS256","jwks_uri":%q}`,
			w.rp.URL+"/cb", w.rp.URL+"/jwks")
	})
	mux.HandleFunc("/jwks", func(rw http.ResponseWriter, _ *http.Request) {
		pub := w.key.PublicKey
		enc := base64.RawURLEncoding
		if w.jwksStd.Load() {
			enc = base64.StdEncoding
		}
		fmt.Fprintf(rw, `{"keys":[{"kty":"RSA","kid":"k1","n":%q,"e":%q}]}`,
			enc.EncodeToString(pub.N.Bytes()), enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes()))
	})
	w.k = kheopstest.NewServer(append([]kheopstest.Option{kheopstest.WithBasePath("/kheops")}, opts...)...)
	t.Cleanup(w.k.Close)
	w.admin = w.k.AddUser(kheopstest.User{Sub: "admin", Name: "Ada Admin", Email: "ada@example.com"})
	w.k.AddAlbum(album, &kheopstest.Permissions{})
	if err := w.k.AddMember(album, "admin", true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.k.AddInstance(album, kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPInstanceUID: "1.2.3.1.1"})); err != nil {
		t.Fatal(err)
	}
	clientID, err := w.k.Register(context.Background(), w.admin, album, "RP", w.confURL)
	require.NoError(t, err)
	w.clientID = clientID
	return w
}

func (w *world) assertion(aud string) string {
	return w.signed(jwt.MapClaims{"iss": w.clientID, "sub": w.clientID, "aud": aud, "jti": "0", "exp": time.Now().Add(time.Minute).Unix()})
}

// signed signs claims as the provider's client assertion (kid k1).
func (w *world) signed(claims jwt.MapClaims) string {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = "k1"
	s, err := t.SignedString(w.key)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) post(path string, form url.Values, h http.Header) (int, []byte) {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.k.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := w.k.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// bearer sends a request with a bearer token and returns status and body.
func (w *world) bearer(method, path, token, contentType string, body io.Reader) (int, string) {
	w.t.Helper()
	req, _ := http.NewRequest(method, w.k.URL+path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := w.k.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// redeem launches and redeems a code; it returns the access token.
func (w *world) redeem() string {
	w.t.Helper()
	u, err := w.k.Launch(context.Background(), w.admin, w.clientID, "1.2.3")
	if err != nil {
		w.t.Fatal(err)
	}
	pu, _ := url.Parse(u)
	status, body := w.post("/api/token", url.Values{"grant_type": {"authorization_code"}, "code": {pu.Query().Get("code")},
		"client_id": {w.clientID}, "redirect_uri": {w.rp.URL + "/cb"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {w.assertion(w.k.URL + "/api/token")}}, nil)
	if status != 200 {
		w.t.Fatalf("redeem: %d %s", status, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tr)
	return tr.AccessToken
}

func TestConfigurationFetchedAsOftenAsKHEOPSDoes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	paths := func() []string {
		var out []string
		for _, f := range w.k.Fetches() {
			out = append(out, strings.TrimPrefix(f, w.rp.URL))
		}
		return out
	}
	w.k.ResetCalls()
	_, err := w.k.Launch(context.Background(), w.admin, w.clientID, "1.2.3")
	require.NoError(t, err)
	assert.Equal(t, []string{"/cfg", "/cfg"}, paths(), "launch: response_type, then redirect_uri")
	w.k.ResetCalls()
	tok := w.redeem()
	assert.Equal(t, []string{"/cfg", "/cfg", "/cfg", "/jwks", "/cfg"}, paths(), "launch (2), authentication (config, JWKS), grant (config)")
	w.k.ResetCalls()
	w.post("/api/token/introspect", url.Values{"token": {tok}}, nil)
	assert.Equal(t, []string{"/cfg"}, paths(), "introspection")
}

func TestFailureInjectionAndRecordedCalls(t *testing.T) {
	t.Parallel()
	grantFoo := url.Values{"grant_type": {"foo"}}
	statuses := func(w *world, n int) []int {
		var got []int
		for i := 0; i < n; i++ {
			status, _ := w.post("/api/token", grantFoo, nil)
			got = append(got, status)
		}
		return got
	}
	t.Run("Times N fails the next N requests, then the route works", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.k.ResetCalls()
		w.k.Fail("/api/token", kheopstest.Failure{Times: 2, Status: 503, Body: "busy", Header: http.Header{"Content-Type": {"text/plain"}}})
		assert.Equal(t, []int{503, 503, 400}, statuses(w, 3))
		calls := w.k.CallsTo("/api/token")
		require.Len(t, calls, 3)
		assert.Equal(t, "grant_type=foo", string(calls[0].Body))
		assert.Equal(t, http.MethodPost, calls[0].Method)
		assert.Equal(t, 503, calls[0].Status)
		assert.Equal(t, 400, calls[2].Status)
	})
	t.Run("Times 0 fails every request until cleared", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.k.Fail("/api/token", kheopstest.Failure{Status: 503})
		assert.Equal(t, []int{503, 503, 503, 503}, statuses(w, 4))
		w.k.ClearFailures()
		assert.Equal(t, []int{400}, statuses(w, 1))
	})
	t.Run("only the matching method and path are affected", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.k.Fail("/api/token", kheopstest.Failure{Method: http.MethodGet, Status: 500})
		w.k.Fail("/api/token/introspect", kheopstest.Failure{Status: 500})
		assert.Equal(t, []int{400}, statuses(w, 1), "POST hit a GET failure")
	})
	t.Run("answer defaults to JSON", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.k.Fail("/api/token", kheopstest.Failure{Status: 503, Body: `{"error":"busy"}`})
		req, err := http.NewRequest(http.MethodPost, w.k.URL+"/api/token", strings.NewReader("grant_type=foo"))
		require.NoError(t, err)
		resp, err := w.k.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	})
}

func TestLaunchRefusesAlbumCapabilityToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	form := url.Values{"access_token": {w.k.AlbumCapabilityToken(album)}, "client_id": {w.clientID}, "studyUID": {"1.2.3"}}
	status, body := w.post("/api/report", form, nil)
	assert.Equal(t, http.StatusForbidden, status, "%s", body)
}

func TestBasePath(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	root := strings.TrimSuffix(w.k.URL, "/kheops")
	for _, p := range []string{"/api/.well-known/report-provider-configuration", "/kheopsapi/token", "/"} {
		resp, err := w.k.Client().Get(root + p)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Falsef(t, resp.StatusCode != 404 && resp.StatusCode != 405, "%s outside the base path: HTTP %d", p, resp.StatusCode)
	}
	resp, err := w.k.Client().Get(w.k.ConfigurationURL())
	require.NoError(t, err)
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"issuer": w.k.URL, "dicomweb_endpoint": w.k.URL + "/api", "dicomweb_uri_endpoint": w.k.URL + "/api/wado",
		"token_endpoint": w.k.URL + "/api/token", "introspection_endpoint": w.k.URL + "/api/token/introspect", "userinfo_endpoint": w.k.URL + "/api/userinfo"}
	for k, v := range want {
		assert.Equalf(t, v, doc[k], "%s = %v, want %s", k, doc[k], v)
	}
	if _, ok := doc["jwks_uri"]; ok {
		t.Error("KHEOPS publishes no jwks_uri")
	}
	assert.Equalf(t, 13, len(doc), "%d members, want 13", len(doc))
}

func TestLaunchAsRedirectAndPageParsing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, kheopstest.WithLaunchAsRedirect())
	u, err := w.k.Launch(context.Background(), w.admin, w.clientID, "1.2.3")
	require.Falsef(t, err != nil || !strings.HasPrefix(u, w.rp.URL+"/cb?code="), "%s %v", u, err)
	got, err := kheopstest.ParseLaunchPage([]byte(`<meta http-equiv="refresh" content="0;URL='https://rp/cb?a=1&amp;b=2'">`))
	assert.Falsef(t, err != nil || got != "https://rp/cb?a=1&b=2", "%q %v", got, err)
	for _, bad := range []string{"", "<html></html>", `content="0;URL='x`} {
		if _, err := kheopstest.ParseLaunchPage([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestRegistrationAPI(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	reader := w.k.AddUser(kheopstest.User{Sub: "reader"})
	if err := w.k.AddMember(album, "reader", false); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"url": {w.confURL}, "name": {"RP2"}}
	for _, c := range []struct {
		path string
		h    http.Header
		want int
	}{
		{"/api/albums/" + album + "/reportproviders", nil, 401},
		{"/api/albums/" + album + "/reportproviders", http.Header{"Authorization": {"Bearer " + reader}}, 403},
		{"/api/albums/NoSuchAlbum/reportproviders", http.Header{"Authorization": {"Bearer " + w.admin}}, 404},
	} {
		if status, body := w.post(c.path, form, c.h); status != c.want {
			t.Errorf("%s: %d %s, want %d", c.path, status, body, c.want)
		}
	}
	do := func(method, path string, form url.Values) (int, []byte) {
		req, _ := http.NewRequest(method, w.k.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+w.admin)
		resp, err := w.k.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	base := "/api/albums/" + album + "/reportproviders/" + w.clientID
	steps := []struct {
		name, method, path string
		form               url.Values
		status             int
		contains           string
	}{
		{"GET", http.MethodGet, base, nil, 200, w.clientID},
		{"PATCH the name", http.MethodPatch, base, url.Values{"name": {"Renamed"}}, 200, "Renamed"},
		{"PATCH to a bad URL", http.MethodPatch, base, url.Values{"url": {w.rp.URL + "/nothing"}}, 400, ""},
		{"list", http.MethodGet, "/api/albums/" + album + "/reportproviders", nil, 200, "Renamed"},
		{"DELETE", http.MethodDelete, base, nil, 204, ""},
		{"GET after DELETE", http.MethodGet, base, nil, 404, ""},
	}
	for _, s := range steps { // in order: each step sees the previous ones
		status, body := do(s.method, s.path, s.form)
		assert.Equal(t, s.status, status, "%s: %s", s.name, body)
		assert.Contains(t, string(body), s.contains, s.name)
	}
	_, err := w.k.Launch(context.Background(), w.admin, w.clientID, "1.2.3")
	var ae *kheopstest.APIError
	require.ErrorAs(t, err, &ae, "launch of a deleted provider")
	assert.Equal(t, http.StatusNotFound, ae.StatusCode)
}

func TestPEPTokenNeedsTheInternalClient(t *testing.T) {
	t.Parallel()
	w := newWorld(t, kheopstest.WithInternalClient("proxy", "s3cret"))
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "scope": {"pep"}, "seriesUID": {"1.2.3.1"},
		"subject_token": {w.admin}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "studyUID": {"1.2.3"}}
	basic := func(user, pass string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
	}
	if status, body := w.post("/api/token", form, basic("proxy", "s3cret")); status != 200 || !strings.Contains(string(body), `"expires_in":3600`) {
		t.Errorf("internal client: %d %s", status, body)
	}
	if status, body := w.post("/api/token", form, basic("proxy", "wrong")); status != 400 || !strings.Contains(string(body), "invalid_client") {
		t.Errorf("wrong secret: %d %s", status, body)
	}
	status, body := w.post("/api/token/introspect", url.Values{"token": {w.admin}}, basic("proxy", "s3cret"))
	assert.Falsef(t, status != 200 || !strings.Contains(string(body), `"active":true`), "internal introspection of a user token: %d %s", status, body)
}

func multipartBody(t *testing.T, typ string, parts ...[]byte) (string, *bytes.Buffer) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		require.NoError(t, err)
		pw.Write(p)
	}
	mw.Close()
	return fmt.Sprintf(`multipart/related; type=%q; boundary=%s`, typ, mw.Boundary()), &b
}

func TestStoreRules(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tok := w.redeem()
	inst := kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.3", SeriesUID: "2.25.77", SOPInstanceUID: "2.25.77.1", Modality: "SR"})
	stow := func(token, ct string, body io.Reader) (int, string) {
		return w.bearer(http.MethodPost, "/api/studies", token, ct, body)
	}
	ct, body := multipartBody(t, "application/dicom+json", inst)
	status, _ := stow(tok, ct, body)
	assert.Equal(t, http.StatusUnsupportedMediaType, status, "dicom+json")
	// User tokens may upload too (into the user's inbox), as in KHEOPS.
	mine := kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.3", SeriesUID: "2.25.78", SOPInstanceUID: "2.25.78.1", Modality: "SR"})
	status, resp := stow(w.admin, "application/dicom", bytes.NewReader(mine))
	assert.Equalf(t, http.StatusOK, status, "user token: %s", resp)
	status, resp = stow(tok, "application/dicom", bytes.NewReader(inst))
	assert.Equalf(t, http.StatusOK, status, "single part: %s", resp)
	assert.Contains(t, resp, `"00081199"`)
	// The new series is now in the album and visible to the token.
	status, series := w.bearer(http.MethodGet, "/api/studies/1.2.3/series", tok, "", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, series, "2.25.77")
	assert.Contains(t, series, `"00080060":{"vr":"CS","Value":["SR"]}`)
	assert.NotContains(t, series, "2.25.78", "the user's upload is in the user's inbox, not the album")
	w.k.RemoveProvider(w.clientID)
	ct, body = multipartBody(t, "application/dicom", inst)
	status, _ = stow(tok, ct, body)
	assert.Equal(t, http.StatusUnauthorized, status, "token of a deleted provider")
}

// TestStoreRefusesASeriesOfAnotherStudy: a series UID belongs to one study.
// A provider allowed to write study 1.2.3 must not be able to claim, by
// reusing its SeriesInstanceUID, a series of a study in another album:
// that would put the foreign series into the provider's album and show it
// to every member there.
func TestStoreRefusesASeriesOfAnotherStudy(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	other := w.k.AddAlbum("AlbumTwo02", nil)
	if _, err := w.k.AddInstance(other, kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.9", SeriesUID: "1.2.9.1", SOPInstanceUID: "1.2.9.1.1"})); err != nil {
		t.Fatal(err)
	}
	tok := w.redeem()
	// A study of the token, but the series UID of the other album's study.
	inst := kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.9.1", SOPInstanceUID: "2.25.99.1", Modality: "SR"})
	status, body := w.bearer(http.MethodPost, "/api/studies", tok, "application/dicom", bytes.NewReader(inst))
	if status != http.StatusConflict || !strings.Contains(body, `"00081197":{"vr":"US","Value":[292]}`) {
		t.Errorf("STOW into a series of another study: HTTP %d %s, want 409 with FailureReason 0x0124", status, body)
	}
	// The admin of the provider's album still cannot see the other study.
	if status, body := w.bearer(http.MethodGet, "/api/studies/1.2.9/series", w.admin, "", nil); status != http.StatusNotFound {
		t.Errorf("other album's study after the STOW: HTTP %d %s, want 404", status, body)
	}
	if got := w.k.Instances("1.2.3"); len(got) != 1 {
		t.Errorf("study 1.2.3 holds %d instances, want the 1 it started with", len(got))
	}
}

func TestHelperErrorsHaveTheRemoteErrorShape(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	_, err := w.k.Register(context.Background(), w.admin, "NoSuchAlbum", "RP", w.confURL)
	var ae *kheopstest.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.MethodPost, ae.Method)
	assert.Equal(t, w.k.URL+"/api/albums/NoSuchAlbum/reportproviders", ae.URL)
	assert.Equal(t, http.StatusNotFound, ae.StatusCode)
	assert.Contains(t, ae.Body, "Album Not Found")
}
