package deid_test

import (
	"bytes"
	"encoding/binary"
)

// burnedInFile is a minimal Part 10 file whose Burned In Annotation is
// YES, written by hand (explicit VR little endian).
func burnedInFile() []byte {
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	el := func(group, elem uint16, vr, v string) {
		binary.Write(&b, binary.LittleEndian, [2]uint16{group, elem})
		b.WriteString(vr)
		binary.Write(&b, binary.LittleEndian, uint16(len(v)))
		b.WriteString(v)
	}
	el(0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1\x00")
	el(0x0008, 0x0018, "UI", "1.2.3.4\x00")
	el(0x0028, 0x0301, "CS", "YES ")
	return b.Bytes()
}
