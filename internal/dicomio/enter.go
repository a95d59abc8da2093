package dicomio

import (
	"errors"
	"fmt"
)

// Enter steps into the current element's defined-length value, a sequence
// or an item, which Next otherwise skips whole: Next then returns the
// sequence's items, or the item's elements, and when the value ends a
// delimiter it makes up (TagItemDelimitation for an item,
// TagSequenceDelimitation for a sequence), so a caller handles defined and
// undefined lengths alike. A UN value is read as implicit VR little
// endian inside, as PS3.5 6.2.2 says. Enter must come before any of the
// value is read; entered values count towards MaxDepth, and an element
// that would run past the end of the value it is in is ErrMalformed.
func (r *Reader) Enter() error {
	if r.err != nil {
		return r.err
	}
	h := r.cur
	if h.Length == UndefinedLength || h.Tag.Group() == 0xFFFE && h.Tag != TagItem {
		return errors.New("dicomio: Enter needs a defined-length value")
	}
	if r.left != int64(h.Length) {
		return errors.New("dicomio: Enter after the value was read")
	}
	if len(r.stack) >= MaxDepth {
		return r.fail(fmt.Errorf("%w: %w: deeper than %d", ErrMalformed, ErrTooDeep, MaxDepth), false)
	}
	r.stack = append(r.stack, frame{outer: r.syn, end: r.pos + r.left, item: h.Tag == TagItem})
	if h.Tag != TagItem && h.VR == VRUN {
		r.syn = ImplicitLittle
	}
	r.left = 0
	return nil
}

// leave ends the innermost entered value when the reader is at its end,
// returning the delimiter that stands for its end. Being past the end
// (which within prevents) is malformed.
func (r *Reader) leave() (Header, bool, error) {
	n := len(r.stack)
	if n == 0 || r.stack[n-1].end < 0 || r.pos < r.stack[n-1].end {
		return Header{}, false, nil
	}
	if r.pos > r.stack[n-1].end {
		return Header{}, false, fmt.Errorf("%w: read past the end of an entered value", ErrMalformed)
	}
	f := r.stack[n-1]
	r.stack = r.stack[:n-1]
	r.syn = f.outer
	h := Header{Tag: TagSequenceDelimitation}
	if f.item {
		h.Tag = TagItemDelimitation
	}
	r.cur = h
	return h, true, nil
}

// within checks that an element whose header takes n bytes fits in the
// innermost entered value.
func (r *Reader) within(h Header, n int) error {
	for i := len(r.stack) - 1; i >= 0; i-- {
		end := r.stack[i].end
		if end < 0 {
			continue
		}
		size := int64(n)
		if h.Length != UndefinedLength {
			size += int64(h.Length)
		}
		if r.pos+size > end {
			return fmt.Errorf("%w: %v runs past the end of the value it is in", ErrMalformed, h.Tag)
		}
		return nil
	}
	return nil
}
