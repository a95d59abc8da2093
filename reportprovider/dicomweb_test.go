package reportprovider_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomweb"
	"github.com/dicombridge/dicombridge/internal/testenv"
	"github.com/dicombridge/dicombridge/reportprovider"
)

// DICOM JSON tags the tests read (PS3.18 §F.2 keys).
const (
	tagSOPInstanceUID                = "00080018"
	tagModality                      = "00080060"
	tagModalitiesInStudy             = "00080061"
	tagPatientName                   = "00100010"
	tagPatientID                     = "00100020"
	tagStudyInstanceUID              = "0020000D"
	tagSeriesInstanceUID             = "0020000E"
	tagNumberOfStudyRelatedInstances = "00201208"
)

func TestDICOMwebReadsARealStudy(t *testing.T) {
	t.Parallel()
	ct, err := os.ReadFile(filepath.Join(testenv.PydicomTestFiles(t), "CT_small.dcm"))
	require.NoError(t, err)
	e := newEnv(t, envOptions{})
	in, err := e.kheops.AddInstance(albumID, ct)
	require.NoError(t, err)
	s, err := e.follow(e.launch(e.alice, e.clientID, in.StudyUID))
	require.NoError(t, err)
	ctx := context.Background()
	dw := s.DICOMweb(&http.Client{Transport: e.transport})
	studies, err := dw.SearchStudies(ctx, nil)
	require.Falsef(t, err != nil || len(studies) != 1, "%v %v", studies, err)
	st := studies[0]
	// Values as pydicom reports them for CT_small.dcm.
	if st.String(tagPatientName) != "CompressedSamples^CT1" || st.String(tagPatientID) != "1CT1" ||
		st.String(tagStudyInstanceUID) != in.StudyUID || st.String(tagModalitiesInStudy) != "CT" {
		t.Errorf("study %v", st)
	}
	if n, ok := st.Int(tagNumberOfStudyRelatedInstances); !ok || n != 1 {
		t.Errorf("instances %v", st[tagNumberOfStudyRelatedInstances])
	}
	series, err := dw.SearchSeries(ctx, in.StudyUID, nil)
	require.Falsef(t, err != nil || len(series) != 1 || series[0].String(tagSeriesInstanceUID) != in.SeriesUID || series[0].String(tagModality) != "CT", "series %v %v", series, err)
	meta, err := dw.Metadata(ctx, in.StudyUID, "")
	require.Falsef(t, err != nil || len(meta) != 1 || meta[0].String(tagSOPInstanceUID) != in.SOPInstanceUID, "metadata %v %v", meta, err)
	if _, err := dw.SearchSeries(ctx, study2, nil); err == nil {
		t.Error("series of a study outside the token were listed")
	}
	var he *dicomweb.HTTPError
	if _, err := dw.Metadata(ctx, study1, ""); !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
		t.Errorf("metadata outside the token: %v", err)
	}
	for _, bad := range []string{"", "1.2/../../x", "1.2.3?x=1"} {
		if _, err := dw.SearchSeries(ctx, bad, nil); err == nil || strings.Contains(err.Error(), "HTTP") {
			t.Errorf("study UID %q: %v", bad, err)
		}
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := min(len(p), f.n)
	clear(p[:n])
	f.n -= n
	return n, nil
}

func TestStoreReportsReaderErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	s, err := e.follow(e.launch(e.alice, e.clientID, study1))
	require.NoError(t, err)
	dw := s.DICOMweb(&http.Client{Transport: e.transport})
	_, err = dw.Store(context.Background(), study1, strings.NewReader(string(report(study1, "2.25.71"))), &failingReader{n: 100 << 10})
	require.Falsef(t, err == nil || !strings.Contains(err.Error(), "disk on fire"), "%v", err)
	if got := e.kheops.Instances(study1); len(got) != 2 {
		t.Errorf("a failed upload stored %d instances", len(got)-2)
	}
	if _, err := dw.Store(context.Background(), study1); err == nil {
		t.Error("empty STOW accepted")
	}
	// Not DICOM at all: the fake answers 409 with reason 0xC000.
	_, err = dw.Store(context.Background(), study1, strings.NewReader("hello"))
	var se *dicomweb.StoreError
	assert.Falsef(t, !errors.As(err, &se) || se.StatusCode != http.StatusConflict || se.Failed[0].Reason != 0xC000, "non-DICOM part: %v", err)
}

func TestBearerTransport(t *testing.T) {
	t.Parallel()
	var seen []string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.Header.Get("Authorization"))
		return &http.Response{StatusCode: 204, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
	tr := (&reportprovider.Session{AccessToken: "t0k", DICOMwebEndpoint: "https://kheops.example/api"}).Transport(base)
	req, _ := http.NewRequest(http.MethodGet, "https://KHEOPS.example:443/api/studies", nil)
	if _, err := tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	assert.Equal(t, "", req.Header.Get("Authorization"), "the caller's request was modified")
	for _, u := range []string{"https://kheops.example.evil.example/", "http://kheops.example/", "https://kheops.example:8443/"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if _, err := tr.RoundTrip(req); !errors.Is(err, reportprovider.ErrForbiddenDestination) {
			t.Errorf("%s: %v", u, err)
		}
	}
	assert.Falsef(t, len(seen) != 1 || seen[0] != "Bearer t0k", "seen %v", seen)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
