package dicomio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Tag is a data element tag, group<<16 | element.
type Tag uint32

// Group returns the tag's group number.
func (t Tag) Group() uint16 { return uint16(t >> 16) }

// String formats the tag as (gggg,eeee).
func (t Tag) String() string { return fmt.Sprintf("(%04X,%04X)", uint16(t>>16), uint16(t)) }

// Tags with a structural meaning.
const (
	TagFileMetaInformationGroupLength Tag = 0x00020000
	TagFileMetaInformationVersion     Tag = 0x00020001
	TagMediaStorageSOPClassUID        Tag = 0x00020002
	TagMediaStorageSOPInstanceUID     Tag = 0x00020003
	TagTransferSyntaxUID              Tag = 0x00020010
	TagImplementationClassUID         Tag = 0x00020012
	TagPixelData                      Tag = 0x7FE00010
	TagItem                           Tag = 0xFFFEE000
	TagItemDelimitation               Tag = 0xFFFEE00D
	TagSequenceDelimitation           Tag = 0xFFFEE0DD
)

// UndefinedLength is the value length of an undefined-length sequence,
// item or encapsulated value.
const UndefinedLength = 0xFFFFFFFF

// VR is a value representation as its two ASCII letters, first letter in
// the high byte ('O'<<8 | 'B'). The zero VR means "not encoded": implicit
// VR elements, items and delimiters.
type VR uint16

// Value representations with a structural meaning.
const (
	VROB VR = 'O'<<8 | 'B'
	VRSQ VR = 'S'<<8 | 'Q'
	VRUI VR = 'U'<<8 | 'I'
	VRUL VR = 'U'<<8 | 'L'
	VRUN VR = 'U'<<8 | 'N'
)

// MakeVR returns the VR spelled by a two-letter string.
func MakeVR(s string) VR {
	if len(s) != 2 {
		return 0
	}
	return VR(s[0])<<8 | VR(s[1])
}

// String returns the two letters, or "" for the zero VR.
func (v VR) String() string {
	if v == 0 {
		return ""
	}
	return string([]byte{byte(v >> 8), byte(v)})
}

// Valid reports whether v is a VR of PS3.5 (2025 edition).
func (v VR) Valid() bool { return IsVR(byte(v>>8), byte(v)) }

// IsVR reports whether two bytes spell a VR of PS3.5 (2025 edition).
func IsVR(a, b byte) bool {
	switch uint16(a)<<8 | uint16(b) {
	case 'A'<<8 | 'E', 'A'<<8 | 'S', 'A'<<8 | 'T', 'C'<<8 | 'S', 'D'<<8 | 'A',
		'D'<<8 | 'S', 'D'<<8 | 'T', 'F'<<8 | 'L', 'F'<<8 | 'D', 'I'<<8 | 'S',
		'L'<<8 | 'O', 'L'<<8 | 'T', 'O'<<8 | 'B', 'O'<<8 | 'D', 'O'<<8 | 'F',
		'O'<<8 | 'L', 'O'<<8 | 'V', 'O'<<8 | 'W', 'P'<<8 | 'N', 'S'<<8 | 'H',
		'S'<<8 | 'L', 'S'<<8 | 'Q', 'S'<<8 | 'S', 'S'<<8 | 'T', 'S'<<8 | 'V',
		'T'<<8 | 'M', 'U'<<8 | 'C', 'U'<<8 | 'I', 'U'<<8 | 'L', 'U'<<8 | 'N',
		'U'<<8 | 'R', 'U'<<8 | 'S', 'U'<<8 | 'T', 'U'<<8 | 'V':
		return true
	}
	return false
}

// Long reports whether the VR has a 2-byte reserved field and a 4-byte
// value length in explicit VR (PS3.5 table 7.1-1), so that its header is
// 12 bytes instead of 8.
func (v VR) Long() bool {
	switch v {
	case 'O'<<8 | 'B', 'O'<<8 | 'D', 'O'<<8 | 'F', 'O'<<8 | 'L', 'O'<<8 | 'V',
		'O'<<8 | 'W', 'S'<<8 | 'Q', 'S'<<8 | 'V', 'U'<<8 | 'C', 'U'<<8 | 'N',
		'U'<<8 | 'R', 'U'<<8 | 'T', 'U'<<8 | 'V':
		return true
	}
	return false
}

// Text reports whether values of the VR are character strings, padded to
// an even length with a space (NUL for UI).
func (v VR) Text() bool {
	switch v {
	case 'A'<<8 | 'E', 'A'<<8 | 'S', 'C'<<8 | 'S', 'D'<<8 | 'A', 'D'<<8 | 'S',
		'D'<<8 | 'T', 'I'<<8 | 'S', 'L'<<8 | 'O', 'L'<<8 | 'T', 'P'<<8 | 'N',
		'S'<<8 | 'H', 'S'<<8 | 'T', 'T'<<8 | 'M', 'U'<<8 | 'C', 'U'<<8 | 'I',
		'U'<<8 | 'R', 'U'<<8 | 'T':
		return true
	}
	return false
}

// Syntax is how a dataset is encoded.
type Syntax struct {
	Explicit  bool // VRs are written out
	BigEndian bool
}

// Encodings of the transfer syntaxes.
var (
	ImplicitLittle = Syntax{}
	ExplicitLittle = Syntax{Explicit: true}
	ExplicitBig    = Syntax{Explicit: true, BigEndian: true}
)

// Transfer syntax UIDs this package treats specially. Every other one is
// an encapsulated syntax whose dataset is explicit VR little endian.
const (
	ImplicitVRLittleEndian = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	ExplicitVRBigEndian    = "1.2.840.10008.1.2.2"
	DeflatedExplicitVRLE   = "1.2.840.10008.1.2.1.99"
)

// SyntaxOf returns the encoding of a transfer syntax's dataset, and
// whether the dataset is deflated.
func SyntaxOf(transferSyntax string) (s Syntax, deflated bool) {
	switch transferSyntax {
	case ImplicitVRLittleEndian:
		return ImplicitLittle, false
	case ExplicitVRBigEndian:
		return ExplicitBig, false
	case DeflatedExplicitVRLE:
		return ExplicitLittle, true
	default:
		return ExplicitLittle, false
	}
}

// byteOrder is both binary.ByteOrder and binary.AppendByteOrder.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func (s Syntax) order() byteOrder {
	if s.BigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// Header is a decoded element header.
type Header struct {
	Tag    Tag
	VR     VR     // 0 in implicit VR, and for items and delimiters
	Length uint32 // UndefinedLength for undefined-length values
}

// ErrMalformed is returned for bytes that cannot be a DICOM element.
var ErrMalformed = errors.New("dicomio: malformed data element")

// HeaderSize is the most bytes an element header takes.
const HeaderSize = 12

// DecodeHeader decodes the element header at the start of b in syntax s.
// It needs 8 bytes, or 12 for a long explicit VR: with fewer it returns
// n == 0 and a nil error, and the caller must supply more. Items and
// delimiters (group FFFE) never carry a VR. On an invalid VR, h.Tag is
// still set. It allocates nothing; dicomscan calls it for every element.
func DecodeHeader(b []byte, s Syntax) (h Header, n int, err error) {
	if len(b) < 8 {
		return Header{}, 0, nil
	}
	be := s.BigEndian
	h.Tag = Tag(uint32(u16(b, be))<<16 | uint32(u16(b[2:], be)))
	if !s.Explicit || h.Tag>>16 == 0xFFFE {
		h.Length = u32(b[4:], be)
		return h, 8, nil
	}
	if !IsVR(b[4], b[5]) {
		return Header{Tag: h.Tag}, 0, fmt.Errorf("%w: %v has invalid VR %q", ErrMalformed, h.Tag, b[4:6])
	}
	h.VR = VR(b[4])<<8 | VR(b[5])
	if !h.VR.Long() {
		h.Length = uint32(u16(b[6:], be))
		return h, 8, nil
	}
	if len(b) < 12 {
		return Header{}, 0, nil
	}
	h.Length = u32(b[8:], be)
	return h, 12, nil
}

func u16(b []byte, bigEndian bool) uint16 {
	if bigEndian {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func u32(b []byte, bigEndian bool) uint32 {
	if bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// AppendHeader appends the encoding of h in syntax s. In explicit VR a
// short VR needs a length below 65536.
func AppendHeader(dst []byte, h Header, s Syntax) ([]byte, error) {
	o := s.order()
	dst = o.AppendUint16(dst, h.Tag.Group())
	dst = o.AppendUint16(dst, uint16(h.Tag))
	if !s.Explicit || h.Tag.Group() == 0xFFFE {
		return o.AppendUint32(dst, h.Length), nil
	}
	if !h.VR.Valid() {
		return nil, fmt.Errorf("dicomio: %v: invalid VR %q", h.Tag, h.VR.String())
	}
	dst = append(dst, byte(h.VR>>8), byte(h.VR))
	if h.VR.Long() {
		dst = append(dst, 0, 0)
		return o.AppendUint32(dst, h.Length), nil
	}
	if h.Length > 0xFFFF {
		return nil, fmt.Errorf("dicomio: %v: %d bytes do not fit a %s value", h.Tag, h.Length, h.VR)
	}
	return o.AppendUint16(dst, uint16(h.Length)), nil
}

// IsUID reports whether s is a DICOM UID as PS3.5 9.1 defines it:
// dot-separated decimal components without leading zeros, at most 64
// characters.
func IsUID(s string) bool {
	if len(s) > 64 || !IsOID(s) {
		return false
	}
	for _, c := range strings.Split(s, ".") {
		if len(c) > 1 && c[0] == '0' {
			return false
		}
	}
	return true
}

// IsOID reports whether s parses as an ASN.1 object identifier in dotted
// form, the looser rule KHEOPS applies to the UIDs it launches and stores:
// at least two components of decimal digits (leading zeros allowed, any
// length), the first 0, 1 or 2, and the second below 40 when the first is
// 0 or 1. The result contains only digits and dots, so it is safe in a URL
// path. Callers bound the length.
func IsOID(s string) bool {
	arcs := strings.Split(s, ".")
	if len(arcs) < 2 {
		return false
	}
	for _, a := range arcs {
		if a == "" {
			return false
		}
		for i := 0; i < len(a); i++ {
			if a[i] < '0' || a[i] > '9' {
				return false
			}
		}
	}
	first := strings.TrimLeft(arcs[0], "0")
	if len(first) > 1 || first > "2" {
		return false
	}
	if first == "2" {
		return true
	}
	second := strings.TrimLeft(arcs[1], "0")
	return len(second) < 2 || (len(second) == 2 && second < "40")
}
