package share

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const linkTok = "eyJ.a-b_c.d"

var (
	s1 = Resource{DicomUID: "1.2", OrthancID: "o1"}
	s2 = Resource{DicomUID: "1.3", OrthancID: "o2"}
)

func TestLinks(t *testing.T) {
	t.Parallel()
	roots := Links{
		OrthancRoot: "https://h/orthanc/", AnonymizedOrthancRoot: "https://h/anon/",
		OHIFRoot: "https://h/ohif/", MedDreamRoot: "https://h/meddream/",
	}
	landing := roots
	landing.LandingRoot = "https://h/ui/app/token-landing.html"
	noSlash := Links{OrthancRoot: "https://h/orthanc", OHIFRoot: "https://h/ohif", LandingRoot: "https://h/welcome"}
	dicomJSON := roots
	dicomJSON.OHIFDataSource = "dicom-json"
	tests := []struct {
		name  string
		links Links
		cl    Claims
		want  string // "" means ErrNoURL
	}{
		{"osimis", roots, Claims{Type: OsimisViewerPublication, Resources: []Resource{s1, s2}},
			"https://h/orthanc/osimis-viewer/app/index.html?pickableStudyIds=o1,o2&selectedStudyIds=o1,o2&token=" + linkTok},
		{"osimis anonymized", roots, Claims{Type: OsimisViewerPublication, Anonymized: true, Resources: []Resource{s1}},
			"https://h/anon/osimis-viewer/app/index.html?pickableStudyIds=o1&selectedStudyIds=o1&token=" + linkTok},
		{"osimis needs orthanc ids", roots, Claims{Type: OsimisViewerPublication, Resources: []Resource{{DicomUID: "1.2"}}}, ""},
		{"stone", roots, Claims{Type: StoneViewerPublication, Resources: []Resource{s1, s2}},
			"https://h/orthanc/stone-webviewer/index.html?study=1.2,1.3&selectedStudies=1.2,1.3&token=" + linkTok},
		{"stone needs uids", roots, Claims{Type: StoneViewerPublication, Resources: []Resource{{OrthancID: "o1"}}}, ""},
		{"stone anonymized refused", roots, Claims{Type: StoneViewerPublication, Anonymized: true, Resources: []Resource{s1}}, ""},
		{"ohif dicom-web", roots, Claims{Type: OHIFViewerPublication, Resources: []Resource{s1, s2}},
			"https://h/ohif/viewer?StudyInstanceUIDs=1.2,1.3&token=" + linkTok},
		{"ohif dicom-json", dicomJSON, Claims{Type: OHIFViewerPublication, Resources: []Resource{s1}},
			"https://h/ohif/viewer?url=../studies/o1/ohif-dicom-json&token=" + linkTok},
		// Python builds ../studies/o1,o2/ohif-dicom-json, which is no route.
		{"ohif dicom-json refuses two studies", dicomJSON, Claims{Type: OHIFViewerPublication, Resources: []Resource{s1, s2}}, ""},
		{"volview", roots, Claims{Type: VolViewViewerPublication, Resources: []Resource{s1}},
			"https://h/orthanc/volview/index.html?names=[archive.zip]&urls=../studies/o1/archive&token=" + linkTok},
		// Python gives one name for two urls; VolView pairs them by position.
		{"volview two studies", roots, Claims{Type: VolViewViewerPublication, Resources: []Resource{s1, s2}},
			"https://h/orthanc/volview/index.html?names=[archive-1.zip,archive-2.zip]&urls=[../studies/o1/archive,../studies/o2/archive]&token=" + linkTok},
		{"landing", landing, Claims{Type: StoneViewerPublication, Resources: []Resource{s1}},
			"https://h/ui/app/token-landing.html?token=" + linkTok},
		{"landing still needs the ids", landing, Claims{Type: StoneViewerPublication, Resources: []Resource{{OrthancID: "o1"}}}, ""},
		{"meddream publication uses the landing", landing, Claims{Type: MedDreamViewerPublication, Resources: []Resource{s1}},
			"https://h/ui/app/token-landing.html?token=" + linkTok},
		{"meddream publication without landing", roots, Claims{Type: MedDreamViewerPublication, Resources: []Resource{s1}}, ""},
		{"instant link has no url", landing, Claims{Type: ViewerInstantLink, Resources: []Resource{s1}}, ""},
		{"download link has no url", landing, Claims{Type: DownloadInstantLink, Resources: []Resource{s1}}, ""},
		{"meddream instant link is built elsewhere", landing, Claims{Type: MedDreamInstantLink, Resources: []Resource{s1}}, ""},
		{"disabled without root", Links{}, Claims{Type: StoneViewerPublication, Resources: []Resource{s1}}, ""},
		// The trailing-slash pitfall of urljoin is fixed: the
		// last segment of the root is kept.
		{"root without trailing slash", noSlash, Claims{Type: StoneViewerPublication, Resources: []Resource{s1}},
			"https://h/welcome?token=" + linkTok},
		{"ids and token are percent-encoded", roots, Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: "1.2&token=evil,#x"}}},
			"https://h/orthanc/stone-webviewer/index.html?study=1.2%26token%3Devil%2C%23x&selectedStudies=1.2%26token%3Devil%2C%23x&token=" + linkTok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.links.URL(tt.cl, linkTok)
			if tt.want == "" {
				require.ErrorIs(t, err, ErrNoURL, "URL = %q", got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	t.Run("viewer root without trailing slash", func(t *testing.T) {
		t.Parallel()
		got, err := noSlash.viewerURL(Claims{Type: StoneViewerPublication, Resources: []Resource{s1}}, linkTok)
		want := "https://h/orthanc/stone-webviewer/index.html?study=1.2&selectedStudies=1.2&token=" + linkTok
		require.NoError(t, err)
		assert.Equal(t, want, got, "Python's urljoin drops /orthanc")
	})
	t.Run("meddream", func(t *testing.T) {
		t.Parallel()
		for legacy, want := range map[bool]string{
			false: "https://h/meddream/?study=1.2,1.3&token=md%2Ftok%3D",
			true:  "https://h/meddream/?token=md%2Ftok%3D",
		} {
			got, err := roots.medDreamURL([]string{"1.2", "1.3"}, "md/tok=", legacy)
			if assert.NoError(t, err, "legacy=%v", legacy) {
				assert.Equal(t, want, got, "legacy=%v", legacy)
			}
		}
		_, err := (Links{}).medDreamURL([]string{"1.2"}, "t", false)
		assert.ErrorIs(t, err, ErrNoURL, "without root")
	})
}

// TestLinksMatchPythonURLJoin compares our links with Python's urljoin on
// the layouts of the Python services, for roots with a trailing slash (where
// urljoin does what was meant): they must be byte-identical.
func TestLinksMatchPythonURLJoin(t *testing.T) {
	t.Parallel()
	py := testenv.DebianPython(t)
	l := Links{OrthancRoot: "https://h/orthanc/", OHIFRoot: "https://h/ohif/"}
	cases := []struct {
		cl  Claims
		rel string
		rt  string
	}{
		{Claims{Type: OsimisViewerPublication, Resources: []Resource{s1, s2}}, "osimis-viewer/app/index.html?pickableStudyIds=o1,o2&selectedStudyIds=o1,o2&token=" + linkTok, l.OrthancRoot},
		{Claims{Type: StoneViewerPublication, Resources: []Resource{s1, s2}}, "stone-webviewer/index.html?study=1.2,1.3&selectedStudies=1.2,1.3&token=" + linkTok, l.OrthancRoot},
		{Claims{Type: OHIFViewerPublication, Resources: []Resource{s1}}, "viewer?StudyInstanceUIDs=1.2&token=" + linkTok, l.OHIFRoot},
		{Claims{Type: VolViewViewerPublication, Resources: []Resource{s1}}, "volview/index.html?names=[archive.zip]&urls=../studies/o1/archive&token=" + linkTok, l.OrthancRoot},
	}
	for _, c := range cases {
		out, err := exec.Command(py, "-c", "import sys; from urllib.parse import urljoin; sys.stdout.write(urljoin(sys.argv[1], sys.argv[2]))", c.rt, c.rel).Output()
		require.NoError(t, err)
		got, err := l.viewerURL(c.cl, linkTok)
		if assert.NoError(t, err, c.cl.Type) {
			assert.Equal(t, string(out), got, "%s: ours vs Python", c.cl.Type)
		}
	}
}

func TestLinksCheck(t *testing.T) {
	t.Parallel()
	for _, l := range []Links{
		{OrthancRoot: "orthanc/"}, {LandingRoot: "ftp://h/"}, {OHIFRoot: "https://"}, {OHIFDataSource: "dicomweb"},
	} {
		err := l.check()
		if assert.Error(t, err, "%+v", l) {
			assert.True(t, strings.HasPrefix(err.Error(), "share: "), err.Error())
		}
	}
	assert.NoError(t, (Links{OrthancRoot: "http://127.0.0.1:8042", OHIFDataSource: "dicom-json"}).check())
}
