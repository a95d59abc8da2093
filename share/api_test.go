package share

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeMedDream is a MedDream token service: it records the request and
// answers with a token, or with an error page when fail is set.
type fakeMedDream struct {
	srv   *httptest.Server
	fail  atomic.Bool
	calls atomic.Int32
	last  atomic.Value // string: last request body
}

func newFakeMedDream(t *testing.T) *fakeMedDream {
	m := &fakeMedDream{}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m.last.Store(string(b))
		m.calls.Add(1)
		if m.fail.Load() {
			http.Error(w, "<html>Internal Server Error</html>", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "md-token-42\n")
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func TestMintOldAPI(t *testing.T) {
	t.Parallel()
	md := newFakeMedDream(t)
	f := newFixture(t, func(c *Config) {
		c.ServerID, c.AnonymizedServerID = "std", "anon"
		c.Links.AnonymizedOrthancRoot = "https://pacs.example/anon/"
		c.Links.MedDreamRoot = "https://pacs.example/meddream/"
		c.MedDream = &MedDreamClient{TokenServiceURL: md.srv.URL + "/v3/generate"}
	})
	t.Run("stone", func(t *testing.T) {
		status, body := f.do(t, "PUT", "/shares", `{"id":"toto","studies":[{"dicom-uid":"`+dA+`","orthanc-id":"`+oA+`"}],"type":"stone-viewer-publication","expiration-date":"2026-12-31T11:00:00Z"}`, nil)
		require.Equal(t, 200, status, body)
		var resp struct {
			Request json.RawMessage
			Token   string
			URL     string
		}
		require.NoError(t, json.Unmarshal([]byte(body), &resp))
		wantReq := `{"id":"toto","studies":[{"dicom-uid":"` + dA + `","orthanc-id":"` + oA + `"}],"anonymized":false,"type":"stone-viewer-publication","expiration-date":"2026-12-31T11:00:00+00:00"}`
		assert.Equal(t, wantReq, string(resp.Request), "request echo")
		assert.Equal(t, "https://pacs.example/orthanc/stone-webviewer/index.html?study="+dA+"&selectedStudies="+dA+"&token="+resp.Token, resp.URL)
		cl, err := f.codec.Decode(resp.Token)
		require.NoError(t, err)
		assert.Equal(t, V3, cl.Version)
		assert.Equal(t, "std", cl.ServerID)
		assert.NotEmpty(t, cl.TokenID)
	})
	t.Run("v2 layout on request, snake_case names, historic single study", func(t *testing.T) {
		g := newFixture(t, func(c *Config) { c.SharesVersion = V2 })
		status, body := g.do(t, "PUT", "/shares", `{"dicom_uid":"`+dA+`","orthanc_id":"`+oA+`","type":"osimis-viewer-publication","expiration_date":null}`, nil)
		require.Equal(t, 200, status, body)
		var resp struct{ Token string }
		require.NoError(t, json.Unmarshal([]byte(body), &resp))
		p := payloadOf(t, resp.Token)
		assert.True(t, strings.HasPrefix(p, `{"id":null,"studies":[{"dicom_uid":"`+dA+`","orthanc_id":"`+oA+`"}],"anonymized":false,"type":"osimis-viewer-publication","expiration_date":null,"iat":`), "payload %s", p)
	})
	t.Run("anonymized without an Orthanc to anonymize in", func(t *testing.T) {
		// TestRealOrthancAnonymizedShare mints them with Orthanc.
		status, body := f.do(t, "PUT", "/shares", `{"studies":[{"orthanc-id":"`+oA+`"}],"anonymized":true,"type":"osimis-viewer-publication"}`, nil)
		assert.Equal(t, 400, status)
		assert.Equal(t, `{"detail":"share: invalid share: osimis-viewer-publication shares are disabled (Orthanc REST API, which anonymizes not configured)"}`, body)
	})
	t.Run("meddream instant link", func(t *testing.T) {
		status, body := f.do(t, "PUT", "/shares", `{"studies":[{"dicom-uid":"`+dA+`"}],"type":"meddream-instant-link"}`, nil)
		require.Equal(t, 200, status, body)
		require.Contains(t, body, `"token":"md-token-42","url":"https://pacs.example/meddream/?token=md-token-42"`)
		assert.Equal(t, `{"items":[{"studies":{"study":"`+dA+`","storage":"Orthanc"}}]}`, md.last.Load(), "MedDream request")
	})
	errs := []struct {
		name, body string
		want       int
	}{
		{"unknown type", `{"studies":[{"dicom-uid":"1"}],"type":"admin"}`, 400},
		{"new-API type", `{"studies":[{"dicom-uid":"1"}],"type":"ohif-viewer-publication"}`, 400},
		{"missing type", `{"studies":[{"dicom-uid":"1"}]}`, 400},
		{"no studies", `{"studies":[],"type":"stone-viewer-publication"}`, 400},
		{"osimis without orthanc id", `{"studies":[{"dicom-uid":"1"}],"type":"osimis-viewer-publication"}`, 400},
		{"anonymized stone", `{"studies":[{"dicom-uid":"1"}],"anonymized":true,"type":"stone-viewer-publication"}`, 400},
		{"meddream publication without landing (500 in Python)", `{"studies":[{"dicom-uid":"1"}],"type":"meddream-viewer-publication"}`, 400},
		{"bad date", `{"studies":[{"dicom-uid":"1"}],"type":"stone-viewer-publication","expiration-date":"31/12/2026"}`, 400},
		{"not JSON", `studies`, 400},
		{"wrong field type", `{"studies":"1","type":"stone-viewer-publication"}`, 400},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.do(t, "PUT", "/shares", tt.body, nil)
			assert.Equal(t, tt.want, status, body)
			assert.True(t, strings.HasPrefix(body, `{"detail":"share: `), body)
		})
	}
	t.Run("MedDream error page never becomes a token", func(t *testing.T) {
		md.fail.Store(true)
		defer md.fail.Store(false)
		status, body := f.do(t, "PUT", "/shares", `{"studies":[{"dicom-uid":"`+dA+`"}],"type":"meddream-instant-link"}`, nil)
		assert.Equal(t, http.StatusBadGateway, status, body)
		assert.NotContains(t, body, `"token"`)
	})
}

func TestMintNewAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.ServerID = "std" })
	put := func(t *testing.T, typ, body string) (int, map[string]any, string) {
		status, raw := f.do(t, "PUT", "/tokens/"+typ, body, nil)
		var m map[string]any
		json.Unmarshal([]byte(raw), &m)
		return status, m, raw
	}
	t.Run("ohif publication, exact answer", func(t *testing.T) {
		status, m, raw := put(t, "ohif-viewer-publication", `{"id":"x","resources":[{"dicom-uid":"`+dA+`","orthanc-id":"`+oA+`","level":"study"}],"type":"ohif-viewer-publication","expiration-date":"2026-02-01T00:00:00.5+01:00","server-id":"std"}`)
		require.Equal(t, 200, status, raw)
		tok := m["token"].(string)
		want := `{"request":{"id":"x","resources":[{"dicom-uid":"` + dA + `","orthanc-id":"` + oA + `","url":null,"level":"study"}],"type":"ohif-viewer-publication","expiration-date":"2026-01-31T23:00:00.500000+00:00","validity-duration":null},"token":"` + tok + `","url":"https://pacs.example/ohif/viewer?StudyInstanceUIDs=` + dA + `&token=` + tok + `"}`
		assert.Equal(t, want, raw, "answer")
	})
	t.Run("instant link has null url", func(t *testing.T) {
		_, m, raw := put(t, "viewer-instant-link", `{"resources":[{"dicom-uid":"`+dA+`","level":"study"}],"validity-duration":600}`)
		require.Nil(t, m["url"], raw)
		require.NotNil(t, m["token"], raw)
		cl, _ := f.codec.Decode(m["token"].(string))
		assert.True(t, cl.ExpiresAt.Equal(katNow.Add(10*time.Minute)), "ExpiresAt %v", cl.ExpiresAt)
		assert.Equal(t, 600, cl.ValidityDuration)
	})
	t.Run("expiration date wins over a garbage duration", func(t *testing.T) {
		_, m, raw := put(t, "viewer-instant-link", `{"resources":[{"dicom-uid":"1","level":"study"}],"expiration-date":"2026-01-03T00:00:00Z","validity-duration":-123456789}`)
		cl, err := f.codec.Decode(m["token"].(string))
		require.NoError(t, err, raw)
		assert.True(t, cl.ExpiresAt.Equal(time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)), "ExpiresAt %v", cl.ExpiresAt)
		assert.Zero(t, cl.ValidityDuration)
	})
	t.Run("missing ids give null url like Python", func(t *testing.T) {
		_, m, raw := put(t, "osimis-viewer-publication", `{"resources":[{"dicom-uid":"1","level":"study"}]}`)
		assert.Nil(t, m["url"], raw)
		assert.NotNil(t, m["token"], raw)
	})
	for _, tt := range []struct{ name, typ, body string }{
		{"type differs from path", "stone-viewer-publication", `{"resources":[{"dicom-uid":"1"}],"type":"ohif-viewer-publication"}`},
		{"unknown type", "admin", `{"resources":[{"dicom-uid":"1"}]}`},
		{"invalid type", "invalid", `{"resources":[{"dicom-uid":"1"}]}`},
		{"no resources", "stone-viewer-publication", `{"id":"x"}`},
		{"bad level", "stone-viewer-publication", `{"resources":[{"dicom-uid":"1","level":"system"}]}`},
		{"garbage duration alone", "viewer-instant-link", `{"resources":[{"dicom-uid":"1"}],"validity-duration":99999999999}`},
		{"volview disabled", "volview-viewer-publication", `{"resources":[{"orthanc-id":"1"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newFixture(t, func(c *Config) { c.Links.OrthancRoot = "" })
			status, raw := g.do(t, "PUT", "/tokens/"+tt.typ, tt.body, nil)
			assert.Equal(t, 400, status, raw)
		})
	}
}

func TestDecodeRoute(t *testing.T) {
	t.Parallel()
	md := newFakeMedDream(t)
	f := newFixture(t, func(c *Config) {
		c.Links.LandingRoot = "https://pacs.example/welcome/"
		c.Links.MedDreamRoot = "https://pacs.example/meddream/"
		c.MedDream = &MedDreamClient{TokenServiceURL: md.srv.URL}
	})
	res := []Resource{{DicomUID: dA, OrthancID: oA}}
	stone := f.mint(t, Claims{Type: StoneViewerPublication, Resources: res, ExpiresAt: katNow.Add(time.Hour)})
	expired := f.mint(t, Claims{Type: StoneViewerPublication, Resources: res, ExpiresAt: katNow})
	instant := f.mint(t, Claims{Type: ViewerInstantLink, Resources: res})
	meddream := f.mint(t, Claims{Type: MedDreamViewerPublication, Resources: res})
	tests := []struct{ name, body, want string }{
		{"valid", `{"token-key":"token","token-value":"` + stone + `"}`,
			`{"token-type":"stone-viewer-publication","error-code":null,"redirect-url":"https://pacs.example/orthanc/stone-webviewer/index.html?study=` + dA + `&selectedStudies=` + dA + `&token=` + stone + `","resources":[{"dicom-uid":"` + dA + `","orthanc-id":"` + oA + `","url":null,"level":"study"}]}`},
		{"expired", `{"token-value":"Bearer ` + expired + `"}`, `{"token-type":"stone-viewer-publication","error-code":"expired","redirect-url":null,"resources":[]}`},
		{"invalid", `{"token-value":"` + stone[:len(stone)-2] + `"}`, `{"token-type":null,"error-code":"invalid","redirect-url":null,"resources":[]}`},
		{"missing", `{}`, `{"token-type":null,"error-code":"invalid","redirect-url":null,"resources":[]}`},
		{"instant link", `{"token-value":"` + instant + `"}`, `{"token-type":"viewer-instant-link","error-code":"unknown","redirect-url":null,"resources":[]}`},
		{"meddream publication", `{"token-value":"` + meddream + `"}`,
			`{"token-type":"meddream-viewer-publication","error-code":null,"redirect-url":"https://pacs.example/meddream/?study=` + dA + `&token=md-token-42","resources":[{"dicom-uid":"` + dA + `","orthanc-id":"` + oA + `","url":null,"level":"study"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.post(t, "/tokens/decode", tt.body, nil)
			assert.Equal(t, 200, status)
			assert.Equal(t, tt.want, body)
		})
	}
}

func TestLanding(t *testing.T) {
	t.Parallel()
	md := newFakeMedDream(t)
	f := newFixture(t, func(c *Config) {
		c.Links.MedDreamRoot = "https://pacs.example/meddream/"
		c.MedDream = &MedDreamClient{TokenServiceURL: md.srv.URL}
		c.Pages = LandingPages{ExpiredTitle: "Lien expiré <b>"}
	})
	res := []Resource{{DicomUID: dA, OrthancID: oA}}
	stone := f.mint(t, Claims{Type: StoneViewerPublication, Resources: res})
	osimis := f.mint(t, Claims{Type: OsimisViewerPublication, Resources: res})
	expired := f.mint(t, Claims{Type: StoneViewerPublication, Resources: res, ExpiresAt: katNow})
	meddream := f.mint(t, Claims{Version: V2, Type: MedDreamViewerPublication, Resources: res})
	revoked := f.mint(t, Claims{Type: StoneViewerPublication, Resources: res})
	_, err := f.svc.Revoke(t.Context(), revoked)
	require.NoError(t, err)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		name, token string
		status      int
		location    string
		page        string
	}{
		{"stone", stone, 307, "https://pacs.example/orthanc/stone-webviewer/index.html?study=" + dA + "&selectedStudies=" + dA + "&token=" + stone, ""},
		{"osimis", osimis, 307, "https://pacs.example/orthanc/osimis-viewer/app/index.html?pickableStudyIds=" + oA + "&selectedStudyIds=" + oA + "&token=" + osimis, ""},
		{"meddream publication (v2: legacy link)", meddream, 307, "https://pacs.example/meddream/?token=md-token-42", ""},
		{"expired", expired, 410, "", "<h1>Lien expiré &lt;b&gt;</h1><p>Your token has expired.<br/>You should ask for a new one.</p>"},
		{"bad signature", stone[:len(stone)-3] + "abc", 403, "", "<h1>Invalid token</h1>"},
		{"revoked", revoked, 403, "", "<h1>Invalid token</h1>"},
		{"malformed", "hello", 400, "", "<h1>Invalid token</h1>"},
		{"missing", "", 400, "", "<h1>Invalid token</h1>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.Get(f.srv.URL + "/share-landing/?token=" + tt.token)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, tt.status, resp.StatusCode)
			require.Equal(t, tt.location, resp.Header.Get("Location"))
			assert.Contains(t, string(body), tt.page)
			assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		})
	}
	t.Run("MedDream down", func(t *testing.T) {
		md.fail.Store(true)
		defer md.fail.Store(false)
		resp, err := client.Get(f.srv.URL + "/share-landing/?token=" + meddream)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
		assert.NotContains(t, string(body), "Internal Server Error")
	})
}

func TestMedDreamClientRefusesNonTokens(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		status int
		body   string
	}{
		{"error status", 503, "busy"}, {"html", 200, "<html>oops</html>"}, {"empty", 200, "  \n"},
		{"spaces", 200, "two words"}, {"huge", 200, strings.Repeat("a", 5000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			_, err := (&MedDreamClient{TokenServiceURL: srv.URL}).Token(t.Context(), []string{"1.2"})
			require.Error(t, err)
			var re *RemoteError
			if !errors.As(err, &re) {
				assert.Contains(t, err.Error(), "exceeds")
			}
		})
	}
}

// TestLandingMedDreamWithoutRoot: when the MedDream link cannot be built
// (no MedDreamRoot), the landing page and the decode route report it
// instead of redirecting to an empty Location. The error of MedDreamURL
// used to be assigned to a shadowed variable and never checked.
func TestLandingMedDreamWithoutRoot(t *testing.T) {
	t.Parallel()
	md := newFakeMedDream(t)
	f := newFixture(t, func(c *Config) {
		c.MedDream = &MedDreamClient{TokenServiceURL: md.srv.URL}
	})
	tok := f.mint(t, Claims{Type: MedDreamViewerPublication, Resources: []Resource{{DicomUID: dA, OrthancID: oA}}})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(f.srv.URL + "/share-landing/?token=" + tok)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "page %s", body)
	assert.Empty(t, resp.Header.Get("Location"))
	assert.Contains(t, string(body), "<h1>Invalid token</h1>")
	assert.EqualValues(t, 1, md.calls.Load(), "the MedDream token was asked for before the link failed")

	status, got := f.post(t, "/tokens/decode", `{"token-value":"`+tok+`"}`, nil)
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"token-type":"meddream-viewer-publication","error-code":"unknown","redirect-url":null,"resources":[]}`, got)
}

// TestRemoteErrorShape: failures of Orthanc and MedDream come back as a
// *RemoteError with the SDK's common fields (Method, URL without
// credentials or query, StatusCode, a bounded and cleaned Body), and an
// answer that may be a token is never echoed.
func TestRemoteErrorShape(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/base/tools/lookup":
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "boom\n"+strings.Repeat("x", 2000))
		case "/base/studies/s1":
			io.WriteString(w, `{"ID":"s1"}`) // no StudyInstanceUID
		case "/md/busy":
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "busy: Bearer abc.def")
		case "/md/html":
			io.WriteString(w, "<html>secret-looking token</html>")
		}
	}))
	t.Cleanup(srv.Close)
	userURL := strings.Replace(srv.URL, "http://", "http://admin:pw@", 1)
	oc := &OrthancClient{URL: userURL + "/base"}

	_, err := oc.lookupStudy(t.Context(), "1.2.3")
	var re *RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "POST", re.Method)
	assert.Equal(t, srv.URL+"/base/tools/lookup", re.URL, "no user info in the URL")
	assert.Equal(t, http.StatusInternalServerError, re.StatusCode)
	assert.True(t, strings.HasPrefix(re.Body, "boom xxx"), re.Body)
	assert.LessOrEqual(t, len(re.Body), 512)
	assert.NotContains(t, err.Error(), "pw")
	assert.True(t, strings.HasPrefix(err.Error(), "share: POST "+srv.URL+"/base/tools/lookup: HTTP 500: boom"), err.Error())

	_, err = oc.studyInstanceUID(t.Context(), "s1")
	require.ErrorAs(t, err, &re)
	assert.Equal(t, RemoteError{Method: "GET", URL: srv.URL + "/base/studies/s1", StatusCode: 200, problem: "answer has no ID or StudyInstanceUID"}, *re)

	_, err = (&MedDreamClient{TokenServiceURL: srv.URL + "/md/busy?key=k"}).Token(t.Context(), []string{"1.2"})
	require.ErrorAs(t, err, &re)
	assert.Equal(t, RemoteError{Method: "POST", URL: srv.URL + "/md/busy", StatusCode: 503, Body: "busy: Bearer [redacted]"}, *re)

	_, err = (&MedDreamClient{TokenServiceURL: srv.URL + "/md/html"}).Token(t.Context(), []string{"1.2"})
	require.ErrorAs(t, err, &re)
	assert.Equal(t, RemoteError{Method: "POST", URL: srv.URL + "/md/html", StatusCode: 200, problem: "answer is not a token"}, *re)
	assert.NotContains(t, err.Error(), "secret-looking")
}
