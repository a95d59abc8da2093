package reportprovider_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/dicombridge/dicombridge/dicomweb"
	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/reportprovider"
)

// The conformance cases of spec kheops-report-provider.md §9, one subtest
// each, named by number and side. "fake" cases pin the fake KHEOPS to the
// KHEOPS code; "client" cases pin the provider's defences; "both" cases run
// one against the other. Configuration cases (1-5) also check that this
// package's own validation reaches the same verdict as KHEOPS.

// assertion is a client assertion built independently of the provider code
// (go-jose instead of golang-jwt), for probing the fake's token endpoint.
type assertion struct {
	alg     jose.SignatureAlgorithm
	key     any
	headers map[string]any
	claims  map[string]any
}

func (e *env) assertion(clientID string, mods ...func(*assertion)) string {
	e.t.Helper()
	now := e.clock.Now()
	jti := make([]byte, 12)
	_, _ = rand.Read(jti)
	a := &assertion{
		alg:     jose.RS256,
		key:     e.key,
		headers: map[string]any{"kid": "k1"},
		claims: map[string]any{
			"iss": clientID, "sub": clientID, "aud": e.kheops.URL + "/api/token",
			"jti": base64.RawURLEncoding.EncodeToString(jti), "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		},
	}
	for _, m := range mods {
		m(a)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range a.headers {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: a.alg, Key: a.key}, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := josejwt.Signed(signer).Claims(a.claims).Serialize()
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func (e *env) codeForm(code, clientID, assertion string) url.Values {
	return url.Values{
		"grant_type":            {"authorization_code"},
		"code":                  {code},
		"client_id":             {clientID},
		"redirect_uri":          {redirect},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
}

func (e *env) redeem(form url.Values, header http.Header) (int, map[string]any) {
	e.t.Helper()
	return e.postForm("/api/token", form, header)
}

func wantOAuth(t *testing.T, status int, body map[string]any, code string) {
	t.Helper()
	require.Falsef(t, status != http.StatusBadRequest || body["error"] != code, "got HTTP %d %v, want 400 error=%s", status, body, code)
}

func wantOK(t *testing.T, status int, body map[string]any) {
	t.Helper()
	require.Equalf(t, http.StatusOK, status, "got HTTP %d %v, want 200", status, body)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// codeDoc is a valid code-flow provider configuration on rp.example.com.
func codeDoc(redirectURI string) map[string]any {
	return map[string]any{
		"redirect_uri": redirectURI, "response_type": "code",
		"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "RS256",
		"jwks_uri": jwksURL,
	}
}

// bothSidesValidate registers doc at path and checks the fake's verdict and
// this package's verdict against want.
func (e *env) bothSidesValidate(t *testing.T, path string, doc map[string]any, want bool) {
	t.Helper()
	u := e.serveDoc(path, doc)
	if strings.HasPrefix(path, "http") {
		u = path
	}
	status, body := e.postForm("/api/albums/"+albumID+"/reportproviders", url.Values{"url": {u}, "name": {"R"}}, bearerHeader(e.alice))
	assert.Falsef(t, want && status != http.StatusCreated, "fake: registering %v: HTTP %d %v, want 201", doc, status, body)
	if !want {
		assert.Falsef(t, status != http.StatusBadRequest || body["message"] != "Bad Form Parameter" || body["detail"] != "'url' formparam is not valid", "fake: registering %v: HTTP %d %v, want 400 'url' formparam is not valid", doc, status, body)
	}
	raw, _ := json.Marshal(doc)
	_, err := reportprovider.ParseConfiguration(raw, u)
	assert.Falsef(t, want && err != nil, "client: %v: %v, want valid", doc, err)
	assert.Falsef(t, !want && !errors.Is(err, reportprovider.ErrInvalidConfiguration), "client: %v: %v, want ErrInvalidConfiguration", doc, err)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	cases := []struct {
		id   int
		side string
		name string
		run  func(t *testing.T)
	}{
		{1, "fake", "register code-flow configuration", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			u := e.serveDoc("/c1", codeDoc(rpOrigin+"/cb"))
			status, body := e.postForm("/api/albums/"+albumID+"/reportproviders", url.Values{"url": {u}, "name": {"R1"}}, bearerHeader(e.alice))
			require.Equalf(t, http.StatusCreated, status, "HTTP %d %v", status, body)
			if !regexp.MustCompile(`^[A-Za-z0-9]{22}$`).MatchString(body["client_id"].(string)) {
				t.Errorf("client_id %q", body["client_id"])
			}
			if got := keys(body); !slices.Equal(got, []string{"client_id", "created_time", "name", "url"}) {
				t.Errorf("body keys %v", got)
			}
			assert.Falsef(t, body["name"] != "R1" || body["url"] != u, "body %v", body)
			e.bothSidesValidate(t, "/c1b", codeDoc(rpOrigin+"/cb"), true)
		}},
		{2, "fake", "explicit default port does not match", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			doc := codeDoc("https://rp.example.com:443/cb")
			e.bothSidesValidate(t, "/c2", doc, false)
			status, body := e.postForm("/api/reportproviders/metadata", url.Values{"url": {rpOrigin + "/c2"}}, bearerHeader(e.alice))
			assert.Falsef(t, status != http.StatusOK || len(body) != 1 || body["valid"] != false, "test URL: HTTP %d %v, want 200 {\"valid\":false}", status, body)
			status, body = e.postForm("/api/reportproviders/metadata", url.Values{"url": {confURL}}, bearerHeader(e.alice))
			assert.Falsef(t, status != http.StatusOK || body["valid"] != true || body["redirect_uri"] != redirect, "test URL of a valid config: HTTP %d %v", status, body)
		}},
		{3, "fake", "invalid configurations", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			for i, mod := range []func(map[string]any){
				func(d map[string]any) { d["jwks_uri"] = "https://evil.example.com/jwks" },
				func(d map[string]any) { d["token_endpoint_auth_method"] = "kheops_private_key_jwt" },
				func(d map[string]any) { d["token_endpoint_auth_signing_alg"] = "ES256" },
				func(d map[string]any) { d["response_type"] = "id_token" },
				func(d map[string]any) { delete(d, "jwks_uri") },
				func(d map[string]any) { delete(d, "redirect_uri") },
				func(d map[string]any) { d["redirect_uri"] = "https://RP.example.com/cb" },
			} {
				d := codeDoc(redirect)
				mod(d)
				e.bothSidesValidate(t, "/c3-"+string(rune('a'+i)), d, false)
			}
		}},
		{4, "fake", "implicit flow needs only redirect_uri", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.bothSidesValidate(t, "/c4", map[string]any{"redirect_uri": rpOrigin + "/cb4", "response_type": "token"}, true)
		}},
		{5, "fake", "no port or scheme restriction by default", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.docs.Store("/c5", []byte(`{"redirect_uri":"http://rp.example.com:8443/cb","response_type":"token"}`))
			u := "http://rp.example.com:8443/c5"
			status, body := e.postForm("/api/albums/"+albumID+"/reportproviders", url.Values{"url": {u}, "name": {"R5"}}, bearerHeader(e.alice))
			assert.Equalf(t, http.StatusCreated, status, "HTTP %d %v, want 201", status, body)
			if _, err := reportprovider.ParseConfiguration([]byte(`{"redirect_uri":"http://rp.example.com:8443/cb","response_type":"token"}`), u); err != nil {
				t.Errorf("client: %v", err)
			}
			strict := newEnv(t, envOptions{kheops: []kheopstest.Option{kheopstest.WithStandardPortsOnly()}})
			strict.docs.Store("/c5", []byte(`{"redirect_uri":"http://rp.example.com:8443/cb","response_type":"token"}`))
			if status, body := strict.postForm("/api/albums/"+albumID+"/reportproviders", url.Values{"url": {u}, "name": {"R5"}}, bearerHeader(strict.alice)); status != http.StatusBadRequest {
				t.Errorf("WithStandardPortsOnly: HTTP %d %v, want 400", status, body)
			}
		}},
		{6, "fake", "code-flow launch page and URL", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			form := url.Values{"access_token": {e.alice}, "client_id": {e.clientID}, "studyUID": {study1, study2}}
			status, h, page := e.postRaw("/api/report", form.Encode(), nil)
			require.Falsef(t, status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html"), "HTTP %d %s", status, h.Get("Content-Type"))
			got, err := kheopstest.ParseLaunchPage(page)
			require.NoError(t, err)
			assert.Falsef(t, !strings.Contains(string(page), "<title>Test RP</title>") || !strings.Contains(string(page), `<a href="`+got+`">`), "page %s", page)
			code := codeOf(t, got)
			want := redirect + "?code=" + code +
				"&conf_uri=" + url.QueryEscape(e.kheops.URL+"/api/.well-known/report-provider-configuration") +
				"&client_id=" + e.clientID +
				"&return_uri=" + e.kheops.URL + "/albums/" + albumID +
				"&studyUID=" + study1 + "&studyUID=" + study2
			assert.Equalf(t, want, got, "launch URL\n got %s\nwant %s", got, want)
			u, _ := url.Parse(got)
			assert.Equalf(t, e.kheops.ConfigurationURL(), u.Query().Get("conf_uri"), "conf_uri after one decode: %s", u.Query().Get("conf_uri"))
			tok, err := josejwt.ParseSigned(code, []jose.SignatureAlgorithm{jose.HS256})
			require.NoError(t, err)
			var c struct {
				Type      string   `json:"type"`
				AZP       string   `json:"azp"`
				StudyUIDs []string `json:"study_uids"`
				NBF, Exp  int64
				JTI       *string `json:"jti"`
			}
			must(t, tok.UnsafeClaimsWithoutVerification(&c))
			var raw map[string]any
			must(t, tok.UnsafeClaimsWithoutVerification(&raw))
			c.NBF, c.Exp = int64(raw["nbf"].(float64)), int64(raw["exp"].(float64))
			if c.Type != "report_provider_code" || c.AZP != e.clientID || !slices.Equal(c.StudyUIDs, []string{study1, study2}) || c.Exp-c.NBF != 600 || c.JTI != nil {
				t.Errorf("code claims %+v", raw)
			}
		}},
		{7, "fake", "implicit launch by a user without ADD_SERIES", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			cid := e.register(e.serveDoc("/c7", map[string]any{"redirect_uri": rpOrigin + "/cb7", "response_type": "token"}))
			got := e.launch(e.bob, cid, study1)
			tok, _, _ := strings.Cut(strings.TrimPrefix(got, rpOrigin+"/cb7#access_token="), "&")
			want := rpOrigin + "/cb7#access_token=" + tok + "&token_type=bearer&expires_in=3600&scope=read&client_id=" + cid +
				"&conf_uri=" + url.QueryEscape(e.kheops.ConfigurationURL()) +
				"&return_uri=" + url.QueryEscape(e.kheops.URL+"/albums/"+albumID) + "&studyUID=" + study1
			assert.Equalf(t, want, got, "launch URL\n got %s\nwant %s", got, want)
			assert.Falsef(t, strings.Contains(got, "?"), "query parameters added: %s", got)
			if got := e.launch(e.alice, cid, study1); !strings.Contains(got, "&scope=read%20write&") {
				t.Errorf("ADD_SERIES user: %s", got)
			}
		}},
		{8, "fake", "launch errors", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			for _, c := range []struct {
				name        string
				tok, client string
				studies     []string
				want        int
			}{
				{"bad study UID", e.alice, e.clientID, []string{"abc"}, 400},
				{"no study", e.alice, e.clientID, nil, 400},
				{"study not in album", e.alice, e.clientID, []string{studyElse}, 404},
				{"non-member user", e.carol, e.clientID, []string{study1}, 403},
				{"unknown client_id", e.alice, "AAAAAAAAAAAAAAAAAAAAAA", []string{study1}, 404},
				{"bad token", "garbage", e.clientID, []string{study1}, 401},
			} {
				form := url.Values{"access_token": {c.tok}, "client_id": {c.client}, "studyUID": c.studies}
				if status, _, body := e.postRaw("/api/report", form.Encode(), nil); status != c.want {
					t.Errorf("%s: HTTP %d %s, want %d", c.name, status, body, c.want)
				}
			}
		}},
		{9, "both", "client redeems a code", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			launch := e.launch(e.alice, e.clientID, study1)
			s, err := e.follow(launch)
			require.NoError(t, err)
			if !s.Expiry.Equal(epoch.Add(time.Hour)) || !slices.Equal(s.Scope, []string{"read", "write"}) ||
				!slices.Equal(s.StudyUIDs, []string{study1}) || s.AlbumID != albumID || s.User.Name != "Alice Doe" ||
				s.User.Email != "alice@example.com" || s.DICOMwebEndpoint != e.kheops.URL+"/api" ||
				s.ReturnURI != e.kheops.URL+"/albums/"+albumID || s.ClientID != e.clientID || s.Issuer != e.kheops.URL {
				t.Errorf("session %+v", s)
			}
			calls := e.kheops.CallsTo("/api/token")
			require.Equalf(t, 1, len(calls), "%d token calls", len(calls))
			var names []string
			for _, kv := range strings.Split(string(calls[0].Body), "&") {
				k, _, _ := strings.Cut(kv, "=")
				names = append(names, k)
			}
			if !slices.Equal(names, []string{"grant_type", "code", "client_id", "redirect_uri", "client_assertion_type", "client_assertion"}) {
				t.Errorf("form fields %v", names)
			}
			form, _ := url.ParseQuery(string(calls[0].Body))
			if form.Get("grant_type") != "authorization_code" || form.Get("code") != codeOf(t, launch) ||
				form.Get("client_id") != e.clientID || form.Get("redirect_uri") != redirect ||
				form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
				t.Errorf("form %v", form)
			}
			if ct := calls[0].Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type %q", ct)
			}
			checkAssertion(t, e, form.Get("client_assertion"), e.clientID, e.kheops.URL+"/api/token")
			// The token response itself (KHEOPS accepts the code again).
			status, body := e.redeem(e.codeForm(codeOf(t, launch), e.clientID, e.assertion(e.clientID)), nil)
			wantOK(t, status, body)
			if got := keys(body); !slices.Equal(got, []string{"access_token", "expires_in", "token_type"}) || body["token_type"] != "bearer" || body["expires_in"] != 3600.0 {
				t.Errorf("token response %v", body)
			}
		}},
		{10, "fake", "assertion exp more than 10 minutes ahead", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			code := codeOf(t, e.launch(e.alice, e.clientID, study1))
			a := e.assertion(e.clientID, func(a *assertion) { a.claims["exp"] = e.clock.Now().Add(11 * time.Minute).Unix() })
			status, body := e.redeem(e.codeForm(code, e.clientID, a), nil)
			wantOAuth(t, status, body, "invalid_request")
			a = e.assertion(e.clientID, func(a *assertion) { a.claims["exp"] = e.clock.Now().Add(10 * time.Minute).Unix() })
			status, body = e.redeem(e.codeForm(code, e.clientID, a), nil)
			wantOK(t, status, body)
		}},
		{11, "fake", "assertion algorithm other than RS256", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			code := codeOf(t, e.launch(e.alice, e.clientID, study1))
			ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			for _, alg := range []struct {
				alg jose.SignatureAlgorithm
				key any
			}{{jose.HS256, []byte("0123456789abcdef0123456789abcdef")}, {jose.PS256, e.key}, {jose.ES256, ec}} {
				a := e.assertion(e.clientID, func(a *assertion) { a.alg, a.key = alg.alg, alg.key })
				status, body := e.redeem(e.codeForm(code, e.clientID, a), nil)
				wantOAuth(t, status, body, "invalid_request")
			}
		}},
		{12, "fake", "assertion without kid, unknown kid, without jti", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			code := codeOf(t, e.launch(e.alice, e.clientID, study1))
			for _, mod := range []func(*assertion){
				func(a *assertion) { delete(a.headers, "kid") },
				func(a *assertion) { a.headers["kid"] = "zz" },
				func(a *assertion) { delete(a.claims, "jti") },
			} {
				status, body := e.redeem(e.codeForm(code, e.clientID, e.assertion(e.clientID, mod)), nil)
				wantOAuth(t, status, body, "invalid_request")
			}
		}},
		{13, "fake", "assertion audience", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			code := codeOf(t, e.launch(e.alice, e.clientID, study1))
			for _, c := range []struct {
				aud  any
				want string
			}{
				{e.kheops.URL, "invalid_request"},
				{e.kheops.URL + "/api/token/", "invalid_request"},
				{[]string{"x", e.kheops.URL + "/api/token"}, ""},
			} {
				a := e.assertion(e.clientID, func(a *assertion) { a.claims["aud"] = c.aud })
				status, body := e.redeem(e.codeForm(code, e.clientID, a), nil)
				if c.want == "" {
					wantOK(t, status, body)
				} else {
					wantOAuth(t, status, body, c.want)
				}
			}
		}},
		{14, "fake", "assertion iss is not the client_id", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			code := codeOf(t, e.launch(e.alice, e.clientID, study1))
			a := e.assertion(e.clientID, func(a *assertion) { a.claims["iss"] = "someone-else" })
			status, body := e.redeem(e.codeForm(code, e.clientID, a), nil)
			wantOAuth(t, status, body, "invalid_request")
		}},
		{15, "fake", "unknown or deleted client", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			code := codeOf(t, e.launch(e.alice, e.clientID, study1))
			unknown := "BBBBBBBBBBBBBBBBBBBBBB"
			status, body := e.redeem(e.codeForm(code, unknown, e.assertion(unknown)), nil)
			wantOAuth(t, status, body, "invalid_client")
			e.kheops.RemoveProvider(e.clientID)
			status, body = e.redeem(e.codeForm(code, e.clientID, e.assertion(e.clientID)), nil)
			wantOAuth(t, status, body, "invalid_client")
		}},
		{16, "fake", "redirect_uri differs from the configuration", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			code := codeOf(t, e.launch(e.alice, e.clientID, study1))
			form := e.codeForm(code, e.clientID, e.assertion(e.clientID))
			form.Set("redirect_uri", redirect+"/")
			status, body := e.redeem(form, nil)
			wantOAuth(t, status, body, "invalid_grant")
		}},
		{17, "fake", "expired code and code of another client", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			code := codeOf(t, e.launch(e.alice, e.clientID, study1))
			e.clock.Advance(661 * time.Second)
			status, body := e.redeem(e.codeForm(code, e.clientID, e.assertion(e.clientID)), nil)
			wantOAuth(t, status, body, "invalid_request")

			clientB := e.register(confURL)
			code = codeOf(t, e.launch(e.alice, e.clientID, study1))
			status, body = e.redeem(e.codeForm(code, clientB, e.assertion(clientB)), nil)
			wantOAuth(t, status, body, "invalid_request")
		}},
		{18, "fake", "code and jti reuse: faithful and strict", func(t *testing.T) {
			for _, c := range []struct {
				name   string
				opts   []kheopstest.Option
				second string
			}{
				{"faithful", nil, ""},
				{"WithStrictSingleUseCodes", []kheopstest.Option{kheopstest.WithStrictSingleUseCodes()}, "invalid_grant"},
				{"WithJTIReplayRejected", []kheopstest.Option{kheopstest.WithJTIReplayRejected()}, "invalid_request"},
			} {
				t.Run(c.name, func(t *testing.T) {
					e := newEnv(t, envOptions{kheops: c.opts})
					code := codeOf(t, e.launch(e.alice, e.clientID, study1))
					a := e.assertion(e.clientID)
					e.clock.Advance(10 * time.Second)
					status, body := e.redeem(e.codeForm(code, e.clientID, a), nil)
					wantOK(t, status, body)
					e.clock.Advance(10 * time.Second)
					status, body = e.redeem(e.codeForm(code, e.clientID, a), nil)
					if c.second == "" {
						wantOK(t, status, body)
					} else {
						wantOAuth(t, status, body, c.second)
					}
				})
			}
		}},
		{19, "fake", "client authentication variants", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			code := codeOf(t, e.launch(e.alice, e.clientID, study1))
			bare := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {e.clientID}, "redirect_uri": {redirect}}
			status, body := e.redeem(bare, nil)
			wantOAuth(t, status, body, "unauthorized_client")
			status, body = e.redeem(bare, bearerHeader("x"))
			wantOAuth(t, status, body, "unauthorized_client")
			status, body = e.redeem(e.codeForm(code, e.clientID, e.assertion(e.clientID)), bearerHeader("x"))
			wantOAuth(t, status, body, "invalid_request")
			form := e.codeForm(code, e.clientID, e.assertion(e.clientID))
			form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
			status, body = e.redeem(form, nil)
			wantOAuth(t, status, body, "invalid_request")
			form = e.codeForm(code, e.clientID, "abc.def.ghi")
			status, body = e.redeem(form, nil)
			wantOAuth(t, status, body, "invalid_request")
		}},
		{20, "fake", "grant_type variants", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			for _, c := range []struct {
				grant []string
				want  string
			}{
				{nil, "invalid_request"},
				{[]string{"authorization_code", "authorization_code"}, "invalid_request"},
				{[]string{"refresh_token"}, "unsupported_grant_type"},
				{[]string{"password"}, "unsupported_grant_type"},
				{[]string{"foo"}, "unsupported_grant_type"},
			} {
				status, body := e.redeem(url.Values{"grant_type": c.grant, "refresh_token": {"r"}}, nil)
				wantOAuth(t, status, body, c.want)
			}
		}},
		{21, "fake", "token exchange for viewer and pep tokens", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			ex := func(mod func(url.Values), h http.Header) (int, map[string]any) {
				f := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "scope": {"viewer read"},
					"subject_token": {e.alice}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "studyUID": {study1}}
				if mod != nil {
					mod(f)
				}
				return e.redeem(f, h)
			}
			status, body := ex(nil, nil)
			wantOK(t, status, body)
			viewer, _ := body["access_token"].(string)
			assert.Falsef(t, body["expires_in"] != 18000.0 || strings.Count(viewer, ".") != 4, "viewer token response %v", body)
			status, body = ex(func(f url.Values) { f.Set("subject_token_type", "urn:ietf:params:oauth:token-type:id_token") }, nil)
			wantOAuth(t, status, body, "invalid_request")
			status, body = ex(func(f url.Values) { f.Set("scope", "read") }, nil)
			wantOAuth(t, status, body, "invalid_scope")
			status, body = ex(func(f url.Values) { f.Set("source_type", "album") }, nil)
			wantOAuth(t, status, body, "invalid_request")
			status, body = ex(func(f url.Values) { f.Set("scope", "pep"); f.Set("seriesUID", study1+".1") }, nil)
			wantOAuth(t, status, body, "unauthorized_client")
			status, body = ex(func(f url.Values) { f.Set("subject_token", viewer) }, nil)
			wantOAuth(t, status, body, "invalid_grant")
		}},
		{22, "fake", "introspection", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			one := e.tokenFor(e.alice, study1)
			status, body := e.postForm("/api/token/introspect", url.Values{"token": {one}}, nil)
			wantOK(t, status, body)
			if got := keys(body); !slices.Equal(got, []string{"active", "album_id", "aud", "azp", "client_id", "exp", "iat", "iss", "nbf", "redirect_uri", "scope", "studyUID", "sub"}) {
				t.Errorf("keys %v", got)
			}
			if body["active"] != true || body["aud"] != e.kheops.URL || body["studyUID"] != study1 || body["redirect_uri"] != redirect ||
				body["album_id"] != albumID || body["client_id"] != e.clientID || body["azp"] != e.clientID || body["scope"] != "read write" ||
				body["sub"] != "alice-sub" || body["iss"] != e.kheops.URL || body["exp"] != float64(epoch.Add(time.Hour).Unix()) {
				t.Errorf("introspection %v", body)
			}
			two := e.tokenFor(e.alice, study1, study2)
			_, body = e.postForm("/api/token/introspect", url.Values{"token": {two}}, nil)
			if s, ok := body["studyUID"].([]any); !ok || len(s) != 2 {
				t.Errorf("two studies: %v", body["studyUID"])
			}
			for _, f := range []url.Values{{"token": {"garbage"}}, {}} {
				status, body = e.postForm("/api/token/introspect", f, nil)
				assert.Falsef(t, status != http.StatusOK || len(body) != 1 || body["active"] != false, "%v: HTTP %d %v", f, status, body)
			}
			if status, _ := e.postForm("/api/token/introspect", url.Values{"token": {e.alice}}, nil); status != http.StatusUnauthorized {
				t.Errorf("user token by a public caller: HTTP %d, want 401", status)
			}
			a := e.assertion(e.clientID, func(a *assertion) { a.claims["aud"] = e.kheops.URL + "/api/token/introspect" })
			status, body = e.postForm("/api/token/introspect", url.Values{"token": {one}, "client_id": {e.clientID},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}, nil)
			assert.Falsef(t, status != http.StatusOK || body["active"] != true, "authenticated introspection: HTTP %d %v", status, body)
		}},
		{23, "fake", "userinfo", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			get := func(h http.Header) (int, map[string]any) {
				req, _ := http.NewRequest(http.MethodGet, e.kheops.URL+"/api/userinfo", nil)
				for k, v := range h {
					req.Header[k] = v
				}
				resp, err := e.kheops.Client().Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				var m map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&m)
				return resp.StatusCode, m
			}
			status, body := get(bearerHeader(e.tokenFor(e.alice, study1)))
			assert.Falsef(t, status != 200 || body["sub"] != "alice-sub" || body["name"] != "Alice Doe" || body["email"] != "alice@example.com" || len(body) != 3, "RP token: HTTP %d %v", status, body)
			for _, c := range []struct {
				h    http.Header
				want int
			}{
				{bearerHeader(e.alice), 403},
				{bearerHeader("garbage"), 401},
				{http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, 401},
				{nil, 401},
			} {
				if status, _ := get(c.h); status != c.want {
					t.Errorf("%v: HTTP %d, want %d", c.h, status, c.want)
				}
			}
		}},
		{24, "client", "conf_uri not allowlisted: no outbound request", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			launch := e.launch(e.alice, e.clientID, study1)
			e.kheops.ResetCalls()
			for _, evil := range []string{
				"https://evil.example.com/api/.well-known/report-provider-configuration",
				"https://evil.example.com/kheops/api/.well-known/report-provider-configuration",
				e.kheops.URL + "/api/.well-known/report-provider-configuration/../../../evil",
				strings.Replace(e.kheops.ConfigurationURL(), "127.0.0.1", "localhost", 1),
			} {
				_, err := e.follow(replaceParam(t, launch, "conf_uri", evil))
				assert.ErrorIsf(t, err, reportprovider.ErrUntrustedIssuer, "%s: %v, want ErrUntrustedIssuer", evil, err)
			}
			if n := e.evilHits.Load(); n != 0 {
				t.Errorf("evil server saw %d requests", n)
			}
			if n := e.rpOut.total(); n != 0 {
				t.Errorf("provider sent %d requests", n)
			}
			if c := e.kheops.Calls(); len(c) != 0 {
				t.Errorf("fake saw %d requests", len(c))
			}
		}},
		{25, "client", "KHEOPS configuration with foreign endpoint or issuer", func(t *testing.T) {
			for _, c := range []struct {
				field, value string
			}{
				{"dicomweb_endpoint", "https://evil.example.com/api"},
				{"userinfo_endpoint", "https://evil.example.com/api/userinfo"},
				{"token_endpoint", "https://evil.example.com/api/token"},
				{"issuer", "https://evil.example.com"},
			} {
				t.Run(c.field, func(t *testing.T) {
					e := newEnv(t, envOptions{})
					launch := e.launch(e.alice, e.clientID, study1)
					e.kheops.ResetCalls()
					doc := map[string]any{
						"issuer": e.kheops.URL, "dicomweb_endpoint": e.kheops.URL + "/api", "token_endpoint": e.kheops.URL + "/api/token",
						"introspection_endpoint": e.kheops.URL + "/api/token/introspect", "userinfo_endpoint": e.kheops.URL + "/api/userinfo",
					}
					doc[c.field] = c.value
					b, _ := json.Marshal(doc)
					e.kheops.Fail("/api/.well-known/report-provider-configuration", kheopstest.Failure{Status: 200, Body: string(b)})
					_, err := e.follow(launch)
					require.ErrorIsf(t, err, reportprovider.ErrInvalidInstanceConfiguration, "%v, want ErrInvalidInstanceConfiguration", err)
					if n := len(e.kheops.CallsTo("/api/token")); n != 0 {
						t.Errorf("code redeemed %d times", n)
					}
					if n := e.evilHits.Load(); n != 0 {
						t.Errorf("evil server saw %d requests", n)
					}
				})
			}
		}},
		{26, "client", "return_uri open redirect", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			for _, ret := range []string{"javascript:alert(1)", "https://evil.example.com/albums/x", "//evil.example.com/albums/x",
				e.kheops.URL + "/albums/Other12345", e.kheops.URL + "@evil.example.com/albums/" + albumID} {
				e.clock.Advance(time.Second) // codes minted in the same second are identical
				launch := e.launch(e.alice, e.clientID, study1)
				s, err := e.follow(replaceParam(t, launch, "return_uri", ret))
				require.NoErrorf(t, err, "%s: %v", ret, err)
				assert.Equalf(t, e.kheops.URL+"/albums/"+albumID, s.ReturnURI, "%s: ReturnURI %s", ret, s.ReturnURI)
			}
		}},
		{27, "client", "implicit token substitution", func(t *testing.T) {
			e := newEnv(t, envOptions{responseType: reportprovider.ResponseTypeToken})
			otherCID := e.register(e.serveDoc("/other", map[string]any{"redirect_uri": rpOrigin + "/cb-other", "response_type": "token"}))
			otherLaunch := e.launch(e.alice, otherCID, study1)
			_, otherFrag, _ := strings.Cut(otherLaunch, "#")
			otherTok, _ := url.ParseQuery(otherFrag)

			ours := e.launch(e.alice, e.clientID, study1)
			for name, mutate := range map[string]func(url.Values){
				"token of another client": func(v url.Values) { v.Set("access_token", otherTok.Get("access_token")) },
				"another study":           func(v url.Values) { v["studyUID"] = []string{study2} },
				"an extra study":          func(v url.Values) { v["studyUID"] = []string{study1, study2} },
				"inactive token":          func(v url.Values) { v.Set("access_token", "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl") },
				"scope widened":           func(v url.Values) { v.Set("scope", "read write admin") },
			} {
				_, frag, _ := strings.Cut(ours, "#")
				v, _ := url.ParseQuery(frag)
				mutate(v)
				_, err := e.follow(redirect + "#" + v.Encode())
				assert.Falsef(t, !errors.Is(err, reportprovider.ErrTokenRejected) && !errors.Is(err, reportprovider.ErrInvalidLaunch), "%s: %v, want a rejection", name, err)
			}
			if _, err := e.follow(ours); err != nil {
				t.Errorf("the genuine launch: %v", err)
			}
		}},
		{28, "client", "replayed launch URL", func(t *testing.T) {
			e := newEnv(t, envOptions{})
			launch := e.launch(e.alice, e.clientID, study1)
			if _, err := e.follow(launch); err != nil {
				t.Fatal(err)
			}
			_, err := e.follow(launch)
			require.ErrorIsf(t, err, reportprovider.ErrReplayedLaunch, "replay: %v, want ErrReplayedLaunch", err)
			if n := len(e.kheops.CallsTo("/api/token")); n != 1 {
				t.Errorf("provider sent the code %d times", n)
			}
			status, body := e.redeem(e.codeForm(codeOf(t, launch), e.clientID, e.assertion(e.clientID)), nil)
			wantOK(t, status, body) // KHEOPS itself would accept it again
		}},
		{29, "both", "STOW-RS and QIDO-RS scoped to the token", func(t *testing.T) {
			ctx := context.Background()
			// Read-only token: implicit flow launched by bob.
			ro := newEnv(t, envOptions{responseType: reportprovider.ResponseTypeToken})
			s, err := ro.follow(ro.launch(ro.bob, ro.clientID, study1))
			require.NoError(t, err)
			_, err = s.DICOMweb(&http.Client{Transport: ro.transport}).Store(ctx, study1, strings.NewReader(string(report(study1, "2.25.991"))))
			var he *dicomweb.HTTPError
			assert.Falsef(t, !errors.As(err, &he) || he.StatusCode != http.StatusForbidden, "read scope STOW: %v, want HTTP 403", err)

			e := newEnv(t, envOptions{})
			s, err = e.follow(e.launch(e.alice, e.clientID, study1))
			require.NoError(t, err)
			dw := s.DICOMweb(&http.Client{Transport: e.transport})
			studies, err := dw.SearchStudies(ctx, nil)
			require.Falsef(t, err != nil || len(studies) != 1 || studies[0].String(tagStudyInstanceUID) != study1, "QIDO studies: %v %v", studies, err)
			if got, _ := dw.SearchStudies(ctx, url.Values{"StudyInstanceUID": {study2}}); len(got) != 0 {
				t.Errorf("QIDO filter outside the token: %v", got)
			}
			good := report(study1, "2.25.992")
			res, err := dw.Store(ctx, study1, strings.NewReader(string(good)))
			require.Falsef(t, err != nil || res.StatusCode != 200 || len(res.Stored) != 1 || res.Stored[0].SOPInstanceUID != "2.25.992.1", "valid STOW: %+v %v", res, err)
			found := false
			for _, in := range e.kheops.Instances(study1) {
				if in.SOPInstanceUID == "2.25.992.1" {
					found = string(in.Data) == string(good)
				}
			}
			assert.False(t, !found, "stored instance not in the fake, or not byte-identical")
			res, err = dw.Store(ctx, "", strings.NewReader(string(report(studyElse, "2.25.993"))))
			var se *dicomweb.StoreError
			assert.Falsef(t, !errors.As(err, &se) || se.StatusCode != http.StatusConflict || len(se.Failed) != 1 || se.Failed[0].Reason != 0x0124 || se.Failed[0].SOPInstanceUID != "2.25.993.1", "study outside the token: %+v %v", res, err)
			res, err = dw.Store(ctx, "", strings.NewReader(string(report(study1, "2.25.994"))), strings.NewReader(string(report(study2, "2.25.995"))))
			assert.Falsef(t, !errors.As(err, &se) || se.StatusCode != http.StatusAccepted || len(res.Stored) != 1 || len(res.Failed) != 1 || res.Failed[0].Reason != 0x0124, "partial STOW: %+v %v", res, err)
		}},
	}
	for _, c := range cases {
		t.Run(name(c.id, c.side, c.name), func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

func name(id int, side, s string) string {
	return strings.NewReplacer(" ", "_", ",", "", ":", "").Replace(
		strings.Join([]string{twoDigits(id), side, s}, "_"))
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

// replaceParam swaps one query parameter of a launch URL.
func replaceParam(t testing.TB, launch, name, value string) string {
	t.Helper()
	u, err := url.Parse(launch)
	require.NoError(t, err)
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// tokenFor redeems a fresh code for the given studies, as the provider's
// client would, and returns the access token.
func (e *env) tokenFor(userToken string, studies ...string) string {
	e.t.Helper()
	code := codeOf(e.t, e.launch(userToken, e.clientID, studies...))
	status, body := e.redeem(e.codeForm(code, e.clientID, e.assertion(e.clientID)), nil)
	if status != http.StatusOK {
		e.t.Fatalf("redeem: HTTP %d %v", status, body)
	}
	return body["access_token"].(string)
}

// report is a small synthetic instance in a new series of a study.
func report(studyUID, seriesUID string) []byte {
	return kheopstest.NewInstance(kheopstest.InstanceSpec{
		StudyUID: studyUID, SeriesUID: seriesUID, SOPInstanceUID: seriesUID + ".1",
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.104.1", Modality: "DOC", SeriesDescription: "Report",
	})
}

// checkAssertion verifies a client assertion with go-jose against the JWKS
// the provider serves, and checks every claim.
func checkAssertion(t *testing.T, e *env, raw, clientID, audience string) {
	t.Helper()
	resp, err := e.browser().Get(jwksURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	data, _ := io.ReadAll(resp.Body)
	must(t, json.Unmarshal(data, &set))
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	h := tok.Headers[0]
	assert.Falsef(t, h.Algorithm != "RS256" || h.KeyID != "k1" || h.ExtraHeaders["typ"] != "JWT", "header %+v", h)
	keys := set.Key(h.KeyID)
	require.Equalf(t, 1, len(keys), "JWKS has %d keys with kid %s", len(keys), h.KeyID)
	var c josejwt.Claims
	var all map[string]any
	if err := tok.Claims(keys[0].Key, &c, &all); err != nil {
		t.Fatalf("go-jose rejects the assertion: %v", err)
	}
	if err := c.ValidateWithLeeway(josejwt.Expected{Issuer: clientID, Subject: clientID, AnyAudience: josejwt.Audience{audience}, Time: e.clock.Now()}, 0); err != nil {
		t.Errorf("claims: %v", err)
	}
	if _, isString := all["aud"].(string); !isString {
		t.Errorf("aud is %T, want a string", all["aud"])
	}
	assert.Falsef(t, c.ID == "" || len(c.ID) < 16, "jti %q", c.ID)
	assert.Nil(t, c.IssuedAt, "no iat: KHEOPS would refuse one from a clock running ahead")
	require.NotNil(t, c.Expiry)
	assert.Equal(t, 2*time.Minute, c.Expiry.Time().Sub(e.clock.Now()))
}
