package dicomscan

import (
	"bytes"
	"strings"
	"unicode"
)

// attributes are the 26 DICOM attributes the Aura uploader reads from
// every file (docs/dicom.md, "Attributes"), under the keys of its
// attribute map, which the JSON tags repeat. Text is decoded to UTF-8 by
// Specific Character Set (0008,0005), cut at the first NUL and trimmed of
// leading and trailing white space, as the uploader does. A missing or
// empty attribute is "". The scan keeps them per file to build [Study] and
// [Series] and to apply its rules; the fields are exported for the JSON
// tags (the tests compare them with pydicom's), not for users.
type attributes struct {
	PatientName            string   `json:"patient_name"`             // (0010,0010) PN
	PatientID              string   `json:"patient_id"`               // (0010,0020) LO
	OtherPatientIDs        []string `json:"other_patient_ids"`        // (0010,1000) LO, split on '\'; nil if absent
	PatientBirthDate       string   `json:"patient_birth_date"`       // (0010,0030) DA
	PatientSex             string   `json:"patient_sex"`              // (0010,0040) CS
	IssuerOfPatientID      string   `json:"issuer_of_patient_id"`     // (0010,0021) LO
	ReferringPhysicianName string   `json:"referring_physician_name"` // (0008,0090) PN
	InstitutionAddress     string   `json:"institution_address"`      // (0008,0081) ST
	StudyDescription       string   `json:"study_description"`        // (0008,1030) LO
	ProtocolName           string   `json:"protocol_name"`            // (0018,1030) LO
	AccessionNumber        string   `json:"accession_no"`             // (0008,0050) SH
	StudyID                string   `json:"study_id"`                 // (0020,0010) SH
	StudyDate              string   `json:"study_date"`               // (0008,0020) DA
	StudyTime              string   `json:"study_time"`               // (0008,0030) TM
	TimezoneOffset         string   `json:"tz_offset"`                // (0008,0201) SH
	SeriesDescription      string   `json:"series_description"`       // (0008,103E) LO
	SeriesNumber           string   `json:"series_number"`            // (0020,0011) IS
	Modality               string   `json:"modality"`                 // (0008,0060) CS
	BodyPartExamined       string   `json:"body_part"`                // (0018,0015) CS
	SeriesDate             string   `json:"series_date"`              // (0008,0021) DA
	SeriesTime             string   `json:"series_time"`              // (0008,0031) TM
	StudyInstanceUID       string   `json:"study_uid"`                // (0020,000D) UI
	SeriesInstanceUID      string   `json:"series_uid"`               // (0020,000E) UI
	SOPInstanceUID         string   `json:"instance_uid"`             // (0008,0018) UI
	SOPClassUID            string   `json:"sop_class_uid"`            // (0008,0016) UI
	InstitutionName        string   `json:"institution_name"`         // (0008,0080) LO
}

// Indexes of the attributes in header.vals, in the order of the table in
// docs/dicom.md, "Attributes".
const (
	aPatientName = iota
	aPatientID
	aOtherPatientIDs
	aPatientBirthDate
	aPatientSex
	aIssuerOfPatientID
	aReferringPhysicianName
	aInstitutionAddress
	aStudyDescription
	aProtocolName
	aAccessionNumber
	aStudyID
	aStudyDate
	aStudyTime
	aTimezoneOffset
	aSeriesDescription
	aSeriesNumber
	aModality
	aBodyPartExamined
	aSeriesDate
	aSeriesTime
	aStudyInstanceUID
	aSeriesInstanceUID
	aSOPInstanceUID
	aSOPClassUID
	aInstitutionName
	numAttrs
)

// attrIndex maps a tag to its attribute index, or -1.
func attrIndex(tag uint32) int {
	switch tag {
	case 0x00100010:
		return aPatientName
	case 0x00100020:
		return aPatientID
	case 0x00101000:
		return aOtherPatientIDs
	case 0x00100030:
		return aPatientBirthDate
	case 0x00100040:
		return aPatientSex
	case 0x00100021:
		return aIssuerOfPatientID
	case 0x00080090:
		return aReferringPhysicianName
	case 0x00080081:
		return aInstitutionAddress
	case 0x00081030:
		return aStudyDescription
	case 0x00181030:
		return aProtocolName
	case 0x00080050:
		return aAccessionNumber
	case 0x00200010:
		return aStudyID
	case 0x00080020:
		return aStudyDate
	case 0x00080030:
		return aStudyTime
	case 0x00080201:
		return aTimezoneOffset
	case 0x0008103E:
		return aSeriesDescription
	case 0x00200011:
		return aSeriesNumber
	case 0x00080060:
		return aModality
	case 0x00180015:
		return aBodyPartExamined
	case 0x00080021:
		return aSeriesDate
	case 0x00080031:
		return aSeriesTime
	case 0x0020000D:
		return aStudyInstanceUID
	case 0x0020000E:
		return aSeriesInstanceUID
	case 0x00080018:
		return aSOPInstanceUID
	case 0x00080016:
		return aSOPClassUID
	case 0x00080080:
		return aInstitutionName
	}
	return -1
}

// charsetText reports whether Specific Character Set applies to the
// attribute's VR (PN, LO, SH, ST). The others (CS, DA, TM, IS, UI) use the
// default repertoire.
func charsetText(a int) bool {
	switch a {
	case aPatientName, aPatientID, aOtherPatientIDs, aIssuerOfPatientID,
		aReferringPhysicianName, aInstitutionAddress, aStudyDescription,
		aProtocolName, aAccessionNumber, aStudyID, aTimezoneOffset,
		aSeriesDescription, aInstitutionName:
		return true
	}
	return false
}

func (a *attributes) field(i int) *string {
	switch i {
	case aPatientName:
		return &a.PatientName
	case aPatientID:
		return &a.PatientID
	case aPatientBirthDate:
		return &a.PatientBirthDate
	case aPatientSex:
		return &a.PatientSex
	case aIssuerOfPatientID:
		return &a.IssuerOfPatientID
	case aReferringPhysicianName:
		return &a.ReferringPhysicianName
	case aInstitutionAddress:
		return &a.InstitutionAddress
	case aStudyDescription:
		return &a.StudyDescription
	case aProtocolName:
		return &a.ProtocolName
	case aAccessionNumber:
		return &a.AccessionNumber
	case aStudyID:
		return &a.StudyID
	case aStudyDate:
		return &a.StudyDate
	case aStudyTime:
		return &a.StudyTime
	case aTimezoneOffset:
		return &a.TimezoneOffset
	case aSeriesDescription:
		return &a.SeriesDescription
	case aSeriesNumber:
		return &a.SeriesNumber
	case aModality:
		return &a.Modality
	case aBodyPartExamined:
		return &a.BodyPartExamined
	case aSeriesDate:
		return &a.SeriesDate
	case aSeriesTime:
		return &a.SeriesTime
	case aStudyInstanceUID:
		return &a.StudyInstanceUID
	case aSeriesInstanceUID:
		return &a.SeriesInstanceUID
	case aSOPInstanceUID:
		return &a.SOPInstanceUID
	case aSOPClassUID:
		return &a.SOPClassUID
	case aInstitutionName:
		return &a.InstitutionName
	}
	return nil
}

// attributes decodes the raw values of h, interning strings in c.
func (h *header) attributes(c *strCache) attributes {
	var a attributes
	var dec *textDecoder
	for i := 0; i < numAttrs; i++ {
		v := h.value(i)
		if v == nil {
			continue
		}
		if j := bytes.IndexByte(v, 0); j >= 0 {
			v = v[:j]
		}
		var s string
		switch {
		case isPlainASCII(v): // every character set reads ASCII as ASCII
			s = c.bytes(trimASCII(v))
		case charsetText(i):
			if dec == nil {
				dec = newTextDecoder(h.charsetValue())
			}
			s = c.str(trim(dec.decode(v, i == aPatientName || i == aReferringPhysicianName)))
		default:
			s = c.str(trim(defaultText(v)))
		}
		if i == aOtherPatientIDs {
			if s != "" {
				a.OtherPatientIDs = strings.Split(s, `\`)
				for k, id := range a.OtherPatientIDs {
					a.OtherPatientIDs[k] = trim(id)
				}
			}
			continue
		}
		*a.field(i) = s
	}
	return a
}

// strCache interns the strings of one worker: patient, study and series
// values repeat from file to file, so a scan allocates each once per
// worker instead of once per file. It holds at most cacheEntries short
// strings.
type strCache struct{ m map[string]string }

const (
	cacheEntries = 4096
	cacheMaxLen  = 128
)

func (c *strCache) bytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > cacheMaxLen {
		return string(b)
	}
	if s, ok := c.m[string(b)]; ok {
		return s
	}
	return c.add(string(b))
}

func (c *strCache) str(s string) string {
	if s == "" || len(s) > cacheMaxLen {
		return s
	}
	if x, ok := c.m[s]; ok {
		return x
	}
	return c.add(s)
}

func (c *strCache) add(s string) string {
	if c.m == nil || len(c.m) >= cacheEntries {
		c.m = make(map[string]string, 256)
	}
	c.m[s] = s
	return s
}

// trimASCII trims the ASCII white space of JavaScript's trim.
func trimASCII(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// trim removes leading and trailing white space as JavaScript's
// String.prototype.trim does (Unicode spaces and U+FEFF).
func trim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' })
}

// uidString turns a UI value into a string: NUL padding and spaces removed,
// bytes outside ASCII mapped as Latin-1 so the result is valid UTF-8.
func uidString(v []byte) string {
	if j := bytes.IndexByte(v, 0); j >= 0 {
		v = v[:j]
	}
	return trim(defaultText(v))
}

// isPlainASCII reports whether b is ASCII without ISO 2022 escapes, which
// every character set decodes to itself.
func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || c == 0x1B {
			return false
		}
	}
	return true
}
