package share

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSecret is 48 bytes, shared with testdata/interop/make_fixtures.py.
const testSecret = "interop-secret-0123456789-abcdefghijklmnopqrstuvw"

var katNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// zeroRand gives all-zero token ids: jti "AAAAAAAAAAAAAAAAAAAAAA".
type zeroRand struct{}

func (zeroRand) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func newTestCodec(t testing.TB, now func() time.Time) *Codec {
	t.Helper()
	c, err := NewCodec(CodecConfig{Secret: []byte(testSecret), Now: now, Rand: zeroRand{}})
	require.NoError(t, err)
	return c
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func payloadOf(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	return string(b)
}

// TestMintKnownAnswers checks minted tokens byte for byte. The expected
// tokens were produced by PyJWT 2.6.0 (jwt.encode of the same ordered
// payload with testSecret), so they also pin Python-compatible JSON:
// field order, nulls, ensure_ascii escapes, no HTML escaping, isoformat.
func TestMintKnownAnswers(t *testing.T) {
	t.Parallel()
	c := newTestCodec(t, fixedClock(katNow))
	feb := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		claims      Claims
		payload     string
		pyjwtToken  string
		wantExpires time.Time
	}{
		{
			name:        "v0",
			claims:      Claims{Version: V0, ID: "kat", Type: OsimisViewerPublication, Resources: []Resource{{DicomUID: "1.2.3", OrthancID: "o-1"}}, ExpiresAt: feb},
			payload:     `{"id":"kat","dicom_uid":"1.2.3","orthanc_id":"o-1","type":"osimis-viewer-publication","expiration_date":"2026-02-01T00:00:00+00:00","iat":1767323045,"exp":1769904000,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}`,
			pyjwtToken:  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6ImthdCIsImRpY29tX3VpZCI6IjEuMi4zIiwib3J0aGFuY19pZCI6Im8tMSIsInR5cGUiOiJvc2ltaXMtdmlld2VyLXB1YmxpY2F0aW9uIiwiZXhwaXJhdGlvbl9kYXRlIjoiMjAyNi0wMi0wMVQwMDowMDowMCswMDowMCIsImlhdCI6MTc2NzMyMzA0NSwiZXhwIjoxNzY5OTA0MDAwLCJqdGkiOiJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIn0.3j_RjhwSWJA4VvgnvQxBbsxITPyYTRETfeJFCivwNi0",
			wantExpires: feb,
		},
		{
			name:       "v1 anonymized bound",
			claims:     Claims{Version: V1, ID: "kat", Type: OsimisViewerPublication, Anonymized: true, ServerID: "anon", Resources: []Resource{{DicomUID: "1.2.3", OrthancID: "o-1"}}},
			payload:    `{"id":"kat","dicom_uid":"1.2.3","orthanc_id":"o-1","anonymized":true,"type":"osimis-viewer-publication","expiration_date":null,"server_id":"anon","iat":1767323045,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}`,
			pyjwtToken: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6ImthdCIsImRpY29tX3VpZCI6IjEuMi4zIiwib3J0aGFuY19pZCI6Im8tMSIsImFub255bWl6ZWQiOnRydWUsInR5cGUiOiJvc2ltaXMtdmlld2VyLXB1YmxpY2F0aW9uIiwiZXhwaXJhdGlvbl9kYXRlIjpudWxsLCJzZXJ2ZXJfaWQiOiJhbm9uIiwiaWF0IjoxNzY3MzIzMDQ1LCJqdGkiOiJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIn0.4tU7L467G2yGCqRRmLI8WXc1v4GUYR3kkqbaUF1eBKg",
		},
		{
			name:        "v2 fraction rounds exp up",
			claims:      Claims{Version: V2, Type: StoneViewerPublication, ServerID: "srv", Resources: []Resource{{DicomUID: "1.2.3", OrthancID: "o-1"}, {DicomUID: "4.5"}}, ExpiresAt: feb.Add(250 * time.Millisecond)},
			payload:     `{"id":null,"studies":[{"dicom_uid":"1.2.3","orthanc_id":"o-1"},{"dicom_uid":"4.5","orthanc_id":null}],"anonymized":false,"type":"stone-viewer-publication","expiration_date":"2026-02-01T00:00:00.250000+00:00","server_id":"srv","iat":1767323045,"exp":1769904001,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}`,
			pyjwtToken:  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6bnVsbCwic3R1ZGllcyI6W3siZGljb21fdWlkIjoiMS4yLjMiLCJvcnRoYW5jX2lkIjoiby0xIn0seyJkaWNvbV91aWQiOiI0LjUiLCJvcnRoYW5jX2lkIjpudWxsfV0sImFub255bWl6ZWQiOmZhbHNlLCJ0eXBlIjoic3RvbmUtdmlld2VyLXB1YmxpY2F0aW9uIiwiZXhwaXJhdGlvbl9kYXRlIjoiMjAyNi0wMi0wMVQwMDowMDowMC4yNTAwMDArMDA6MDAiLCJzZXJ2ZXJfaWQiOiJzcnYiLCJpYXQiOjE3NjczMjMwNDUsImV4cCI6MTc2OTkwNDAwMSwianRpIjoiQUFBQUFBQUFBQUFBQUFBQUFBQUFBQSJ9.RzeUTPvrOrnrzGwtbkQDRcGyQuccE5CDVuM7hedHTxA",
			wantExpires: feb.Add(250 * time.Millisecond),
		},
		{
			name:        "v3 (Latest) validity duration and ensure_ascii",
			claims:      Claims{ID: "Étude 😀 <&>\n", Type: ViewerInstantLink, Resources: []Resource{{DicomUID: "1.2.3", OrthancID: "o-1"}}, ValidityDuration: 3600},
			payload:     `{"id":"\u00c9tude \ud83d\ude00 <&>\n","resources":[{"dicom_uid":"1.2.3","orthanc_id":"o-1","url":null,"level":"study"}],"type":"viewer-instant-link","expiration_date":"2026-01-02T04:04:05+00:00","validity_duration":3600,"iat":1767323045,"exp":1767326645,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}`,
			pyjwtToken:  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6Ilx1MDBjOXR1ZGUgXHVkODNkXHVkZTAwIDwmPlxuIiwicmVzb3VyY2VzIjpbeyJkaWNvbV91aWQiOiIxLjIuMyIsIm9ydGhhbmNfaWQiOiJvLTEiLCJ1cmwiOm51bGwsImxldmVsIjoic3R1ZHkifV0sInR5cGUiOiJ2aWV3ZXItaW5zdGFudC1saW5rIiwiZXhwaXJhdGlvbl9kYXRlIjoiMjAyNi0wMS0wMlQwNDowNDowNSswMDowMCIsInZhbGlkaXR5X2R1cmF0aW9uIjozNjAwLCJpYXQiOjE3NjczMjMwNDUsImV4cCI6MTc2NzMyNjY0NSwianRpIjoiQUFBQUFBQUFBQUFBQUFBQUFBQUFBQSJ9.4A8iN8UeNJTpD8T0VQujmDvgUXyPzQfQlzJojSwlyz4",
			wantExpires: katNow.Add(time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, minted, err := c.Mint(tt.claims)
			require.NoError(t, err)
			assert.Equal(t, tt.payload, payloadOf(t, tok), "payload")
			assert.Equal(t, tt.pyjwtToken, tok, "token differs from PyJWT's")
			assert.True(t, minted.ExpiresAt.Equal(tt.wantExpires), "ExpiresAt = %v, want %v", minted.ExpiresAt, tt.wantExpires)
			assert.Equal(t, "AAAAAAAAAAAAAAAAAAAAAA", minted.TokenID)
			assert.Equal(t, minted.TokenID, minted.RevocationID())
			assert.True(t, minted.IssuedAt.Equal(katNow), "IssuedAt %v", minted.IssuedAt)
			back, err := c.Decode(tok)
			require.NoError(t, err, "Decode(own token)")
			assert.Equal(t, tt.claims.Version.resolve(), back.Version)
			assert.Equal(t, tt.claims.Type, back.Type)
			assert.Equal(t, tt.claims.ServerID, back.ServerID)
			assert.Equal(t, tt.claims.ID, back.ID)
			assert.Equal(t, tt.claims.Anonymized, back.Anonymized)
			assert.True(t, back.ExpiresAt.Equal(minted.ExpiresAt), "round trip ExpiresAt %v, want %v", back.ExpiresAt, minted.ExpiresAt)
			assert.Len(t, back.Resources, len(tt.claims.Resources))
		})
	}
}

func TestMintUniqueTokenIDs(t *testing.T) {
	t.Parallel()
	c, err := NewCodec(CodecConfig{Secret: []byte(testSecret)})
	require.NoError(t, err)
	seen := map[string]bool{}
	for range 1000 {
		_, cl, err := c.Mint(Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1.2"}}})
		require.NoError(t, err)
		require.False(t, seen[cl.TokenID], "token id %q repeated", cl.TokenID)
		require.Len(t, cl.TokenID, 22, "not 128 bits")
		seen[cl.TokenID] = true
	}
}

func TestNewCodecSecrets(t *testing.T) {
	t.Parallel()
	long := []byte(testSecret)
	tests := []struct {
		name string
		cfg  CodecConfig
		ok   bool
	}{
		{"32 bytes", CodecConfig{Secret: long[:32]}, true},
		{"31 bytes", CodecConfig{Secret: long[:31]}, false},
		{"empty", CodecConfig{}, false},
		{"demo key", CodecConfig{Secret: []byte("change-me-I-am-a-secret-key")}, false},
		{"short previous refused", CodecConfig{Secret: long, PreviousSecrets: [][]byte{[]byte("toto")}}, false},
		{"short previous allowed", CodecConfig{Secret: long, PreviousSecrets: [][]byte{[]byte("toto")}, AllowShortPreviousSecrets: true}, true},
		{"empty previous refused", CodecConfig{Secret: long, PreviousSecrets: [][]byte{{}}, AllowShortPreviousSecrets: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewCodec(tt.cfg)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrWeakSecret)
			for _, k := range append(tt.cfg.PreviousSecrets, tt.cfg.Secret) {
				if len(k) > 0 {
					assert.NotContains(t, err.Error(), string(k), "error reveals a secret")
				}
			}
		})
	}
}

func TestMintRefusesInvalidShares(t *testing.T) {
	t.Parallel()
	c := newTestCodec(t, fixedClock(katNow))
	study := []Resource{{DicomUID: "1.2"}}
	tests := []struct {
		name string
		cl   Claims
	}{
		{"no resources", Claims{Type: StoneViewerPublication}},
		{"resource without ids", Claims{Type: StoneViewerPublication, Resources: []Resource{{URL: "x"}}}},
		{"unknown type", Claims{Type: "admin", Resources: study}},
		{"invalid type", Claims{Type: typeInvalid, Resources: study}},
		{"v3 type in v2", Claims{Version: V2, Type: OHIFViewerPublication, Resources: study}},
		{"two studies in v1", Claims{Version: V1, Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1"}, {DicomUID: "2"}}}},
		{"anonymized v0", Claims{Version: V0, Type: OsimisViewerPublication, Anonymized: true, Resources: study}},
		{"series in v2", Claims{Version: V2, Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1", Level: LevelSeries}}}},
		{"system level", Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1", Level: LevelSystem}}}},
		{"bogus level", Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1", Level: "galaxy"}}}},
		{"negative duration", Claims{Type: StoneViewerPublication, Resources: study, ValidityDuration: -1}},
		{"huge duration", Claims{Type: StoneViewerPublication, Resources: study, ValidityDuration: 1 << 30}},
		{"bad UTF-8", Claims{Type: StoneViewerPublication, Resources: study, ID: "\xff"}},
		{"unknown version", Claims{Version: 9, Type: StoneViewerPublication, Resources: study}},
		// Found by FuzzMintRequest: a negative exp our decoder refused.
		{"expiry before 1970", Claims{Type: StoneViewerPublication, Resources: study, ExpiresAt: time.Date(10, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"expiry after 9999", Claims{Type: StoneViewerPublication, Resources: study, ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := c.Mint(tt.cl)
			assert.ErrorIs(t, err, ErrInvalidShare)
		})
	}
}

// signRaw signs an arbitrary payload with testSecret, for decoder tests.
func signRaw(t testing.TB, payload string) string {
	t.Helper()
	c := newTestCodec(t, nil)
	return c.signPayload([]byte(payload))
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	c := newTestCodec(t, fixedClock(katNow))
	good := signRaw(t, `{"id":null,"resources":[{"dicom_uid":"1","orthanc_id":null,"url":null,"level":"study"}],"type":"stone-viewer-publication","expiration_date":null}`)
	parts := strings.Split(good, ".")
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrMalformed},
		{"garbage", "not a jwt", ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"bad base64 payload", parts[0] + ".!!!." + parts[2], ErrMalformed},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"id":"x"}`)) + "." + parts[2], ErrSignature},
		{"tampered signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", 43), ErrSignature},
		{"too long", strings.Repeat("a", maxTokenLen+1), ErrMalformed},
		{"payload not an object", signRaw(t, `[1,2]`), ErrMalformed},
		{"no type in v2", signRaw(t, `{"studies":[{"dicom_uid":"1"}]}`), ErrMalformed},
		{"both layouts", signRaw(t, `{"studies":[],"resources":[],"type":"stone-viewer-publication"}`), ErrMalformed},
		{"alias conflict", signRaw(t, `{"dicom_uid":"1","dicom-uid":"2","type":"stone-viewer-publication"}`), ErrMalformed},
		{"id not a string", signRaw(t, `{"dicom_uid":1,"type":"stone-viewer-publication"}`), ErrMalformed},
		{"bad date", signRaw(t, `{"dicom_uid":"1","type":"stone-viewer-publication","expiration_date":"tomorrow"}`), ErrMalformed},
		{"bad level", signRaw(t, `{"resources":[{"dicom_uid":"1","level":"galaxy"}],"type":"stone-viewer-publication"}`), ErrMalformed},
		{"exp not a number", signRaw(t, `{"dicom_uid":"1","type":"stone-viewer-publication","exp":"soon"}`), ErrMalformed},
		{"aud", signRaw(t, `{"dicom_uid":"1","type":"stone-viewer-publication","aud":"x"}`), ErrMalformed},
		{"expired date", signRaw(t, `{"dicom_uid":"1","type":"stone-viewer-publication","expiration_date":"2026-01-02T03:04:05+00:00"}`), ErrExpired},
		{"expired exp", signRaw(t, `{"dicom_uid":"1","type":"stone-viewer-publication","exp":1767323045}`), ErrExpired},
		{"nbf in future", signRaw(t, `{"dicom_uid":"1","type":"stone-viewer-publication","nbf":1767323046}`), ErrNotYetValid},
		{"valid", good, nil},
		{"valid until one second later", signRaw(t, `{"dicom_uid":"1","type":"stone-viewer-publication","expiration_date":"2026-01-02T03:04:06Z"}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Decode(tt.token)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			if tt.token != "" {
				assert.NotContains(t, err.Error(), tt.token, "error reveals the token")
			}
		})
	}
}

func TestDecodeVerifiesPreviousSecrets(t *testing.T) {
	t.Parallel()
	old := newTestCodec(t, nil)
	tok, _, err := old.Mint(Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1.2"}}})
	require.NoError(t, err)
	newSecret := bytes.Repeat([]byte("n"), 32)
	rotated, err := NewCodec(CodecConfig{Secret: newSecret, PreviousSecrets: [][]byte{[]byte(testSecret)}})
	require.NoError(t, err)
	_, err = rotated.Decode(tok)
	assert.NoError(t, err, "token of the previous secret")
	only, _ := NewCodec(CodecConfig{Secret: newSecret})
	_, err = only.Decode(tok)
	assert.ErrorIs(t, err, ErrSignature, "without the previous secret")
}

// The seed's sample tokens (orthanc-share README, July 2022) verify with the
// demo secret "toto" (docs/orthanc.md, "Token layouts").
func TestSeedTokensDecodeWithToto(t *testing.T) {
	t.Parallel()
	const (
		readme    = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6InRvdG8iLCJkaWNvbV91aWQiOiIxLjIiLCJvcnRoYW5jX2lkIjoiMDE5NWYxM2UtNGFmZTY4MjItOGI0OTRjYzQtNTE2MmM1MGQtMGRhZjY2YWEiLCJ0eXBlIjoib3NpbWlzLXZpZXdlci1wdWJsaWNhdGlvbiIsImV4cGlyYXRpb25fZGF0ZSI6IjIwMjItMDctMDdUMTE6MDA6MDArMDA6MDAifQ.8mzvYXCrjhM8OWPhu5HQJbEtCO9y6XyFqV-Ak1n-9Tw"
		validator = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6InRvdG8iLCJkaWNvbV91aWQiOiIxLjIiLCJvcnRoYW5jX2lkIjoiMDE5NWYxM2UtNGFmZTY4MjItOGI0OTRjYzQtNTE2MmM1MGQtMGRhZjY2YWEiLCJhbm9ueW1pemVkIjp0cnVlLCJ0eXBlIjoib3NpbWlzLXZpZXdlci1wdWJsaWNhdGlvbiIsImV4cGlyYXRpb25fZGF0ZSI6IjIwMjItMTItMzFUMTE6MDA6MDArMDA6MDAifQ.vQPmlhoVQHUlbXg-JGenBIGQbNU0DhWXJPMdCMzBTFg"
	)
	before := time.Date(2022, 7, 1, 0, 0, 0, 0, time.UTC)
	c, err := NewCodec(CodecConfig{Secret: []byte(testSecret), PreviousSecrets: [][]byte{[]byte("toto")}, AllowShortPreviousSecrets: true, Now: fixedClock(before)})
	require.NoError(t, err)
	study := Resource{DicomUID: "1.2", OrthancID: "0195f13e-4afe6822-8b494cc4-5162c50d-0daf66aa", Level: LevelStudy}
	tests := []struct {
		name       string
		token      string
		version    Version
		anonymized bool
		expires    time.Time
	}{
		{"README token (v0)", readme, V0, false, time.Date(2022, 7, 7, 11, 0, 0, 0, time.UTC)},
		{"validate example (v1, anonymized)", validator, V1, true, time.Date(2022, 12, 31, 11, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cl, err := c.Decode(tt.token)
			require.NoError(t, err)
			assert.Equal(t, tt.version, cl.Version)
			assert.Equal(t, "toto", cl.ID)
			assert.Equal(t, OsimisViewerPublication, cl.Type)
			assert.Equal(t, tt.anonymized, cl.Anonymized)
			assert.True(t, cl.ExpiresAt.Equal(tt.expires), "ExpiresAt %v", cl.ExpiresAt)
			assert.Equal(t, []Resource{study}, cl.Resources)
			assert.True(t, strings.HasPrefix(cl.RevocationID(), "sig:"), "RevocationID = %q, want a signature digest", cl.RevocationID())
			// Today it is long expired.
			now, _ := NewCodec(CodecConfig{Secret: []byte(testSecret), PreviousSecrets: [][]byte{[]byte("toto")}, AllowShortPreviousSecrets: true})
			_, err = now.Decode(tt.token)
			assert.ErrorIs(t, err, ErrExpired, "today")
		})
	}
}

func TestPyTime(t *testing.T) {
	t.Parallel()
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	parse := []struct {
		in   string
		want time.Time // zero: error
	}{
		{"2022-07-07T11:00:00+00:00", utc(2022, 7, 7, 11, 0, 0, 0)},
		{"2022-12-31T11:00:00Z", utc(2022, 12, 31, 11, 0, 0, 0)},
		{"2023-03-01T10:00:00.000Z", utc(2023, 3, 1, 10, 0, 0, 0)},
		{"2023-03-01T10:00:00.123456789Z", utc(2023, 3, 1, 10, 0, 0, 123456000)},
		{"2023-03-01 10:00:00.5", utc(2023, 3, 1, 10, 0, 0, 500000000)},
		{"2023-03-01T10:00", utc(2023, 3, 1, 10, 0, 0, 0)},
		{"2023-3-1T1:2:3", utc(2023, 3, 1, 1, 2, 3, 0)},
		{"2023-03-01T10:00:00+02:00", utc(2023, 3, 1, 8, 0, 0, 0)},
		{"2023-03-01T10:00:00-0130", utc(2023, 3, 1, 11, 30, 0, 0)},
		{"2023-03-01T10:00:00+05", utc(2023, 3, 1, 5, 0, 0, 0)},
		{"2024-02-29T00:00:00Z", utc(2024, 2, 29, 0, 0, 0, 0)},
		{"2023-02-29T00:00:00Z", time.Time{}},
		{"2023-13-01T00:00:00Z", time.Time{}},
		{"2023-01-01T24:00:00Z", time.Time{}},
		{"2023-01-01T10:00:00+24:00", time.Time{}},
		{"2023-01-01", time.Time{}},
		{"2023-01-01T10:00:00Zjunk", time.Time{}},
		{"2023-01-01T10:00:00.Z", time.Time{}},
		{"1672567200", time.Time{}},
		{"0001-01-01T00:00:00+01:00", time.Time{}}, // year 0 in UTC
		{"9999-12-31T23:59:59-00:01", time.Time{}}, // year 10000 in UTC
		{"9999-12-31T23:59:59+23:59", utc(9999, 12, 31, 0, 0, 59, 0)},
		{"", time.Time{}},
	}
	for _, tt := range parse {
		got, err := parsePyTime(tt.in)
		if tt.want.IsZero() {
			assert.Error(t, err, "parsePyTime(%q) = %v", tt.in, got)
			continue
		}
		if assert.NoError(t, err, "parsePyTime(%q)", tt.in) {
			assert.True(t, got.Equal(tt.want), "parsePyTime(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	format := map[time.Time]string{
		utc(2022, 7, 7, 11, 0, 0, 0):                                     "2022-07-07T11:00:00+00:00",
		utc(2022, 7, 7, 11, 0, 0, 1000):                                  "2022-07-07T11:00:00.000001+00:00",
		utc(2022, 7, 7, 11, 0, 0, 120000000):                             "2022-07-07T11:00:00.120000+00:00",
		utc(2022, 7, 7, 11, 0, 0, 999):                                   "2022-07-07T11:00:00+00:00",
		time.Date(2022, 7, 7, 13, 0, 0, 0, time.FixedZone("CEST", 7200)): "2022-07-07T11:00:00+00:00",
	}
	for in, want := range format {
		assert.Equal(t, want, formatPyTime(in), "formatPyTime(%v)", in)
	}
}

func TestStripBearer(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc": "abc", "BEARER abc": "abc", "abc": "abc",
		"Bearerabc": "Bearerabc", "Bearer ": "", "": "", "Basic abc": "Basic abc",
	} {
		assert.Equal(t, want, stripBearer(in), "stripBearer(%q)", in)
	}
}

func TestDecodeCache(t *testing.T) {
	t.Parallel()
	clk := &clock{t: katNow}
	c, err := NewCodec(CodecConfig{Secret: []byte(testSecret), Now: clk.Now})
	require.NoError(t, err)
	c.cacheMax = 8
	tok, _, _ := c.Mint(Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1.2"}}, ExpiresAt: katNow.Add(time.Minute)})
	first, err := c.Decode(tok)
	require.NoError(t, err)
	_, ok := c.cache.Load(tok)
	require.True(t, ok, "verified token not cached")
	first.Resources[0].DicomUID = "changed by the caller"
	again, _ := c.Decode(tok)
	require.Equal(t, "1.2", again.Resources[0].DicomUID, "a caller's change reached the cache")
	// Expiry is checked on every call, cached or not.
	clk.Advance(time.Minute)
	_, err = c.Decode(tok)
	require.ErrorIs(t, err, ErrExpired, "cached token after expiry")
	// Bounded.
	for range 100 {
		tk, _, _ := c.Mint(Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1.2"}}})
		_, err := c.Decode(tk)
		require.NoError(t, err)
	}
	n := 0
	c.cache.Range(func(any, any) bool { n++; return true })
	assert.LessOrEqual(t, n, 8, "cached tokens")
	// Failures are never cached; the cache can be disabled.
	_, err = c.Decode(tok[:len(tok)-43] + strings.Repeat("A", 43))
	require.ErrorIs(t, err, ErrSignature)
	off, _ := NewCodec(CodecConfig{Secret: []byte(testSecret)})
	off.cacheMax = -1
	tok2, _, _ := off.Mint(Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1.2"}}})
	off.Decode(tok2)
	_, ok = off.cache.Load(tok2)
	assert.False(t, ok, "cache used although disabled")
}
