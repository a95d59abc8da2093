package kheopstest_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

// TestRetrieveInstance: WADO-RS instance retrieval answers the stored
// bytes as one application/dicom part, to whoever may read the study's
// metadata, and 401/404 otherwise.
func TestRetrieveInstance(t *testing.T) {
	t.Parallel()
	k := kheopstest.NewServer(kheopstest.WithBasePath("/kheops"))
	defer k.Close()
	alice := k.AddUser(kheopstest.User{Sub: "alice", Name: "Alice"})
	bob := k.AddUser(kheopstest.User{Sub: "bob", Name: "Bob"})
	album := k.AddAlbum("", nil)
	require.NoError(t, k.AddMember(album, "alice", false))
	data := kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.3.4", SOPInstanceUID: "1.2.3.4.5"})
	_, err := k.AddInstance(album, data)
	require.NoError(t, err)

	for _, tc := range []struct {
		name, token, path string
		want              int
	}{
		{"member", alice, "/api/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5", http.StatusOK},
		{"no token", "", "/api/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5", http.StatusUnauthorized},
		{"not a member", bob, "/api/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5", http.StatusNotFound},
		{"other instance", alice, "/api/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.6", http.StatusNotFound},
		{"other series", alice, "/api/studies/1.2.3/series/1.2.3.9/instances/1.2.3.4.5", http.StatusNotFound},
		{"other study", alice, "/api/studies/1.2.9/series/1.2.3.4/instances/1.2.3.4.5", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, k.URL+tc.path, nil)
			require.NoError(t, err)
			req.Header.Set("Accept", `multipart/related; type="application/dicom"`)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := k.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode)
			if tc.want != http.StatusOK {
				return
			}
			mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			require.NoError(t, err)
			assert.Equal(t, "multipart/related", mt)
			assert.Equal(t, "application/dicom", params["type"])
			mr := multipart.NewReader(resp.Body, params["boundary"])
			part, err := mr.NextPart()
			require.NoError(t, err)
			assert.Equal(t, "application/dicom", part.Header.Get("Content-Type"))
			got, err := io.ReadAll(part)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, got), "the stored bytes")
			_, err = mr.NextPart()
			assert.Equal(t, io.EOF, err, "one part")
		})
	}
}
