package ohifbridge_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/ohifbridge"
	"github.com/dicombridge/dicombridge/reportprovider"
)

// The browser test runs OHIF v3's OpenID Connect client, oidc-client-ts
// 3.3.0, in headless Chromium against the bridge and the fake KHEOPS.
// testdata/browser/ohif.js is a stand-in for OHIF: it performs OHIF's
// /login (third-party initiated login), /callback and /logout logic with
// the UserManager settings OHIF v3 derives from its configuration, then
// what the viewer does with the user (DICOMweb with the access token),
// and reports what it saw to the "OHIF origin" (ohifSite). Each scenario
// starts at the KHEOPS launch form, as a user clicking the provider in a
// KHEOPS album. Chromium, node and `npm ci` in testdata/browser are set up
// by .ci/run; see docs/ohif-bridge.md, "Tested with oidc-client-ts".

const ohifClientID = "ohif-viewer"

// browserWorld is one KHEOPS, one bridge and one OHIF.
type browserWorld struct {
	mode     ohifbridge.Mode
	k        *kheopstest.Server
	alice    string // alice's KHEOPS user token
	kheopsID string // the bridge's client_id at KHEOPS
	study    string
	files    []dicomgen.File // files[0:2] are in the album, files[2] is STOWed

	bridge     *recorder
	bridgeURL  string
	issuer     string
	discovery  map[string]any
	ohif       *ohifSite
	dicomweb   string // OHIF's DICOMweb root
	idTokenKey *rsa.PublicKey
}

// newBrowserWorld starts the fake KHEOPS with alice's album holding one CT
// study of two 512 × 512 instances, a bridge in mode registered in that
// album, and the OHIF origin configured for it. viewerURL makes the
// bridge's Client.ViewerURL from OHIF's origin (nil: the bridge's default).
func newBrowserWorld(t *testing.T, mode ohifbridge.Mode, viewerURL func(ohif string) string) *browserWorld {
	t.Helper()
	ctx := context.Background()
	w := &browserWorld{mode: mode}
	w.k = kheopstest.NewServer(kheopstest.WithBasePath("/kheops"))
	t.Cleanup(w.k.Close)
	w.alice = w.k.AddUser(kheopstest.User{Sub: "alice", Name: "Alice Radiologist", Email: "alice@example.org"})
	album := w.k.AddAlbum("", nil)
	require.NoError(t, w.k.AddMember(album, "alice", true)) // admin: registers the bridge
	var err error
	w.files, err = dicomgen.Write(ctx, t.TempDir(), dicomgen.Options{InstancesPerSeries: 3, Rows: 512, Columns: 512, Modalities: []string{"CT"}, Seed: 16})
	require.NoError(t, err)
	for _, f := range w.files[:2] {
		data, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		_, err = w.k.AddInstance(album, data)
		require.NoError(t, err)
	}
	w.study = w.files[0].StudyInstanceUID

	// The bridge's server exists before the bridge: its URL is the issuer.
	w.bridge = &recorder{}
	bsrv := httptest.NewServer(w.bridge)
	t.Cleanup(bsrv.Close)
	w.bridgeURL = bsrv.URL
	w.issuer = bsrv.URL + "/oidc"
	w.ohif = newOHIFSite(t)

	rpKey := readKey(t, "rp-1", "k1.pem")
	idKey := readKey(t, "id-1", "k2.pem")
	client := ohifbridge.Client{
		ID:                     ohifClientID,
		LoginURL:               w.ohif.URL + "/login",
		RedirectURIs:           []string{w.ohif.URL + "/callback", w.ohif.URL + "/silent-refresh.html"},
		PostLogoutRedirectURIs: []string{w.ohif.URL + "/"},
	}
	if viewerURL != nil {
		client.ViewerURL = viewerURL(w.ohif.URL)
	}
	opts := ohifbridge.Options{
		Issuer: w.issuer,
		Provider: reportprovider.Options{
			ConfigurationURL: bsrv.URL + "/rp/configuration",
			Configuration: reportprovider.Configuration{
				RedirectURI:  bsrv.URL + "/rp/launch",
				ResponseType: reportprovider.ResponseTypeCode,
				JWKSURI:      bsrv.URL + "/rp/jwks",
				ClientName:   "OHIF viewer",
			},
			Keys:    []*reportprovider.Key{rpKey},
			Issuers: []reportprovider.Issuer{{URL: w.k.URL, AllowHTTP: true, AllowPrivateNetwork: true}},
		},
		Client:     client,
		Mode:       mode,
		SigningKey: idKey,
		AllowHTTP:  true,
	}
	if mode == ohifbridge.Proxy {
		// The shortest tokens the bridge issues; OHIF is configured below
		// to renew them 5 s after each login, which the test waits for.
		opts.AccessTokenLifetime = 2 * time.Minute
	}
	b, err := ohifbridge.New(opts)
	require.NoError(t, err)
	w.bridge.serve(b.Handler())

	w.kheopsID, err = w.k.Register(ctx, w.alice, album, "OHIF", opts.Provider.ConfigurationURL)
	require.NoError(t, err)
	w.discovery = w.getJSON(t, w.issuer+"/.well-known/openid-configuration")
	w.idTokenKey = jwksKey(t, w.getJSON(t, w.discovery["jwks_uri"].(string)), idKey.ID())

	w.dicomweb = w.issuer + "/dicomweb"
	if mode == ohifbridge.Direct {
		// OHIF's DICOMweb root is KHEOPS's dicomweb_endpoint (ROOT/api),
		// behind a front that answers CORS for OHIF's origin.
		w.dicomweb = corsFront(t, w.k.URL, w.ohif.URL).URL + "/kheops/api"
	}
	stow, err := os.ReadFile(w.files[2].Path)
	require.NoError(t, err)
	w.ohif.mu.Lock()
	w.ohif.kheops = w.k.URL + "/api/report"
	w.ohif.launch = url.Values{"access_token": {w.alice}, "client_id": {w.kheopsID}, "studyUID": {w.study},
		"return_uri": {w.k.URL + "/albums/" + album}}
	w.ohif.stow = stow
	w.ohif.mu.Unlock()
	w.ohif.setConfig(func(c *ohifConfig) {
		// OHIF v3's oidc[0] for this bridge: the authority is the issuer,
		// byte for byte.
		c.OIDC = []map[string]any{{
			"authority":                w.issuer,
			"client_id":                ohifClientID,
			"redirect_uri":             "/callback",
			"post_logout_redirect_uri": "/",
			"response_type":            "code",
			"scope":                    "openid profile email",
		}}
		if mode == ohifbridge.Proxy {
			// An OHIF key passed on to oidc-client-ts (OHIF spreads
			// oidc[0] into the UserManager settings): renew 115 s before
			// expiry instead of 60, so 5 s after each 2-minute token.
			c.OIDC[0]["accessTokenExpiringNotificationTimeInSeconds"] = 115
		}
		c.DICOMwebRoot = w.dicomweb
		c.STOW = mode == ohifbridge.Proxy
		c.AutoRenew = mode == ohifbridge.Proxy
		// Direct signs out from OHIF's menu, which names the viewer page as
		// post_logout_redirect_uri: not a registered one.
		c.MenuSignOut = mode == ohifbridge.Direct
	})
	return w
}

func readKey(t *testing.T, kid, file string) *reportprovider.Key {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "reportprovider", "testdata", file))
	require.NoError(t, err)
	k, err := reportprovider.ParseKeyPEM(kid, data)
	require.NoError(t, err)
	return k
}

func (w *browserWorld) getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, u)
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

// endpoint returns a discovery document member.
func (w *browserWorld) endpoint(t *testing.T, name string) string {
	t.Helper()
	s, ok := w.discovery[name].(string)
	require.True(t, ok, "discovery has no %s", name)
	return s
}

// launch is the scenario of a user launching the bridge from KHEOPS.
func (w *browserWorld) launch(t *testing.T) scenario {
	if w.mode == ohifbridge.Direct {
		// The sign-out ends on the bridge's page (see newBrowserWorld).
		return scenario{Start: w.ohif.URL + "/__launch", Until: "response", StopAt: w.endpoint(t, "end_session_endpoint"), SettleMs: 300}
	}
	return scenario{Start: w.ohif.URL + "/__launch", Until: "done"}
}

// byStep indexes the page's reports by step; the last one wins.
func byStep(reps []pageReport) map[string]pageReport {
	m := make(map[string]pageReport, len(reps))
	for _, r := range reps {
		m[r.Step] = r
	}
	return m
}

// TestBrowser runs the whole flow in both modes: KHEOPS launch → bridge
// → OHIF's /login → authorize → callback → token → userinfo → DICOMweb
// reads → silent renew by refresh token → (STOW in Proxy mode) →
// sign-out, asserting on what the page saw and on what the servers saw,
// and logs the launch-to-first-image latency. Then, in the Proxy world,
// the prototype's failures. Chromium starts once: its start is most of
// the test's time.
func TestBrowser(t *testing.T) {
	br := startBrowser(t)
	// Direct with the bridge's default viewer URL (OHIF v3's
	// /viewer?StudyInstanceUIDs=...), which OHIF's /login cuts to its
	// pathname: the viewer opens without the study.
	t.Run("direct", func(t *testing.T) {
		w := newBrowserWorld(t, ohifbridge.Direct, nil)
		out := br.run(t, w.launch(t))
		w.checkFlow(t, out, w.ohif.takeReports())
	})
	// Proxy with the study in the path, which /login keeps. The world
	// outlives the subtest: the refusals use it.
	proxy := newBrowserWorld(t, ohifbridge.Proxy, viewerPath)
	var loginURL string
	t.Run("proxy", func(t *testing.T) {
		out := br.run(t, proxy.launch(t))
		reps := proxy.ohif.takeReports()
		proxy.checkFlow(t, out, reps)
		loginURL = byStep(reps)["login"].Href
	})
	t.Run("refusals", func(t *testing.T) {
		require.NotEmpty(t, loginURL, "the proxy flow failed")
		testRefusals(t, br, proxy, loginURL)
	})
}

// checkFlow asserts a successful launch, as the page and the servers saw
// it.
func (w *browserWorld) checkFlow(t *testing.T, out outcome, reps []pageReport) {
	t.Helper()
	step := byStep(reps)
	direct := w.mode == ohifbridge.Direct
	require.False(t, out.TimedOut, "the flow did not finish:\n%s", describe(out, reps))
	if direct {
		require.Nil(t, out.Done, "the flow failed:\n%s", describe(out, reps))
		require.Contains(t, step, "signout", "the flow did not finish:\n%s", describe(out, reps))
	} else {
		require.NotNil(t, out.Done, "the flow did not finish:\n%s", describe(out, reps))
		require.True(t, out.Done.OK, "the flow failed:\n%s", describe(out, reps))
	}

	// The front channel: KHEOPS's meta-refresh to the bridge's launch URL
	// with the KHEOPS code, then OHIF's /login without it.
	var kheopsCode string
	for _, n := range out.Navigations {
		if strings.HasPrefix(n.URL, w.bridgeURL+"/rp/launch?") {
			u, err := url.Parse(n.URL)
			require.NoError(t, err)
			kheopsCode = u.Query().Get("code")
		}
	}
	require.NotEmpty(t, kheopsCode, "no launch through the bridge: %+v", out.Navigations)

	login := step["login"]
	assert.Equal(t, "redirecting", login.Outcome)
	assert.Equal(t, w.issuer, login.Iss, "iss is the issuer, byte for byte")
	assert.True(t, login.HasLoginHint)
	lu, err := url.Parse(login.Href)
	require.NoError(t, err)
	assert.Equal(t, w.ohif.URL+"/login", lu.Scheme+"://"+lu.Host+lu.Path)
	assert.NotEqual(t, kheopsCode, lu.Query().Get("login_hint"), "the KHEOPS code is not passed on")
	if direct {
		assert.Equal(t, w.ohif.URL+"/viewer?StudyInstanceUIDs="+w.study, login.TargetLinkURI)
		assert.Equal(t, "/viewer", login.RedirectTo, "OHIF keeps only the pathname")
	} else {
		assert.Equal(t, w.ohif.URL+"/viewer/"+w.study, login.TargetLinkURI)
		assert.Equal(t, "/viewer/"+w.study, login.RedirectTo)
	}

	// The callback: tokens and the profile from the id_token and userinfo.
	cb := step["callback"]
	assert.Empty(t, cb.Error, cb.Message)
	assert.Equal(t, "alice", cb.Sub)
	assert.Equal(t, "Alice Radiologist", cb.Name, "from userinfo")
	assert.Equal(t, "alice@example.org", cb.Email)
	assert.Equal(t, "Bearer", cb.TokenType)
	assert.NotEmpty(t, cb.RefreshToken)
	assert.Positive(t, cb.ExpiresIn)
	claims := verifyIDToken(t, cb.IDToken, w.idTokenKey)
	assert.Equal(t, w.issuer, claims["iss"])
	assert.Equal(t, "alice", claims["sub"])
	assert.Equal(t, ohifClientID, claims["aud"])
	assert.Equal(t, direct, w.activeAtKHEOPS(t, cb.AccessToken),
		"Direct hands OHIF the KHEOPS token; Proxy never does")

	// The viewer's reads with that token.
	v := step["viewer"]
	if direct {
		assert.Empty(t, v.StudiesInURL, "OHIF v3's /login drops the query")
	} else {
		assert.Equal(t, []string{w.study}, v.StudiesInURL)
	}
	assert.Equal(t, http.StatusOK, v.QIDOStatus)
	assert.Equal(t, []string{w.study}, v.QIDOStudies)
	assert.Equal(t, http.StatusOK, v.MetadataStatus)
	assert.Equal(t, 2, v.MetadataInstances)
	assert.Equal(t, http.StatusOK, v.InstanceStatus)
	assert.Contains(t, v.InstanceContentType, "multipart/related")
	assert.True(t, v.InstanceHasDICM)
	assert.Greater(t, v.InstanceBytes, 512*512*2, "a whole 512 × 512 × 16-bit instance")
	latency := v.FirstBytesAt - out.T0
	assert.Positive(t, latency)
	t.Logf("launch-to-first-image (%s): %.0f ms from opening the KHEOPS launch to the first WADO-RS instance bytes in the page", w.mode, latency)
	for _, n := range out.Navigations {
		t.Logf("  %6.0f ms  %d %s", n.At, n.Status, redact(n.URL))
	}

	// Silent renew with the refresh token.
	rn := step["renew"]
	assert.Empty(t, rn.Error, rn.Message)
	assert.Equal(t, !direct, rn.Automatic)
	assert.Equal(t, "alice", rn.Sub)
	assert.NotEqual(t, rn.PreviousRefreshToken, rn.RefreshToken, "refresh tokens rotate")
	if direct {
		assert.Equal(t, rn.PreviousAccessToken, rn.AccessToken, "Direct: the same KHEOPS token")
	} else {
		assert.NotEqual(t, rn.PreviousAccessToken, rn.AccessToken)
	}
	assert.Equal(t, http.StatusOK, rn.QIDOStatus, "DICOMweb with the renewed token")

	// STOW in Proxy mode.
	if !direct {
		st := step["stow"]
		assert.Equal(t, http.StatusOK, st.STOWStatus, st.STOWBody)
		assert.Equal(t, []string{w.files[2].SOPInstanceUID}, st.STOWStored)
		assert.Len(t, w.k.Instances(w.study), 3, "stored at KHEOPS")
	}

	// Sign-out.
	so := step["signout"]
	last := out.Navigations[len(out.Navigations)-1]
	if direct {
		// From OHIF's menu: the viewer page is not a registered
		// post_logout_redirect_uri, so the browser stays on the bridge's
		// "signed out" page.
		end := w.endpoint(t, "end_session_endpoint")
		assert.True(t, strings.HasPrefix(last.URL, end+"?"), "the last page: %s", redact(last.URL))
		assert.Contains(t, last.URL, "post_logout_redirect_uri="+url.QueryEscape(so.Href))
		assert.Equal(t, http.StatusOK, last.Status)
		assert.True(t, strings.HasPrefix(out.FinalURL, end+"?"))
	} else {
		assert.False(t, step["signed-out"].UserLeft)
		assert.Equal(t, w.ohif.URL+"/", out.FinalURL)
	}

	// No token in any URL the page requested, and the KHEOPS code only in
	// the launch URL KHEOPS itself built.
	for _, r := range out.Requests {
		for _, secret := range []string{cb.AccessToken, cb.RefreshToken, rn.AccessToken, rn.RefreshToken} {
			assert.NotContains(t, r.URL, secret)
		}
		if !strings.HasPrefix(r.URL, w.bridgeURL+"/rp/launch?") {
			assert.NotContains(t, r.URL, kheopsCode)
		}
	}

	w.checkServers(t, so)
}

// checkServers asserts what the bridge and KHEOPS saw of a successful
// flow, and that sign-out revoked the session.
func (w *browserWorld) checkServers(t *testing.T, so pageReport) {
	t.Helper()
	direct := w.mode == ohifbridge.Direct
	calls := w.bridge.take()
	count := func(method, path string) int {
		n := 0
		for _, c := range calls {
			if c.Method == method && c.Path == path {
				n++
			}
		}
		return n
	}
	p := func(name string) string {
		u, err := url.Parse(w.endpoint(t, name))
		require.NoError(t, err)
		return u.Path
	}
	assert.Equal(t, 1, count("GET", "/rp/launch"))
	assert.Equal(t, 1, count("GET", p("authorization_endpoint")))
	assert.Equal(t, 2, count("POST", p("token_endpoint")), "the code, then one refresh")
	assert.GreaterOrEqual(t, count("GET", p("userinfo_endpoint")), 2, "after the login and after the renewal")
	assert.GreaterOrEqual(t, count("POST", p("revocation_endpoint")), 1)
	assert.Equal(t, 1, count("GET", p("end_session_endpoint")))
	for _, c := range calls {
		if c.Origin != "" {
			assert.Equal(t, w.ohif.URL, c.Origin, "%s %s", c.Method, c.Path)
		}
		assert.Less(t, c.Status, 500, "%s %s", c.Method, c.Path)
	}

	// KHEOPS: one code redemption; in Proxy mode the DICOMweb requests
	// arrive with the KHEOPS token, never the browser's.
	assert.Len(t, w.k.CallsTo("/api/token"), 1)
	dicomweb := 0
	for _, c := range w.k.Calls() {
		if strings.HasPrefix(c.Path, "/api/studies") {
			dicomweb++
			browserToken := c.Header.Get("Authorization") == "Bearer "+so.AccessToken
			assert.Equal(t, direct, browserToken, "%s %s with the browser's token", c.Method, c.Path)
		}
	}
	assert.GreaterOrEqual(t, dicomweb, 4, "QIDO, metadata, instance, QIDO after the renewal")

	// After sign-out the bridge refuses the last tokens.
	req, err := http.NewRequest(http.MethodGet, w.endpoint(t, "userinfo_endpoint"), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+so.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "userinfo after sign-out")
	resp, err = http.PostForm(w.endpoint(t, "token_endpoint"), url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {so.RefreshToken}, "client_id": {ohifClientID}})
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "invalid_grant")
	if direct {
		// What Direct mode cannot do: the KHEOPS token OHIF held stays
		// valid at KHEOPS until it expires.
		assert.True(t, w.activeAtKHEOPS(t, so.AccessToken))
	} else {
		req, err := http.NewRequest(http.MethodGet, w.dicomweb+"/studies", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+so.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the DICOMweb proxy after sign-out")
	}
}

// activeAtKHEOPS introspects a token at the fake KHEOPS.
func (w *browserWorld) activeAtKHEOPS(t *testing.T, token string) bool {
	t.Helper()
	resp, err := http.PostForm(w.k.URL+"/api/token/introspect", url.Values{"token": {token}})
	require.NoError(t, err)
	defer resp.Body.Close()
	var v struct {
		Active bool `json:"active"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v.Active
}

// describe summarises a scenario for a failure message: the steps the
// page reported (with their errors), the main frame's navigations and
// the console, without tokens.
func describe(out outcome, reps []pageReport) string {
	var b strings.Builder
	for _, r := range reps {
		fmt.Fprintf(&b, "step %s %s", r.Step, redact(r.Href))
		if r.Error != "" || r.Message != "" || r.FailedAt != "" {
			fmt.Fprintf(&b, " error=%q description=%q message=%q failedAt=%q", r.Error, r.ErrorDescription, r.Message, r.FailedAt)
		}
		b.WriteByte('\n')
	}
	for _, n := range out.Navigations {
		fmt.Fprintf(&b, "%6.0f ms  %d %s\n", n.At, n.Status, redact(n.URL))
	}
	fmt.Fprintf(&b, "timed out: %v, final URL: %s\n", out.TimedOut, redact(out.FinalURL))
	for _, c := range out.Console {
		fmt.Fprintf(&b, "console %s\n", c)
	}
	return b.String()
}

// redact shortens query values in URLs for the log: codes and hints are
// secrets.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return raw
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "code", "login_hint", "state", "code_challenge", "id_token_hint":
			q.Set(k, "…")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// jwksKey returns the RSA key kid of a JWKS document.
func jwksKey(t *testing.T, jwks map[string]any, kid string) *rsa.PublicKey {
	t.Helper()
	keys, _ := jwks["keys"].([]any)
	for _, k := range keys {
		m, _ := k.(map[string]any)
		if m["kid"] != kid {
			continue
		}
		n, err := base64.RawURLEncoding.DecodeString(m["n"].(string))
		require.NoError(t, err)
		e, err := base64.RawURLEncoding.DecodeString(m["e"].(string))
		require.NoError(t, err)
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	require.FailNow(t, "no key in the bridge's JWKS", "kid %q: %v", kid, jwks)
	return nil
}

// verifyIDToken checks an RS256 id_token's signature (which oidc-client-ts
// does not) and returns its claims.
func verifyIDToken(t *testing.T, tok string, key *rsa.PublicKey) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3, "an id_token is a JWS")
	var hdr struct {
		Alg string `json:"alg"`
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(h, &hdr))
	assert.Equal(t, "RS256", hdr.Alg)
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	require.NoError(t, rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig), "id_token signature")
	c, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(c, &claims))
	return claims
}

// viewerPath is the Client.ViewerURL with the study UIDs in the path,
// which OHIF's /login keeps.
func viewerPath(ohif string) string { return ohif + "/viewer/{StudyInstanceUIDs;}" }

// testRefusals plays the prototype's failures in the browser: what OHIF
// does when the bridge refuses, and that nothing leaks.
// w has completed one launch, whose /login URL was loginURL.
func testRefusals(t *testing.T, br *browser, w *browserWorld, loginURL string) {
	w.ohif.setConfig(func(c *ohifConfig) { c.LoginOnly = true })
	authorize := w.endpoint(t, "authorization_endpoint")
	countCalls := func(calls []call, method, endpoint string) int {
		u, err := url.Parse(endpoint)
		require.NoError(t, err)
		n := 0
		for _, c := range calls {
			if c.Method == method && c.Path == u.Path {
				n++
			}
		}
		return n
	}

	t.Run("replayed login_hint", func(t *testing.T) {
		w.bridge.take()
		redemptions := len(w.k.CallsTo("/api/token"))
		// The /login URL of the finished launch again, in another browser
		// context (someone who found it in a history, a log or a Referer).
		out := br.run(t, scenario{Start: loginURL, Until: "done"})
		step := byStep(w.ohif.takeReports())
		require.NotNil(t, out.Done, describe(out, nil))
		assert.False(t, out.Done.OK)
		assert.Equal(t, "redirecting", step["login"].Outcome, "OHIF tries")
		cb := step["callback"]
		assert.NotEmpty(t, cb.Error, "oidc-client-ts gets an OAuth error at the callback")
		assert.Empty(t, cb.AccessToken)
		assert.Contains(t, cb.Href, "error=")
		calls := w.bridge.take()
		assert.Equal(t, 1, countCalls(calls, "GET", authorize))
		assert.Zero(t, countCalls(calls, "POST", w.endpoint(t, "token_endpoint")), "no code to redeem")
		assert.Len(t, w.k.CallsTo("/api/token"), redemptions, "KHEOPS is not asked again")
	})

	t.Run("unregistered redirect_uri", func(t *testing.T) {
		var evilHits atomic.Int32
		evil := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { evilHits.Add(1) }))
		defer evil.Close()
		w.ohif.setConfig(func(c *ohifConfig) { c.OIDC[0]["redirect_uri"] = evil.URL + "/callback" })
		defer w.ohif.setConfig(func(c *ohifConfig) { c.OIDC[0]["redirect_uri"] = "/callback" })

		out := br.run(t, scenario{Start: w.ohif.URL + "/__launch", Until: "response", StopAt: authorize, SettleMs: 500})
		w.ohif.takeReports()
		require.NotEmpty(t, out.Navigations)
		last := out.Navigations[len(out.Navigations)-1]
		assert.True(t, strings.HasPrefix(last.URL, authorize+"?"), "the browser stays at the bridge: %s", redact(last.URL))
		assert.Equal(t, http.StatusBadRequest, last.Status)
		assert.True(t, strings.HasPrefix(out.FinalURL, authorize+"?"))
		assert.Contains(t, last.URL, url.QueryEscape(evil.URL+"/callback"), "OHIF sent the unregistered URI")
		assert.Zero(t, evilHits.Load(), "no redirect to an unregistered redirect_uri")
		assert.Zero(t, countCalls(w.bridge.take(), "POST", w.endpoint(t, "token_endpoint")))
	})

	t.Run("iss with a trailing slash", func(t *testing.T) {
		// OHIF's authority differs from the bridge's issuer by a slash:
		// OHIF compares the iss parameter as a string and does nothing.
		w.ohif.setConfig(func(c *ohifConfig) { c.OIDC[0]["authority"] = w.issuer + "/" })
		out := br.run(t, scenario{Start: w.ohif.URL + "/__launch", Until: "done", SettleMs: 500})
		step := byStep(w.ohif.takeReports())
		require.NotNil(t, out.Done)
		assert.False(t, out.Done.OK)
		assert.Equal(t, "ignored", step["login"].Outcome)
		assert.Equal(t, w.issuer, step["login"].Iss)
		assert.Contains(t, strings.Join(out.Console, "\n"), "iss of /login does not match")
		require.NotEmpty(t, out.Navigations)
		last := out.Navigations[len(out.Navigations)-1]
		assert.True(t, strings.HasPrefix(last.URL, w.ohif.URL+"/login?"), "OHIF stays on /login: %s", redact(last.URL))
		assert.True(t, strings.HasPrefix(out.FinalURL, w.ohif.URL+"/login?"))
		calls := w.bridge.take()
		for _, c := range calls {
			assert.False(t, strings.HasPrefix(c.Path, "/oidc"), "OHIF did not contact the bridge: %s %s", c.Method, c.Path)
		}

		// With the authority fixed, the same /login URL logs in: the
		// login_hint was never used.
		w.ohif.setConfig(func(c *ohifConfig) { c.OIDC[0]["authority"] = w.issuer })
		out = br.run(t, scenario{Start: step["login"].Href, Until: "done"})
		again := w.ohif.takeReports()
		require.NotNil(t, out.Done)
		assert.True(t, out.Done.OK, describe(out, again))
		assert.Equal(t, "alice", byStep(again)["callback"].Sub)
	})
}

// TestAccessTokenLifetimeLeavesOHIFAMinute: OHIF (oidc-client-ts) renews
// 60 s before expires_in runs out, and at once (1 s) when less is left, so
// a token lifetime of 60 s made it renew every second (seen in the
// browser: 7 renewals in 6 s with 1-minute tokens). Lifetimes start at
// 2 minutes: a renewal at most every minute.
func TestAccessTokenLifetimeLeavesOHIFAMinute(t *testing.T) {
	t.Parallel()
	opts := func(life time.Duration) ohifbridge.Options {
		return ohifbridge.Options{
			Issuer: "https://bridge.example/oidc",
			Provider: reportprovider.Options{
				ConfigurationURL: "https://bridge.example/rp/configuration",
				Configuration: reportprovider.Configuration{
					RedirectURI: "https://bridge.example/rp/launch", ResponseType: reportprovider.ResponseTypeCode,
					JWKSURI: "https://bridge.example/rp/jwks", ClientName: "OHIF",
				},
				Keys:    []*reportprovider.Key{readKey(t, "rp-1", "k1.pem")},
				Issuers: []reportprovider.Issuer{{URL: "https://kheops.example"}},
			},
			Client: ohifbridge.Client{ID: ohifClientID, LoginURL: "https://ohif.example/login",
				RedirectURIs: []string{"https://ohif.example/callback"}},
			SigningKey:          readKey(t, "id-1", "k2.pem"),
			AccessTokenLifetime: life,
		}
	}
	for _, tc := range []struct {
		life time.Duration
		ok   bool
	}{
		{time.Minute, false},
		{2*time.Minute - time.Second, false},
		{2 * time.Minute, true},
		{0, true},
		{time.Hour, true},
		{time.Hour + time.Second, false},
	} {
		_, err := ohifbridge.New(opts(tc.life))
		assert.Equal(t, tc.ok, err == nil, "AccessTokenLifetime %v: %v", tc.life, err)
	}
}
