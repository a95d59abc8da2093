package kheopstest

import (
	"bytes"
	"slices"
	"sort"
	"strconv"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// InstanceSpec describes a small synthetic DICOM instance for
// [NewInstance]. Empty fields get defaults.
type InstanceSpec struct {
	StudyUID, SeriesUID, SOPInstanceUID string // required
	SOPClassUID                         string // default: CT Image Storage
	Modality                            string // default: CT
	PatientName, PatientID              string
	StudyDescription, SeriesDescription string
	StudyDate                           string // YYYYMMDD
	SeriesNumber, InstanceNumber        int
	// Attributes adds top-level text attributes by their DICOM JSON key,
	// e.g. {"00200010": "7"} for StudyID; an empty value writes the
	// element with no value. The VR is the standard one for the
	// attributes KHEOPS reads, LO for others.
	Attributes map[string]string
}

// NewInstance writes a minimal DICOM Part 10 file (explicit VR little
// endian, no pixel data) with the attributes of spec, to seed the fake with
// [Server.AddInstance] or to upload with STOW-RS. Like httptest.NewServer
// it panics rather than return an error: only a value longer than its VR
// allows (64 KiB) makes it fail.
func NewInstance(spec InstanceSpec) []byte {
	if spec.SOPClassUID == "" {
		spec.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
	}
	if spec.Modality == "" {
		spec.Modality = "CT"
	}
	type el struct {
		tag dicomio.Tag
		vr  string
		val string
	}
	ds := []el{
		{0x00080016, "UI", spec.SOPClassUID},
		{0x00080018, "UI", spec.SOPInstanceUID},
		{0x00080020, "DA", spec.StudyDate},
		{0x00080060, "CS", spec.Modality},
		{0x00081030, "LO", spec.StudyDescription},
		{0x0008103E, "LO", spec.SeriesDescription},
		{0x00100010, "PN", spec.PatientName},
		{0x00100020, "LO", spec.PatientID},
		{0x0020000D, "UI", spec.StudyUID},
		{0x0020000E, "UI", spec.SeriesUID},
		{0x00200011, "IS", strconv.Itoa(spec.SeriesNumber)},
		{0x00200013, "IS", strconv.Itoa(spec.InstanceNumber)},
	}
	for key, v := range spec.Attributes {
		t, err := strconv.ParseUint(key, 16, 32)
		if err != nil || len(key) != 8 {
			panic("kheopstest: attribute key " + strconv.Quote(key) + " is not 8 hex digits")
		}
		vr := implicitVR[uint32(t)]
		if vr == "" {
			vr = "LO"
		}
		ds = slices.DeleteFunc(ds, func(e el) bool { return e.tag == dicomio.Tag(t) })
		ds = append(ds, el{dicomio.Tag(t), vr, v})
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].tag < ds[j].tag })
	var out bytes.Buffer
	w := dicomio.NewWriter(&out)
	// Writing to a bytes.Buffer fails only on bad arguments, which the
	// fixed elements above are not.
	if err := w.WriteMeta(dicomio.Meta{
		MediaStorageSOPClassUID:    spec.SOPClassUID,
		MediaStorageSOPInstanceUID: spec.SOPInstanceUID,
		TransferSyntaxUID:          dicomio.ExplicitVRLittleEndian,
	}); err != nil {
		panic("kheopstest: " + err.Error())
	}
	for _, e := range ds {
		if err := w.WriteElement(e.tag, dicomio.MakeVR(e.vr), []byte(e.val)); err != nil {
			panic("kheopstest: " + err.Error())
		}
	}
	if err := w.Close(); err != nil {
		panic("kheopstest: " + err.Error())
	}
	return out.Bytes()
}
