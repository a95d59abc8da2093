package ohifbridge_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/ohifbridge"
	"github.com/dicombridge/dicombridge/reportprovider"
)

// The OHIF deployment the tests pretend to be. Nothing listens there: the
// test client reads the redirects the bridge sends to it.
const (
	ohifOrigin   = "http://ohif.test:3000"
	ohifLogin    = ohifOrigin + "/login"
	ohifCallback = ohifOrigin + "/callback"
	ohifLogout   = ohifOrigin + "/logout-done"
	clientID     = "ohif-viewer"
	studyUID     = "1.2.826.0.1.3680043.8.498.1"
	seriesUID    = "1.2.826.0.1.3680043.8.498.1.1"
)

// world is a fake KHEOPS with a user, an album holding one study, and a
// bridge registered in that album, served under non-root paths.
type world struct {
	t       testing.TB
	kheops  *kheopstest.Server
	srv     *httptest.Server
	bridge  *ohifbridge.Bridge
	issuer  string
	user    string // the user's KHEOPS token
	client  string // the bridge's KHEOPS client_id
	hc      *http.Client
	opts    ohifbridge.Options
	kheopsU string // ROOT
	album   string

	launches int // launches so far; see launch
	mode     ohifbridge.Mode

	// setHandler replaces what the bridge's server serves (before any
	// request is in flight).
	setHandler func(http.Handler)
}

func newWorld(t testing.TB, mode ohifbridge.Mode, edit func(*ohifbridge.Options)) *world {
	t.Helper()
	k := kheopstest.NewServer(kheopstest.WithBasePath("/kheops"))
	t.Cleanup(k.Close)
	user := k.AddUser(kheopstest.User{Sub: "u-jane", Name: "Jane Reader", Email: "jane@example.org"})
	album := k.AddAlbum("", nil)
	require.NoError(t, k.AddMember(album, "u-jane", true))
	_, err := k.AddInstance(album, kheopstest.NewInstance(kheopstest.InstanceSpec{
		StudyUID: studyUID, SeriesUID: seriesUID, SOPInstanceUID: seriesUID + ".1",
		Modality: "MR", PatientID: "P1", PatientName: "Doe^Jane", SeriesDescription: "T1 axial"}))
	require.NoError(t, err)

	var h http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	rpKey, idKey := testKeys(t)
	w := &world{t: t, kheops: k, srv: srv, user: user, issuer: srv.URL + "/bridge/oidc", kheopsU: k.URL, album: album, mode: mode}
	w.opts = ohifbridge.Options{
		Issuer: w.issuer,
		Provider: reportprovider.Options{
			ConfigurationURL: srv.URL + "/bridge/kheops-configuration",
			Configuration: reportprovider.Configuration{
				RedirectURI:  srv.URL + "/bridge/launch",
				ResponseType: reportprovider.ResponseTypeCode,
				JWKSURI:      srv.URL + "/bridge/kheops-jwks",
				ClientName:   "OHIF",
			},
			Keys:    []*reportprovider.Key{rpKey},
			Issuers: []reportprovider.Issuer{{URL: k.URL, AllowHTTP: true, AllowPrivateNetwork: true}},
		},
		Client: ohifbridge.Client{
			ID:                     clientID,
			LoginURL:               ohifLogin,
			RedirectURIs:           []string{ohifCallback, ohifOrigin + "/silent-refresh.html"},
			PostLogoutRedirectURIs: []string{ohifLogout},
		},
		Mode:       mode,
		SigningKey: idKey,
		AllowHTTP:  true,
	}
	if edit != nil {
		edit(&w.opts)
	}
	w.bridge, err = ohifbridge.New(w.opts)
	require.NoError(t, err)
	h = w.bridge.Handler()
	w.setHandler = func(nh http.Handler) { h = nh }
	w.client, err = k.Register(context.Background(), user, album, "OHIF", w.opts.Provider.ConfigurationURL)
	require.NoError(t, err)
	w.hc = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w
}

// bothModes are the bridge's modes, for tests that run in each.
var bothModes = []ohifbridge.Mode{ohifbridge.Proxy, ohifbridge.Direct}

// dicomwebRoot is OHIF's DICOMweb root: the bridge's proxy, or KHEOPS.
func (w *world) dicomwebRoot() string {
	if w.mode == ohifbridge.Proxy {
		return w.issuer + "/dicomweb"
	}
	return w.kheopsU + "/api"
}

// keys are generated once for all tests: RSA generation is the slowest
// part of a world.
var keys = sync.OnceValues(func() ([2]*reportprovider.Key, error) {
	rp, err := reportprovider.GenerateKey("rp-1")
	if err != nil {
		return [2]*reportprovider.Key{}, err
	}
	id, err := reportprovider.GenerateKey("id-1")
	return [2]*reportprovider.Key{rp, id}, err
})

func testKeys(t testing.TB) (rp, id *reportprovider.Key) {
	k, err := keys()
	require.NoError(t, err)
	return k[0], k[1]
}

// launchURL has KHEOPS launch the bridge and returns the URL KHEOPS
// sends the browser to.
func (w *world) launchURL() string {
	w.t.Helper()
	// KHEOPS codes carry no jti: two launches of one study by one user in
	// the same second get the same code, which the provider rightly
	// refuses as a replay. Later launches therefore open other studies.
	study := studyUID
	if w.launches > 0 {
		study = fmt.Sprintf("%s.%d", studyUID, w.launches)
		_, err := w.kheops.AddInstance(w.album, kheopstest.NewInstance(kheopstest.InstanceSpec{
			StudyUID: study, SeriesUID: study + ".1", SOPInstanceUID: study + ".1.1"}))
		require.NoError(w.t, err)
	}
	w.launches++
	launchURL, err := w.kheops.Launch(context.Background(), w.user, w.client, study)
	require.NoError(w.t, err)
	return launchURL
}

// launch has KHEOPS launch the bridge and returns where the bridge sent
// the browser (OHIF's login initiation).
func (w *world) launch() *url.URL {
	w.t.Helper()
	resp := w.get(w.launchURL(), "")
	require.Equal(w.t, http.StatusSeeOther, resp.StatusCode, "launch: %s", readBody(resp))
	assert.Equal(w.t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Equal(w.t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(w.t, err)
	return loc
}

func (w *world) get(u, token string) *http.Response {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(w.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := w.hc.Do(req)
	require.NoError(w.t, err)
	w.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readBody(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b)
}

// oidcClient is the OpenID Connect client of the tests, written from the
// specifications (discovery, PKCE, code, token, userinfo, refresh,
// revocation), doing what oidc-client-ts does for OHIF.
type oidcClient struct {
	w        *world
	meta     map[string]any
	verifier string
	state    string
	nonce    string
	redirect string
}

func (w *world) newClient() *oidcClient {
	w.t.Helper()
	// What OHIF's libraries do: authority, a slash if missing, the path.
	resp := w.get(strings.TrimSuffix(w.issuer, "/")+"/.well-known/openid-configuration", "")
	require.Equal(w.t, http.StatusOK, resp.StatusCode)
	var meta map[string]any
	require.NoError(w.t, json.NewDecoder(resp.Body).Decode(&meta))
	return &oidcClient{w: w, meta: meta, verifier: randomString(64), state: randomString(16), nonce: randomString(16), redirect: ohifCallback}
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (c *oidcClient) endpoint(name string) string {
	s, _ := c.meta[name].(string)
	require.NotEmpty(c.w.t, s, name)
	return s
}

// authorizeParams are the parameters oidc-client-ts sends, with the
// login_hint from the login initiation.
func (c *oidcClient) authorizeParams(hint string) url.Values {
	v := url.Values{
		"client_id":             {clientID},
		"redirect_uri":          {c.redirect},
		"response_type":         {"code"},
		"scope":                 {"openid profile"},
		"state":                 {c.state},
		"nonce":                 {c.nonce},
		"code_challenge":        {challenge(c.verifier)},
		"code_challenge_method": {"S256"},
	}
	if hint != "" {
		v.Set("login_hint", hint)
	}
	return v
}

// authorize sends the authorization request and returns the response.
func (c *oidcClient) authorize(v url.Values) *http.Response {
	return c.w.get(c.endpoint("authorization_endpoint")+"?"+v.Encode(), "")
}

// code runs the authorization request and returns the code of the
// callback redirect, checking state and iss.
func (c *oidcClient) code(hint string) string {
	t := c.w.t
	t.Helper()
	resp := c.authorize(c.authorizeParams(hint))
	require.Equal(t, http.StatusFound, resp.StatusCode, readBody(resp))
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, c.redirect, loc.Scheme+"://"+loc.Host+loc.Path)
	q := loc.Query()
	require.Empty(t, q.Get("error"), q.Get("error_description"))
	assert.Equal(t, c.state, q.Get("state"))
	assert.Equal(t, c.w.issuer, q.Get("iss"))
	require.NotEmpty(t, q.Get("code"))
	return q.Get("code")
}

// post sends a form from the OHIF origin and decodes the JSON answer.
func (c *oidcClient) post(endpoint string, form url.Values) (int, map[string]any, http.Header) {
	t := c.w.t
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.endpoint(endpoint), strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ohifOrigin)
	resp, err := c.w.hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), string(data))
	}
	return resp.StatusCode, out, resp.Header
}

func (c *oidcClient) redeem(code, verifier string) (int, map[string]any) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirect}, "client_id": {clientID}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	status, out, h := c.post("token_endpoint", form)
	assert.Equal(c.w.t, "no-store", h.Get("Cache-Control"))
	assert.Equal(c.w.t, ohifOrigin, h.Get("Access-Control-Allow-Origin"))
	return status, out
}

func (c *oidcClient) refresh(rt string) (int, map[string]any) {
	status, out, _ := c.post("token_endpoint", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}, "scope": {"openid"}})
	return status, out
}

func (c *oidcClient) userinfo(at string) (int, map[string]any) {
	t := c.w.t
	resp := c.w.get(c.endpoint("userinfo_endpoint"), at)
	var out map[string]any
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	}
	return resp.StatusCode, out
}

// login runs launch → login initiation → authorization → token and
// returns the token response.
func (w *world) login() (*oidcClient, map[string]any) {
	w.t.Helper()
	loc := w.launch()
	c := w.newClient()
	code := c.code(loc.Query().Get("login_hint"))
	status, tok := c.redeem(code, c.verifier)
	require.Equal(w.t, http.StatusOK, status, "%v", tok)
	return c, tok
}

// idClaims verifies an id_token with the key at jwks_uri.
func (c *oidcClient) idClaims(idToken string) jwt.MapClaims {
	t := c.w.t
	t.Helper()
	resp := c.w.get(c.endpoint("jwks_uri"), "")
	var set struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	require.Len(t, set.Keys, 1)
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(idToken, claims, func(tok *jwt.Token) (any, error) {
		assert.Equal(t, set.Keys[0].Kid, tok.Header["kid"])
		return jwt.ParseRSAPublicKeyFromPEM(rsaPEM(t, set.Keys[0].N, set.Keys[0].E))
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(c.w.issuer), jwt.WithAudience(clientID))
	require.NoError(t, err)
	return claims
}

func (w *world) dicomweb(method, u, token, contentType string, body io.Reader) (*http.Response, string) {
	w.t.Helper()
	req, err := http.NewRequest(method, u, body)
	require.NoError(w.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/dicom+json")
	req.Header.Set("Origin", ohifOrigin)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := w.hc.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	return resp, readBody(resp)
}

func stowBody(t *testing.T, instance []byte) (string, *bytes.Buffer) {
	var buf bytes.Buffer
	boundary := "bridge-test-boundary"
	buf.WriteString("--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n")
	buf.Write(instance)
	buf.WriteString("\r\n--" + boundary + "--\r\n")
	return `multipart/related; type="application/dicom"; boundary=` + boundary, &buf
}
