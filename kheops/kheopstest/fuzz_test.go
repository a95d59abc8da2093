package kheopstest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/reportprovider"
)

func FuzzReadHeader(f *testing.F) {
	f.Add(NewInstance(InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPInstanceUID: "1.2.3.1.1", PatientName: "A^B"}))
	seq := NewInstance(InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPInstanceUID: "1.2.3.1.1"})
	seq = append(seq, 0x08, 0x00, 0x40, 0x11, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
		0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0)
	f.Add(seq)
	f.Add(make([]byte, 132))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readHeader(data)
		if err != nil {
			return
		}
		for tag, e := range h.elems {
			require.Falsef(t, len(e.value) > maxKeptValue, "tag %08X kept %d bytes", tag, len(e.value))
			_, _ = jsonAttribute(e)
		}
		if _, err := json.Marshal(h.dicomJSON()); err != nil {
			t.Fatalf("unmarshalable DICOM JSON: %v", err)
		}
	})
}

// FuzzConfigurationAgreement checks the promise of
// reportprovider.Configuration.Validate: a configuration it accepts is,
// once published by reportprovider.New (which fills in the code flow's auth
// method and algorithm), one KHEOPS (as this fake models it) accepts too.
func FuzzConfigurationAgreement(f *testing.F) {
	f.Add([]byte(`{"redirect_uri":"https://rp.example/r","response_type":"code","token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_signing_alg":"RS256","jwks_uri":"https://rp.example/k"}`), "https://rp.example/c")
	f.Add([]byte(`{"redirect_uri":"https://rp.example/r","response_type":"code","jwks_uri":"https://rp.example/k"}`), "https://rp.example/c")
	f.Add([]byte(`{"redirect_uri":"https://rp.example/r|x","response_type":"token"}`), "https://rp.example/c")
	f.Add([]byte(`{"redirect_uri":"https://rp.example/r","response_type":"token","Redirect_URI":"x"}`), "https://rp.example/c")
	f.Fuzz(func(t *testing.T, data []byte, confURL string) {
		var rc reportprovider.Configuration
		if json.Unmarshal(data, &rc) != nil {
			return
		}
		if err := rc.Validate(confURL); err != nil {
			require.ErrorIsf(t, err, reportprovider.ErrInvalidConfiguration, "unexpected error type %v", err)
			return
		}
		if rc.ResponseType == reportprovider.ResponseTypeCode {
			rc.TokenEndpointAuthMethod, rc.TokenEndpointAuthSigningAlg = "private_key_jwt", "RS256"
		}
		published, err := json.Marshal(rc)
		require.NoError(t, err)
		var c providerConfig
		if err := json.Unmarshal(published, &c); err != nil {
			t.Fatalf("accepted by reportprovider, not JSON for KHEOPS: %v", err)
		}
		if err := c.validate(confURL, false); err != nil {
			t.Fatalf("accepted by reportprovider, refused by KHEOPS: %v", err)
		}
	})
}

// FuzzAuthorization: the Authorization header parser never panics, never
// yields an empty token, and reads back the password of any Basic value
// of two parts.
func FuzzAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc ", "Basic " + base64.StdEncoding.EncodeToString([]byte("u:tok")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("a:b:c")), "Basic !!", "Digest x", "", "Bearer"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", h)
		tok, ok := rawToken(r)
		if ok && tok == "" {
			t.Fatalf("%q gave an empty token", h)
		}
		if !strings.Contains(h, ":") && !strings.ContainsAny(h, "\r\n") && h != "" {
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("user:"+h)))
			got, ok := rawToken(r)
			require.True(t, ok)
			require.Equal(t, h, got)
		}
	})
}

// FuzzLinkPath: a link path splits into a token without '/' and the
// path it stands for, which rebuilds the input.
func FuzzLinkPath(f *testing.F) {
	for _, s := range []string{"/api/link/abc/studies", "/api/link//studies", "/api/link/abc", "/api/studies", "/api/link/a/b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tok, rest, ok := linkPath(p)
		if !ok {
			return
		}
		require.NotEmpty(t, tok)
		require.NotContains(t, tok, "/")
		require.Equal(t, p, "/api/link/"+tok+"/"+strings.TrimPrefix(rest, "/api/"))
	})
}

// FuzzParseOffsetTime: a parsed capability time is in UTC and, within
// years 0 to 9999 (an offset can push 9999-12-31 past them), survives a
// round trip through RFC 3339.
func FuzzParseOffsetTime(f *testing.F) {
	for _, s := range []string{"2099-12-31T23:59+01:00", "2025-01-02T10:11:12Z", "2025-01-02T10:11:12.5-05:30", "2025-01-02T10:11:12", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, ok := parseOffsetTime(s)
		if !ok {
			return
		}
		require.Equal(t, time.UTC, tm.Location())
		if tm.Year() < 0 || tm.Year() > 9999 {
			return
		}
		back, ok := parseOffsetTime(tm.Format(time.RFC3339Nano))
		require.True(t, ok)
		require.True(t, tm.Equal(back))
	})
}

// FuzzLenientBase64: JWKS numbers decode the same in all four Base64
// spellings.
func FuzzLenientBase64(f *testing.F) {
	f.Add([]byte{0x01, 0x00, 0x01})
	f.Add([]byte{0xfb, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			got, err := lenientBase64(enc.EncodeToString(b))
			require.NoError(t, err)
			require.Equal(t, len(b), len(got))
			require.True(t, bytes.Equal(b, got))
		}
		_, _ = lenientBase64(string(b))
	})
}
