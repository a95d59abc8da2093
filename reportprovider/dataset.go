package reportprovider

import (
	"bytes"
	"encoding/json"
	"strconv"
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
