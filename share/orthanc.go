package share

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// OrthancClient is the small part of Orthanc's REST API that minting
// needs: translating a StudyInstanceUID to Orthanc's study id and back,
// and climbing from a series or instance to its study, so that tokens
// carry both ids at study level (as Orthanc Explorer 2 does) even when the
// caller knows only one.
//
// It is safe for concurrent use.
type OrthancClient struct {
	// URL is Orthanc's REST root, e.g. "http://127.0.0.1:8042/" (a path
	// prefix is kept).
	URL string
	// Username and Password, if set, are sent with HTTP Basic.
	Username, Password string
	// HTTPClient is used for requests; nil means a client with timeouts
	// (30 s overall).
	HTTPClient *http.Client

	once   sync.Once // guards client
	client *http.Client
}

func (c *OrthancClient) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	c.once.Do(func() { c.client = httpx.NewClient(0) })
	return c.client
}

// LookupStudy returns the Orthanc id of the study with this
// StudyInstanceUID (POST /tools/lookup). It fails with [ErrNotFound] if
// Orthanc has no such study.
func (c *OrthancClient) lookupStudy(ctx context.Context, studyInstanceUID string) (string, error) {
	var found []struct {
		ID   string
		Type string
	}
	if _, err := c.do(ctx, http.MethodPost, "tools/lookup", []byte(studyInstanceUID), &found); err != nil {
		return "", err
	}
	for _, f := range found {
		if f.Type == "Study" && f.ID != "" {
			return f.ID, nil
		}
	}
	return "", fmt.Errorf("%w: no study with StudyInstanceUID %q", ErrNotFound, studyInstanceUID)
}

// StudyInstanceUID returns the StudyInstanceUID of the study with this
// Orthanc id (GET /studies/{id}).
func (c *OrthancClient) studyInstanceUID(ctx context.Context, orthancID string) (string, error) {
	r, err := c.parentStudy(ctx, LevelStudy, orthancID)
	return r.DicomUID, err
}

// ParentStudy returns the study, with both ids, that holds the resource
// with this Orthanc id at the given level (study, series or instance).
func (c *OrthancClient) parentStudy(ctx context.Context, level Level, orthancID string) (Resource, error) {
	// url.PathEscape keeps "." and "..", which would resolve to another
	// route ("studies/.." is Orthanc's root); no Orthanc id looks like that.
	if orthancID == "" || orthancID == "." || orthancID == ".." {
		return Resource{}, fmt.Errorf("%w: %q is not an Orthanc id", ErrNotFound, orthancID)
	}
	id := url.PathEscape(orthancID)
	switch level {
	case LevelStudy:
		return c.study(ctx, "studies/"+id)
	case LevelSeries:
		return c.study(ctx, "series/"+id+"/study")
	case LevelInstance:
		return c.study(ctx, "instances/"+id+"/study")
	}
	return Resource{}, fmt.Errorf("share: no parent study for level %q", level)
}

// Complete fills in the missing id of a study-level resource: the Orthanc
// id from the StudyInstanceUID, or the StudyInstanceUID from the Orthanc
// id. A resource with both ids is returned unchanged (not checked), and
// resources at other levels are returned unchanged.
func (c *OrthancClient) Complete(ctx context.Context, r Resource) (Resource, error) {
	if r.level() != LevelStudy || (r.DicomUID != "" && r.OrthancID != "") {
		return r, nil
	}
	var err error
	switch {
	case r.OrthancID == "" && r.DicomUID != "":
		r.OrthancID, err = c.lookupStudy(ctx, r.DicomUID)
	case r.DicomUID == "" && r.OrthancID != "":
		r.DicomUID, err = c.studyInstanceUID(ctx, r.OrthancID)
	}
	return r, err
}

func (c *OrthancClient) study(ctx context.Context, path string) (Resource, error) {
	var st struct {
		ID            string
		MainDicomTags struct{ StudyInstanceUID string }
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil, &st)
	if err != nil {
		return Resource{}, err
	}
	if st.ID == "" || st.MainDicomTags.StudyInstanceUID == "" {
		return Resource{}, remoteError(resp, nil, "answer has no ID or StudyInstanceUID", false)
	}
	return Resource{DicomUID: st.MainDicomTags.StudyInstanceUID, OrthancID: st.ID, Level: LevelStudy}, nil
}

// do sends the request and decodes a 2xx JSON answer into out. It returns
// the response (its body closed) for errors about the decoded answer.
func (c *OrthancClient) do(ctx context.Context, method, path string, body []byte, out any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	return c.doReader(ctx, method, path, rd, out)
}

// send sends a request to Orthanc and returns its response, whatever the
// status; the caller closes the body.
func (c *OrthancClient) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	base, err := url.Parse(c.URL)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("share: OrthancClient.URL %q is not an absolute URL", httpx.RedactRawURL(c.URL))
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	ref, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("share: orthanc path: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, base.ResolveReference(ref).String(), body)
	if err != nil {
		return nil, fmt.Errorf("share: orthanc request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.Username != "" || c.Password != "" {
		req.SetBasicAuth(c.Username, c.Password)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("share: orthanc %s %s: %w", method, httpx.RedactURL(req.URL), err)
	}
	return resp, nil
}

// checkStatus turns a 404 into [ErrNotFound] and any other non-2xx status
// into a [*RemoteError]; data is the start of the body.
func checkStatus(resp *http.Response, data []byte) error {
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %s %s", ErrNotFound, resp.Request.Method, httpx.RedactURL(resp.Request.URL))
	}
	if resp.StatusCode/100 != 2 {
		return remoteError(resp, data, "", true)
	}
	return nil
}

// MedDreamClient asks a MedDream token service for short-lived viewer
// tokens (meddream-instant-link, and the landing page of
// meddream-viewer-publication). Unlike the Python services it checks the
// status and the shape of the answer, so an error page never becomes a
// "token".
//
// It is safe for concurrent use.
type MedDreamClient struct {
	// TokenServiceURL is MEDDREAM_TOKEN_SERVICE_URL, e.g.
	// "http://meddream-token-service:8088/v3/generate".
	TokenServiceURL string
	// HTTPClient is used for requests; nil means a client with timeouts.
	HTTPClient *http.Client

	once   sync.Once // guards client
	client *http.Client
}

// Token returns a MedDream token for the studies with these
// StudyInstanceUIDs.
func (m *MedDreamClient) Token(ctx context.Context, studyUIDs []string) (string, error) {
	type study struct {
		Study   string `json:"study"`
		Storage string `json:"storage"`
	}
	type item struct {
		Studies study `json:"studies"`
	}
	var body struct {
		Items []item `json:"items"`
	}
	for _, uid := range studyUIDs {
		body.Items = append(body.Items, item{Studies: study{Study: uid, Storage: "Orthanc"}})
	}
	data, _ := json.Marshal(body) // strings only: cannot fail
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.TokenServiceURL, bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("share: meddream request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := m.HTTPClient
	if hc == nil {
		m.once.Do(func() { m.client = httpx.NewClient(0) })
		hc = m.client
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("share: meddream token service: %w", err)
	}
	defer httpx.DrainAndClose(resp.Body)
	ans, err := httpx.ReadLimited(resp.Body, 4096)
	if err != nil {
		return "", fmt.Errorf("share: meddream token service: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return "", remoteError(resp, ans, "", true)
	}
	tok := strings.TrimSpace(string(ans))
	if tok == "" || len(tok) > 2048 {
		return "", remoteError(resp, nil, "answer is not a token", false)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] >= 0x7f || tok[i] == '<' || tok[i] == '>' || tok[i] == '"' {
			// Never echo the answer: it may be a token.
			return "", remoteError(resp, nil, "answer is not a token", false)
		}
	}
	return tok, nil
}
