package dicomscan

import (
	"bufio"
	"compress/flate"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Element is one data element of a file's header, as [Dump] lists it for
// a person (a dcmdump-like view), not for a program to decode.
type Element struct {
	// Tag is group<<16 | element, e.g. 0x00100010 for Patient's Name.
	Tag uint32
	// VR is the value representation as written in the file ("PN");
	// empty in implicit VR datasets, which do not write it.
	VR string
	// Length is the value length in bytes; 0xFFFFFFFF means undefined
	// (a sequence, or encapsulated pixel data).
	Length uint32
	// Value is the start of the value, made printable: text trimmed of
	// padding, numbers decoded, binary values as hex; at most about 64
	// characters, with "…" when cut. Empty for sequences and items.
	Value string
	// Depth is the nesting level: 0 for top-level elements, 1 for the
	// elements of an item of a top-level sequence, and so on. Items and
	// delimiters (group FFFE) are listed at the depth of their elements
	// minus one.
	Depth int
}

// Limits of Dump: it is a diagnostic, so it stops early rather than read
// a large file.
const (
	dumpMaxElements = 2000
	dumpMaxValue    = 64 // characters shown per value
	tagPixelData    = 0x7FE00010
)

// errDumpLimit ends a dump that reached dumpMaxElements; it is not an
// error of the file.
var errDumpLimit = errors.New("dicomscan: dump stopped after 2000 elements")

// Dump lists the header elements of the DICOM file at path, in file
// order: the File Meta Information, then the dataset up to Pixel Data
// (7FE0,0010), whose value it does not read, descending into sequences.
// It stops after 2000 elements, and reads each value only as far as it
// shows it, so memory stays small whatever the file.
//
// With allowNoPreamble, a dataset without the 128-byte preamble is read
// as [Scanner.AllowNoPreamble] would accept it. The error is nil when the
// header was read to its end or to Pixel Data; otherwise it matches
// [ErrNotDICOM], [ErrMalformed] or [ErrTruncated] (or is an I/O error),
// and the elements are those read before the problem. Dump does not say
// whether a scan would skip or reject the file: scan it with [Scanner]
// for that.
func Dump(path string, allowNoPreamble bool) ([]Element, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, ErrNotRegular
	}
	return dump(f, st.Size(), allowNoPreamble)
}

// dumper walks one stream.
type dumper struct {
	r         *bufio.Reader
	pos       int64 // bytes consumed from the stream
	size      int64 // stream size; -1 when unknown
	explicit  bool
	bigEndian bool
	out       []Element
}

func dump(src io.Reader, size int64, noPreamble bool) ([]Element, error) {
	d := &dumper{r: bufio.NewReaderSize(src, 4096), size: size, explicit: true}
	head, err := d.r.Peek(132)
	switch {
	case err == nil && string(head[128:]) == "DICM":
		_, _ = d.r.Discard(132)
		d.pos = 132
	case !noPreamble:
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, ErrNotDICOM
	default:
		b, err := d.r.Peek(8)
		if err != nil {
			return nil, ErrNotDICOM
		}
		if string(b[:4]) == "DICM" {
			_, _ = d.r.Discard(4)
			d.pos = 4
		} else if g := uint16(b[0]) | uint16(b[1])<<8; g != 0x0002 && g != 0x0008 && !(b[0] == 0 && b[1] == 8 && isVR(b[4], b[5])) {
			return nil, ErrNotDICOM
		}
	}
	// File Meta Information: explicit VR little endian, group 0002.
	ts := ""
	for {
		b, err := d.r.Peek(2)
		if err != nil || b[0] != 2 || b[1] != 0 {
			break
		}
		e, err := d.element(0)
		if err != nil {
			return d.out, err
		}
		if e.Tag == tagTransferSyntaxUID {
			ts = e.Value
		}
	}
	switch ts {
	case tsImplicitLE:
		d.explicit = false
	case tsExplicitBE:
		d.bigEndian = true
	case tsDeflatedLE:
		d.r = bufio.NewReaderSize(flate.NewReader(d.r), 4096)
		d.pos, d.size = 0, -1
	case "":
		b, err := d.r.Peek(6)
		if err == nil {
			d.explicit = isVR(b[4], b[5])
			d.bigEndian = d.explicit && b[0] == 0 && b[1] != 0
		}
	}
	for {
		if _, err := d.r.Peek(1); err != nil {
			if errors.Is(err, io.EOF) {
				return d.out, nil
			}
			return d.out, err
		}
		e, err := d.element(0)
		if errors.Is(err, errDumpLimit) {
			return d.out, nil
		}
		if err != nil || e.Tag == tagPixelData {
			return d.out, err
		}
	}
}

// element reads one element at the given depth (and, for a sequence, its
// items), appends it to d.out and returns it.
func (d *dumper) element(depth int) (Element, error) {
	if len(d.out) >= dumpMaxElements {
		return Element{}, errDumpLimit
	}
	if depth > maxDepth {
		return Element{}, fmt.Errorf("%w: sequences nested deeper than %d", ErrMalformed, maxDepth)
	}
	explicit, big := d.explicit, d.bigEndian
	b, err := d.read(8)
	if err != nil {
		return Element{}, err
	}
	tag := d.u32tag(b, big)
	e := Element{Tag: tag, Depth: depth}
	if explicit && tag>>16 != 0xFFFE {
		if !isVR(b[4], b[5]) {
			return Element{}, fmt.Errorf("%w: (%04X,%04X) has invalid VR %q", ErrMalformed, tag>>16, tag&0xFFFF, b[4:6])
		}
		e.VR = string(b[4:6])
		if longVR(uint16(b[4])<<8 | uint16(b[5])) {
			l, err := d.read(4)
			if err != nil {
				return Element{}, err
			}
			e.Length = d.u32(l, big)
		} else if big {
			e.Length = uint32(b[6])<<8 | uint32(b[7])
		} else {
			e.Length = uint32(b[6]) | uint32(b[7])<<8
		}
	} else {
		e.Length = d.u32(b[4:], big)
	}
	if e.Tag == tagPixelData && depth == 0 {
		d.out = append(d.out, e)
		return e, nil
	}
	idx := len(d.out)
	d.out = append(d.out, e)
	switch {
	case tag == tagItem || tag == tagItemDelimitation || tag == tagSequenceDelimitation:
		return e, nil // the caller walks items
	case e.Length == undefinedLength:
		return e, d.sequence(depth, -1)
	}
	if d.size >= 0 && int64(e.Length) > d.size-d.pos {
		return e, fmt.Errorf("%w: (%04X,%04X) declares %d bytes, %d remain", ErrTruncated, tag>>16, tag&0xFFFF, e.Length, d.size-d.pos)
	}
	if e.VR == "SQ" {
		return e, d.sequence(depth, d.pos+int64(e.Length))
	}
	shown := min(int(e.Length), 4*dumpMaxValue)
	v, err := d.read(shown)
	if err != nil {
		return e, err
	}
	d.out[idx].Value = showValue(e.VR, v, int(e.Length) > shown, big)
	if err := d.skip(int64(e.Length) - int64(shown)); err != nil {
		return e, err
	}
	return d.out[idx], nil
}

// sequence walks the items of a sequence: up to its delimiter when end is
// negative, else up to the stream position end.
func (d *dumper) sequence(depth int, end int64) error {
	for end < 0 || d.pos < end {
		it, err := d.element(depth)
		if err != nil {
			return err
		}
		switch {
		case it.Tag == tagSequenceDelimitation && end < 0:
			return nil
		case it.Tag != tagItem:
			return fmt.Errorf("%w: (%04X,%04X) inside a sequence", ErrMalformed, it.Tag>>16, it.Tag&0xFFFF)
		case it.Length == undefinedLength:
			for {
				e, err := d.element(depth + 1)
				if err != nil {
					return err
				}
				if e.Tag == tagItemDelimitation {
					d.out[len(d.out)-1].Depth = depth
					break
				}
			}
			continue
		}
		itemEnd := d.pos + int64(it.Length)
		if d.size >= 0 && itemEnd > d.size || end >= 0 && itemEnd > end {
			return fmt.Errorf("%w: item of %d bytes overruns its container", ErrMalformed, it.Length)
		}
		for d.pos < itemEnd {
			if _, err := d.element(depth + 1); err != nil {
				return err
			}
		}
		if d.pos != itemEnd {
			return fmt.Errorf("%w: an element overruns its item", ErrMalformed)
		}
	}
	if d.pos != end {
		return fmt.Errorf("%w: an item overruns its sequence", ErrMalformed)
	}
	return nil
}

func (d *dumper) read(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: file ends inside an element", ErrTruncated)
		}
		return nil, err
	}
	d.pos += int64(n)
	return b, nil
}

func (d *dumper) skip(n int64) error {
	for n > 0 {
		k := int(min(n, math.MaxInt32))
		m, err := d.r.Discard(k)
		n -= int64(m)
		d.pos += int64(m)
		if err != nil {
			return fmt.Errorf("%w: file ends inside an element", ErrTruncated)
		}
	}
	return nil
}

func (d *dumper) u32(b []byte, big bool) uint32 {
	if big {
		return be32(b)
	}
	return le32(b)
}

func (d *dumper) u32tag(b []byte, big bool) uint32 {
	if big {
		return be32tag(b)
	}
	return le32tag(b)
}

// showValue makes the first bytes of a value printable for its VR (or, in
// implicit VR, as text when it looks like text, else as hex).
func showValue(vr string, v []byte, cut bool, big bool) string {
	var order binary.ByteOrder = binary.LittleEndian
	if big {
		order = binary.BigEndian
	}
	var s string
	switch vr {
	case "US", "SS", "UL", "SL", "FL", "FD", "AT", "UV", "SV":
		s = numbers(vr, v, order)
	case "OB", "OW", "OD", "OF", "OL", "OV", "UN", "SQ":
		s = hexValue(v)
	case "":
		if utf8.Valid(v) && printable(strings.TrimRight(string(v), "\x00 ")) {
			s = strings.TrimRight(string(v), "\x00 ")
		} else {
			s = hexValue(v)
		}
	default:
		s = strings.TrimRight(string(v), "\x00 ")
		if !utf8.ValidString(s) || !printable(s) {
			s = strconv.QuoteToASCII(s)
			s = s[1 : len(s)-1]
		}
	}
	if r := []rune(s); len(r) > dumpMaxValue {
		s, cut = string(r[:dumpMaxValue]), true
	}
	if cut {
		s += "…"
	}
	return s
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7F {
			return false
		}
	}
	return true
}

func hexValue(v []byte) string {
	const show = 16
	s := hex.EncodeToString(v[:min(len(v), show)])
	if len(v) > show {
		s += "…"
	}
	return s
}

func numbers(vr string, v []byte, order binary.ByteOrder) string {
	size := map[string]int{"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "AT": 4, "UV": 8, "SV": 8}[vr]
	var parts []string
	for i := 0; i+size <= len(v) && len(parts) < 8; i += size {
		b := v[i : i+size]
		switch vr {
		case "US":
			parts = append(parts, strconv.FormatUint(uint64(order.Uint16(b)), 10))
		case "SS":
			parts = append(parts, strconv.FormatInt(int64(int16(order.Uint16(b))), 10))
		case "UL":
			parts = append(parts, strconv.FormatUint(uint64(order.Uint32(b)), 10))
		case "SL":
			parts = append(parts, strconv.FormatInt(int64(int32(order.Uint32(b))), 10))
		case "FL":
			parts = append(parts, strconv.FormatFloat(float64(math.Float32frombits(order.Uint32(b))), 'g', -1, 32))
		case "FD":
			parts = append(parts, strconv.FormatFloat(math.Float64frombits(order.Uint64(b)), 'g', -1, 64))
		case "AT":
			parts = append(parts, fmt.Sprintf("(%04X,%04X)", order.Uint16(b), order.Uint16(b[2:])))
		case "UV":
			parts = append(parts, strconv.FormatUint(order.Uint64(b), 10))
		case "SV":
			parts = append(parts, strconv.FormatInt(int64(order.Uint64(b)), 10))
		}
	}
	s := strings.Join(parts, `\`)
	if len(v)/size > len(parts) {
		s += `\…`
	}
	return s
}
