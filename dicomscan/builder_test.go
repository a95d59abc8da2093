package dicomscan

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
)

// ds builds DICOM datasets byte by byte for tests that need shapes
// suyashkumar/dicom cannot write: hostile lengths, undefined-length
// sequences, deflated datasets, files without a preamble.
type ds struct {
	buf       bytes.Buffer
	implicit  bool
	bigEndian bool
}

func (d *ds) order() binary.ByteOrder {
	if d.bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

func (d *ds) tag(tag uint32) {
	var b [4]byte
	d.order().PutUint16(b[0:], uint16(tag>>16))
	d.order().PutUint16(b[2:], uint16(tag))
	d.buf.Write(b[:])
}

// header writes a tag, VR (unless implicit) and length.
func (d *ds) header(tag uint32, vr string, length uint32) *ds {
	d.tag(tag)
	var b [4]byte
	if d.implicit || tag>>16 == 0xFFFE {
		d.order().PutUint32(b[:], length)
		d.buf.Write(b[:])
		return d
	}
	d.buf.WriteString(vr)
	if longVR(uint16(vr[0])<<8 | uint16(vr[1])) {
		d.buf.Write([]byte{0, 0})
		d.order().PutUint32(b[:], length)
		d.buf.Write(b[:])
	} else {
		d.order().PutUint16(b[:], uint16(length))
		d.buf.Write(b[:2])
	}
	return d
}

// str writes a string element padded to even length.
func (d *ds) str(tag uint32, vr, value string) *ds {
	if len(value)%2 == 1 {
		if vr == "UI" {
			value += "\x00"
		} else {
			value += " "
		}
	}
	d.header(tag, vr, uint32(len(value)))
	d.buf.WriteString(value)
	return d
}

func (d *ds) raw(p []byte) *ds {
	d.buf.Write(p)
	return d
}

func (d *ds) bytes() []byte { return d.buf.Bytes() }

// instance writes the attributes every accepted instance needs.
func (d *ds) instance(study, series, sop string) *ds {
	return d.str(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.2").
		str(0x00080018, "UI", sop).
		str(0x00080060, "CS", "CT").
		str(0x00100010, "PN", "Test^Patient").
		str(0x0020000D, "UI", study).
		str(0x0020000E, "UI", series)
}

// part10 wraps a dataset in a preamble, "DICM" and a meta group declaring
// the transfer syntax; a deflated syntax compresses the dataset.
func part10(ts string, dataset []byte) []byte {
	var meta ds
	meta.str(0x00020002, "UI", "1.2.840.10008.5.1.4.1.1.2")
	meta.str(0x00020010, "UI", ts)
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	var gl ds
	gl.header(0x00020000, "UL", 4)
	gl.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(meta.buf.Len())))
	out.Write(gl.bytes())
	out.Write(meta.bytes())
	if ts == tsDeflatedLE {
		fw, _ := flate.NewWriter(&out, flate.BestCompression)
		fw.Write(dataset)
		fw.Close()
	} else {
		out.Write(dataset)
	}
	return out.Bytes()
}
