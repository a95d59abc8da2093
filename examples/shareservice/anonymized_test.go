package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/orthanctest"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

// TestRunAnonymizedShare runs the program with two real Orthancs: an
// anonymized share is anonymized by the first (ORTHANC_URL), moved to the
// second (ANONYMIZED_ORTHANC_URL), and its link and token name the copy,
// which the service then grants on the anonymized server only.
func TestRunAnonymizedShare(t *testing.T) {
	t.Parallel()
	corpus := testenv.PydicomTestFiles(t)
	src := orthanctest.Start(t, "", nil)
	anon := orthanctest.Start(t, "", nil)
	stored := src.Upload(t, filepath.Join(corpus, "CT_small.dcm"))
	var study struct {
		MainDicomTags struct{ StudyInstanceUID string }
	}
	src.GetJSON(t, "studies/"+stored.ParentStudy, &study)
	orig := struct{ Study, StudyUID string }{stored.ParentStudy, study.MainDicomTags.StudyInstanceUID}
	_, call, _ := serve(t, map[string]string{
		"SECRET_KEY": key, "USERS": `{"orthanc":"pw"}`, "LISTEN": "127.0.0.1:0",
		"SERVER_IDENTIFIER": "std", "ANONYMIZED_SERVER_IDENTIFIER": "anon",
		"PUBLIC_ANONYMIZED_ORTHANC_ROOT": "https://h/anon/",
		"ORTHANC_URL":                    src.URL, "ANONYMIZED_ORTHANC_URL": anon.URL,
	})
	status, body := call("PUT", "/shares", `{"studies":[{"orthanc-id":"`+orig.Study+`"}],"anonymized":true,"type":"osimis-viewer-publication"}`)
	require.Equal(t, 200, status, body)
	var resp struct {
		Request struct {
			Studies []struct {
				DicomUID  string `json:"dicom-uid"`
				OrthancID string `json:"orthanc-id"`
			}
		}
		Token, URL string
	}
	require.NoError(t, json.Unmarshal([]byte(body), &resp))
	require.Len(t, resp.Request.Studies, 1)
	copyID, copyUID := resp.Request.Studies[0].OrthancID, resp.Request.Studies[0].DicomUID
	var held []string
	anon.GetJSON(t, "studies", &held)
	assert.Equal(t, []string{copyID}, held, "the anonymized Orthanc holds the copy")
	var left []string
	src.GetJSON(t, "studies", &left)
	assert.Equal(t, []string{orig.Study}, left, "the source Orthanc holds the original only")
	assert.True(t, strings.HasPrefix(resp.URL, "https://h/anon/osimis-viewer/app/index.html?pickableStudyIds="+copyID+"&"), resp.URL)
	assert.NotContains(t, body, orig.StudyUID)
	assert.NotContains(t, body, orig.Study)

	validate := func(server, orthancID, uid string) string {
		_, got := call("POST", "/shares/validate", `{"dicom-uid":"`+uid+`","orthanc-id":"`+orthancID+`","identifier":"`+server+`","level":"study","method":"get"}`, "token", resp.Token)
		return got
	}
	assert.Equal(t, `{"granted":true,"validity":60}`, validate("anon", copyID, copyUID), "the copy on the anonymized server")
	assert.Equal(t, `{"granted":false,"validity":60}`, validate("std", copyID, copyUID), "the copy on the standard server")
	assert.Equal(t, `{"granted":false,"validity":60}`, validate("anon", orig.Study, orig.StudyUID), "the original")
}
