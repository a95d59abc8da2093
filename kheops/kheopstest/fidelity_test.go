package kheopstest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

// The tests below each pin a behaviour in which an earlier fake differed
// from KHEOPS's code (see docs/kheops.md, "What the fake models").

func (w *world) member(sub string) string {
	w.t.Helper()
	tok := w.k.AddUser(kheopstest.User{Sub: sub})
	require.NoError(w.t, w.k.AddMember(album, sub, false))
	return tok
}

// Any member may list and read an album's providers; only admins change them.
func TestFidelityProviderReadsByMembers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bob := w.member("bob")
	status, body := w.bearer(http.MethodGet, "/api/albums/"+album+"/reportproviders", bob, "", nil)
	assert.Equalf(t, http.StatusOK, status, "%s", body)
	status, _ = w.bearer(http.MethodGet, "/api/albums/"+album+"/reportproviders/"+w.clientID, bob, "", nil)
	assert.Equal(t, http.StatusOK, status)
	status, _ = w.bearer(http.MethodDelete, "/api/albums/"+album+"/reportproviders/"+w.clientID, bob, "", nil)
	assert.Equal(t, http.StatusForbidden, status)
}

// Provider lists are newest first (registration order for equal times),
// paged, with X-Total-Count.
func TestFidelityProviderListOrderAndPaging(t *testing.T) {
	t.Parallel()
	fixed := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for name, opts := range map[string][]kheopstest.Option{"clock": nil, "same time": {kheopstest.WithNow(func() time.Time { return fixed })}} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, opts...)
			second, err := w.k.Register(context.Background(), w.admin, album, "RP2", w.confURL)
			require.NoError(t, err)
			req, _ := http.NewRequest(http.MethodGet, w.k.URL+"/api/albums/"+album+"/reportproviders?limit=1", nil)
			req.Header.Set("Authorization", "Bearer "+w.admin)
			resp, err := w.k.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var list []struct {
				ClientID string `json:"client_id"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
			assert.Equal(t, "2", resp.Header.Get("X-Total-Count"))
			require.Len(t, list, 1)
			assert.Equal(t, second, list[0].ClientID)
		})
	}
}

// A user capability token launches a provider, as the user's token does;
// the code and token then carry cap_token.
func TestFidelityLaunchWithUserCapability(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	status, body := w.post("/api/capabilities", url.Values{"title": {"t"}, "scope_type": {"user"}, "read_permission": {"true"}},
		http.Header{"Authorization": {"Bearer " + w.admin}})
	require.Equal(t, http.StatusCreated, status)
	var c struct {
		ID          string `json:"id"`
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal(body, &c))
	u, err := w.k.Launch(context.Background(), c.AccessToken, w.clientID, "1.2.3")
	require.NoError(t, err)
	code, _ := url.Parse(u)
	claims := jwt.MapClaims{}
	_, _, err = jwt.NewParser().ParseUnverified(code.Query().Get("code"), claims)
	require.NoError(t, err)
	assert.Equal(t, c.ID, claims["cap_token"])
	_, err = w.k.Launch(context.Background(), w.k.AlbumCapabilityToken(album), w.clientID, "1.2.3")
	assert.Error(t, err, "album capabilities stay refused")
}

// The token endpoint reads the Authorization scheme case-insensitively.
func TestFidelityTokenEndpointSchemeCase(t *testing.T) {
	t.Parallel()
	w := newWorld(t, kheopstest.WithInternalClient("proxy", "pw"))
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "scope": {"pep"}, "seriesUID": {"1.2.3.1"},
		"subject_token": {w.admin}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "studyUID": {"1.2.3"}}
	h := basic("proxy", "pw")
	h.Set("Authorization", strings.Replace(h.Get("Authorization"), "Basic", "bASIC", 1))
	status, body := w.post("/api/token", form, h)
	assert.Equalf(t, http.StatusOK, status, "%s", body)
	form.Set("scope", "viewer read")
	form.Del("seriesUID")
	status, body = w.post("/api/token", form, http.Header{"Authorization": {"BEARER whatever"}})
	assert.Equalf(t, http.StatusOK, status, "a public caller: %s", body)
}

func (w *world) redeemWith(assertion string) (int, string) {
	w.t.Helper()
	u, err := w.k.Launch(context.Background(), w.admin, w.clientID, "1.2.3")
	require.NoError(w.t, err)
	pu, _ := url.Parse(u)
	status, body := w.post("/api/token", url.Values{"grant_type": {"authorization_code"}, "code": {pu.Query().Get("code")},
		"client_id": {w.clientID}, "redirect_uri": {w.rp.URL + "/cb"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}, nil)
	return status, string(body)
}

// JWKS n and e in padded standard Base64 are read; "jti": null is refused.
func TestFidelityAssertionDetails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.jwksStd.Store(true)
	status, body := w.redeemWith(w.assertion(w.k.URL + "/api/token"))
	assert.Equalf(t, http.StatusOK, status, "padded standard Base64 JWKS: %s", body)
	status, body = w.redeemWith(w.signed(jwt.MapClaims{"iss": w.clientID, "sub": w.clientID, "aud": w.k.URL + "/api/token",
		"jti": nil, "exp": time.Now().Add(time.Minute).Unix()}))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "invalid_request")
}

// Registration and the configuration test are bounded (5 s in KHEOPS);
// launches are not.
func TestFidelityFetchTimeouts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.k.SetRegisterTimeout(300 * time.Millisecond)
	var delay atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(delay.Load()))
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"redirect_uri":"http://` + r.Host + `/cb","response_type":"token"}`))
	}))
	t.Cleanup(slow.Close)
	delay.Store(int64(time.Second))
	_, err := w.k.Register(context.Background(), w.admin, album, "slow", slow.URL+"/cfg")
	var ae *kheopstest.APIError
	require.ErrorAs(t, err, &ae, "a 1 s configuration fails a 300 ms bound")
	assert.Equal(t, http.StatusBadRequest, ae.StatusCode)
	delay.Store(0)
	clientID, err := w.k.Register(context.Background(), w.admin, album, "slow", slow.URL+"/cfg")
	require.NoError(t, err)
	// The launch fetches the configuration twice, without a bound.
	delay.Store(int64(time.Second))
	_, err = w.k.Launch(context.Background(), w.admin, clientID, "1.2.3")
	assert.NoError(t, err)
}

// The configuration test accepts any token and echoes every field read.
func TestFidelityConfigurationTest(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rp := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		base := "http://" + r.Host
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"redirect_uri":"` + base + `/cb","response_type":"token","grant_types":["implicit"],"scope":"read",` +
			`"software_id":"sw","introspection_endpoint_auth_method":"none","introspection_endpoint_auth_signing_alg":"RS256"}`))
	}))
	t.Cleanup(rp.Close)
	status, body := w.post("/api/reportproviders/metadata", url.Values{"url": {rp.URL + "/cfg"}},
		http.Header{"Authorization": {"Bearer " + w.k.AlbumCapabilityToken(album)}})
	require.Equalf(t, http.StatusOK, status, "%s", body)
	for _, want := range []string{`"valid":true`, `"grant_types":["implicit"]`, `"scope":"read"`, `"software_id":"sw"`,
		`"introspection_endpoint_auth_method":"none"`, `"introspection_endpoint_auth_signing_alg":"RS256"`} {
		assert.Contains(t, string(body), want)
	}
}

// created_time is a Java LocalDateTime: 0, 3, 6 or 9 fractional digits.
func TestFidelityCreatedTimeDigits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2025, 1, 2, 10, 11, 12, 0, time.UTC), "2025-01-02T10:11:12"},
		{time.Date(2025, 1, 2, 10, 11, 0, 0, time.UTC), "2025-01-02T10:11"},
		{time.Date(2025, 1, 2, 10, 11, 12, 120_000_000, time.UTC), "2025-01-02T10:11:12.120"},
		{time.Date(2025, 1, 2, 10, 11, 12, 123_456_789, time.FixedZone("x", 3600)), "2025-01-02T09:11:12.123456"},
	} {
		w := newWorld(t, kheopstest.WithNow(func() time.Time { return c.at }))
		status, body := w.bearer(http.MethodGet, "/api/albums/"+album+"/reportproviders/"+w.clientID, w.admin, "", nil)
		require.Equal(t, http.StatusOK, status)
		assert.Contains(t, body, `"created_time":"`+c.want+`"`)
	}
}
