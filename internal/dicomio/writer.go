package dicomio

import (
	"compress/flate"
	"errors"
	"fmt"
	"io"
)

// Writer writes a Part 10 file element by element: [Writer.WriteMeta]
// first, then the dataset's elements in ascending tag order (the caller's
// duty), then [Writer.Close]. Nothing is buffered beyond one element
// header, so values of any size can pass through [Writer.WriteFrom], and
// undefined-length sequences and encapsulated pixel data are written with
// [Writer.Begin], [Writer.Item] and [Writer.End]. A Writer is not safe
// for concurrent use.
type Writer struct {
	dst   io.Writer // the file
	w     io.Writer // where dataset elements go (dst, or the deflater)
	fl    *flate.Writer
	syn   Syntax
	open  []Syntax // syntax to restore at each End
	hdr   []byte
	err   error
	wrote bool // WriteMeta or NewDatasetWriter done
}

// NewWriter returns a Writer of a Part 10 file to w.
func NewWriter(w io.Writer) *Writer { return &Writer{dst: w, w: w} }

// NewDatasetWriter returns a Writer of a bare dataset in syntax s (no
// preamble, no meta group).
func NewDatasetWriter(w io.Writer, s Syntax) (*Writer, error) {
	return &Writer{dst: w, w: w, syn: s, wrote: true}, nil
}

// defaultImplementationClassUID identifies files written by this package
// when Meta.ImplementationClassUID is empty.
const defaultImplementationClassUID = "1.2.826.0.1.3680043.10.1"

// WriteMeta writes the preamble, "DICM" and the File Meta Information:
// the group length (computed), version 00\01, the two media storage UIDs,
// the transfer syntax, the implementation class UID (a default when
// empty) and, when set, the version name and source AE title. The dataset
// that follows is encoded as the transfer syntax says (deflated for the
// deflated syntax). Explicit VR big endian is retired but written, so that
// a file can be passed through in its own syntax: the Writer then writes
// headers big endian, and values as given (the caller's byte order).
func (w *Writer) WriteMeta(m Meta) error {
	if w.wrote {
		return errors.New("dicomio: WriteMeta called twice or after NewDatasetWriter")
	}
	w.wrote = true
	if m.TransferSyntaxUID == "" {
		return errors.New("dicomio: meta needs a transfer syntax UID")
	}
	if m.ImplementationClassUID == "" {
		m.ImplementationClassUID = defaultImplementationClassUID
	}
	var group []byte
	add := func(t Tag, vr VR, v []byte) error {
		v = Pad(vr, v)
		var err error
		group, err = AppendHeader(group, Header{Tag: t, VR: vr, Length: uint32(len(v))}, ExplicitLittle)
		group = append(group, v...)
		return err
	}
	els := []struct {
		t   Tag
		vr  VR
		v   string
		opt bool
	}{
		{TagMediaStorageSOPClassUID, VRUI, m.MediaStorageSOPClassUID, false},
		{TagMediaStorageSOPInstanceUID, VRUI, m.MediaStorageSOPInstanceUID, false},
		{TagTransferSyntaxUID, VRUI, m.TransferSyntaxUID, false},
		{TagImplementationClassUID, VRUI, m.ImplementationClassUID, false},
		{0x00020013, MakeVR("SH"), m.ImplementationVersionName, true},
		{0x00020016, MakeVR("AE"), m.SourceApplicationEntity, true},
	}
	if err := add(TagFileMetaInformationVersion, VROB, []byte{0, 1}); err != nil {
		return err
	}
	for _, e := range els {
		if e.opt && e.v == "" {
			continue
		}
		if len(e.v) > maxMetaValue {
			return fmt.Errorf("dicomio: meta %v is too long", e.t)
		}
		if err := add(e.t, e.vr, []byte(e.v)); err != nil {
			return err
		}
	}
	out := make([]byte, 128, 128+4+12+len(group))
	out = append(out, "DICM"...)
	out, _ = AppendHeader(out, Header{Tag: TagFileMetaInformationGroupLength, VR: VRUL, Length: 4}, ExplicitLittle)
	out = ExplicitLittle.order().AppendUint32(out, uint32(len(group)))
	out = append(out, group...)
	if _, err := w.dst.Write(out); err != nil {
		w.err = err
		return err
	}
	syn, deflated := SyntaxOf(m.TransferSyntaxUID)
	w.syn = syn
	if deflated {
		fl, err := flate.NewWriter(w.dst, flate.DefaultCompression)
		if err != nil {
			return err
		}
		w.fl, w.w = fl, fl
	}
	return nil
}

// Pad returns v padded to an even length as PS3.5 6.2 asks: a space for
// text VRs, NUL for UI and binary VRs. v is not modified.
func Pad(vr VR, v []byte) []byte {
	if len(v)%2 == 0 {
		return v
	}
	pad := byte(0)
	if vr.Text() && vr != VRUI {
		pad = ' '
	}
	return append(v[:len(v):len(v)], pad)
}

func (w *Writer) ready() error {
	if w.err != nil {
		return w.err
	}
	if !w.wrote {
		return errors.New("dicomio: WriteMeta must come first")
	}
	return nil
}

func (w *Writer) header(h Header) error {
	var err error
	w.hdr, err = AppendHeader(w.hdr[:0], h, w.syn)
	if err != nil {
		return err
	}
	if _, err := w.w.Write(w.hdr); err != nil {
		w.err = err
		return err
	}
	return nil
}

// WriteElement writes one element with a value held in memory, padded to
// an even length (see [Pad]). In implicit VR the vr only chooses the
// padding.
func (w *Writer) WriteElement(t Tag, vr VR, value []byte) error {
	if err := w.ready(); err != nil {
		return err
	}
	value = Pad(vr, value)
	if uint64(len(value)) >= UndefinedLength {
		return fmt.Errorf("dicomio: %v: value too long", t)
	}
	if err := w.header(Header{Tag: t, VR: vr, Length: uint32(len(value))}); err != nil {
		return err
	}
	if _, err := w.w.Write(value); err != nil {
		w.err = err
		return err
	}
	return nil
}

// WriteFrom writes one element whose value of exactly length bytes (an
// even number) is copied from r as it is read: pixel data passes through
// without being held. A short r is an error, and the file is then
// unusable.
func (w *Writer) WriteFrom(t Tag, vr VR, length uint32, r io.Reader) error {
	if err := w.ready(); err != nil {
		return err
	}
	if length%2 == 1 || length == UndefinedLength {
		return fmt.Errorf("dicomio: %v: a streamed value needs an even, defined length", t)
	}
	if err := w.header(Header{Tag: t, VR: vr, Length: length}); err != nil {
		return err
	}
	n, err := io.Copy(w.w, io.LimitReader(r, int64(length)))
	if err == nil && n < int64(length) {
		err = fmt.Errorf("dicomio: %v: value ended after %d of %d bytes", t, n, length)
	}
	if err != nil {
		w.err = err
	}
	return err
}

// Begin opens an undefined-length value: a sequence (VR SQ), or
// encapsulated pixel data (VR OB) whose items are the offset table and
// the fragments. Close it with End. A UN of undefined length is written
// in implicit VR inside, as PS3.5 6.2.2 asks.
func (w *Writer) Begin(t Tag, vr VR) error {
	if err := w.ready(); err != nil {
		return err
	}
	if len(w.open) >= MaxDepth {
		return fmt.Errorf("dicomio: values nested deeper than %d", MaxDepth)
	}
	if err := w.header(Header{Tag: t, VR: vr, Length: UndefinedLength}); err != nil {
		return err
	}
	w.open = append(w.open, w.syn)
	if vr == VRUN {
		w.syn = ImplicitLittle
	}
	return nil
}

// Item writes one defined-length item of the open value: a fragment of
// encapsulated pixel data, or an encoded dataset of a sequence, copied
// from r (exactly length bytes, even).
func (w *Writer) Item(length uint32, r io.Reader) error {
	if len(w.open) == 0 {
		return errors.New("dicomio: Item outside Begin/End")
	}
	return w.WriteFrom(TagItem, 0, length, r)
}

// BeginItem opens an undefined-length item of the open sequence; write
// its elements, then EndItem.
func (w *Writer) BeginItem() error {
	if err := w.ready(); err != nil {
		return err
	}
	if len(w.open) == 0 {
		return errors.New("dicomio: BeginItem outside Begin/End")
	}
	return w.header(Header{Tag: TagItem, Length: UndefinedLength})
}

// EndItem closes an item opened by BeginItem.
func (w *Writer) EndItem() error {
	if err := w.ready(); err != nil {
		return err
	}
	return w.header(Header{Tag: TagItemDelimitation})
}

// End closes the value opened by the last Begin.
func (w *Writer) End() error {
	if err := w.ready(); err != nil {
		return err
	}
	if len(w.open) == 0 {
		return errors.New("dicomio: End without Begin")
	}
	w.syn = w.open[len(w.open)-1]
	w.open = w.open[:len(w.open)-1]
	return w.header(Header{Tag: TagSequenceDelimitation})
}

// Close ends the dataset: it flushes a deflated one. It does not close
// the underlying writer. Values left open by Begin are an error.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if len(w.open) > 0 {
		return errors.New("dicomio: Close with values still open")
	}
	if w.fl != nil {
		return w.fl.Close()
	}
	return nil
}
