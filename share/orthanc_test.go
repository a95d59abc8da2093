package share

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/orthanctest"
	"github.com/dicombridge/dicombridge/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// orthanc is a real Orthanc (Debian's orthanc package) started by a test.
type orthanc struct{ *orthanctest.Server }

// startOrthanc starts Orthanc on 127.0.0.1 (see internal/orthanctest) with
// storage in storage (a new temporary directory if empty) and the extra
// configuration keys given, and stops it when the test ends.
func startOrthanc(t *testing.T, storage string, extra map[string]any) *orthanc {
	t.Helper()
	return &orthanc{orthanctest.Start(t, storage, extra)}
}

type uploaded struct {
	Instance, Series, Study, Patient string // Orthanc ids
	StudyUID, PatientID              string
}

// upload sends a DICOM file through POST /instances and reads back the
// study's tags.
func (o *orthanc) upload(t *testing.T, path string) uploaded {
	t.Helper()
	in := o.Upload(t, path)
	u := uploaded{Instance: in.ID, Series: in.ParentSeries, Study: in.ParentStudy, Patient: in.ParentPatient}
	var st struct {
		MainDicomTags        struct{ StudyInstanceUID string }
		PatientMainDicomTags struct{ PatientID string }
	}
	o.GetJSON(t, "studies/"+u.Study, &st)
	u.StudyUID, u.PatientID = st.MainDicomTags.StudyInstanceUID, st.PatientMainDicomTags.PatientID
	return u
}

// TestRealOrthanc runs against Debian's Orthanc with two real studies of
// the pydicom corpus: it mints a share from the StudyInstanceUID alone
// (the service asks Orthanc for the orthanc-id), then validates requests
// shaped like both plugin generations with the real ids Orthanc holds.
func TestRealOrthanc(t *testing.T) {
	t.Parallel()
	corpus := testenv.PydicomTestFiles(t)
	o := startOrthanc(t, "", nil)
	a := o.upload(t, filepath.Join(corpus, "CT_small.dcm"))
	b := o.upload(t, filepath.Join(corpus, "MR_small.dcm"))
	require.NotEqual(t, a.Study, b.Study, "the two files are one study")
	require.NotEqual(t, a.StudyUID, b.StudyUID, "the two files are one study")

	const serverID = "orthanc-share-test"
	f := newFixture(t, func(c *Config) {
		c.ServerID = serverID
		c.Orthanc = &OrthancClient{URL: o.URL}
	})

	t.Run("client", func(t *testing.T) {
		ctx := context.Background()
		oc := &OrthancClient{URL: strings.TrimSuffix(o.URL, "/")}
		id, err := oc.lookupStudy(ctx, a.StudyUID)
		assert.NoError(t, err)
		assert.Equal(t, a.Study, id, "lookupStudy")
		uid, err := oc.studyInstanceUID(ctx, b.Study)
		assert.NoError(t, err)
		assert.Equal(t, b.StudyUID, uid, "studyInstanceUID")
		for level, id := range map[Level]string{LevelStudy: a.Study, LevelSeries: a.Series, LevelInstance: a.Instance} {
			r, err := oc.parentStudy(ctx, level, id)
			assert.NoError(t, err, "parentStudy(%s)", level)
			assert.Equal(t, Resource{DicomUID: a.StudyUID, OrthancID: a.Study, Level: LevelStudy}, r, "parentStudy(%s)", level)
		}
		_, err = oc.lookupStudy(ctx, "1.2.3.4.5.6.7.8.9")
		assert.ErrorIs(t, err, ErrNotFound, "unknown UID")
		_, err = oc.studyInstanceUID(ctx, "no-such-study")
		assert.ErrorIs(t, err, ErrNotFound, "unknown id")
		// Ids that are dot segments (or empty) would resolve to another
		// route of Orthanc (its root, the list of studies, ...).
		for _, id := range []string{"..", ".", ""} {
			_, err := oc.studyInstanceUID(ctx, id)
			assert.ErrorIs(t, err, ErrNotFound, "studyInstanceUID(%q)", id)
			for _, level := range []Level{LevelStudy, LevelSeries, LevelInstance} {
				_, err := oc.parentStudy(ctx, level, id)
				assert.ErrorIs(t, err, ErrNotFound, "parentStudy(%s, %q)", level, id)
			}
		}
	})

	// Mint from the StudyInstanceUID alone, through the new API.
	status, body := f.do(t, "PUT", "/tokens/stone-viewer-publication",
		`{"id":"real","resources":[{"dicom-uid":"`+a.StudyUID+`","level":"study"}],"expiration-date":"`+formatPyTime(katNow.Add(time.Hour))+`"}`, nil)
	require.Equal(t, 200, status, "mint: %s", body)
	var minted struct {
		Request struct {
			Resources []struct {
				DicomUID  string `json:"dicom-uid"`
				OrthancID string `json:"orthanc-id"`
			}
		}
		Token string
	}
	require.NoError(t, json.Unmarshal([]byte(body), &minted))
	r := minted.Request.Resources
	require.Len(t, r, 1, "orthanc-id not resolved: %s", body)
	require.Equal(t, a.Study, r[0].OrthancID, "orthanc-id not resolved")
	require.Equal(t, a.StudyUID, r[0].DicomUID)
	cl, err := f.codec.Decode(minted.Token)
	require.NoError(t, err)
	require.Equal(t, a.Study, cl.Resources[0].OrthancID)
	require.Equal(t, serverID, cl.ServerID)
	tok := minted.Token

	// And the other way round through the old API: orthanc-id only.
	status, body = f.do(t, "PUT", "/shares", `{"studies":[{"orthanc-id":"`+b.Study+`"}],"type":"osimis-viewer-publication"}`, nil)
	require.Equal(t, 200, status, "old API: %s", body)
	require.Contains(t, body, `"dicom-uid":"`+b.StudyUID+`"`, "old API")
	status, body = f.do(t, "PUT", "/tokens/stone-viewer-publication", `{"resources":[{"dicom-uid":"9.9.9.9"}]}`, nil)
	require.Equal(t, 404, status, "unknown study: %s", body)
	status, body = f.do(t, "PUT", "/shares", `{"studies":[{"orthanc-id":".."}],"type":"osimis-viewer-publication"}`, nil)
	require.Equal(t, 404, status, `orthanc-id "..": %s`, body)

	// A token to revoke and a spare one.
	revoked := f.mint(t, cl)
	_, err = f.svc.Revoke(context.Background(), revoked)
	require.NoError(t, err)

	srv := str(serverID)
	studyA := func(tk string) access {
		return access{method: "get", level: "study", dicomUID: a.StudyUID, orthancID: a.Study, server: srv, header: tk, tokenKey: "token", tokenValue: tk}
	}
	granted, denied := `{"granted":true,"validity":60}`, `{"granted":false,"validity":60}`
	cases := []struct {
		name string
		a    access
		want string
	}{
		{"shared study granted", studyA(tok), granted},
		{"other study denied", access{method: "get", level: "study", dicomUID: b.StudyUID, orthancID: b.Study, server: srv, header: tok}, denied},
		{"patient-level call denied", access{method: "get", level: "patient", dicomUID: a.PatientID, orthancID: a.Patient, server: srv, header: tok}, denied},
		{"series-level call denied", access{method: "get", level: "series", dicomUID: "x", orthancID: a.Series, server: srv, header: tok}, denied},
		{"DELETE denied", access{method: "delete", level: "study", dicomUID: a.StudyUID, orthancID: a.Study, server: srv, header: tok}, denied},
		{"POST /instances (system) denied", access{method: "post", level: "system", uri: "/instances", server: srv, header: tok}, denied},
		{"revoked denied", studyA(revoked), denied},
		{"other server denied", access{method: "get", level: "study", dicomUID: a.StudyUID, orthancID: a.Study, server: str("elsewhere"), header: tok}, denied},
	}
	for _, g := range []generation{plugin0114, plugin041} {
		path := map[generation]string{plugin0114: "/tokens/validate", plugin041: "/shares/validate"}[g]
		for _, c := range cases {
			_, got := f.validate(t, g, path, c.a)
			assert.Equal(t, c.want, got, "%v %s", g, c.name)
		}
	}
	// One hour later the token has expired.
	f.clock.Advance(time.Hour)
	for _, g := range []generation{plugin0114, plugin041} {
		_, got := f.validate(t, g, "/tokens/validate", studyA(tok))
		assert.Equal(t, denied, got, "%v expired", g)
	}
}
