package reportprovider

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// DICOM tags used with [Dataset], in the 8-hex-digit form of the DICOM
// JSON model (PS3.18 §F.2).
const (
	TagSOPClassUID                    = "00080016"
	TagSOPInstanceUID                 = "00080018"
	TagStudyDate                      = "00080020"
	TagAccessionNumber                = "00080050"
	TagModality                       = "00080060"
	TagModalitiesInStudy              = "00080061"
	TagStudyDescription               = "00081030"
	TagSeriesDescription              = "0008103E"
	TagRetrieveURL                    = "00081190"
	TagFailedSOPSequence              = "00081198"
	TagReferencedSOPSequence          = "00081199"
	TagFailureReason                  = "00081197"
	TagReferencedSOPClassUID          = "00081150"
	TagReferencedSOPInstanceUID       = "00081155"
	TagPatientName                    = "00100010"
	TagPatientID                      = "00100020"
	TagStudyInstanceUID               = "0020000D"
	TagSeriesInstanceUID              = "0020000E"
	TagStudyID                        = "00200010"
	TagSeriesNumber                   = "00200011"
	TagInstanceNumber                 = "00200013"
	TagNumberOfStudyRelatedSeries     = "00201206"
	TagNumberOfStudyRelatedInstances  = "00201208"
	TagNumberOfSeriesRelatedInstances = "00201209"
)

// Dataset is one DICOM JSON object (PS3.18 §F.2): attributes keyed by tag,
// as returned by QIDO-RS and WADO-RS metadata.
type Dataset map[string]Attribute

// Attribute is one DICOM JSON attribute. Value is kept raw because its
// elements may be strings, numbers, person-name objects or nested datasets
// (sequences); use the Dataset accessors to read it.
type Attribute struct {
	VR           string            `json:"vr"`
	Value        []json.RawMessage `json:"Value,omitempty"`
	BulkDataURI  string            `json:"BulkDataURI,omitempty"`
	InlineBinary string            `json:"InlineBinary,omitempty"`
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

// ParseDatasets decodes a DICOM JSON array of datasets (a QIDO-RS or
// WADO-RS metadata response). An empty body is an empty result.
func ParseDatasets(data []byte) ([]Dataset, error) {
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
