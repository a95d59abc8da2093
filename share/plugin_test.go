package share

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// authzPlugins returns the builds of the Orthanc authorization plugin to
// test: DICOMBRIDGE_ORTHANC_AUTHZ_PLUGIN (one path, or several separated
// by the OS list separator), else every libOrthancAuthorization.so.* in
// shared/fixtures/orthanc-authorization beside the repository (where CI
// keeps the builds of 0.11.4 and 0.4.1; see their README). With none, the
// test skips, and fails under CI.
func authzPlugins(t *testing.T) []string {
	t.Helper()
	var paths []string
	if v := os.Getenv("DICOMBRIDGE_ORTHANC_AUTHZ_PLUGIN"); v != "" {
		paths = filepath.SplitList(v)
	} else {
		dir := filepath.Join(testenv.RepoRoot(t), "..", "shared", "fixtures", "orthanc-authorization")
		paths, _ = filepath.Glob(filepath.Join(dir, "libOrthancAuthorization.so*"))
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			testenv.Missing(t, "Orthanc authorization plugin "+p, "set DICOMBRIDGE_ORTHANC_AUTHZ_PLUGIN to a libOrthancAuthorization.so")
		}
	}
	if len(paths) == 0 {
		testenv.Missing(t, "Orthanc authorization plugin", "set DICOMBRIDGE_ORTHANC_AUTHZ_PLUGIN to a libOrthancAuthorization.so (Debian does not package it)")
	}
	return paths
}

// dicomWebPlugin returns Debian's orthanc-dicomweb plugin.
func dicomWebPlugin(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "/usr/lib/orthanc/libOrthancDicomWeb.so"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testenv.Missing(t, "Orthanc DICOMweb plugin", "apt-get install orthanc-dicomweb")
	return ""
}

// pluginVersion reads the version from a build's file name
// (libOrthancAuthorization.so.0.11.4); "" if it has none.
func pluginVersion(path string) string {
	m := regexp.MustCompile(`\.so\.(\d+\.\d+\.\d+)$`).FindStringSubmatch(path)
	if m == nil {
		return ""
	}
	return m[1]
}

// oldPlugin reports whether the build speaks the protocol of plugin 0.2
// to 0.4 ("identifier", the /shares/validate route of orthanc-share).
func oldPlugin(version string) bool {
	return strings.HasPrefix(version, "0.2.") || strings.HasPrefix(version, "0.3.") || strings.HasPrefix(version, "0.4.")
}

// TestRealOrthancWithAuthorizationPlugin is the end-to-end test: Debian's
// Orthanc with the DICOMweb plugin and a real build of the authorization
// plugin asks our service, once per build (see authzPlugins). It checks
// what a share link can and cannot do through the real plugin: read the
// shared study (REST and DICOMweb), and nothing else; in particular no
// POST /modify, /merge or /anonymize, no year-1 "eternal" token, and no
// grant cached past the token's expiry. It also pins down what the
// plugin lets through without asking us (docs/orthanc.md, "What the
// plugin lets through"), so that the documentation stays true.
func TestRealOrthancWithAuthorizationPlugin(t *testing.T) {
	plugins := authzPlugins(t)
	dicomweb := dicomWebPlugin(t)
	corpus := testenv.PydicomTestFiles(t)
	for _, plugin := range plugins {
		t.Run(filepath.Base(plugin), func(t *testing.T) {
			t.Parallel()
			testWithAuthorizationPlugin(t, plugin, dicomweb, corpus)
		})
	}
}

func testWithAuthorizationPlugin(t *testing.T, plugin, dicomweb, corpus string) {
	version := pluginVersion(plugin)
	old := oldPlugin(version)
	storage := filepath.Join(t.TempDir(), "storage")

	// Upload without the plugin (it refuses anonymous uploads), then
	// restart on the same storage with it.
	pre := startOrthanc(t, storage, nil)
	a := pre.upload(t, filepath.Join(corpus, "CT_small.dcm"))
	b := pre.upload(t, filepath.Join(corpus, "MR_small.dcm"))
	pre.Stop()

	const serverID = "e2e"
	f := newFixture(t, func(c *Config) { c.ServerID = serverID })
	f.clock.UseRealTime() // the plugin lives in real time, so must the service
	route := "/tokens/validate"
	if old {
		route = "/shares/validate"
	}
	o := startOrthanc(t, storage, map[string]any{
		"Plugins": []string{plugin, dicomweb},
		"Authorization": map[string]any{
			// "WebService" is the validation URL in 0.4 and its legacy
			// alias in 0.11; no user-profile URL, as in a share-only
			// deployment.
			"WebService":           f.srv.URL + route,
			"WebServiceUsername":   testUser,
			"WebServicePassword":   testPass,
			"WebServiceIdentifier": serverID,
			"TokenHttpHeaders":     []string{"token"},
			"CheckedLevel":         "studies",
		},
	})

	res := []Resource{{DicomUID: a.StudyUID, OrthancID: a.Study}}
	tok, minted, err := f.codec.Mint(Claims{Type: StoneViewerPublication, Resources: res, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	revoked := f.mint(t, Claims{Type: StoneViewerPublication, Resources: res})
	_, err = f.svc.Revoke(context.Background(), revoked)
	require.NoError(t, err)
	yearOne := signRaw(t, `{"id":null,"resources":[{"dicom_uid":"`+a.StudyUID+`","orthanc_id":"`+a.Study+`","url":null,"level":"study"}],"type":"stone-viewer-publication","expiration_date":"0001-01-01T00:00:00","validity_duration":null}`)

	call := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, o.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("token", token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(data)
	}

	t.Run("reads", func(t *testing.T) {
		for _, c := range []struct {
			name, method, path, token string
			want                      int
		}{
			{"shared study", "GET", "studies/" + a.Study, tok, 200},
			{"instance file of the shared study", "GET", "instances/" + a.Instance + "/file", tok, 200},
			{"DICOMweb metadata of the shared study", "GET", "dicom-web/studies/" + a.StudyUID + "/metadata", tok, 200},
			{"DICOMweb series of the shared study", "GET", "dicom-web/studies/" + a.StudyUID + "/series", tok, 200},
			{"QIDO by the shared StudyInstanceUID", "GET", "dicom-web/studies?StudyInstanceUID=" + a.StudyUID, tok, 200},
			{"other study", "GET", "studies/" + b.Study, tok, 403},
			{"DICOMweb series of another study", "GET", "dicom-web/studies/" + b.StudyUID + "/series", tok, 403},
			{"no token", "GET", "studies/" + a.Study, "", 403},
			{"revoked", "GET", "studies/" + a.Study, revoked, 403},
			{"year-1 expiration date", "GET", "studies/" + a.Study, yearOne, 403},
			{"system route", "GET", "patients", tok, 403},
		} {
			status, body := call(c.method, c.path, c.token, "")
			assert.Equal(t, c.want, status, "%s: %s /%s: %.200s", c.name, c.method, c.path, body)
		}
		_, body := call("GET", "dicom-web/studies?StudyInstanceUID="+a.StudyUID, tok, "")
		assert.Contains(t, body, a.StudyUID, "QIDO answer")
		assert.NotContains(t, body, b.StudyUID, "QIDO answer")
	})

	t.Run("writes", func(t *testing.T) {
		before := len(f.validations())
		for _, c := range []struct {
			name, method, path, body string
		}{
			{"modify without KeepSource deletes the source", "POST", "studies/" + a.Study + "/modify", `{"Replace":{"StudyDescription":"changed"},"KeepSource":false,"Force":true}`},
			{"merge pulls another study's series in", "POST", "studies/" + a.Study + "/merge", `{"Resources":["` + b.Series + `"],"KeepSource":false}`},
			{"anonymize", "POST", "studies/" + a.Study + "/anonymize", `{}`},
			{"series modify", "POST", "series/" + a.Series + "/modify", `{"Replace":{"SeriesDescription":"changed"},"KeepSource":false,"Force":true}`},
			{"archive", "POST", "studies/" + a.Study + "/archive", `{}`},
			{"delete", "DELETE", "studies/" + a.Study, ""},
			{"label", "PUT", "studies/" + a.Study + "/metadata/1024", "x"},
		} {
			status, body := call(c.method, c.path, tok, c.body)
			assert.Equal(t, 403, status, "%s: %s /%s: %.200s", c.name, c.method, c.path, body)
		}
		// The plugin did ask us (the refusal is ours, not the plugin's),
		// with the study-level "post" check that hides the route.
		asked := f.validations()[before:]
		require.NotEmpty(t, asked)
		sawPost := false
		for _, body := range asked {
			if strings.Contains(body, `"post"`) {
				sawPost = true
				assert.NotContains(t, body, `"uri"`, "a study-level POST check carries no URI: %s", body)
				assert.Contains(t, body, `"study"`, body)
			}
		}
		assert.True(t, sawPost, "no POST check reached the service: %q", asked)
		// The denial on the method names the token in the log.
		assert.Regexp(t, `granted=false .*reason="share: method not allowed for share tokens: post" token_id=`+regexp.QuoteMeta(minted.RevocationID()), f.logs.String())

		// The shared study is intact: same single series, nothing merged.
		var st struct {
			Series        []string
			MainDicomTags map[string]string
		}
		status, body := call("GET", "studies/"+a.Study, tok, "")
		require.Equal(t, 200, status, "shared study after the writes: %s", body)
		require.NoError(t, json.Unmarshal([]byte(body), &st))
		assert.Equal(t, []string{a.Series}, st.Series)
		assert.NotEqual(t, "changed", st.MainDicomTags["StudyDescription"])
	})

	t.Run("wire", func(t *testing.T) {
		// Each generation speaks its own dialect; both reached the service.
		calls := f.validations()
		require.NotEmpty(t, calls)
		for _, body := range calls {
			if old {
				assert.Contains(t, body, `"identifier"`, body)
				assert.NotContains(t, body, `"server-id"`, body)
			} else {
				assert.Contains(t, body, `"server-id"`, body)
			}
		}
	})

	t.Run("what the plugin lets through", func(t *testing.T) {
		// GET /dicom-web/studies is let through by both builds without
		// asking the token service (0.11.4 by an explicit exception for
		// that URI; 0.4.1 because the call checks no study), and this
		// Orthanc then lists every study to anyone. docs/orthanc.md and
		// the package doc say so; if this changes, update them.
		before := len(f.validations())
		status, body := call("GET", "dicom-web/studies", "", "")
		assert.Equal(t, 200, status, "plugin %s, no token", version)
		assert.Contains(t, body, a.StudyUID, "every study is listed to anyone")
		assert.Contains(t, body, b.StudyUID, "every study is listed to anyone")
		assert.Len(t, f.validations(), before, "the service was asked, so it could refuse")
		// A share token of study A (or none) also gets study B's QIDO
		// answer by naming B: the path is the same URI.
		for _, token := range []string{tok, ""} {
			status, body = call("GET", "dicom-web/studies?StudyInstanceUID="+b.StudyUID, token, "")
			assert.Equal(t, 200, status, "QIDO of study B, token %t", token != "")
			assert.Contains(t, body, b.StudyUID, "QIDO of study B, token %t", token != "")
		}
		// The mitigation in docs/orthanc.md asks the plugin about the path
		// form, which it does check: that is what the proxy relies on.
		status, _ = call("GET", "dicom-web/studies/"+b.StudyUID+"/series", tok, "")
		assert.Equal(t, 403, status)
		status, _ = call("GET", "dicom-web/studies/"+a.StudyUID+"/series", tok, "")
		assert.Equal(t, 200, status)
	})

	t.Run("reverse-proxy mitigation", func(t *testing.T) {
		// The nginx configuration of docs/orthanc.md, run as written in
		// front of this Orthanc: QIDO at study level answers only for the
		// study the token may read.
		proxy := startDocNginx(t, strings.TrimPrefix(strings.TrimSuffix(o.URL, "/"), "http://"))
		get := func(path, token string) (int, string) {
			t.Helper()
			req, err := http.NewRequest("GET", proxy+path, nil)
			require.NoError(t, err)
			if token != "" {
				req.Header.Set("token", token)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			return resp.StatusCode, string(data)
		}
		for _, c := range []struct {
			name, path, token string
			want              int
			has, hasNot       string
		}{
			{"list without token", "/dicom-web/studies", "", 403, "", ""},
			{"list with a token", "/dicom-web/studies", tok, 403, "", ""},
			{"other filters only", "/dicom-web/studies?PatientName=*", tok, 403, "", ""},
			{"another study", "/dicom-web/studies?StudyInstanceUID=" + b.StudyUID, tok, 403, "", ""},
			{"shared study without token", "/dicom-web/studies?StudyInstanceUID=" + a.StudyUID, "", 403, "", ""},
			{"shared study", "/dicom-web/studies?StudyInstanceUID=" + a.StudyUID, tok, 200, a.StudyUID, b.StudyUID},
			{"tag form", "/dicom-web/studies?0020000D=" + a.StudyUID, tok, 200, a.StudyUID, b.StudyUID},
			{"second UID is dropped", "/dicom-web/studies?StudyInstanceUID=" + a.StudyUID + "&StudyInstanceUID=" + b.StudyUID, tok, 200, a.StudyUID, b.StudyUID},
			{"UID list", "/dicom-web/studies?StudyInstanceUID=" + a.StudyUID + "," + b.StudyUID, tok, 403, "", ""},
			{"other routes pass", "/studies/" + a.Study, tok, 200, a.StudyUID, ""},
			{"other routes still checked", "/studies/" + b.Study, tok, 403, "", ""},
		} {
			status, body := get(c.path, c.token)
			assert.Equal(t, c.want, status, "%s: GET %s: %.200s", c.name, c.path, body)
			if c.has != "" {
				assert.Contains(t, body, c.has, c.name)
			}
			if c.hasNot != "" {
				assert.NotContains(t, body, c.hasNot, c.name)
			}
		}
	})

	t.Run("expiry in real time", func(t *testing.T) {
		// Minted here, not with the others: on a loaded machine the
		// subtests above can take longer than its life.
		expires := time.Now().Add(4 * time.Second)
		short := f.mint(t, Claims{Type: StoneViewerPublication, Resources: res, ExpiresAt: expires})
		status, _ := call("GET", "studies/"+a.Study, short, "")
		require.Equal(t, 200, status, "short-lived token, fresh")
		// The grant was cached for at most the token's remaining time
		// (validity <= 4 s), never the 60 s of the Python services; the
		// service's clock runs with the plugin's.
		time.Sleep(time.Until(expires.Add(500 * time.Millisecond)))
		status, _ = call("GET", "studies/"+a.Study, short, "")
		assert.Equal(t, 403, status, "short-lived token after expiry")
	})
}
