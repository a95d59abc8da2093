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

// element is one data element of a file's header, as [Dump] shows it.
type element struct {
	tag    uint32 // group<<16 | element
	vr     string // as written; empty in implicit VR
	length uint32 // 0xFFFFFFFF: undefined
	value  string // the start of the value, printable; empty for sequences and items
	depth  int    // 0 top level, 1 inside an item of a top-level sequence, ...
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

// Dump writes the header elements of the DICOM file at path to w, one per
// line, in file order, the way dcmdump shows them: the File Meta
// Information, then the dataset up to Pixel Data (7FE0,0010), whose value
// it does not read, with the items of sequences indented:
//
//	(0010,0010) PN [Doe^Jane]  # 8, PatientName
//
// Each line has the tag, the VR (absent in implicit VR datasets, which do
// not write it), the start of the value made printable (text trimmed of
// padding, numbers decoded, binary values in hex; at most 64 characters),
// the value length ("u/l" for undefined) and the keyword of the tags a
// scan uses and of a few common others. Dump stops after 2000 elements
// and reads each value only as far as it shows it, so its memory stays
// small whatever the file.
//
// With allowNoPreamble, a dataset without the 128-byte preamble is read
// as [Scanner.AllowNoPreamble] would accept it. The error is nil when the
// header was read to its end or to Pixel Data; otherwise it matches
// [ErrNotDICOM], [ErrNotRegular], [ErrMalformed] or [ErrTruncated] (or is
// an I/O error) and the lines written are those before the problem. Dump
// does not say whether a scan would skip or reject the file: scan it with
// a [Scanner] for that.
func Dump(w io.Writer, path string, allowNoPreamble bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return ErrNotRegular
	}
	els, err := dump(f, st.Size(), allowNoPreamble)
	for _, e := range els {
		if _, werr := io.WriteString(w, e.String()+"\n"); werr != nil {
			return werr
		}
	}
	return err
}

// String formats e as one line of [Dump].
func (e element) String() string {
	var b strings.Builder
	b.WriteString(strings.Repeat("  ", e.depth))
	fmt.Fprintf(&b, "(%04X,%04X)", e.tag>>16, e.tag&0xFFFF)
	if e.vr != "" {
		b.WriteString(" " + e.vr)
	}
	switch {
	case e.tag == tagPixelData:
		b.WriteString(" (not read)")
	case e.tag == tagItem:
		b.WriteString(" (Item)")
	case e.tag == tagItemDelimitation:
		b.WriteString(" (ItemDelimitationItem)")
	case e.tag == tagSequenceDelimitation:
		b.WriteString(" (SequenceDelimitationItem)")
	case e.vr == "SQ" || e.length == undefinedLength:
		b.WriteString(" (Sequence)")
	default:
		b.WriteString(" [" + e.value + "]")
	}
	if e.length == undefinedLength {
		b.WriteString("  # u/l")
	} else {
		fmt.Fprintf(&b, "  # %d", e.length)
	}
	if k := keywords[e.tag]; k != "" {
		b.WriteString(", " + k)
	}
	return b.String()
}

// keywords names the tags a scan uses and a few common others.
var keywords = map[uint32]string{
	0x00020000: "FileMetaInformationGroupLength", 0x00020001: "FileMetaInformationVersion",
	0x00020002: "MediaStorageSOPClassUID", 0x00020003: "MediaStorageSOPInstanceUID",
	0x00020010: "TransferSyntaxUID", 0x00020012: "ImplementationClassUID",
	0x00020013: "ImplementationVersionName", 0x00020016: "SourceApplicationEntityTitle",
	0x00080005: "SpecificCharacterSet", 0x00080008: "ImageType", 0x00080012: "InstanceCreationDate",
	0x00080013: "InstanceCreationTime", 0x00080016: "SOPClassUID", 0x00080018: "SOPInstanceUID",
	0x00080020: "StudyDate", 0x00080021: "SeriesDate", 0x00080022: "AcquisitionDate",
	0x00080023: "ContentDate", 0x00080030: "StudyTime", 0x00080031: "SeriesTime",
	0x00080033: "ContentTime", 0x00080050: "AccessionNumber", 0x00080060: "Modality",
	0x00080070: "Manufacturer", 0x00080080: "InstitutionName", 0x00080081: "InstitutionAddress",
	0x00080090: "ReferringPhysicianName", 0x00080201: "TimezoneOffsetFromUTC",
	0x00081030: "StudyDescription", 0x0008103E: "SeriesDescription", 0x00081090: "ManufacturerModelName",
	0x00081140: "ReferencedImageSequence", 0x00081150: "ReferencedSOPClassUID",
	0x00081155: "ReferencedSOPInstanceUID", 0x00082112: "SourceImageSequence",
	0x00100010: "PatientName", 0x00100020: "PatientID", 0x00100021: "IssuerOfPatientID",
	0x00100030: "PatientBirthDate", 0x00100040: "PatientSex", 0x00101000: "OtherPatientIDs",
	0x00180015: "BodyPartExamined", 0x00180050: "SliceThickness", 0x00181030: "ProtocolName",
	0x0020000D: "StudyInstanceUID", 0x0020000E: "SeriesInstanceUID", 0x00200010: "StudyID",
	0x00200011: "SeriesNumber", 0x00200013: "InstanceNumber", 0x00200032: "ImagePositionPatient",
	0x00200037: "ImageOrientationPatient", 0x00200052: "FrameOfReferenceUID",
	0x00280002: "SamplesPerPixel", 0x00280004: "PhotometricInterpretation", 0x00280008: "NumberOfFrames",
	0x00280010: "Rows", 0x00280011: "Columns", 0x00280030: "PixelSpacing", 0x00280100: "BitsAllocated",
	0x00280101: "BitsStored", 0x00280102: "HighBit", 0x00280103: "PixelRepresentation",
	0x00281050: "WindowCenter", 0x00281051: "WindowWidth", 0x00281052: "RescaleIntercept",
	0x00281053: "RescaleSlope", 0x7FE00010: "PixelData",
}

// dumper walks one stream.
type dumper struct {
	r         *bufio.Reader
	pos       int64 // bytes consumed from the stream
	size      int64 // stream size; -1 when unknown
	explicit  bool
	bigEndian bool
	out       []element
}

func dump(src io.Reader, size int64, noPreamble bool) ([]element, error) {
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
		if e.tag == tagTransferSyntaxUID {
			ts = e.value
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
		if err != nil || e.tag == tagPixelData {
			return d.out, err
		}
	}
}

// element reads one element at the given depth (and, for a sequence, its
// items), appends it to d.out and returns it.
func (d *dumper) element(depth int) (element, error) {
	if len(d.out) >= dumpMaxElements {
		return element{}, errDumpLimit
	}
	if depth > maxDepth {
		return element{}, fmt.Errorf("%w: sequences nested deeper than %d", ErrMalformed, maxDepth)
	}
	explicit, big := d.explicit, d.bigEndian
	b, err := d.read(8)
	if err != nil {
		return element{}, err
	}
	tag := d.u32tag(b, big)
	e := element{tag: tag, depth: depth}
	if explicit && tag>>16 != 0xFFFE {
		if !isVR(b[4], b[5]) {
			return element{}, fmt.Errorf("%w: (%04X,%04X) has invalid VR %q", ErrMalformed, tag>>16, tag&0xFFFF, b[4:6])
		}
		e.vr = string(b[4:6])
		if longVR(uint16(b[4])<<8 | uint16(b[5])) {
			l, err := d.read(4)
			if err != nil {
				return element{}, err
			}
			e.length = d.u32(l, big)
		} else if big {
			e.length = uint32(b[6])<<8 | uint32(b[7])
		} else {
			e.length = uint32(b[6]) | uint32(b[7])<<8
		}
	} else {
		e.length = d.u32(b[4:], big)
	}
	if e.tag == tagPixelData && depth == 0 {
		d.out = append(d.out, e)
		return e, nil
	}
	idx := len(d.out)
	d.out = append(d.out, e)
	switch {
	case tag == tagItem || tag == tagItemDelimitation || tag == tagSequenceDelimitation:
		return e, nil // the caller walks items
	case e.length == undefinedLength:
		return e, d.sequence(depth, -1)
	}
	if d.size >= 0 && int64(e.length) > d.size-d.pos {
		return e, fmt.Errorf("%w: (%04X,%04X) declares %d bytes, %d remain", ErrTruncated, tag>>16, tag&0xFFFF, e.length, d.size-d.pos)
	}
	if e.vr == "SQ" {
		return e, d.sequence(depth, d.pos+int64(e.length))
	}
	shown := min(int(e.length), 4*dumpMaxValue)
	v, err := d.read(shown)
	if err != nil {
		return e, err
	}
	d.out[idx].value = showValue(e.vr, v, int(e.length) > shown, big)
	if err := d.skip(int64(e.length) - int64(shown)); err != nil {
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
		case it.tag == tagSequenceDelimitation && end < 0:
			return nil
		case it.tag != tagItem:
			return fmt.Errorf("%w: (%04X,%04X) inside a sequence", ErrMalformed, it.tag>>16, it.tag&0xFFFF)
		case it.length == undefinedLength:
			for {
				e, err := d.element(depth + 1)
				if err != nil {
					return err
				}
				if e.tag == tagItemDelimitation {
					d.out[len(d.out)-1].depth = depth
					break
				}
			}
			continue
		}
		itemEnd := d.pos + int64(it.length)
		if d.size >= 0 && itemEnd > d.size || end >= 0 && itemEnd > end {
			return fmt.Errorf("%w: item of %d bytes overruns its container", ErrMalformed, it.length)
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
