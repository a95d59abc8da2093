package kheopstest

import (
	"bytes"
	"encoding/binary"
	"sort"
	"strconv"
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
}

// NewInstance writes a minimal DICOM Part 10 file (explicit VR little
// endian, no pixel data) with the attributes of spec, to seed the fake with
// [Server.AddInstance] or to upload with STOW-RS.
func NewInstance(spec InstanceSpec) []byte {
	if spec.SOPClassUID == "" {
		spec.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
	}
	if spec.Modality == "" {
		spec.Modality = "CT"
	}
	type el struct {
		tag uint32
		vr  string
		val string
	}
	meta := []el{
		{0x00020002, "UI", spec.SOPClassUID},
		{0x00020003, "UI", spec.SOPInstanceUID},
		{0x00020010, "UI", "1.2.840.10008.1.2.1"},
		{0x00020012, "UI", "1.2.826.0.1.3680043.10.1"},
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
	sort.Slice(ds, func(i, j int) bool { return ds[i].tag < ds[j].tag })
	write := func(b *bytes.Buffer, e el) {
		v := []byte(e.val)
		if len(v)%2 == 1 {
			if e.vr == "UI" {
				v = append(v, 0)
			} else {
				v = append(v, ' ')
			}
		}
		_ = binary.Write(b, binary.LittleEndian, uint16(e.tag>>16))
		_ = binary.Write(b, binary.LittleEndian, uint16(e.tag))
		b.WriteString(e.vr)
		_ = binary.Write(b, binary.LittleEndian, uint16(len(v)))
		b.Write(v)
	}
	var mb bytes.Buffer
	// (0002,0001) OB file meta information version 00\01.
	mb.Write([]byte{0x02, 0x00, 0x01, 0x00, 'O', 'B', 0, 0, 2, 0, 0, 0, 0x00, 0x01})
	for _, e := range meta {
		write(&mb, e)
	}
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	out.Write([]byte{0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0})
	_ = binary.Write(&out, binary.LittleEndian, uint32(mb.Len()))
	out.Write(mb.Bytes())
	for _, e := range ds {
		write(&out, e)
	}
	return out.Bytes()
}
