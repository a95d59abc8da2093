package share

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// anonymizedShare is what minting an anonymized share answered.
type anonymizedShare struct {
	status int
	body   string
	token  string
	url    string
	claims Claims
}

func mintAnonymized(t *testing.T, f *fixture, orthancID string) anonymizedShare {
	t.Helper()
	status, body := f.do(t, "PUT", "/shares", `{"studies":[{"orthanc-id":"`+orthancID+`"}],"anonymized":true,"type":"osimis-viewer-publication"}`, nil)
	a := anonymizedShare{status: status, body: body}
	if status != 200 {
		return a
	}
	var resp struct{ Token, URL string }
	require.NoError(t, json.Unmarshal([]byte(body), &resp))
	a.token, a.url = resp.Token, resp.URL
	var err error
	a.claims, err = f.codec.Decode(resp.Token)
	require.NoError(t, err)
	return a
}

// rawGet returns the body of GET path from o.
func rawGet(t *testing.T, o *orthanc, path string) []byte {
	t.Helper()
	resp, err := http.Get(o.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, "GET %s: %s", path, data)
	return data
}

func studyIDs(t *testing.T, o *orthanc) []string {
	t.Helper()
	var ids []string
	o.GetJSON(t, "studies", &ids)
	slices.Sort(ids)
	return ids
}

// TestRealOrthancAnonymizedShare mints anonymized shares against real
// Orthancs: the study is anonymized by Orthanc (POST
// /studies/{id}/anonymize), the copy lands in the anonymized Orthanc (a
// second Orthanc, or the same database), and the token, the answer and
// the link name the copy only; the copy has new UIDs, no patient identity,
// the same pixel data, and validates only on the anonymized server.
func TestRealOrthancAnonymizedShare(t *testing.T) {
	t.Parallel()
	corpus := testenv.PydicomTestFiles(t)
	src := startOrthanc(t, "", nil)
	a := src.upload(t, filepath.Join(corpus, "CT_small.dcm"))
	b := src.upload(t, filepath.Join(corpus, "MR_small.dcm"))
	originals := studyIDs(t, src)
	require.Len(t, originals, 2)
	var origTags map[string]any
	src.GetJSON(t, "instances/"+a.Instance+"/simplified-tags", &origTags)
	origPixels := rawGet(t, src, "instances/"+a.Instance+"/content/7fe0-0010")
	require.NotEmpty(t, origPixels)

	config := func(anon *orthanc) func(*Config) {
		return func(c *Config) {
			c.ServerID, c.AnonymizedServerID = "std", "anon"
			c.Links.AnonymizedOrthancRoot = "https://pacs.example/anon/"
			c.Orthanc = &OrthancClient{URL: src.URL}
			if anon != nil {
				c.AnonymizedOrthanc = &OrthancClient{URL: anon.URL}
			}
		}
	}
	// check asserts what every anonymized share must be, the copy being
	// held by anon.
	check := func(t *testing.T, f *fixture, anon *orthanc, s anonymizedShare) {
		t.Helper()
		require.Equal(t, 200, s.status, s.body)
		cl := s.claims
		require.Len(t, cl.Resources, 1)
		copyID, copyUID := cl.Resources[0].OrthancID, cl.Resources[0].DicomUID
		assert.True(t, cl.Anonymized)
		assert.Equal(t, "anon", cl.ServerID)
		assert.NotEqual(t, a.Study, copyID)
		assert.NotEqual(t, a.StudyUID, copyUID)
		assert.Equal(t, "https://pacs.example/anon/osimis-viewer/app/index.html?pickableStudyIds="+copyID+"&selectedStudyIds="+copyID+"&token="+s.token, s.url)
		// Neither the token (whose payload anyone holding the link can
		// read) nor the answer names the original study or patient.
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(s.token, ".")[1])
		require.NoError(t, err)
		for _, orig := range []string{a.Study, a.StudyUID, a.PatientID, a.Patient} {
			assert.NotContains(t, string(payload), orig, "token payload")
			assert.NotContains(t, s.body, orig, "mint answer")
		}
		// The copy, in the anonymized Orthanc.
		var st struct {
			MainDicomTags        struct{ StudyInstanceUID string }
			PatientMainDicomTags struct{ PatientID, PatientName string }
		}
		anon.GetJSON(t, "studies/"+copyID, &st)
		assert.Equal(t, copyUID, st.MainDicomTags.StudyInstanceUID)
		assert.NotEqual(t, a.PatientID, st.PatientMainDicomTags.PatientID)
		assert.NotEqual(t, origTags["PatientName"], st.PatientMainDicomTags.PatientName)
		var instances []struct{ ID string }
		anon.GetJSON(t, "studies/"+copyID+"/instances", &instances)
		require.Len(t, instances, 1)
		var tags map[string]any
		anon.GetJSON(t, "instances/"+instances[0].ID+"/simplified-tags", &tags)
		assert.Equal(t, "YES", tags["PatientIdentityRemoved"])
		assert.NotEqual(t, origTags["SOPInstanceUID"], tags["SOPInstanceUID"])
		assert.NotContains(t, tags, "InstitutionName", "the Basic Profile removes InstitutionName")
		require.NotEmpty(t, origTags["StudyDate"])
		assert.Empty(t, tags["StudyDate"], "the Basic Profile empties StudyDate")
		assert.Equal(t, origPixels, rawGet(t, anon, "instances/"+instances[0].ID+"/content/7fe0-0010"), "pixel data")
		// Valid for the copy on the anonymized server only.
		get := func(level Level, orthancID, uid, server string) Decision {
			return f.svc.Check(context.Background(), Access{Method: "get", Level: level, OrthancID: orthancID, DicomUID: uid, ServerID: server, Token: s.token})
		}
		assert.True(t, get(LevelStudy, copyID, copyUID, "anon").Granted, "the copy on the anonymized server")
		assert.ErrorIs(t, get(LevelStudy, a.Study, a.StudyUID, "anon").Reason, ErrResource, "the original")
		assert.ErrorIs(t, get(LevelStudy, copyID, copyUID, "std").Reason, ErrServerID, "the standard server")
	}

	// The subtests that use src run one after the other: each checks
	// that src holds no copy afterwards.
	t.Run("two Orthancs", func(t *testing.T) {
		anon := startOrthanc(t, "", nil)
		f := newFixture(t, config(anon))
		s := mintAnonymized(t, f, a.Study)
		check(t, f, anon, s)
		assert.Equal(t, []string{s.claims.Resources[0].OrthancID}, studyIDs(t, anon), "the anonymized Orthanc holds the copy only")
		assert.Equal(t, originals, studyIDs(t, src), "the copy was moved out of the source Orthanc")
		// Each share makes its own copy, with its own UIDs.
		again := mintAnonymized(t, f, a.Study)
		require.Equal(t, 200, again.status, again.body)
		assert.NotEqual(t, s.claims.Resources[0].DicomUID, again.claims.Resources[0].DicomUID)
		assert.Len(t, studyIDs(t, anon), 2)
		// A study Orthanc does not know: 404, nothing left behind.
		bad := mintAnonymized(t, f, "00000000-00000000-00000000-00000000-00000000")
		assert.Equal(t, 404, bad.status, bad.body)
		assert.Len(t, studyIDs(t, anon), 2)
		assert.Equal(t, originals, studyIDs(t, src))
	})

	t.Run("one database", func(t *testing.T) {
		t.Parallel()
		// orthanc-share's layout: the anonymized Orthanc reads the same
		// database, so the copy stays where Orthanc made it. (Its own
		// source Orthanc, so that the other subtest's counts hold.)
		one := startOrthanc(t, "", nil)
		one.upload(t, filepath.Join(corpus, "CT_small.dcm"))
		f := newFixture(t, func(c *Config) {
			config(nil)(c)
			c.Orthanc = &OrthancClient{URL: one.URL}
		})
		s := mintAnonymized(t, f, a.Study)
		check(t, f, one, s)
		var st struct{ AnonymizedFrom string }
		one.GetJSON(t, "studies/"+s.claims.Resources[0].OrthancID, &st)
		assert.Equal(t, a.Study, st.AnonymizedFrom)
		assert.Len(t, studyIDs(t, one), 2, "the original and its copy")
	})

	t.Run("the anonymized Orthanc refuses the copy", func(t *testing.T) {
		full := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"Message":"disk full"}`, http.StatusInsufficientStorage)
		}))
		t.Cleanup(full.Close)
		f := newFixture(t, func(c *Config) {
			config(nil)(c)
			c.AnonymizedOrthanc = &OrthancClient{URL: full.URL}
		})
		s := mintAnonymized(t, f, b.Study)
		assert.Equal(t, 502, s.status, s.body)
		assert.Contains(t, s.body, "HTTP 507")
		assert.Equal(t, originals, studyIDs(t, src), "Orthanc's copy was deleted")
	})
}
