package reportprovider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// defaultMaxDICOMwebResponse bounds QIDO-RS and WADO-RS metadata responses
// read into memory.
const defaultMaxDICOMwebResponse = 32 << 20

// DICOMweb is a small DICOMweb client for a KHEOPS provider session:
// QIDO-RS study and series search, WADO-RS study metadata, and STOW-RS.
// Get one from [Session.DICOMweb]: it sends the session's token, and only
// to the KHEOPS origin. Safe for concurrent use.
type DICOMweb struct {
	// MaxResponseBytes bounds QIDO-RS and WADO-RS metadata responses read
	// into memory. 0: 32 MiB.
	MaxResponseBytes int64

	endpoint string       // the dicomweb_endpoint, e.g. ROOT/api
	hc       *http.Client // sends the session's token; see Session.Client
}

func (d *DICOMweb) url(parts ...string) string {
	return strings.TrimRight(d.endpoint, "/") + "/" + strings.Join(parts, "/")
}

// SearchStudies runs QIDO-RS GET {endpoint}/studies with the query (for
// example StudyInstanceUID, includefield). KHEOPS returns only the studies
// the token grants.
func (d *DICOMweb) SearchStudies(ctx context.Context, query url.Values) ([]Dataset, error) {
	return d.getDatasets(ctx, "qido-rs studies", d.url("studies"), query)
}

// SearchSeries runs QIDO-RS GET {endpoint}/studies/{study}/series.
func (d *DICOMweb) SearchSeries(ctx context.Context, studyUID string, query url.Values) ([]Dataset, error) {
	if !validUID(studyUID) {
		return nil, fmt.Errorf("reportprovider: invalid study UID")
	}
	return d.getDatasets(ctx, "qido-rs series", d.url("studies", studyUID, "series"), query)
}

// StudyMetadata runs WADO-RS GET {endpoint}/studies/{study}/metadata: one
// dataset per instance, without bulk data.
func (d *DICOMweb) StudyMetadata(ctx context.Context, studyUID string) ([]Dataset, error) {
	if !validUID(studyUID) {
		return nil, fmt.Errorf("reportprovider: invalid study UID")
	}
	return d.getDatasets(ctx, "wado-rs metadata", d.url("studies", studyUID, "metadata"), nil)
}

func (d *DICOMweb) client() *http.Client {
	if d.hc != nil {
		return d.hc
	}
	return httpx.NewClient(0)
}

func (d *DICOMweb) getDatasets(ctx context.Context, op, u string, query url.Values) ([]Dataset, error) {
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: %s: %w", op, err)
	}
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := d.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: %s: %w", op, err)
	}
	defer httpx.DrainAndClose(resp.Body)
	limit := d.MaxResponseBytes
	if limit <= 0 {
		limit = defaultMaxDICOMwebResponse
	}
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	data, err := httpx.ReadLimited(resp.Body, limit)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: %s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, httpError(resp, data)
	}
	out, err := parseDatasets(data)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: %s: response is not DICOM JSON: %w", op, err)
	}
	return out, nil
}

// StoreResult is a STOW-RS response (PS3.18 §10.5.3).
type StoreResult struct {
	StatusCode int
	Stored     []StoredInstance
	Failed     []FailedInstance
}

// StoredInstance is one item of the ReferencedSOPSequence.
type StoredInstance struct {
	SOPClassUID    string
	SOPInstanceUID string
	RetrieveURL    string
}

// FailedInstance is one item of the FailedSOPSequence. Reason is the
// FailureReason code, for example 0x0124 (not authorized) or 0xC000.
type FailedInstance struct {
	SOPClassUID    string
	SOPInstanceUID string
	Reason         int
}

// StoreError reports instances a STOW-RS request did not store (HTTP 202
// for a partial store, 409 when nothing was stored). Use errors.As.
type StoreError struct {
	StatusCode int
	Failed     []FailedInstance
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("reportprovider: stow-rs: %d instance(s) not stored (HTTP %d)", len(e.Failed), e.StatusCode)
}

// errStoreAborted stops the body writer when the request is over.
var errStoreAborted = errors.New("reportprovider: stow-rs request ended")

// Store uploads DICOM Part 10 instances with STOW-RS: POST
// {endpoint}/studies[/{study}] as multipart/related;
// type="application/dicom", one part per instance, streamed without
// buffering. On HTTP 200 it returns the result; on 202 or 409 it returns
// the result and a *StoreError listing what failed. With KHEOPS the token
// needs the write scope (else HTTP 403) and instances of studies outside
// the token are refused with FailureReason 0x0124.
func (d *DICOMweb) Store(ctx context.Context, studyUID string, instances ...io.Reader) (*StoreResult, error) {
	u := d.url("studies")
	if studyUID != "" {
		if !validUID(studyUID) {
			return nil, fmt.Errorf("reportprovider: invalid study UID")
		}
		u = d.url("studies", studyUID)
	}
	if len(instances) == 0 {
		return nil, errors.New("reportprovider: stow-rs: no instances")
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	done := make(chan error, 1)
	go func() {
		err := writeParts(mw, instances)
		_ = pw.CloseWithError(err)
		done <- err
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, pr)
	if err != nil {
		_ = pr.CloseWithError(errStoreAborted)
		<-done
		return nil, fmt.Errorf("reportprovider: stow-rs: %w", err)
	}
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := d.client().Do(req)
	_ = pr.CloseWithError(errStoreAborted)
	werr := <-done
	if werr != nil && !errors.Is(werr, errStoreAborted) && !errors.Is(werr, io.ErrClosedPipe) {
		if resp != nil {
			httpx.DrainAndClose(resp.Body)
		}
		return nil, fmt.Errorf("reportprovider: stow-rs: reading instances: %w", werr)
	}
	if err != nil {
		return nil, fmt.Errorf("reportprovider: stow-rs: %w", err)
	}
	defer httpx.DrainAndClose(resp.Body)
	data, err := httpx.ReadLimited(resp.Body, 8<<20)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: stow-rs: %w", err)
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
		return res, &StoreError{StatusCode: resp.StatusCode, Failed: res.Failed}
	}
	return res, nil
}

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

// parseStoreResponse decodes a STOW-RS response body: a DICOM JSON dataset
// (or an array holding one) with ReferencedSOPSequence and
// FailedSOPSequence. An empty body is an empty result.
func parseStoreResponse(data []byte) (*StoreResult, error) {
	var ds Dataset
	trimmed := strings.TrimSpace(string(data))
	switch {
	case trimmed == "":
	case trimmed[0] == '[':
		var arr []Dataset
		if err := json.Unmarshal(data, &arr); err != nil || len(arr) > 1 {
			return nil, fmt.Errorf("reportprovider: stow-rs: response is not one DICOM JSON dataset")
		}
		if len(arr) == 1 {
			ds = arr[0]
		}
	default:
		if err := json.Unmarshal(data, &ds); err != nil {
			return nil, fmt.Errorf("reportprovider: stow-rs: response is not DICOM JSON: %w", err)
		}
	}
	res := &StoreResult{}
	for _, it := range ds.Items(tagReferencedSOPSequence) {
		res.Stored = append(res.Stored, StoredInstance{
			SOPClassUID:    it.String(tagReferencedSOPClassUID),
			SOPInstanceUID: it.String(tagReferencedSOPInstanceUID),
			RetrieveURL:    it.String(tagRetrieveURL),
		})
	}
	for _, it := range ds.Items(tagFailedSOPSequence) {
		reason, _ := it.Int(tagFailureReason)
		res.Failed = append(res.Failed, FailedInstance{
			SOPClassUID:    it.String(tagReferencedSOPClassUID),
			SOPInstanceUID: it.String(tagReferencedSOPInstanceUID),
			Reason:         reason,
		})
	}
	return res, nil
}
