package dicomscan

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// Tags the parser knows, as group<<16 | element.
const (
	tagMediaStorageSOPClassUID = 0x00020002
	tagTransferSyntaxUID       = 0x00020010
	tagSpecificCharacterSet    = 0x00080005
	tagItem                    = 0xFFFEE000
	tagItemDelimitation        = 0xFFFEE00D
	tagSequenceDelimitation    = 0xFFFEE0DD

	// lastTag is the highest tag the scan needs (Series Number). The
	// parser stops at the first top-level element after it, so it never
	// reads pixel data.
	lastTag = 0x00200011

	undefinedLength = 0xFFFFFFFF
)

// Limits that bound the work and memory one file can cost.
const (
	// maxValue is the longest value the parser keeps. The attributes it
	// keeps are at most 64 characters (LO, PN component groups) or 1024
	// (ST), so a longer one is not DICOM.
	maxValue = 64 << 10
	// maxDepth bounds the nesting of undefined-length sequences.
	maxDepth = 64
	// maxStream bounds the bytes read from a source that cannot seek (a
	// deflated dataset, a compressed .zip member, whose declared size
	// may be anything) before the last needed tag.
	maxStream = 256 << 20
)

// Transfer syntax UIDs with a special meaning to the scanner.
const (
	tsImplicitLE = "1.2.840.10008.1.2"
	tsExplicitLE = "1.2.840.10008.1.2.1"
	tsExplicitBE = "1.2.840.10008.1.2.2"
	tsDeflatedLE = "1.2.840.10008.1.2.1.99"
	// sopClassDICOMDIR is the Media Storage Directory Storage SOP Class.
	sopClassDICOMDIR = "1.2.840.10008.1.3.10"
)

// header is what the parser extracts from one file. Values are raw bytes
// (sub-slices of arena) until decode turns them into an Instance.
type header struct {
	mediaSOPClass  string
	transferSyntax string
	charset        [2]int32           // start, end in arena; start < 0: absent
	vals           [numAttrs][2]int32 // start, end in arena; start < 0: absent
	arena          []byte
}

func (h *header) reset() {
	h.mediaSOPClass, h.transferSyntax = "", ""
	h.charset = [2]int32{-1, -1}
	for i := range h.vals {
		h.vals[i] = [2]int32{-1, -1}
	}
	h.arena = h.arena[:0]
}

func (h *header) value(a int) []byte {
	v := h.vals[a]
	if v[0] < 0 {
		return nil
	}
	return h.arena[v[0]:v[1]]
}

func (h *header) charsetValue() []byte {
	if h.charset[0] < 0 {
		return nil
	}
	return h.arena[h.charset[0]:h.charset[1]]
}

// parser reads the header of one file. A parser is owned by one worker and
// reused for every file it reads, so a scan allocates its buffers once per
// worker.
type parser struct {
	rd        breader
	inflated  breader // the dataset of a deflated file
	fl        io.ReadCloser
	cache     strCache
	explicit  bool
	bigEndian bool
	h         header
	limit     int64 // maxStream; lowered by tests
}

func newParser() *parser {
	p := &parser{limit: maxStream}
	p.rd.buf = make([]byte, bufSize)
	p.inflated.buf = make([]byte, bufSize)
	return p
}

// parse reads the header of a source of the given size (-1 if unknown).
// sk may be nil. With noPreamble, a dataset without the 128-byte preamble
// and "DICM" prefix is accepted when its first bytes look like DICOM.
func (p *parser) parse(src io.Reader, sk io.Seeker, size int64, noPreamble bool) error {
	p.h.reset()
	p.rd.reset(src, sk, size, p.limit)
	rd := &p.rd

	b, err := rd.peek(132)
	switch {
	case err == nil && string(b[128:132]) == "DICM":
		if err := rd.skip(132); err != nil {
			return err
		}
		if err := p.parseMeta(); err != nil {
			return err
		}
	case !noPreamble:
		if err != nil && err != io.EOF && err != errTrunc {
			return err // an I/O error, not a verdict on the content
		}
		return ErrNotDICOM
	default:
		b, err := rd.peek(4)
		if err != nil {
			if err == io.EOF || err == errTrunc {
				return ErrNotDICOM
			}
			return err
		}
		if string(b) == "DICM" {
			if err := rd.skip(4); err != nil {
				return err
			}
			if err := p.parseMeta(); err != nil {
				return err
			}
		} else {
			if b, err := rd.peek(6); err == nil && b[0] == 2 && b[1] == 0 && isVR(b[4], b[5]) {
				if err := p.parseMeta(); err != nil {
					return err
				}
			}
			if p.h.transferSyntax == "" && !p.looksLikeDataset() {
				return ErrNotDICOM
			}
		}
	}
	if p.h.mediaSOPClass == sopClassDICOMDIR {
		return ErrDICOMDIR
	}

	switch p.h.transferSyntax {
	case tsImplicitLE:
		p.explicit, p.bigEndian = false, false
	case tsExplicitBE:
		p.explicit, p.bigEndian = true, true
	case tsDeflatedLE:
		p.explicit, p.bigEndian = true, false
		return p.parseDeflated(size)
	case "":
		p.inferSyntax()
	default:
		// Every other transfer syntax (JPEG, JPEG 2000, RLE, ...) encodes
		// the dataset in explicit VR little endian.
		p.explicit, p.bigEndian = true, false
		if b, err := rd.peek(6); err == nil && !isVR(b[4], b[5]) {
			p.inferSyntax() // a mislabelled file; read what it really is
		}
	}
	return p.parseDataset(rd)
}

// parseDeflated inflates the rest of the file and parses it as explicit VR
// little endian, within maxStream inflated bytes.
func (p *parser) parseDeflated(size int64) error {
	rest := io.MultiReader(bytes.NewReader(p.rd.buffered()), p.rd.src)
	if p.fl == nil {
		p.fl = flate.NewReader(rest)
	} else if err := p.fl.(flate.Resetter).Reset(rest, nil); err != nil {
		return err
	}
	p.inflated.reset(p.fl, nil, -1, p.limit)
	err := p.parseDataset(&p.inflated)
	var ce flate.CorruptInputError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: deflated dataset: %v", ErrMalformed, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: deflated dataset ends early", ErrTruncated)
	}
	return err
}

// looksLikeDataset reports whether the next bytes start a dataset without a
// preamble, and sets the transfer syntax they imply.
func (p *parser) looksLikeDataset() bool {
	b, err := p.rd.peek(8)
	if err != nil {
		return false
	}
	le := uint16(b[0]) | uint16(b[1])<<8
	be := uint16(b[1]) | uint16(b[0])<<8
	switch {
	case le == 0x0008 || le == 0x0002:
		p.inferSyntax()
		return true
	case be == 0x0008 && isVR(b[4], b[5]):
		p.explicit, p.bigEndian = true, true
		return true
	}
	return false
}

// inferSyntax guesses the encoding of a dataset whose transfer syntax is
// missing, from its first element: a group stored big-endian, and a valid
// VR after the tag or not.
func (p *parser) inferSyntax() {
	p.explicit, p.bigEndian = false, false
	b, err := p.rd.peek(6)
	if err != nil {
		return
	}
	if b[0] == 0 && b[1] != 0 && isVR(b[4], b[5]) {
		p.explicit, p.bigEndian = true, true
		return
	}
	p.explicit = isVR(b[4], b[5])
}

// parseMeta reads the File Meta Information group (0002), always explicit
// VR little endian, keeping the two UIDs the scan needs.
func (p *parser) parseMeta() error {
	rd := &p.rd
	// Not what the previous file of this worker left: skipSequence reads
	// these.
	p.explicit, p.bigEndian = true, false
	for {
		b, err := rd.peek(2)
		if err == io.EOF || err == errTrunc {
			return nil // a file that is only a meta header
		}
		if err != nil {
			return err
		}
		if b[0] != 2 || b[1] != 0 {
			return nil
		}
		tag, vr, vl, err := p.elementHeader(rd, true, false)
		if err != nil {
			return err
		}
		if vl == undefinedLength {
			if vr == vrSQ || vr == vrUN {
				if err := p.skipSequence(rd, 1, vr == vrUN); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("%w: (%04X,%04X) has undefined length", ErrMalformed, tag>>16, tag&0xFFFF)
		}
		switch tag {
		case tagMediaStorageSOPClassUID, tagTransferSyntaxUID:
			v, err := p.readSmall(rd, tag, vl)
			if err != nil {
				return err
			}
			s := p.cache.str(uidString(v))
			if tag == tagTransferSyntaxUID {
				p.h.transferSyntax = s
			} else {
				p.h.mediaSOPClass = s
			}
		default:
			if err := p.skip(rd, vl); err != nil {
				return err
			}
		}
	}
}

// readSmall reads a value of at most maxValue bytes into a scratch slice
// of the arena that the caller must copy before the next read.
func (p *parser) readSmall(rd *breader, tag uint32, vl uint32) ([]byte, error) {
	if err := p.checkLength(rd, tag, vl); err != nil {
		return nil, err
	}
	start := len(p.h.arena)
	var err error
	p.h.arena, err = rd.appendN(p.h.arena, int(vl))
	if err != nil {
		return nil, p.truncated(err)
	}
	v := p.h.arena[start:]
	p.h.arena = p.h.arena[:start]
	return v, nil
}

func (p *parser) checkLength(rd *breader, tag uint32, vl uint32) error {
	if vl > maxValue {
		return fmt.Errorf("%w: (%04X,%04X) value of %d bytes is too long", ErrMalformed, tag>>16, tag&0xFFFF, vl)
	}
	if rem := rd.remaining(); rem >= 0 && int64(vl) > rem {
		return fmt.Errorf("%w: (%04X,%04X) declares %d bytes, %d remain", ErrTruncated, tag>>16, tag&0xFFFF, vl, rem)
	}
	return nil
}

func (p *parser) skip(rd *breader, n uint32) error {
	return p.truncated(rd.skip(int64(n)))
}

// truncated maps the reader's end-of-file to ErrTruncated.
func (p *parser) truncated(err error) error {
	if err == errTrunc || err == io.EOF {
		return fmt.Errorf("%w: file ends inside an element", ErrTruncated)
	}
	return err
}

// parseDataset reads top-level elements until the first one after lastTag
// (or the end of the data), keeping the values of the needed attributes.
func (p *parser) parseDataset(rd *breader) error {
	for {
		b, err := rd.peek(4)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return p.truncated(err)
		}
		var tag uint32
		if p.bigEndian {
			tag = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		} else {
			tag = uint32(b[1])<<24 | uint32(b[0])<<16 | uint32(b[3])<<8 | uint32(b[2])
		}
		if tag > lastTag {
			return nil
		}
		tag, vr, vl, err := p.elementHeader(rd, p.explicit, p.bigEndian)
		if err != nil {
			return err
		}
		if vl == undefinedLength {
			// A sequence, or in explicit VR an encapsulated OB/OW/UN.
			// UN of undefined length holds implicit VR little endian
			// (PS3.5 6.2.2).
			if err := p.skipSequence(rd, 1, !p.explicit || vr == vrUN); err != nil {
				return err
			}
			continue
		}
		// Keep the first occurrence of each needed value only: repeated
		// elements (a malformed file, or a deflate bomb of them) must not
		// grow the arena beyond one value per attribute.
		a := attrIndex(tag)
		keep := a >= 0 && p.h.vals[a][0] < 0 || tag == tagSpecificCharacterSet && p.h.charset[0] < 0
		if !keep || vr == vrSQ {
			if err := p.skip(rd, vl); err != nil {
				return err
			}
			continue
		}
		if err := p.checkLength(rd, tag, vl); err != nil {
			return err
		}
		start := len(p.h.arena)
		p.h.arena, err = rd.appendN(p.h.arena, int(vl))
		if err != nil {
			return p.truncated(err)
		}
		if tag == tagSpecificCharacterSet {
			p.h.charset = [2]int32{int32(start), int32(len(p.h.arena))}
			continue
		}
		p.h.vals[a] = [2]int32{int32(start), int32(len(p.h.arena))}
	}
}

// skipSequence skips the items of an undefined-length sequence up to its
// Sequence Delimitation Item.
func (p *parser) skipSequence(rd *breader, depth int, implicit bool) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: sequences nested deeper than %d", ErrMalformed, maxDepth)
	}
	for {
		tag, vl, err := p.itemHeader(rd)
		if err != nil {
			return err
		}
		switch tag {
		case tagSequenceDelimitation:
			return nil
		case tagItem:
			if vl != undefinedLength {
				if err := p.skip(rd, vl); err != nil {
					return err
				}
				continue
			}
			if err := p.skipItem(rd, depth+1, implicit); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: (%04X,%04X) inside a sequence", ErrMalformed, tag>>16, tag&0xFFFF)
		}
	}
}

// skipItem skips the elements of an undefined-length item up to its Item
// Delimitation Item.
func (p *parser) skipItem(rd *breader, depth int, implicit bool) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: sequences nested deeper than %d", ErrMalformed, maxDepth)
	}
	for {
		tag, vr, vl, err := p.elementHeader(rd, !implicit && p.explicit, p.bigEndian && !implicit)
		if err != nil {
			return err
		}
		switch {
		case tag == tagItemDelimitation:
			return nil
		case tag == tagSequenceDelimitation || tag == tagItem:
			return fmt.Errorf("%w: (%04X,%04X) inside an item", ErrMalformed, tag>>16, tag&0xFFFF)
		case vl == undefinedLength:
			if err := p.skipSequence(rd, depth+1, implicit || vr == vrUN); err != nil {
				return err
			}
		default:
			if err := p.skip(rd, vl); err != nil {
				return err
			}
		}
	}
}

// itemHeader reads an item or delimiter tag and its 4-byte length, which
// carry no VR in any transfer syntax.
func (p *parser) itemHeader(rd *breader) (tag, vl uint32, err error) {
	b, err := rd.next(8)
	if err != nil {
		return 0, 0, p.truncated(err)
	}
	if p.bigEndian {
		return be32tag(b), be32(b[4:]), nil
	}
	return le32tag(b), le32(b[4:]), nil
}

// elementHeader reads a tag, VR (explicit only) and value length. An
// implicit VR element gets vr 0 unless it is a sequence delimiter. The
// encoding itself is internal/dicomio's, shared with the rest of the SDK.
func (p *parser) elementHeader(rd *breader, explicit, bigEndian bool) (tag uint32, vr uint16, vl uint32, err error) {
	syn := dicomio.Syntax{Explicit: explicit, BigEndian: bigEndian}
	b, err := rd.peek(8)
	if err != nil {
		return 0, 0, 0, p.truncated(err)
	}
	h, n, err := dicomio.DecodeHeader(b, syn)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w: (%04X,%04X) has invalid VR %q", ErrMalformed, h.Tag>>16, h.Tag&0xFFFF, b[4:6])
	}
	if n == 0 { // a long explicit VR: the length follows 4 more bytes
		if b, err = rd.peek(12); err != nil {
			return 0, 0, 0, p.truncated(err)
		}
		h, n, _ = dicomio.DecodeHeader(b, syn)
	}
	rd.r += n
	return uint32(h.Tag), uint16(h.VR), h.Length, nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func be32(b []byte) uint32 {
	return uint32(b[3]) | uint32(b[2])<<8 | uint32(b[1])<<16 | uint32(b[0])<<24
}

func le32tag(b []byte) uint32 {
	return uint32(b[1])<<24 | uint32(b[0])<<16 | uint32(b[3])<<8 | uint32(b[2])
}

func be32tag(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

const (
	vrSQ = uint16(dicomio.VRSQ)
	vrUN = uint16(dicomio.VRUN)
)

// isVR reports whether two bytes are a VR of PS3.5 (2025 edition).
func isVR(a, b byte) bool { return dicomio.IsVR(a, b) }

// longVR reports whether a VR has a 2-byte reserved field and a 4-byte
// length in explicit VR.
func longVR(vr uint16) bool { return dicomio.VR(vr).Long() }
