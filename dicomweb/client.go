package dicomweb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/dicombridge/dicombridge/internal/dicomio"
	"github.com/dicombridge/dicombridge/internal/httpx"
)

// defaultMaxResponse bounds QIDO-RS, WADO-RS metadata and STOW-RS
// responses read into memory when Client.MaxResponseBytes is 0.
const defaultMaxResponse = 32 << 20

// maxUIDLen bounds a UID put in a URL path. DICOM allows 64 characters;
// KHEOPS accepts any UID that parses as an OID, so the client does too.
const maxUIDLen = 256

// validUID reports whether s may be used as a UID path segment: an OID in
// dotted form (leading zeros allowed), at most maxUIDLen characters. Only
// digits and dots pass, so a valid UID never changes the URL's meaning.
func validUID(s string) bool { return len(s) <= maxUIDLen && dicomio.IsOID(s) }

// Client is a DICOMweb client: QIDO-RS searches, WADO-RS metadata and
// retrieval, STOW-RS storage. It adds no credentials itself: give it an
// HTTPClient whose Transport authenticates (kheops.Client.DICOMweb and
// reportprovider.Session.DICOMweb return one that does). Safe for
// concurrent use once configured.
type Client struct {
	// Endpoint is the DICOMweb base URL, the part before "/studies"; for
	// KHEOPS it is ROOT/api (or ROOT/api/link/{capability token}).
	Endpoint string
	// HTTPClient sends the requests and carries the authentication. nil
	// means a client with timeouts and no credentials.
	HTTPClient *http.Client
	// MaxResponseBytes bounds a QIDO-RS, WADO-RS metadata or STOW-RS
	// response read into memory. 0 means 32 MiB. Retrieved instances
	// are streamed and not bounded by it.
	MaxResponseBytes int64
}

// url joins the endpoint and path segments; every segment is a checked UID
// or a constant.
func (c *Client) url(parts ...string) string {
	return strings.TrimRight(c.Endpoint, "/") + "/" + strings.Join(parts, "/")
}

func (c *Client) client() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return httpx.NewClient(0)
}

func (c *Client) limit() int64 {
	if c.MaxResponseBytes > 0 {
		return c.MaxResponseBytes
	}
	return defaultMaxResponse
}

// path checks the UIDs (empty ones end the path) and returns the URL of
// studies[/{study}[/series/{series}[/instances/{instance}]]] + suffix.
func (c *Client) path(suffix string, uids ...string) (string, error) {
	parts := []string{"studies"}
	levels := []string{"", "series", "instances"}
	for i, uid := range uids {
		if uid == "" {
			break
		}
		if !validUID(uid) {
			return "", fmt.Errorf("%w: UID is not a dotted OID of at most %d characters", ErrInvalidUID, maxUIDLen)
		}
		if levels[i] != "" {
			parts = append(parts, levels[i])
		}
		parts = append(parts, uid)
	}
	if suffix != "" {
		parts = append(parts, suffix)
	}
	return c.url(parts...), nil
}

// SearchStudies runs QIDO-RS GET {Endpoint}/studies with query (for
// example StudyInstanceUID, PatientID, includefield, limit, offset; KHEOPS
// adds album and inbox). An empty result is nil, nil: KHEOPS answers 204
// rather than [].
func (c *Client) SearchStudies(ctx context.Context, query url.Values) ([]Dataset, error) {
	u, _ := c.path("")
	return c.getDatasets(ctx, "qido-rs studies", u, query)
}

// SearchSeries runs QIDO-RS GET {Endpoint}/studies/{study}/series.
func (c *Client) SearchSeries(ctx context.Context, studyUID string, query url.Values) ([]Dataset, error) {
	if studyUID == "" {
		return nil, fmt.Errorf("%w: empty study UID", ErrInvalidUID)
	}
	u, err := c.path("series", studyUID)
	if err != nil {
		return nil, err
	}
	return c.getDatasets(ctx, "qido-rs series", u, query)
}

// SearchInstances runs QIDO-RS GET
// {Endpoint}/studies/{study}/series/{series}/instances.
func (c *Client) SearchInstances(ctx context.Context, studyUID, seriesUID string, query url.Values) ([]Dataset, error) {
	if studyUID == "" || seriesUID == "" {
		return nil, fmt.Errorf("%w: empty study or series UID", ErrInvalidUID)
	}
	u, err := c.path("instances", studyUID, seriesUID)
	if err != nil {
		return nil, err
	}
	return c.getDatasets(ctx, "qido-rs instances", u, query)
}

// Metadata runs WADO-RS GET {Endpoint}/studies/{study}[/series/{series}]/metadata:
// one dataset per instance, without bulk data. seriesUID may be empty
// (the whole study).
func (c *Client) Metadata(ctx context.Context, studyUID, seriesUID string) ([]Dataset, error) {
	if studyUID == "" {
		return nil, fmt.Errorf("%w: empty study UID", ErrInvalidUID)
	}
	u, err := c.path("metadata", studyUID, seriesUID)
	if err != nil {
		return nil, err
	}
	return c.getDatasets(ctx, "wado-rs metadata", u, nil)
}

func (c *Client) getDatasets(ctx context.Context, op, u string, query url.Values) ([]Dataset, error) {
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	resp, err := c.do(ctx, op, http.MethodGet, u, nil, "application/dicom+json", "")
	if err != nil {
		return nil, err
	}
	defer httpx.DrainAndClose(resp.Body)
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	data, err := httpx.ReadLimited(resp.Body, c.limit())
	if err != nil {
		return nil, fmt.Errorf("dicomweb: %s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, httpError(resp, data)
	}
	out, err := parseDatasets(data)
	if err != nil {
		return nil, fmt.Errorf("dicomweb: %s: %w", op, err)
	}
	return out, nil
}

// do sends one request; transport errors are wrapped without the URL's
// credentials (see redactErr).
func (c *Client) do(ctx context.Context, op, method, u string, body io.Reader, accept, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("dicomweb: %s: %w", op, redactErr(err))
	}
	req.Header.Set("Accept", accept)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("dicomweb: %s: %w", op, redactErr(err))
	}
	return resp, nil
}

// Retrieve runs WADO-RS GET
// {Endpoint}/studies/{study}[/series/{series}[/instances/{instance}]]
// asking for multipart/related; type="application/dicom" and calls each
// with every DICOM Part 10 instance in turn, streamed: nothing is held in
// memory, and each reader is valid only during its call. An error from
// each stops the retrieval and is returned. seriesUID and instanceUID may
// be empty (the whole study or series).
func (c *Client) Retrieve(ctx context.Context, studyUID, seriesUID, instanceUID string, each func(instance io.Reader) error) error {
	if studyUID == "" || (seriesUID == "" && instanceUID != "") {
		return fmt.Errorf("%w: a study UID (and a series UID for an instance) is required", ErrInvalidUID)
	}
	u, err := c.path("", studyUID, seriesUID, instanceUID)
	if err != nil {
		return err
	}
	const op = "wado-rs retrieve"
	resp, err := c.do(ctx, op, http.MethodGet, u, nil, `multipart/related; type="application/dicom"`, "")
	if err != nil {
		return err
	}
	defer httpx.DrainAndClose(resp.Body)
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		return httpError(resp, nil)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(mt, "multipart/related") || params["boundary"] == "" {
		return fmt.Errorf("dicomweb: %s: %w: response is not multipart/related", op, ErrMalformed)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dicomweb: %s: %w: %v", op, ErrMalformed, redactErr(err))
		}
		if err := each(part); err != nil {
			return err
		}
	}
}

// StoreResult is a STOW-RS response (PS3.18 §10.5.3).
type StoreResult struct {
	StatusCode int              // 200, or 202/409 with a *StoreError
	Stored     []StoredInstance // the ReferencedSOPSequence
	Failed     []FailedInstance // the FailedSOPSequence
}

// StoredInstance is one item of the ReferencedSOPSequence.
type StoredInstance struct {
	SOPClassUID    string
	SOPInstanceUID string
	RetrieveURL    string
}

// FailedInstance is one item of the FailedSOPSequence.
type FailedInstance struct {
	SOPClassUID    string
	SOPInstanceUID string
	// Reason is the FailureReason code: for example 0x0124 (not
	// authorized), 0xC000 (cannot understand), or
	// [ReasonAttributeMismatch] (KHEOPS: attributes differ from the study
	// it already stores; Tags says which).
	Reason int
	// Tags lists the attributes the server names as wrong, from the
	// item's AttributeIdentifierList (0000,1005), as tag numbers
	// (group<<16 | element), e.g. 0x00200010 for StudyID. KHEOPS sends
	// them with a 0x0106 failure; see docs/kheops-api.md, "STOW-RS
	// attribute check".
	Tags []uint32
}

// ReasonAttributeMismatch is the FailureReason 0x0106 (invalid attribute
// value) KHEOPS gives an instance whose study or series attributes differ
// from those it already stores.
const ReasonAttributeMismatch = 0x0106

// Store uploads DICOM Part 10 instances with STOW-RS: POST
// {Endpoint}/studies[/{study}] as multipart/related;
// type="application/dicom", one part per instance, streamed without
// buffering. On HTTP 200 with no failure it returns the result; on 202 or
// 409 (or failed items) it returns the result and a *StoreError listing
// what failed. With KHEOPS the token needs write access (else HTTP 403),
// and instances of studies outside the token are refused with
// FailureReason 0x0124.
func (c *Client) Store(ctx context.Context, studyUID string, instances ...io.Reader) (*StoreResult, error) {
	return c.StoreWithQuery(ctx, studyUID, nil, instances...)
}

// StoreWithQuery is [Client.Store] with a query added to the URL, for
// servers that take one: KHEOPS stores into an album with
// album={id} (else into the uploader's inbox).
func (c *Client) StoreWithQuery(ctx context.Context, studyUID string, query url.Values, instances ...io.Reader) (*StoreResult, error) {
	u, err := c.path("", studyUID)
	if err != nil {
		return nil, err
	}
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	if len(instances) == 0 {
		return nil, errors.New("dicomweb: stow-rs: no instances")
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	done := make(chan error, 1)
	go func() {
		err := writeParts(mw, instances)
		_ = pw.CloseWithError(err)
		done <- err
	}()
	const op = "stow-rs"
	resp, err := c.do(ctx, op, http.MethodPost, u, pr, "application/dicom+json",
		`multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	_ = pr.CloseWithError(errStoreAborted)
	werr := <-done
	if werr != nil && !errors.Is(werr, errStoreAborted) && !errors.Is(werr, io.ErrClosedPipe) {
		if resp != nil {
			httpx.DrainAndClose(resp.Body)
		}
		return nil, fmt.Errorf("dicomweb: stow-rs: reading instances: %w", werr)
	}
	if err != nil {
		return nil, err
	}
	defer httpx.DrainAndClose(resp.Body)
	data, err := httpx.ReadLimited(resp.Body, c.limit())
	if err != nil {
		return nil, fmt.Errorf("dicomweb: stow-rs: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusConflict:
	default:
		return nil, httpError(resp, data)
	}
	res, err := parseStoreResponse(data)
	if err != nil {
		return nil, err
	}
	res.StatusCode = resp.StatusCode
	if resp.StatusCode != http.StatusOK || len(res.Failed) > 0 {
		r := httpx.DescribeResponse(resp, data)
		return res, &StoreError{Method: r.Method, URL: redactLink(r.URL), StatusCode: resp.StatusCode, Failed: res.Failed}
	}
	return res, nil
}

// errStoreAborted stops the body writer when the request is over.
var errStoreAborted = errors.New("dicomweb: stow-rs request ended")

func writeParts(mw *multipart.Writer, instances []io.Reader) error {
	for _, in := range instances {
		part, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			return err
		}
		if _, err := io.Copy(part, in); err != nil {
			return err
		}
	}
	return mw.Close()
}
