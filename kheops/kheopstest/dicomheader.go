package kheopstest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// The fake indexes STOW-RS uploads by their top-level attributes, read
// with the SDK's element reader (internal/dicomio): values up to
// maxKeptValue are kept, sequences and longer values skipped, and reading
// stops at the pixel data. A deflated data set is read within maxInflated
// inflated bytes, so hostile input costs bounded memory and work.

const (
	maxKeptValue = 64 << 10
	maxDepth     = 16
	maxInflated  = 64 << 20
)

var errNotPart10 = errors.New("kheopstest: not a DICOM Part 10 file")

type element struct {
	vr        string
	value     []byte
	bigEndian bool // the byte order of binary numbers in value
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
	return dicomio.TrimText(e.value)
}

// readHeader parses data, which must start with the 128-byte preamble and
// "DICM".
func readHeader(data []byte) (*header, error) {
	r := dicomio.NewReader(bytes.NewReader(data), int64(len(data))+maxInflated)
	m, err := r.ReadMeta()
	if errors.Is(err, dicomio.ErrNotPart10) {
		return nil, errNotPart10
	}
	if err != nil {
		return nil, fmt.Errorf("kheopstest: %w", err)
	}
	h := &header{elems: map[uint32]element{0x00020010: {vr: "UI", value: []byte(m.TransferSyntaxUID)}}}
	for {
		top := r.Depth() == 0
		el, err := r.Next()
		if err == io.EOF {
			return h, nil
		}
		if err != nil {
			return nil, fmt.Errorf("kheopstest: %w", err)
		}
		if r.Depth() > maxDepth {
			return nil, errors.New("kheopstest: sequences nested too deeply")
		}
		if top && el.Tag.Group() >= 0x7FE0 {
			// Pixel data and what follows: the fake never needs them, but
			// the rest of the file must still be well formed up to here.
			return h, nil
		}
		if !top || el.Length == dicomio.UndefinedLength {
			continue // a sequence: Next walks through its items
		}
		vr := el.VR.String()
		if vr == "" || vr == "UN" {
			vr = implicitVR[uint32(el.Tag)] // implicit VR, or an explicit UN of a known attribute
		}
		if vr == "" || !keptVR(vr) || el.Length > maxKeptValue {
			continue
		}
		v, err := r.ReadValue(maxKeptValue)
		if err != nil {
			return nil, fmt.Errorf("kheopstest: %w", err)
		}
		h.elems[uint32(el.Tag)] = element{vr: vr, value: v, bigEndian: r.Syntax().BigEndian}
	}
}

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
	0x00080060: "CS", 0x00080070: "LO", 0x00080090: "PN", 0x00080201: "SH", 0x00081030: "LO", 0x0008103E: "LO",
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
		var order binary.ByteOrder = binary.LittleEndian
		if e.bigEndian {
			order = binary.BigEndian
		}
		for i := 0; i < len(e.value); i += size {
			b := e.value[i:]
			switch e.vr {
			case "US":
				a.Value = append(a.Value, order.Uint16(b))
			case "SS":
				a.Value = append(a.Value, int16(order.Uint16(b)))
			case "UL":
				a.Value = append(a.Value, order.Uint32(b))
			case "SL":
				a.Value = append(a.Value, int32(order.Uint32(b)))
			case "FL":
				f := float64(math.Float32frombits(order.Uint32(b)))
				if math.IsNaN(f) || math.IsInf(f, 0) {
					return a, false
				}
				a.Value = append(a.Value, f)
			case "FD":
				f := math.Float64frombits(order.Uint64(b))
				if math.IsNaN(f) || math.IsInf(f, 0) {
					return a, false
				}
				a.Value = append(a.Value, f)
			}
		}
		return a, true
	}
	s := dicomio.TrimText(e.value)
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
			// Up to three component groups: alphabetic, ideographic, phonetic.
			pn := map[string]string{}
			for i, g := range strings.SplitN(p, "=", 3) {
				if g != "" {
					pn[[]string{"Alphabetic", "Ideographic", "Phonetic"}[i]] = g
				}
			}
			a.Value = append(a.Value, pn)
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
