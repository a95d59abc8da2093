package dicomnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// DIMSE command fields (see docs/dicom-network.md, "DIMSE").
const (
	cmdCStoreRQ  = 0x0001
	cmdCStoreRSP = 0x8001
	cmdCEchoRQ   = 0x0030
	cmdCEchoRSP  = 0x8030
	// noDataSet is the Command Data Set Type saying no dataset follows.
	noDataSet = 0x0101
)

// Command set elements (group 0000).
const (
	tagGroupLength        dicomio.Tag = 0x00000000
	tagAffectedSOPClass   dicomio.Tag = 0x00000002
	tagCommandField       dicomio.Tag = 0x00000100
	tagMessageID          dicomio.Tag = 0x00000110
	tagMessageIDRespondTo dicomio.Tag = 0x00000120
	tagPriority           dicomio.Tag = 0x00000700
	tagDataSetType        dicomio.Tag = 0x00000800
	tagStatus             dicomio.Tag = 0x00000900
	tagErrorComment       dicomio.Tag = 0x00000902
	tagAffectedSOPInst    dicomio.Tag = 0x00001000
)

// maxCommand bounds a command set: real ones take a few hundred bytes.
const maxCommand = 16 << 10

// command is a decoded DIMSE command set, the elements this package uses.
type command struct {
	field         uint16
	sopClass      string
	sopInstance   string
	messageID     uint16
	respondingTo  uint16
	hasDataSet    bool
	status        Status
	errorComment  string
	hasMessageID  bool
	hasStatus     bool
	hasDataSetTyp bool
}

// decodeCommand decodes a command set (implicit VR little endian).
func decodeCommand(b []byte) (*command, error) {
	if len(b) > maxCommand {
		return nil, fmt.Errorf("%w: command set of %d bytes", ErrProtocol, len(b))
	}
	c := &command{}
	r := dicomio.NewDatasetReader(bytes.NewReader(b), dicomio.ImplicitLittle, 0) // b is bounded
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: command set: %v", ErrProtocol, err)
		}
		if h.Tag.Group() != 0 || h.Length == dicomio.UndefinedLength {
			return nil, fmt.Errorf("%w: command set holds %v", ErrProtocol, h.Tag)
		}
		v, err := r.ReadValue(1024)
		if errors.Is(err, dicomio.ErrTooLong) {
			continue // Next skips it
		}
		if err != nil {
			return nil, fmt.Errorf("%w: command set: %v", ErrProtocol, err)
		}
		us := func() (uint16, error) {
			if len(v) != 2 {
				return 0, fmt.Errorf("%w: command element %v of %d bytes", ErrProtocol, h.Tag, len(v))
			}
			return binary.LittleEndian.Uint16(v), nil
		}
		switch h.Tag {
		case tagAffectedSOPClass:
			c.sopClass = trimUID(v)
		case tagAffectedSOPInst:
			c.sopInstance = trimUID(v)
		case tagErrorComment:
			c.errorComment = dicomio.TrimText(v)
		case tagCommandField:
			c.field, err = us()
		case tagMessageID:
			c.messageID, err = us()
			c.hasMessageID = true
		case tagMessageIDRespondTo:
			c.respondingTo, err = us()
		case tagDataSetType:
			var t uint16
			t, err = us()
			c.hasDataSet, c.hasDataSetTyp = t != noDataSet, true
		case tagStatus:
			var s uint16
			s, err = us()
			c.status, c.hasStatus = Status(s), true
		}
		if err != nil {
			return nil, err
		}
	}
	if !c.hasDataSetTyp {
		return nil, fmt.Errorf("%w: command set without Command Data Set Type", ErrProtocol)
	}
	return c, nil
}

// encodeCommand encodes a command set in implicit VR little endian, with
// its group length, elements in ascending tag order.
func encodeCommand(c *command) []byte {
	var b []byte
	uid := func(t dicomio.Tag, s string) {
		if s != "" {
			b = appendElement(b, t, dicomio.Pad(dicomio.VRUI, []byte(s)))
		}
	}
	us := func(t dicomio.Tag, v uint16) { b = appendElement(b, t, binary.LittleEndian.AppendUint16(nil, v)) }
	uid(tagAffectedSOPClass, c.sopClass)
	us(tagCommandField, c.field)
	if c.field&0x8000 == 0 {
		us(tagMessageID, c.messageID)
	} else {
		us(tagMessageIDRespondTo, c.respondingTo)
	}
	if c.field == cmdCStoreRQ {
		us(tagPriority, 0) // medium
	}
	dst := uint16(noDataSet)
	if c.hasDataSet {
		dst = 0x0000
	}
	us(tagDataSetType, dst)
	if c.field&0x8000 != 0 {
		us(tagStatus, uint16(c.status))
		if c.errorComment != "" {
			b = appendElement(b, tagErrorComment, dicomio.Pad(dicomio.MakeVR("LO"), []byte(c.errorComment)))
		}
	}
	uid(tagAffectedSOPInst, c.sopInstance)
	out := appendElement(make([]byte, 0, 12+len(b)), tagGroupLength, binary.LittleEndian.AppendUint32(nil, uint32(len(b))))
	return append(out, b...)
}

func appendElement(b []byte, t dicomio.Tag, v []byte) []byte {
	b, _ = dicomio.AppendHeader(b, dicomio.Header{Tag: t, Length: uint32(len(v))}, dicomio.ImplicitLittle)
	return append(b, v...)
}
