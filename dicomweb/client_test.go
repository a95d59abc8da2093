package dicomweb_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomweb"
)

// server answers every request with handler and records the last request
// (method, path with query, headers, body).
type server struct {
	*httptest.Server
	last *http.Request
	body []byte
}

func newServer(t *testing.T, handler http.HandlerFunc) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.body, _ = io.ReadAll(r.Body)
		s.last = r
		handler(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestStoreErrorCarriesKheopsAttributeMismatch(t *testing.T) {
	t.Parallel()
	golden, err := os.ReadFile("testdata/stow-0106.json")
	require.NoError(t, err)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/dicom+json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(golden)
	})
	c := &dicomweb.Client{Endpoint: srv.URL + "/kheops/api/link/abcdefghij0123456789AB/"}
	res, err := c.Store(context.Background(), "2.25.1", strings.NewReader("DICM-one"), strings.NewReader("DICM-two"))
	var se *dicomweb.StoreError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusAccepted, se.StatusCode)
	assert.Equal(t, http.MethodPost, se.Method)
	assert.Equal(t, srv.URL+"/kheops/api/link/[redacted]/studies/2.25.1", se.URL)
	require.Len(t, se.Failed, 1)
	assert.Equal(t, dicomweb.FailedInstance{SOPClassUID: "1.2.840.10008.5.1.4.1.1.104.1", SOPInstanceUID: "2.25.1.2.1",
		Reason: dicomweb.ReasonAttributeMismatch, Tags: []uint32{0x00200010, 0x00100020}}, se.Failed[0])
	assert.Equal(t, "dicomweb: stow-rs: 1 instance(s) not stored (HTTP 202); 2.25.1.2.1: reason 0x0106 tags (0020,0010) (0010,0020)", se.Error())
	assert.NotContains(t, err.Error(), "abcdefghij")
	require.Len(t, res.Stored, 1)
	assert.Equal(t, "2.25.1.1.1", res.Stored[0].SOPInstanceUID)

	// The request: one multipart/related part per instance, in order.
	assert.Equal(t, "/kheops/api/link/abcdefghij0123456789AB/studies/2.25.1", srv.last.URL.Path)
	assert.Equal(t, "application/dicom+json", srv.last.Header.Get("Accept"))
	mt, params, err := mime.ParseMediaType(srv.last.Header.Get("Content-Type"))
	require.NoError(t, err)
	assert.Equal(t, "multipart/related", mt)
	assert.Equal(t, "application/dicom", params["type"])
	mr := multipart.NewReader(bytes.NewReader(srv.body), params["boundary"])
	for _, want := range []string{"DICM-one", "DICM-two"} {
		p, err := mr.NextPart()
		require.NoError(t, err)
		assert.Equal(t, "application/dicom", p.Header.Get("Content-Type"))
		got, _ := io.ReadAll(p)
		assert.Equal(t, want, string(got))
	}
}

func TestStandardAttributeIdentifierList(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(w, `[{"00081198":{"vr":"SQ","Value":[{"00081197":{"vr":"US","Value":[262]},"00001005":{"vr":"AT","Value":["00080020","bogus"]}}]}}]`)
	})
	_, err := (&dicomweb.Client{Endpoint: srv.URL}).StoreWithQuery(context.Background(), "", map[string][]string{"album": {"Ab12Cd34Ef"}}, strings.NewReader("x"))
	var se *dicomweb.StoreError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, []uint32{0x00080020}, se.Failed[0].Tags)
	assert.Equal(t, "/studies?album=Ab12Cd34Ef", srv.last.URL.RequestURI())
}

func TestSearchAndMetadataRequests(t *testing.T) {
	t.Parallel()
	status := http.StatusNoContent
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		if status == http.StatusOK {
			_, _ = io.WriteString(w, `[{"0020000D":{"vr":"UI","Value":["1.2.3"]}}]`)
		}
	})
	c := &dicomweb.Client{Endpoint: srv.URL + "/api"}
	ctx := context.Background()
	got, err := c.SearchStudies(ctx, map[string][]string{"album": {"Ab12Cd34Ef"}, "limit": {"5"}})
	require.NoError(t, err)
	assert.Nil(t, got, "204 is an empty result")
	assert.Equal(t, "/api/studies?album=Ab12Cd34Ef&limit=5", srv.last.URL.RequestURI())
	assert.Equal(t, "application/dicom+json", srv.last.Header.Get("Accept"))
	status = http.StatusOK
	for _, c := range []struct {
		call func() ([]dicomweb.Dataset, error)
		uri  string
	}{
		{func() ([]dicomweb.Dataset, error) { return c.SearchSeries(ctx, "1.2.3", nil) }, "/api/studies/1.2.3/series"},
		{func() ([]dicomweb.Dataset, error) { return c.SearchInstances(ctx, "1.2.3", "1.2.03", nil) }, "/api/studies/1.2.3/series/1.2.03/instances"},
		{func() ([]dicomweb.Dataset, error) { return c.Metadata(ctx, "1.2.3", "") }, "/api/studies/1.2.3/metadata"},
		{func() ([]dicomweb.Dataset, error) { return c.Metadata(ctx, "1.2.3", "1.2.4") }, "/api/studies/1.2.3/series/1.2.4/metadata"},
	} {
		ds, err := c.call()
		require.NoError(t, err, c.uri)
		assert.Equal(t, c.uri, srv.last.URL.RequestURI())
		require.Len(t, ds, 1)
		assert.Equal(t, "1.2.3", ds[0].String("0020000D"))
	}
	for _, bad := range []string{"", "1.2/../x", "1.2.3?x=1", "1", "3.1", strings.Repeat("1.", 200) + "1"} {
		_, err := c.SearchSeries(ctx, bad, nil)
		assert.ErrorIs(t, err, dicomweb.ErrInvalidUID, "%q", bad)
	}
	status = http.StatusNotFound
	_, err = c.Metadata(ctx, "1.2.3", "")
	var he *dicomweb.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, dicomweb.HTTPError{Method: "GET", URL: srv.URL + "/api/studies/1.2.3/metadata", StatusCode: 404}, *he)
}

func TestRetrieveStreamsParts(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, s := range []string{"first", "second"} {
			p, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
			_, _ = io.WriteString(p, s)
		}
		_ = mw.Close()
		w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
		_, _ = w.Write(buf.Bytes())
	})
	c := &dicomweb.Client{Endpoint: srv.URL + "/api/"}
	var got []string
	err := c.Retrieve(context.Background(), "1.2.3", "1.2.4", "", func(r io.Reader) error {
		b, err := io.ReadAll(r)
		got = append(got, string(b))
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"first", "second"}, got)
	assert.Equal(t, "/api/studies/1.2.3/series/1.2.4", srv.last.URL.Path)
	assert.Equal(t, `multipart/related; type="application/dicom"`, srv.last.Header.Get("Accept"))
	stop := errors.New("enough")
	err = c.Retrieve(context.Background(), "1.2.3", "", "", func(io.Reader) error { return stop })
	assert.ErrorIs(t, err, stop)
	assert.ErrorIs(t, c.Retrieve(context.Background(), "1.2.3", "", "1.2.5", nil), dicomweb.ErrInvalidUID)
}

func TestTransportErrorsHideTheLinkToken(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(http.ResponseWriter, *http.Request) {})
	srv.Close()
	c := &dicomweb.Client{Endpoint: srv.URL + "/api/link/abcdefghij0123456789AB"}
	_, err := c.SearchStudies(context.Background(), map[string][]string{"x": {"secretquery"}})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "abcdefghij")
	assert.NotContains(t, err.Error(), "secretquery")
	assert.Contains(t, err.Error(), "/api/link/[redacted]/studies")
}
