package ohifbridge_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/ohifbridge"
)

// The failures of the first bridge prototype, each a test that passes
// only because the bridge refuses what the prototype accepted.

func TestReusedCodeIsRefusedAndRevokesItsTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ohifbridge.Proxy, nil)
	c := w.newClient()
	code := c.code(w.launch().Query().Get("login_hint"))
	status, tok := c.redeem(code, c.verifier)
	require.Equal(t, http.StatusOK, status)
	status, out := c.redeem(code, c.verifier)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", out["error"])
	// RFC 6749 §4.1.2: what the first use gave is revoked.
	status, _ = c.userinfo(tok["access_token"].(string))
	assert.Equal(t, http.StatusUnauthorized, status)
	status, out = c.refresh(tok["refresh_token"].(string))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", out["error"])
}

func TestReplayedLoginHintIsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ohifbridge.Proxy, nil)
	hint := w.launch().Query().Get("login_hint")
	c := w.newClient()
	c.code(hint)
	for name, h := range map[string]string{"replayed": hint, "made up": strings.Repeat("A", 43), "absent": ""} {
		resp := c.authorize(c.authorizeParams(h))
		require.Equal(t, http.StatusFound, resp.StatusCode, name)
		q := location(t, resp).Query()
		assert.Equal(t, "login_required", q.Get("error"), name)
		assert.Equal(t, c.state, q.Get("state"), name)
		assert.Empty(t, q.Get("code"), name)
	}
}

func TestExpiredLoginHintAndCode(t *testing.T) {
	t.Parallel()
	clock := newClock()
	w := newWorld(t, ohifbridge.Proxy, func(o *ohifbridge.Options) { o.Now = clock.now })
	c := w.newClient()
	hint := w.launch().Query().Get("login_hint")
	clock.advance(2*time.Minute + time.Second)
	resp := c.authorize(c.authorizeParams(hint))
	assert.Equal(t, "login_required", location(t, resp).Query().Get("error"))

	code := c.code(w.launch().Query().Get("login_hint"))
	clock.advance(61 * time.Second)
	status, out := c.redeem(code, c.verifier)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", out["error"])
}

func TestPKCEIsEnforced(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ohifbridge.Proxy, nil)
	c := w.newClient()

	t.Run("authorization request", func(t *testing.T) {
		for name, edit := range map[string]func(url.Values){
			"no challenge":   func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") },
			"no method":      func(v url.Values) { v.Del("code_challenge_method") },
			"plain":          func(v url.Values) { v.Set("code_challenge_method", "plain") },
			"short":          func(v url.Values) { v.Set("code_challenge", "abc") },
			"bad characters": func(v url.Values) { v.Set("code_challenge", strings.Repeat("+", 43)) },
		} {
			v := c.authorizeParams(w.launch().Query().Get("login_hint"))
			edit(v)
			resp := c.authorize(v)
			require.Equal(t, http.StatusFound, resp.StatusCode, name)
			q := location(t, resp).Query()
			assert.Equal(t, "invalid_request", q.Get("error"), name)
			assert.Empty(t, q.Get("code"), name)
		}
	})
	t.Run("missing verifier", func(t *testing.T) {
		code := c.code(w.launch().Query().Get("login_hint"))
		status, out := c.redeem(code, "")
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_request", out["error"])
		assert.NotContains(t, out, "access_token")
	})
	t.Run("wrong verifier burns the code", func(t *testing.T) {
		code := c.code(w.launch().Query().Get("login_hint"))
		status, out := c.redeem(code, randomString(64))
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_grant", out["error"])
		status, out = c.redeem(code, c.verifier)
		assert.Equal(t, http.StatusBadRequest, status, "a code is spent by its first use, right or wrong")
		assert.Equal(t, "invalid_grant", out["error"])
	})
	t.Run("malformed verifier", func(t *testing.T) {
		code := c.code(w.launch().Query().Get("login_hint"))
		status, out := c.redeem(code, "short")
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_request", out["error"])
	})
}

func TestUnregisteredRedirectURIIsNeverRedirectedTo(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ohifbridge.Proxy, nil)
	c := w.newClient()
	for _, uri := range []string{
		"http://evil.test/callback",
		ohifCallback + "/",
		ohifCallback + "?x=1",
		ohifCallback + "x",
		"http://OHIF.test:3000/callback",
		"http://ohif.test/callback",
		"https://ohif.test:3000/callback",
		"",
	} {
		hint := w.launch().Query().Get("login_hint")
		v := c.authorizeParams(hint)
		v.Set("redirect_uri", uri)
		resp := c.authorize(v)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, uri)
		assert.Empty(t, resp.Header.Get("Location"), uri)
		body := readBody(resp)
		assert.Contains(t, body, "redirect_uri is not registered", uri)
		assert.NotContains(t, body, hint, uri)
		// The hint was not spent by the refused request.
		c.code(hint)
	}
	// Nor for an unknown client, or a repeated redirect_uri.
	v := c.authorizeParams(w.launch().Query().Get("login_hint"))
	v.Set("client_id", "other")
	resp := c.authorize(v)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Location"))
	v = c.authorizeParams(w.launch().Query().Get("login_hint"))
	v.Add("redirect_uri", "http://evil.test/")
	resp = c.authorize(v)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Location"))

	// The token request must name the redirect_uri of the authorization.
	c2 := w.newClient()
	c2.redirect = ohifOrigin + "/silent-refresh.html"
	code := c2.code(w.launch().Query().Get("login_hint"))
	status, out := c.redeem(code, c2.verifier) // c's redirect_uri: the callback
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", out["error"])
}

func TestIssuerIsSentByteForByte(t *testing.T) {
	t.Parallel()
	for _, suffix := range []string{"/bridge/oidc", "/bridge/oidc/"} {
		t.Run(suffix, func(t *testing.T) {
			t.Parallel()
			var issuer string
			w := newWorld(t, ohifbridge.Proxy, func(o *ohifbridge.Options) {
				o.Issuer = strings.TrimSuffix(o.Issuer, "/bridge/oidc") + suffix
				issuer = o.Issuer
			})
			w.issuer = issuer
			loc := w.launch()
			assert.Equal(t, issuer, loc.Query().Get("iss"))
			assert.Contains(t, loc.RawQuery, "iss="+url.QueryEscape(issuer)+"&")
			// Discovery is where OHIF's libraries look for it: authority,
			// a slash if missing, .well-known/openid-configuration.
			resp := w.get(strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", "")
			require.Equal(t, http.StatusOK, resp.StatusCode)
			c := w.newClient()
			assert.Equal(t, issuer, c.meta["issuer"])
			assert.Equal(t, strings.TrimSuffix(issuer, "/")+"/token", c.meta["token_endpoint"])
			code := c.code(loc.Query().Get("login_hint"))
			status, tok := c.redeem(code, c.verifier)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, issuer, c.idClaims(tok["id_token"].(string))["iss"])
		})
	}
}

func TestRefreshTokenUsedTwiceRevokesTheFamily(t *testing.T) {
	t.Parallel()
	for _, mode := range bothModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, mode, nil)
			c, tok := w.login()
			rt1 := tok["refresh_token"].(string)
			status, tok2 := c.refresh(rt1)
			require.Equal(t, http.StatusOK, status)
			// The thief (or a confused client) presents rt1 again.
			status, out := c.refresh(rt1)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", out["error"])
			// The whole family is gone: the newest tokens too.
			status, _ = c.refresh(tok2["refresh_token"].(string))
			assert.Equal(t, http.StatusBadRequest, status)
			status, _ = c.userinfo(tok2["access_token"].(string))
			assert.Equal(t, http.StatusUnauthorized, status)
		})
	}
}

func TestRefreshNeverOutlivesTheKHEOPSToken(t *testing.T) {
	t.Parallel()
	for _, mode := range bothModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			w := newWorld(t, mode, func(o *ohifbridge.Options) { o.Now = clock.now })
			c, first := w.login()
			rt := first["refresh_token"].(string)
			// 57 minutes later: refresh still works, within the KHEOPS hour.
			clock.advance(57 * time.Minute)
			status, tok := c.refresh(rt)
			require.Equal(t, http.StatusOK, status, "%v", tok)
			exp := tok["expires_in"].(float64)
			assert.LessOrEqual(t, exp, 180.0)
			assert.Greater(t, exp, 120.0)
			// Less than two minutes left: the session is over.
			clock.advance(time.Minute + 5*time.Second)
			status, out := c.refresh(tok["refresh_token"].(string))
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", out["error"])
			assert.Contains(t, out["error_description"], "KHEOPS")
			// And past the hour nothing works.
			clock.advance(3 * time.Minute)
			status, _ = c.userinfo(tok["access_token"].(string))
			assert.Equal(t, http.StatusUnauthorized, status)
		})
	}
}

func TestCORSOnlyForTheOHIFOrigin(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ohifbridge.Proxy, nil)
	for _, path := range []string{"/token", "/userinfo", "/revoke", "/dicomweb/studies"} {
		for origin, allowed := range map[string]bool{ohifOrigin: true, "http://evil.test": false, "null": false, "http://ohif.test:3000.evil.test": false} {
			req, err := http.NewRequest(http.MethodOptions, w.issuer+path, nil)
			require.NoError(t, err)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization")
			resp, err := w.hc.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusNoContent, resp.StatusCode, path)
			if allowed {
				assert.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"), path)
				assert.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "authorization", path)
				assert.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST", path)
			} else {
				assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), path+" "+origin)
			}
			assert.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"), path)
		}
	}
	// An actual request from another origin gets no CORS header.
	c := w.newClient()
	req, _ := http.NewRequest(http.MethodPost, c.endpoint("token_endpoint"), strings.NewReader("grant_type=refresh_token&refresh_token=x&client_id="+clientID))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.test")
	resp, err := w.hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestProxyStaysInDICOMweb(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ohifbridge.Proxy, nil)
	_, tok := w.login()
	at := tok["access_token"].(string)
	w.kheops.ResetCalls()
	for path, want := range map[string]int{
		"/dicomweb/albums":                        http.StatusNotFound,
		"/dicomweb/token":                         http.StatusNotFound,
		"/dicomweb/studies/../token":              http.StatusNotFound,
		"/dicomweb/studies/%2e%2e/token":          http.StatusNotFound,
		"/dicomweb/studies/1.2%2f..%2f..%2ftoken": http.StatusNotFound,
		"/dicomweb//studies":                      http.StatusNotFound,
		"/dicomweb/wado/x":                        http.StatusNotFound,
	} {
		resp, _ := w.dicomweb(http.MethodGet, w.issuer+path, at, "", nil)
		assert.Equal(t, want, resp.StatusCode, path)
	}
	resp, _ := w.dicomweb(http.MethodPost, w.issuer+"/dicomweb/studies/"+studyUID+"/series", at, "application/dicom", strings.NewReader("x"))
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	resp, _ = w.dicomweb(http.MethodDelete, w.issuer+"/dicomweb/studies/"+studyUID, at, "", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Empty(t, w.kheops.Calls(), "nothing refused reached KHEOPS")

	// No token, a made-up one: 401 before KHEOPS.
	for _, bad := range []string{"", strings.Repeat("x", 43)} {
		resp, _ = w.dicomweb(http.MethodGet, w.issuer+"/dicomweb/studies", bad, "", nil)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, `Bearer error="invalid_token"`, resp.Header.Get("WWW-Authenticate"))
	}
	assert.Empty(t, w.kheops.Calls())

	// What reaches KHEOPS: the KHEOPS token, the allowlisted headers only.
	req, _ := http.NewRequest(http.MethodGet, w.issuer+"/dicomweb/studies?PatientID=P1", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	req.Header.Set("Cookie", "session=secret")
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := w.hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	calls := w.kheops.Calls()
	require.Len(t, calls, 1)
	assert.Equal(t, "/api/studies", calls[0].Path)
	assert.Equal(t, "P1", calls[0].Query.Get("PatientID"))
	assert.True(t, strings.HasPrefix(calls[0].Header.Get("Authorization"), "Bearer eyJ"), "the KHEOPS token")
	assert.Empty(t, calls[0].Header.Get("Cookie"))
	assert.Empty(t, calls[0].Header.Get("X-Forwarded-For"))
	assert.Equal(t, "application/dicom+json", calls[0].Header.Get("Accept"))
}

func TestProxyBoundsUploads(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ohifbridge.Proxy, func(o *ohifbridge.Options) { o.MaxUploadBytes = 1024 })
	_, tok := w.login()
	at := tok["access_token"].(string)
	resp, _ := w.dicomweb(http.MethodPost, w.issuer+"/dicomweb/studies", at, "application/dicom", bytes.NewReader(make([]byte, 2048)))
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	// Without a length, cut off while streaming.
	resp, _ = w.dicomweb(http.MethodPost, w.issuer+"/dicomweb/studies", at, "application/dicom", struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 1<<20))})
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := newWorld(t, ohifbridge.Direct, func(o *ohifbridge.Options) { o.Logger = logger; o.Provider.Logger = logger })
	loc := w.launch()
	hint := loc.Query().Get("login_hint")
	c := w.newClient()
	code := c.code(hint)
	_, tok := c.redeem(code, c.verifier)
	c.redeem(code, c.verifier)               // refused: logged
	c.refresh(tok["refresh_token"].(string)) // refused: the session was revoked
	c.authorize(c.authorizeParams(hint))     // refused: logged
	c.redeem("bogus-code", randomString(50)) // refused
	out := buf.String()
	require.Contains(t, out, "refused")
	for name, secret := range map[string]string{"hint": hint, "code": code, "verifier": c.verifier,
		"access token": tok["access_token"].(string), "refresh token": tok["refresh_token"].(string), "id token": tok["id_token"].(string)} {
		assert.NotContains(t, out, secret, name)
	}
	assert.NotContains(t, out, "eyJ", "no JWT of any kind")
}

func TestStoreFailureIsUnavailableNotOpen(t *testing.T) {
	t.Parallel()
	st := &failingStore{}
	w := newWorld(t, ohifbridge.Proxy, func(o *ohifbridge.Options) { o.Store = st })
	loc := w.launch()
	st.fail(true)
	c := w.newClient()
	resp := c.authorize(c.authorizeParams(loc.Query().Get("login_hint")))
	assert.Equal(t, "temporarily_unavailable", location(t, resp).Query().Get("error"))
	status, out := c.redeem("x", c.verifier)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "temporarily_unavailable", out["error"])
	resp = w.get(w.launchURL(), "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

func location(t testing.TB, resp *http.Response) *url.URL {
	t.Helper()
	u, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return u
}

// clock is a controllable clock starting at the real time, so that the
// fake KHEOPS (on the real clock) and the bridge agree at first.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func newClock() *clock { return &clock{} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// failingStore is an in-memory store that can be switched to failing.
type failingStore struct {
	mu      sync.Mutex
	failing bool
	m       map[string][]byte
}

func (s *failingStore) fail(on bool) { s.mu.Lock(); s.failing = on; s.mu.Unlock() }

var errDown = errors.New("store down")

func (s *failingStore) Add(_ context.Context, k string, v []byte, _ time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return false, errDown
	}
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	if _, ok := s.m[k]; ok {
		return false, nil
	}
	s.m[k] = v
	return true, nil
}

func (s *failingStore) Get(_ context.Context, k string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return nil, false, errDown
	}
	v, ok := s.m[k]
	return v, ok, nil
}

func (s *failingStore) Delete(_ context.Context, k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return errDown
	}
	delete(s.m, k)
	return nil
}
