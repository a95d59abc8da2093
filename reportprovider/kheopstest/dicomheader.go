package kheopstest

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// This file is a small, bounded reader for the top-level attributes of a
// DICOM Part 10 file: enough for the fake to index STOW-RS uploads and
// answer QIDO-RS and WADO-RS metadata. Every length is checked against the
// bytes left before it is used, nesting is limited, and it stops at the
// pixel data, so hostile input costs at most its own size.

const (
	tsImplicitLE = "1.2.840.10008.1.2"
	tsBigEndian  = "1.2.840.10008.1.2.2"
	tsDeflated   = "1.2.840.10008.1.2.1.99"

	maxKeptValue = 64 << 10
	maxDepth     = 16
	maxInflated  = 64 << 20
)

var errNotPart10 = errors.New("kheopstest: not a DICOM Part 10 file")

type element struct {
	vr    string
	value []byte
}

// header holds the top-level elements with text or numeric values.
type header struct {
	elems map[uint32]element
}

func (h *header) str(tag uint32) string {
	e, ok := h.elems[tag]
	if !ok {
		return ""
	}
	return strings.TrimRight(string(e.value), " \x00")
}

// readHeader parses data, which must start with the 128-byte preamble and
// "DICM".
func readHeader(data []byte) (*header, error) {
	if len(data) < 132 || string(data[128:132]) != "DICM" {
		return nil, errNotPart10
	}
	h := &header{elems: make(map[uint32]element)}
	rest := data[132:]
	// File meta information: explicit VR little endian, group 0002.
	n := 0
	for n+8 <= len(rest) && binary.LittleEndian.Uint16(rest[n:]) == 0x0002 {
		m, err := walkOne(rest[n:], true, 0, h)
		if err != nil {
			return nil, fmt.Errorf("kheopstest: file meta information: %w", err)
		}
		n += m
	}
	rest = rest[n:]
	explicit := true
	switch ts := h.str(0x00020010); ts {
	case tsImplicitLE:
		explicit = false
	case tsBigEndian:
		return nil, errors.New("kheopstest: explicit VR big endian is not supported")
	case tsDeflated:
		r := flate.NewReader(bytes.NewReader(rest))
		inflated, err := io.ReadAll(io.LimitReader(r, maxInflated+1))
		if err != nil {
			return nil, fmt.Errorf("kheopstest: inflate: %w", err)
		}
		if len(inflated) > maxInflated {
			return nil, errors.New("kheopstest: deflated data set too large")
		}
		rest = inflated
	}
	// Some writers use implicit VR under an explicit transfer syntax;
	// like pydicom, look at the first element to tell.
	if explicit && len(rest) >= 6 && !upperPair(rest[4], rest[5]) {
		explicit = false
	}
	if _, err := walk(rest, explicit, 0, h); err != nil {
		return nil, err
	}
	return h, nil
}

// walk reads elements until the end of buf, an item delimiter (nested
// levels), or the pixel data (top level). It returns the bytes consumed,
// including a terminating item delimiter.
func walk(buf []byte, explicit bool, depth int, h *header) (int, error) {
	if depth > maxDepth {
		return 0, errors.New("kheopstest: sequences nested too deeply")
	}
	p := 0
	for p < len(buf) {
		if len(buf)-p < 8 {
			return 0, io.ErrUnexpectedEOF
		}
		group := binary.LittleEndian.Uint16(buf[p:])
		tag := uint32(group)<<16 | uint32(binary.LittleEndian.Uint16(buf[p+2:]))
		if tag == 0xFFFEE00D { // item delimitation
			if depth == 0 {
				return 0, errors.New("kheopstest: stray item delimiter")
			}
			return p + 8, nil
		}
		if depth == 0 && group >= 0x7FE0 {
			return p, nil
		}
		var store *header
		if depth == 0 {
			store = h
		}
		n, err := walkOne(buf[p:], explicit, depth, store)
		if err != nil {
			return 0, err
		}
		p += n
	}
	if depth > 0 {
		return 0, io.ErrUnexpectedEOF
	}
	return p, nil
}

// walkOne reads one element at the start of buf and keeps it in h (if not
// nil) when it is a text or number value.
func walkOne(buf []byte, explicit bool, depth int, h *header) (int, error) {
	if len(buf) < 8 {
		return 0, io.ErrUnexpectedEOF
	}
	group := binary.LittleEndian.Uint16(buf)
	tag := uint32(group)<<16 | uint32(binary.LittleEndian.Uint16(buf[2:]))
	var vr string
	var vl uint32
	var hdr int
	if explicit && group != 0xFFFE {
		vr = string(buf[4:6])
		if !upperPair(vr[0], vr[1]) {
			return 0, fmt.Errorf("kheopstest: bad VR at tag %08X", tag)
		}
		switch vr {
		case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
			if len(buf) < 12 {
				return 0, io.ErrUnexpectedEOF
			}
			vl = binary.LittleEndian.Uint32(buf[8:])
			hdr = 12
		default:
			vl = uint32(binary.LittleEndian.Uint16(buf[6:]))
			hdr = 8
		}
	} else {
		vr = implicitVR[tag]
		vl = binary.LittleEndian.Uint32(buf[4:])
		hdr = 8
	}
	if vl == 0xFFFFFFFF {
		// A sequence, or encapsulated/UN data, of undefined length. UN
		// content is implicit VR little endian (PS3.5 §6.2.2).
		n, err := skipItems(buf[hdr:], explicit && vr != "UN", depth+1)
		if err != nil {
			return 0, err
		}
		return hdr + n, nil
	}
	if uint64(vl) > uint64(len(buf)-hdr) {
		return 0, fmt.Errorf("kheopstest: length of tag %08X exceeds the data", tag)
	}
	if vr == "UN" {
		vr = implicitVR[tag] // an explicit UN of a known attribute (PS3.5 §6.2.2)
	}
	if h != nil && vr != "" && int(vl) <= maxKeptValue && keptVR(vr) {
		h.elems[tag] = element{vr: vr, value: buf[hdr : hdr+int(vl)]}
	}
	return hdr + int(vl), nil
}

// skipItems skips the items of an undefined-length value up to and
// including its sequence delimiter.
func skipItems(buf []byte, explicit bool, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errors.New("kheopstest: sequences nested too deeply")
	}
	p := 0
	for {
		if len(buf)-p < 8 {
			return 0, io.ErrUnexpectedEOF
		}
		tag := uint32(binary.LittleEndian.Uint16(buf[p:]))<<16 | uint32(binary.LittleEndian.Uint16(buf[p+2:]))
		vl := binary.LittleEndian.Uint32(buf[p+4:])
		p += 8
		switch tag {
		case 0xFFFEE0DD:
			return p, nil
		case 0xFFFEE000:
			if vl == 0xFFFFFFFF {
				n, err := walk(buf[p:], explicit, depth, nil)
				if err != nil {
					return 0, err
				}
				p += n
				continue
			}
			if uint64(vl) > uint64(len(buf)-p) {
				return 0, errors.New("kheopstest: item length exceeds the data")
			}
			p += int(vl)
		default:
			return 0, fmt.Errorf("kheopstest: unexpected tag %08X in a sequence", tag)
		}
	}
}

func upperPair(a, b byte) bool { return a >= 'A' && a <= 'Z' && b >= 'A' && b <= 'Z' }

func keptVR(vr string) bool {
	switch vr {
	case "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UI", "UR", "UT",
		"US", "UL", "SS", "SL", "FL", "FD":
		return true
	}
	return false
}

// implicitVR names the VR of the attributes the fake reports when a file
// uses implicit VR; others are skipped.
var implicitVR = map[uint32]string{
	0x00020010: "UI",
	0x00080005: "CS", 0x00080008: "CS", 0x00080012: "DA", 0x00080016: "UI", 0x00080018: "UI",
	0x00080020: "DA", 0x00080021: "DA", 0x00080023: "DA", 0x00080030: "TM", 0x00080050: "SH",
	0x00080060: "CS", 0x00080070: "LO", 0x00080090: "PN", 0x00081030: "LO", 0x0008103E: "LO",
	0x00100010: "PN", 0x00100020: "LO", 0x00100030: "DA", 0x00100040: "CS",
	0x00180015: "CS",
	0x0020000D: "UI", 0x0020000E: "UI", 0x00200010: "SH", 0x00200011: "IS", 0x00200013: "IS",
	0x00280010: "US", 0x00280011: "US",
	0x00420012: "LO",
}

// attribute is one DICOM JSON attribute.
type attribute struct {
	VR    string `json:"vr"`
	Value []any  `json:"Value,omitempty"`
}

// dicomJSON renders the kept elements (group 0002 excluded) in the DICOM
// JSON model. Values that do not parse as their VR are left out.
func (h *header) dicomJSON() map[string]attribute {
	out := make(map[string]attribute, len(h.elems))
	for tag, e := range h.elems {
		if tag>>16 == 0x0002 {
			continue
		}
		if a, ok := jsonAttribute(e); ok {
			out[fmt.Sprintf("%08X", tag)] = a
		}
	}
	return out
}

func jsonAttribute(e element) (attribute, bool) {
	a := attribute{VR: e.vr}
	switch e.vr {
	case "US", "SS", "UL", "SL", "FL", "FD":
		size := map[string]int{"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8}[e.vr]
		if len(e.value)%size != 0 {
			return a, false
		}
		for i := 0; i < len(e.value); i += size {
			b := e.value[i:]
			switch e.vr {
			case "US":
				a.Value = append(a.Value, binary.LittleEndian.Uint16(b))
			case "SS":
				a.Value = append(a.Value, int16(binary.LittleEndian.Uint16(b)))
			case "UL":
				a.Value = append(a.Value, binary.LittleEndian.Uint32(b))
			case "SL":
				a.Value = append(a.Value, int32(binary.LittleEndian.Uint32(b)))
			case "FL":
				f := float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
				if math.IsNaN(f) || math.IsInf(f, 0) {
					return a, false
				}
				a.Value = append(a.Value, f)
			case "FD":
				f := math.Float64frombits(binary.LittleEndian.Uint64(b))
				if math.IsNaN(f) || math.IsInf(f, 0) {
					return a, false
				}
				a.Value = append(a.Value, f)
			}
		}
		return a, true
	}
	s := strings.TrimRight(string(e.value), " \x00")
	if s == "" {
		return a, true
	}
	parts := []string{s}
	switch e.vr {
	case "LT", "ST", "UT", "UR":
	default:
		parts = strings.Split(s, `\`)
	}
	for _, p := range parts {
		p = strings.Trim(p, " \x00")
		switch e.vr {
		case "PN":
			a.Value = append(a.Value, map[string]string{"Alphabetic": p})
		case "IS":
			n, err := strconv.ParseInt(p, 10, 64)
			if err != nil {
				return a, false
			}
			a.Value = append(a.Value, n)
		case "DS":
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return a, false
			}
			a.Value = append(a.Value, f)
		default:
			a.Value = append(a.Value, p)
		}
	}
	return a, true
}
