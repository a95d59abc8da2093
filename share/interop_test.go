package share

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type pyFixture struct {
	Name   string          `json:"name"`
	Secret string          `json:"secret"`
	Token  string          `json:"token"`
	Error  string          `json:"error"`
	Want   *pyFixtureClaim `json:"want"`
}

type pyFixtureClaim struct {
	Version          string `json:"version"`
	ID               string `json:"id"`
	Type             Type   `json:"type"`
	Anonymized       bool   `json:"anonymized"`
	Expires          string `json:"expires"`
	ValidityDuration int    `json:"validity_duration"`
	Resources        []struct {
		DicomUID  string  `json:"dicom_uid"`
		OrthancID string  `json:"orthanc_id"`
		Level     Level   `json:"level"`
		URL       *string `json:"url"`
	} `json:"resources"`
}

// TestPyJWTFixtures decodes tokens that PyJWT signed in every layout with
// the demo secrets of the Python projects (testdata/interop, made by
// make_fixtures.py), and refuses the bad ones for the right reason.
func TestPyJWTFixtures(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "interop", "pyjwt_fixtures.json"))
	require.NoError(t, err)
	var file struct {
		Fixtures []pyFixture `json:"fixtures"`
	}
	require.NoError(t, json.Unmarshal(data, &file))
	require.GreaterOrEqual(t, len(file.Fixtures), 15, "fixtures")
	now := fixedClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, fx := range file.Fixtures {
		t.Run(fx.Name, func(t *testing.T) {
			t.Parallel()
			c, err := NewCodec(CodecConfig{
				Secret:          []byte(testSecret + "-current"),
				PreviousSecrets: [][]byte{[]byte(fx.Secret)}, AllowShortPreviousSecrets: true, Now: now,
			})
			require.NoError(t, err)
			cl, err := c.Decode(fx.Token)
			want := map[string]error{"": nil, "signature": ErrSignature, "malformed": ErrMalformed, "expired": ErrExpired}[fx.Error]
			if want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, want)
			}
			if fx.Want == nil {
				return
			}
			w := fx.Want
			assert.Equal(t, w.Version, cl.Version.String())
			assert.Equal(t, w.ID, cl.ID)
			assert.Equal(t, w.Type, cl.Type)
			assert.Equal(t, w.Anonymized, cl.Anonymized)
			assert.Equal(t, w.ValidityDuration, cl.ValidityDuration)
			if w.Expires == "" {
				assert.True(t, cl.ExpiresAt.IsZero(), "ExpiresAt = %v, want none", cl.ExpiresAt)
			} else {
				exp, _ := time.Parse(time.RFC3339Nano, w.Expires)
				assert.True(t, cl.ExpiresAt.Equal(exp), "ExpiresAt = %v, want %v", cl.ExpiresAt, exp)
			}
			require.Len(t, cl.Resources, len(w.Resources))
			for i, r := range w.Resources {
				url := ""
				if r.URL != nil {
					url = *r.URL
				}
				assert.Equal(t, Resource{r.DicomUID, r.OrthancID, url, r.Level}, cl.Resources[i], "resource %d", i)
			}
		})
	}
}

// TestPyJWTVerifiesOurTokens has Debian's PyJWT 2.6.0 verify tokens minted
// here in every layout, with the services' own call (jwt.decode with
// algorithms="HS256", which also checks our exp and iat claims), and
// re-encode the same payload: the result must be byte-identical.
func TestPyJWTVerifiesOurTokens(t *testing.T) {
	t.Parallel()
	py := testenv.DebianPython(t, "jwt")
	c := newTestCodec(t, nil) // real clock: PyJWT checks exp against now
	in := time.Now().Add(48 * time.Hour)
	cases := []Claims{
		{Version: V0, ID: "v0", Type: OsimisViewerPublication, Resources: []Resource{{DicomUID: "1.2", OrthancID: "o"}}, ExpiresAt: in},
		{Version: V1, Type: OsimisViewerPublication, Anonymized: true, ServerID: "anon", Resources: []Resource{{OrthancID: "o"}}},
		{Version: V2, ID: "v2 <&> é", Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1.2"}, {DicomUID: "1.3", OrthancID: "o3"}}, ExpiresAt: in.Add(123456 * time.Microsecond)},
		{Version: V3, ID: "v3 😀", Type: OHIFViewerPublication, ServerID: "srv", Resources: []Resource{{DicomUID: "1.2", OrthancID: "o", URL: "https://x/", Level: LevelSeries}}, ValidityDuration: 600},
		{Version: V3, Type: MedDreamViewerPublication, Resources: []Resource{{DicomUID: "1.2"}}},
	}
	type item struct {
		Token   string `json:"token"`
		Secret  string `json:"secret"`
		Payload string `json:"payload"`
	}
	var items []item
	for _, cl := range cases {
		tok, _, err := c.Mint(cl)
		require.NoError(t, err)
		items = append(items, item{tok, testSecret, payloadOf(t, tok)})
	}
	input, _ := json.Marshal(items)
	cmd := exec.Command(py, filepath.Join("testdata", "interop", "pyjwt_verify.py"))
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "pyjwt_verify.py: %s", stderr.String())
	var results []struct {
		OK        bool           `json:"ok"`
		Error     string         `json:"error"`
		Claims    map[string]any `json:"claims"`
		Reencoded string         `json:"reencoded"`
	}
	require.NoError(t, json.Unmarshal(out, &results))
	for i, r := range results {
		assert.True(t, r.OK, "case %d (%v): PyJWT refused our token: %s", i, cases[i].Version, r.Error)
		assert.Equal(t, items[i].Token, r.Reencoded, "case %d (%v): PyJWT encodes the payload differently", i, cases[i].Version)
		assert.NotContains(t, r.Claims, "aud", "case %d", i)
	}
}
