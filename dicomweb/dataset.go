package dicomweb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// DICOM tags used with [Dataset], in the 8-hex-digit form of the DICOM
// JSON model (PS3.18 §F.2).
const (
	tagSOPClassUID                    = "00080016"
	tagSOPInstanceUID                 = "00080018"
	tagStudyDate                      = "00080020"
	tagAccessionNumber                = "00080050"
	tagModality                       = "00080060"
	tagModalitiesInStudy              = "00080061"
	tagStudyDescription               = "00081030"
	tagSeriesDescription              = "0008103E"
	tagRetrieveURL                    = "00081190"
	tagFailedSOPSequence              = "00081198"
	tagReferencedSOPSequence          = "00081199"
	tagFailureReason                  = "00081197"
	tagReferencedSOPClassUID          = "00081150"
	tagReferencedSOPInstanceUID       = "00081155"
	tagPatientName                    = "00100010"
	tagPatientID                      = "00100020"
	tagStudyInstanceUID               = "0020000D"
	tagSeriesInstanceUID              = "0020000E"
	tagStudyID                        = "00200010"
	tagSeriesNumber                   = "00200011"
	tagInstanceNumber                 = "00200013"
	tagNumberOfStudyRelatedSeries     = "00201206"
	tagNumberOfStudyRelatedInstances  = "00201208"
	tagNumberOfSeriesRelatedInstances = "00201209"
)

// Dataset is one DICOM JSON object (PS3.18 §F.2): attributes keyed by tag,
// as returned by QIDO-RS and WADO-RS metadata.
type Dataset map[string]Attribute

// Attribute is one DICOM JSON attribute. Value is kept raw because its
// elements may be strings, numbers, person-name objects or nested datasets
// (sequences); use the Dataset accessors to read it.
type Attribute struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value,omitempty"`
}

// Strings returns the values of tag as text: strings as they are, numbers
// in their JSON form, person names as their Alphabetic component. A null
// value gives "". Absent tags give nil.
func (d Dataset) Strings(tag string) []string {
	a, ok := d[tag]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(a.Value))
	for _, raw := range a.Value {
		out = append(out, valueText(raw))
	}
	return out
}

// String returns the first value of tag as text, or "".
func (d Dataset) String(tag string) string {
	a, ok := d[tag]
	if !ok || len(a.Value) == 0 {
		return ""
	}
	return valueText(a.Value[0])
}

// Int returns the first value of tag as an integer.
func (d Dataset) Int(tag string) (int, bool) {
	n, err := strconv.Atoi(d.String(tag))
	return n, err == nil
}

// Items returns the items of a sequence attribute. Items that are not JSON
// objects are skipped.
func (d Dataset) Items(tag string) []Dataset {
	a, ok := d[tag]
	if !ok {
		return nil
	}
	var out []Dataset
	for _, raw := range a.Value {
		var item Dataset
		if json.Unmarshal(raw, &item) == nil && item != nil {
			out = append(out, item)
		}
	}
	return out
}

func valueText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '{':
		var pn struct {
			Alphabetic string `json:"Alphabetic"`
		}
		if json.Unmarshal(raw, &pn) == nil {
			return pn.Alphabetic
		}
	case 'n':
		return ""
	default:
		return string(raw)
	}
	return ""
}

// parseDatasets decodes a DICOM JSON array of datasets (a QIDO-RS or
// WADO-RS metadata response). An empty body is an empty result.
func parseDatasets(data []byte) ([]Dataset, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, nil
	}
	var out []Dataset
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// tagAttributeIdentifierList is (0000,1005): the attributes a STOW-RS
// failure names. KHEOPS sends it with VR LO and each tag as a decimal
// number ("2097168" for StudyID); the standard's VR AT sends 8 hex digits.
const tagAttributeIdentifierList = "00001005"

// parseStoreResponse decodes a STOW-RS response body: a DICOM JSON dataset
// (or an array holding one) with ReferencedSOPSequence and
// FailedSOPSequence. An empty body is an empty result.
func parseStoreResponse(data []byte) (*StoreResult, error) {
	var ds Dataset
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
	case trimmed[0] == '[':
		var arr []Dataset
		if err := json.Unmarshal(trimmed, &arr); err != nil || len(arr) > 1 {
			return nil, fmt.Errorf("dicomweb: stow-rs: %w: not one DICOM JSON dataset", ErrMalformed)
		}
		if len(arr) == 1 {
			ds = arr[0]
		}
	default:
		if err := json.Unmarshal(trimmed, &ds); err != nil {
			return nil, fmt.Errorf("dicomweb: stow-rs: %w: not DICOM JSON", ErrMalformed)
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
			Tags:           attributeTags(it[tagAttributeIdentifierList]),
		})
	}
	return res, nil
}

// attributeTags reads an attribute identifier list: decimal numbers (as
// KHEOPS writes them, VR LO) or, with VR AT, 8 hex digits. Values that are
// neither are skipped; at most 64 are kept.
func attributeTags(a Attribute) []uint32 {
	var out []uint32
	for _, raw := range a.Value {
		if len(out) == 64 {
			break
		}
		s := strings.TrimSpace(valueText(raw))
		base := 10
		if a.VR == "AT" {
			base = 16
		}
		n, err := strconv.ParseUint(s, base, 32)
		if err != nil && base == 10 && len(s) == 8 {
			n, err = strconv.ParseUint(s, 16, 32)
		}
		if err == nil {
			out = append(out, uint32(n))
		}
	}
	return out
}
