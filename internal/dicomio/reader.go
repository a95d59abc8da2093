package dicomio

import (
	"bufio"
	"compress/flate"
	"errors"
	"fmt"
	"io"
)

// Errors of the Reader besides ErrMalformed and io.ErrUnexpectedEOF.
var (
	// ErrNotPart10 means the data does not start with the 128-byte
	// preamble and "DICM".
	ErrNotPart10 = errors.New("dicomio: not a DICOM Part 10 file")
	// ErrLimit means the Reader consumed its byte limit.
	ErrLimit = errors.New("dicomio: byte limit reached")
	// ErrTooLong means a value is longer than the caller accepts.
	ErrTooLong = errors.New("dicomio: value too long")
	// ErrTooDeep means values are nested deeper than MaxDepth. It comes
	// wrapped together with ErrMalformed.
	ErrTooDeep = errors.New("dicomio: values nested too deep")
)

// MaxDepth bounds the nesting of undefined-length values.
const MaxDepth = 64

// maxMetaValue bounds a File Meta Information value.
const maxMetaValue = 1024

// Meta is the File Meta Information of a Part 10 file.
type Meta struct {
	MediaStorageSOPClassUID    string
	MediaStorageSOPInstanceUID string
	TransferSyntaxUID          string
	ImplementationClassUID     string
	ImplementationVersionName  string
	SourceApplicationEntity    string
}

// Reader reads data elements one at a time from a stream. [Reader.Next]
// returns each element's header; the value can then be read whole
// ([Reader.ReadValue]), streamed ([Reader.Value]) or skipped (by calling
// Next again, or [Reader.Skip]). Next steps into undefined-length values
// (sequences, encapsulated pixel data), returning their items and
// delimiters; defined-length values, items included, are never parsed.
//
// Memory is bounded by the value sizes the caller accepts, and work by the
// byte limit given to the constructor: a deflated dataset counts in
// inflated bytes. A Reader is not safe for concurrent use.
type Reader struct {
	cr    *countingReader
	br    *bufio.Reader
	syn   Syntax
	stack []frame // open undefined-length values, and values entered with Enter
	left  int64   // unread bytes of the current defined-length value
	pos   int64   // bytes consumed from br
	cur   Header
	err   error // sticky
}

type frame struct {
	outer Syntax // the syntax to restore at the sequence delimiter
	end   int64  // for a value entered with Enter: pos at its end; -1 otherwise
	item  bool   // an item entered with Enter
}

type countingReader struct {
	r     io.Reader
	n     int64
	limit int64 // 0: none
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.limit > 0 {
		if c.n >= c.limit {
			return 0, ErrLimit
		}
		if rest := c.limit - c.n; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// NewReader returns a Reader of a Part 10 file; call [Reader.ReadMeta]
// first. limit bounds the bytes consumed (0: no limit).
func NewReader(r io.Reader, limit int64) *Reader {
	cr := &countingReader{r: r, limit: limit}
	return &Reader{cr: cr, br: bufio.NewReaderSize(cr, 4096)}
}

// NewDatasetReader returns a Reader of a bare dataset in syntax s (no
// preamble, no meta group), for example a value read from a
// defined-length item or a network message. limit bounds the bytes
// consumed (0: no limit).
func NewDatasetReader(r io.Reader, s Syntax, limit int64) *Reader {
	rd := NewReader(r, limit)
	rd.syn = s
	return rd
}

// Syntax returns the encoding of the elements being read.
func (r *Reader) Syntax() Syntax { return r.syn }

// Depth is the number of undefined-length values the reader is inside.
func (r *Reader) Depth() int { return len(r.stack) }

// ReadMeta reads the preamble, "DICM" and the File Meta Information
// (explicit VR little endian), and prepares the reader for the dataset's
// transfer syntax: inflating a deflated one, and, as other toolkits do,
// reading implicit VR when a file labelled explicit starts without a VR.
func (r *Reader) ReadMeta() (Meta, error) {
	var m Meta
	pre := make([]byte, 132)
	n, err := io.ReadFull(r.br, pre)
	r.pos += int64(n)
	if err != nil {
		if errors.Is(err, ErrLimit) {
			return m, err
		}
		return m, ErrNotPart10
	}
	if string(pre[128:]) != "DICM" {
		return m, ErrNotPart10
	}
	r.syn = ExplicitLittle
	for {
		if err := r.skipRest(); err != nil {
			return m, err
		}
		b, err := r.br.Peek(2)
		if err != nil || b[0] != 0x02 || b[1] != 0x00 {
			break // the end of the file, or of group 0002
		}
		h, err := r.Next()
		if err != nil {
			return m, fmt.Errorf("dicomio: file meta information: %w", err)
		}
		if h.Length == UndefinedLength {
			return m, fmt.Errorf("%w: %v in the meta group has undefined length", ErrMalformed, h.Tag)
		}
		var dst *string
		switch h.Tag {
		case TagMediaStorageSOPClassUID:
			dst = &m.MediaStorageSOPClassUID
		case TagMediaStorageSOPInstanceUID:
			dst = &m.MediaStorageSOPInstanceUID
		case TagTransferSyntaxUID:
			dst = &m.TransferSyntaxUID
		case TagImplementationClassUID:
			dst = &m.ImplementationClassUID
		case 0x00020013:
			dst = &m.ImplementationVersionName
		case 0x00020016:
			dst = &m.SourceApplicationEntity
		default:
			continue // Next skips the value
		}
		v, err := r.ReadValue(maxMetaValue)
		if err != nil {
			return m, fmt.Errorf("dicomio: file meta information: %w", err)
		}
		*dst = TrimText(v)
	}
	if err := r.skipRest(); err != nil {
		return m, err
	}
	syn, deflated := SyntaxOf(m.TransferSyntaxUID)
	r.syn = syn
	if deflated {
		// The limit now counts inflated bytes; the compressed ones stay
		// under the first counter.
		r.cr = &countingReader{r: flate.NewReader(r.br), limit: r.cr.limit}
		r.br = bufio.NewReaderSize(r.cr, 4096)
	}
	if syn.Explicit && !syn.BigEndian {
		if b, err := r.br.Peek(6); err == nil && !IsVR(b[4], b[5]) {
			r.syn = ImplicitLittle
		}
	}
	return m, nil
}

// Next returns the header of the next element. The value of the previous
// element, if not read, is skipped first. At the end of the data it
// returns io.EOF; data that ends inside an element gives
// io.ErrUnexpectedEOF.
func (r *Reader) Next() (Header, error) {
	if r.err != nil {
		return Header{}, r.err
	}
	if err := r.skipRest(); err != nil {
		return Header{}, err
	}
	if h, ok, err := r.leave(); ok || err != nil {
		if err != nil {
			return Header{}, r.fail(err, false)
		}
		return h, nil
	}
	b, err := r.br.Peek(8)
	if len(b) == 0 && err != nil {
		return Header{}, r.fail(err, true)
	}
	if len(b) < 8 {
		return Header{}, r.fail(err, false)
	}
	h, n, err := DecodeHeader(b, r.syn)
	if err != nil {
		return Header{}, r.fail(err, false)
	}
	if n == 0 {
		if b, err = r.br.Peek(12); len(b) < 12 {
			return Header{}, r.fail(err, false)
		}
		if h, n, err = DecodeHeader(b, r.syn); err != nil || n == 0 {
			return Header{}, r.fail(err, false)
		}
	}
	if err := r.within(h, n); err != nil {
		return Header{}, r.fail(err, false)
	}
	d, err := r.br.Discard(n)
	r.pos += int64(d)
	if err != nil {
		return Header{}, r.fail(err, false)
	}
	r.cur = h
	switch {
	case h.Tag == TagSequenceDelimitation:
		if len(r.stack) == 0 || r.stack[len(r.stack)-1].end >= 0 {
			return Header{}, r.fail(fmt.Errorf("%w: sequence delimiter outside a sequence", ErrMalformed), false)
		}
		r.syn = r.stack[len(r.stack)-1].outer
		r.stack = r.stack[:len(r.stack)-1]
	case h.Tag == TagItemDelimitation:
		if len(r.stack) == 0 || r.stack[len(r.stack)-1].item {
			return Header{}, r.fail(fmt.Errorf("%w: item delimiter outside a sequence", ErrMalformed), false)
		}
	case h.Length == UndefinedLength && h.Tag == TagItem:
		if len(r.stack) == 0 {
			return Header{}, r.fail(fmt.Errorf("%w: item outside a sequence", ErrMalformed), false)
		}
	case h.Length == UndefinedLength:
		if len(r.stack) >= MaxDepth {
			return Header{}, r.fail(fmt.Errorf("%w: %w: deeper than %d", ErrMalformed, ErrTooDeep, MaxDepth), false)
		}
		r.stack = append(r.stack, frame{outer: r.syn, end: -1})
		if h.VR == VRUN {
			// An undefined-length UN holds implicit VR little endian
			// (PS3.5 6.2.2).
			r.syn = ImplicitLittle
		}
	default:
		r.left = int64(h.Length)
	}
	return h, nil
}

// fail makes err sticky, mapping the end of the data.
func (r *Reader) fail(err error, clean bool) error {
	switch {
	case err == nil || errors.Is(err, io.EOF) && !clean:
		err = io.ErrUnexpectedEOF
	case errors.Is(err, io.EOF) && len(r.stack) > 0:
		err = io.ErrUnexpectedEOF
	}
	r.err = err
	return err
}

// skipRest discards the unread part of the current value.
func (r *Reader) skipRest() error {
	for r.left > 0 {
		n, err := r.br.Discard(int(min(r.left, 1<<30)))
		r.left -= int64(n)
		r.pos += int64(n)
		if err != nil {
			return r.fail(err, false)
		}
	}
	return nil
}

// ReadValue returns the whole value of the current defined-length element
// if it is at most max bytes; otherwise it returns ErrTooLong and leaves
// the value to be skipped or streamed.
func (r *Reader) ReadValue(max int) ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.left > int64(max) {
		return nil, fmt.Errorf("%w: %v has %d bytes, at most %d accepted", ErrTooLong, r.cur.Tag, r.left, max)
	}
	v := make([]byte, r.left)
	n, err := io.ReadFull(r.br, v)
	r.left -= int64(n)
	r.pos += int64(n)
	if err != nil {
		return nil, r.fail(err, false)
	}
	return v, nil
}

// Value streams the unread part of the current defined-length value. It
// is valid until the next call of Next or Skip.
func (r *Reader) Value() io.Reader { return &valueReader{r} }

type valueReader struct{ r *Reader }

func (v *valueReader) Read(p []byte) (int, error) {
	r := v.r
	if r.err != nil {
		return 0, r.err
	}
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.br.Read(p)
	r.left -= int64(n)
	r.pos += int64(n)
	if err != nil && (r.left > 0 || !errors.Is(err, io.EOF)) {
		return n, r.fail(err, false)
	}
	return n, nil
}

// Skip skips the rest of the current element: its value, or for an
// undefined-length one everything up to its sequence delimiter.
func (r *Reader) Skip() error {
	if err := r.skipRest(); err != nil {
		return err
	}
	if r.cur.Length != UndefinedLength || r.cur.Tag == TagItem || r.cur.Tag.Group() == 0xFFFE {
		if r.cur.Length == UndefinedLength && r.cur.Tag == TagItem {
			return r.skipTo(len(r.stack), TagItemDelimitation)
		}
		return nil
	}
	return r.skipTo(len(r.stack)-1, TagSequenceDelimitation)
}

// skipTo reads elements until the delimiter tag at the given depth.
func (r *Reader) skipTo(depth int, delim Tag) error {
	for {
		h, err := r.Next()
		if err != nil {
			if err == io.EOF {
				return r.fail(err, false)
			}
			return err
		}
		if h.Tag == delim && len(r.stack) == depth {
			return nil
		}
	}
}

// TrimText returns a text value without its trailing padding (spaces and
// NULs).
func TrimText(v []byte) string {
	end := len(v)
	for end > 0 && (v[end-1] == ' ' || v[end-1] == 0) {
		end--
	}
	return string(v[:end])
}
