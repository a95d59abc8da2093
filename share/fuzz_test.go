package share

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var sentinels = []error{ErrMalformed, ErrSignature, ErrExpired, ErrNotYetValid}

func isSentinel(err error) bool {
	return slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) })
}

// FuzzDecode feeds arbitrary strings to the token decoder: no panic, every
// error is one of the documented sentinels and never quotes the token.
func FuzzDecode(f *testing.F) {
	c := newTestCodec(f, fixedClock(katNow))
	tok, _, _ := c.Mint(Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1.2", OrthancID: "o"}}, ExpiresAt: katNow.Add(time.Hour)})
	for _, s := range []string{tok, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", tok + "x", strings.ToUpper(tok)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		_, err := c.Decode(token)
		if err == nil {
			return
		}
		require.True(t, isSentinel(err), "error %v wraps no sentinel", err)
		if len(token) > 12 {
			require.NotContains(t, err.Error(), token, "error quotes the token")
		}
	})
}

// FuzzDecodePayload signs arbitrary payloads, so that the payload parser
// runs (random tokens rarely pass the signature): no panic, and any payload
// it accepts survives a mint/decode round trip in the same layout.
func FuzzDecodePayload(f *testing.F) {
	for _, p := range []string{
		`{"id":"toto","dicom_uid":"1.2","orthanc_id":"x","type":"osimis-viewer-publication","expiration_date":"2099-07-07T11:00:00+00:00"}`,
		`{"id":null,"studies":[{"dicom_uid":"1","orthanc_id":null}],"anonymized":true,"type":"stone-viewer-publication","expiration_date":null}`,
		`{"id":"x","resources":[{"dicom-uid":"1","orthanc-id":"o","url":null,"level":"series"}],"type":"viewer-instant-link","expiration-date":"2099-01-01T10:00:00.123456","validity_duration":3600,"jti":"j","iat":1,"exp":4102444800.5,"nbf":0,"server_id":"s"}`,
		`{"resources":[],"type":"invalid"}`, `{}`, `[]`, `null`, `{"aud":null,"type":"stone-viewer-publication"}`,
		// Year 1 is Go's zero time, once read as "never expires".
		`{"dicom_uid":"1","type":"stone-viewer-publication","expiration_date":"0001-01-01T00:00:00+00:00"}`,
		`{"dicom_uid":"1","type":"stone-viewer-publication","exp":-62135596800}`,
	} {
		f.Add([]byte(p))
	}
	c := newTestCodec(f, fixedClock(katNow))
	f.Fuzz(func(t *testing.T, payload []byte) {
		cl, err := c.Decode(c.signPayload(payload))
		if err != nil {
			require.True(t, isSentinel(err), "error %v wraps no sentinel", err)
			return
		}
		if cl.Type == typeInvalid || len(cl.Resources) == 0 || slices.ContainsFunc(cl.Resources, func(r Resource) bool { return r.DicomUID == "" && r.OrthancID == "" || r.Level == LevelSystem }) {
			return // decodable but not something we would mint
		}
		if cl.Version == V0 && cl.Anonymized {
			return
		}
		cl.ValidityDuration = min(cl.ValidityDuration, maxValidityDuration)
		tok, minted, err := c.Mint(cl)
		if err != nil {
			if errors.Is(err, ErrInvalidShare) {
				return // e.g. text that is not valid UTF-8
			}
			require.NoError(t, err, "re-mint")
		}
		back, err := c.Decode(tok)
		require.NoError(t, err, "decoding our own token (payload %s)", payloadOf(t, tok))
		require.Equal(t, minted.Version, back.Version)
		require.Equal(t, minted.ID, back.ID)
		require.Equal(t, minted.Type, back.Type)
		require.Equal(t, minted.Anonymized, back.Anonymized)
		require.True(t, back.ExpiresAt.Equal(minted.ExpiresAt), "round trip ExpiresAt %v, want %v", back.ExpiresAt, minted.ExpiresAt)
		require.Equal(t, minted.Resources, back.Resources)
		require.Equal(t, minted.ServerID, back.ServerID)
	})
}

// FuzzValidateRequest sends arbitrary validation bodies and token headers
// to the service: never 5xx, always a decision body, and a grant only for a
// read (or study-level POST) of the shared study with the right server id.
func FuzzValidateRequest(f *testing.F) {
	clk := &clock{t: katNow}
	codec, _ := NewCodec(CodecConfig{Secret: []byte(testSecret), Now: clk.Now, Rand: &seqRand{}})
	svc, err := NewService(Config{Codec: codec, AllowAnonymous: true, ServerID: "srv"})
	if err != nil {
		f.Fatal(err)
	}
	tok, _, _ := codec.Mint(Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: dA, OrthancID: oA}}, ServerID: "srv", ExpiresAt: katNow.Add(time.Minute)})
	for _, a := range []access{
		studyGet(tok, dA, oA), {method: "delete", level: "study", dicomUID: dA, orthancID: oA, tokenValue: tok},
		{method: "get", level: "system", uri: "/patients", tokenValue: tok},
		{method: "post", level: "study", dicomUID: dA, orthancID: oA, tokenValue: tok}, // /modify, /merge, /anonymize
	} {
		a.server = str("srv")
		f.Add(a.body(plugin0114), "")
		f.Add(a.body(plugin041), tok)
	}
	f.Add([]byte(`{"method":"get","level":"study","dicom-uid":"`+dA+`","orthanc-id":"`+oA+`","identifier":"srv"}`), "Bearer "+tok)
	f.Add([]byte(`{`), tok)
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		req := httptest.NewRequest("POST", "/tokens/validate", bytes.NewReader(body))
		if header != "" {
			req.Header["Token"] = []string{header}
		}
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, req)
		out := rec.Body.String()
		require.Contains(t, []int{200, 400, 413}, rec.Code, "body %s", out)
		require.True(t, strings.HasPrefix(out, `{"granted":`), out)
		var d struct {
			Granted  bool
			Validity int
		}
		require.NoError(t, json.Unmarshal([]byte(out), &d), out)
		require.GreaterOrEqual(t, d.Validity, 0, out)
		require.LessOrEqual(t, d.Validity, 60, out)
		if !d.Granted {
			return
		}
		a, err := parseAccess(body)
		require.NoError(t, err, "granted an unparsable request")
		// Only GET, on the shared study, from the configured server (POST
		// is refused with the zero Config).
		require.Equal(t, "get", strings.ToLower(a.Method), "granted %+v", a)
		require.Equal(t, LevelStudy, a.Level, "granted %+v", a)
		require.Equal(t, dA, a.DicomUID, "granted %+v", a)
		require.Equal(t, oA, a.OrthancID, "granted %+v", a)
		require.Equal(t, "srv", a.ServerID, "granted %+v", a)
	})
}

// FuzzMintRequest sends arbitrary bodies to both mint routes: never 5xx,
// and every token handed out decodes to the ids it claims.
func FuzzMintRequest(f *testing.F) {
	codec, _ := NewCodec(CodecConfig{Secret: []byte(testSecret), Now: fixedClock(katNow), Rand: &seqRand{}})
	svc, err := NewService(Config{Codec: codec, AllowAnonymous: true, ServerID: "srv", AnonymizedServerID: "anon",
		Links: Links{OrthancRoot: "https://h/o/", AnonymizedOrthancRoot: "https://h/a/", OHIFRoot: "https://h/ohif/", LandingRoot: "https://h/l/"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("/shares", []byte(`{"id":"toto","studies":[{"dicom-uid":"1.2","orthanc-id":"o"}],"anonymized":false,"type":"stone-viewer-publication","expiration-date":"2026-12-31T11:00:00Z"}`))
	f.Add("/shares", []byte(`{"dicom_uid":"1.2","orthanc_id":"o","anonymized":true,"type":"osimis-viewer-publication"}`))
	f.Add("/tokens/ohif-viewer-publication", []byte(`{"resources":[{"dicom-uid":"1.2","level":"study"}],"validity-duration":60,"server-id":"x"}`))
	f.Add("/tokens/viewer-instant-link", []byte(`{"resources":[{"orthanc-id":"o","level":"instance","url":"u"}],"expiration-date":"2030-01-01T00:00:00+05:30","validity-duration":-1}`))
	// Year 1 is Go's zero time, once read as "never expires".
	f.Add("/tokens/stone-viewer-publication", []byte(`{"resources":[{"dicom-uid":"1.2"}],"expiration-date":"0001-01-01T00:00:00Z"}`))
	f.Add("/shares", []byte(`{"studies":[{"dicom-uid":"1.2"}],"type":"stone-viewer-publication","expiration_date":"0001-01-01T00:00:00"}`))
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		req := httptest.NewRequest(http.MethodPut, "/", bytes.NewReader(body))
		req.URL.Path = path // any string, as the router sees it
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, req)
		require.Less(t, rec.Code, 500, rec.Body.String())
		if rec.Code != 200 {
			return
		}
		var resp struct {
			Token string
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp), rec.Body.String())
		if _, err := codec.Decode(resp.Token); err != nil {
			require.ErrorIs(t, err, ErrExpired, "minted token does not decode")
		}
	})
}

// FuzzParsePyTime: no panic, and every accepted date formats and parses
// back to itself.
func FuzzParsePyTime(f *testing.F) {
	for _, s := range []string{"2022-07-07T11:00:00+00:00", "2023-03-01 10:00:00.5", "2023-03-01T10:00:00.123456789-0130", "2024-02-29T00:00Z", "9999-12-31T23:59:59+23:59", "0001-01-01T00:00:00-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parsePyTime(s)
		if err != nil {
			return
		}
		back, err := parsePyTime(formatPyTime(tm))
		require.NoError(t, err, "%q -> %v -> %q", s, tm, formatPyTime(tm))
		if !back.Equal(tm) {
			t.Fatalf("%q -> %v -> %q -> %v", s, tm, formatPyTime(tm), back)
		}
	})
}

// FuzzVerifyFastPath compares the fast path of Codec.verify (known HS256
// headers) with golang-jwt's full parser on the same token: both accept or
// both refuse, with the same payload.
func FuzzVerifyFastPath(f *testing.F) {
	c := newTestCodec(f, nil)
	tok, _, _ := c.Mint(Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1.2"}}})
	f.Add(tok)
	f.Add(knownHeaders[1] + tok[len(headerSegment):])
	f.Add(tok[:len(tok)-1] + "B")
	f.Add(tok + "=")
	f.Fuzz(func(t *testing.T, token string) {
		if h, _, _ := strings.Cut(token, "."); h != knownHeaders[0] && h != knownHeaders[1] {
			return
		}
		fastPayload, _, fastErr := c.verify(token)
		var raw rawPayload
		_, slowErr := c.parser.ParseWithClaims(token, &raw, c.keyFunc)
		require.Equal(t, fastErr == nil, slowErr == nil, "fast path err %v, golang-jwt err %v", fastErr, slowErr)
		if fastErr == nil {
			require.Equal(t, raw.b, fastPayload, "payloads differ")
		}
	})
}

// FuzzParseAccessFast checks that the fast reader of validation bodies,
// whenever it answers, gives exactly what encoding/json gives.
func FuzzParseAccessFast(f *testing.F) {
	tok := strings.Repeat("eyJhbGciOiJIUzI1NiJ9", 5)
	for _, a := range []access{
		studyGet(tok, dA, oA), {method: "delete", level: "study", dicomUID: dA, orthancID: oA, tokenValue: tok},
		{method: "get", level: "system", uri: "/patients"},
	} {
		a.server = str("srv")
		f.Add(a.body(plugin0114))
		f.Add(a.body(plugin041))
		a.server = nil
		f.Add(a.body(plugin0114))
	}
	for _, s := range []string{
		`{"labels":["a","b"],"method":"get","server-id":"","identifier":"x"}`, `{"Method":"get"}`, `{"method":"get","method":"post"}`,
		`{"method":null,"level":"study"}`, `{"method":"g\u0065t"}`, `{"method":"get"} x`, `{}`, ` { } `, `{"uri":true,"x":false}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := parseAccessFast(body)
		if !ok {
			return
		}
		slow, err := parseAccessJSON(body)
		require.NoError(t, err, "fast path accepted what encoding/json refuses: %q", body)
		require.Equal(t, slow, fast, "fast path and encoding/json for %q", body)
	})
}

// FuzzLandingAndDecode sends arbitrary tokens to the public landing page
// (query) and to the decode and revoke routes (body and token header):
// never 5xx; the landing page either redirects to the configured viewer or
// shows one of its fixed pages, so nothing of the input is reflected.
func FuzzLandingAndDecode(f *testing.F) {
	codec, _ := NewCodec(CodecConfig{Secret: []byte(testSecret), Now: fixedClock(katNow), Rand: &seqRand{}})
	svc, err := NewService(Config{Codec: codec, AllowAnonymous: true, Links: Links{OrthancRoot: "https://h/o/", OHIFRoot: "https://h/ohif/"}})
	if err != nil {
		f.Fatal(err)
	}
	res := []Resource{{DicomUID: dA, OrthancID: oA}}
	valid, _, _ := codec.Mint(Claims{Type: StoneViewerPublication, Resources: res})
	expired, _, _ := codec.Mint(Claims{Type: StoneViewerPublication, Resources: res, ExpiresAt: katNow})
	instant, _, _ := codec.Mint(Claims{Type: ViewerInstantLink, Resources: res})
	for _, s := range []string{valid, expired, instant, "Bearer " + valid, valid[:len(valid)-2], "<script>alert(1)</script>", "", "a.b.c"} {
		f.Add(s)
	}
	page := func(token string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, "/share-landing/?token="+url.QueryEscape(token), nil)
		rec := httptest.NewRecorder()
		svc.Landing().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	_, invalidPage := page("x")
	_, expiredPage := page(expired)
	f.Fuzz(func(t *testing.T, token string) {
		req := httptest.NewRequest(http.MethodGet, "/share-landing/", nil)
		req.URL.RawQuery = "token=" + url.QueryEscape(token)
		rec := httptest.NewRecorder()
		svc.Landing().ServeHTTP(rec, req)
		switch body := rec.Body.String(); rec.Code {
		case http.StatusTemporaryRedirect:
			if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "https://h/o/") && !strings.HasPrefix(loc, "https://h/ohif/") {
				t.Fatalf("redirect to %q", loc)
			}
		case http.StatusGone:
			if body != expiredPage {
				t.Fatalf("expired page %q", body)
			}
		case http.StatusBadRequest, http.StatusForbidden:
			if body != invalidPage {
				t.Fatalf("invalid page %q", body)
			}
		default:
			t.Fatalf("landing status %d: %s", rec.Code, body)
		}
		reqBody, _ := json.Marshal(map[string]string{"token-value": token})
		for _, path := range []string{"/tokens/decode", "/tokens/revoke"} {
			for _, header := range []bool{false, true} {
				req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(reqBody))
				if header && token != "" && !strings.ContainsAny(token, "\r\n\x00") {
					req.Header.Set("token", token)
				}
				rec := httptest.NewRecorder()
				svc.ServeHTTP(rec, req)
				if rec.Code >= 500 {
					t.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body)
				}
			}
		}
	})
}
