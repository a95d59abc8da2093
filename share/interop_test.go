package share

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/testenv"
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
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Fixtures []pyFixture `json:"fixtures"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Fixtures) < 15 {
		t.Fatalf("only %d fixtures", len(file.Fixtures))
	}
	now := fixedClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, fx := range file.Fixtures {
		t.Run(fx.Name, func(t *testing.T) {
			t.Parallel()
			c, err := NewCodec(CodecConfig{
				Secret:          []byte(testSecret + "-current"),
				PreviousSecrets: [][]byte{[]byte(fx.Secret)}, AllowShortPreviousSecrets: true, Now: now,
			})
			if err != nil {
				t.Fatal(err)
			}
			cl, err := c.Decode(fx.Token)
			want := map[string]error{"": nil, "signature": ErrSignature, "malformed": ErrMalformed, "expired": ErrExpired}[fx.Error]
			if !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, want)
			}
			if fx.Want == nil {
				return
			}
			w := fx.Want
			if cl.Version.String() != w.Version || cl.ID != w.ID || cl.Type != w.Type || cl.Anonymized != w.Anonymized || cl.ValidityDuration != w.ValidityDuration {
				t.Errorf("got %+v\nwant %+v", cl, w)
			}
			if w.Expires == "" {
				if !cl.ExpiresAt.IsZero() {
					t.Errorf("ExpiresAt = %v, want none", cl.ExpiresAt)
				}
			} else if exp, _ := time.Parse(time.RFC3339Nano, w.Expires); !cl.ExpiresAt.Equal(exp) {
				t.Errorf("ExpiresAt = %v, want %v", cl.ExpiresAt, exp)
			}
			if len(cl.Resources) != len(w.Resources) {
				t.Fatalf("%d resources, want %d", len(cl.Resources), len(w.Resources))
			}
			for i, r := range w.Resources {
				url := ""
				if r.URL != nil {
					url = *r.URL
				}
				if want := (Resource{r.DicomUID, r.OrthancID, url, r.Level}); cl.Resources[i] != want {
					t.Errorf("resource %d = %+v, want %+v", i, cl.Resources[i], want)
				}
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
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, item{tok, testSecret, payloadOf(t, tok)})
	}
	input, _ := json.Marshal(items)
	cmd := exec.Command(py, filepath.Join("testdata", "interop", "pyjwt_verify.py"))
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyjwt_verify.py: %v\n%s", err, stderr.String())
	}
	var results []struct {
		OK        bool           `json:"ok"`
		Error     string         `json:"error"`
		Claims    map[string]any `json:"claims"`
		Reencoded string         `json:"reencoded"`
	}
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if !r.OK {
			t.Errorf("case %d (%v): PyJWT refused our token: %s", i, cases[i].Version, r.Error)
		}
		if r.Reencoded != items[i].Token {
			t.Errorf("case %d (%v): PyJWT encodes the payload differently\n ours %s\n py   %s", i, cases[i].Version, items[i].Token, r.Reencoded)
		}
		if _, ok := r.Claims["aud"]; ok {
			t.Errorf("case %d: aud claim present", i)
		}
	}
}
