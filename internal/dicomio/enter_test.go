package dicomio

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// definedSequence is the dataset of (0008,1199) SQ of defined length
// holding one defined-length item with (0008,1155) UI "1.2" and one
// undefined-length item with (0008,1150) UI "9.8", then (0010,0010) PN.
func definedSequence(s Syntax) []byte {
	el := func(t Tag, vr VR, v string) []byte {
		b, _ := AppendHeader(nil, Header{Tag: t, VR: vr, Length: uint32(len(v))}, s)
		return append(b, v...)
	}
	item1 := el(0x00081155, VRUI, "1.2\x00")
	seq, _ := AppendHeader(nil, Header{Tag: TagItem, Length: uint32(len(item1))}, s)
	seq = append(seq, item1...)
	seq, _ = AppendHeader(seq, Header{Tag: TagItem, Length: UndefinedLength}, s)
	seq = append(seq, el(0x00081150, VRUI, "9.8\x00")...)
	seq, _ = AppendHeader(seq, Header{Tag: TagItemDelimitation}, s)
	out, _ := AppendHeader(nil, Header{Tag: 0x00081199, VR: VRSQ, Length: uint32(len(seq))}, s)
	out = append(out, seq...)
	return append(out, el(0x00100010, MakeVR("PN"), "Doe^Jane")...)
}

// walk reads a bare dataset, entering every defined-length sequence and
// item, and lists tag@depth.
func walk(data []byte, s Syntax) ([]string, error) {
	r := NewDatasetReader(bytes.NewReader(data), s, 0)
	var got []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, h.Tag.String()+"@"+string(rune('0'+r.Depth())))
		if h.Length != UndefinedLength && (h.VR == VRSQ || h.Tag == TagItem && r.Depth() > 0) {
			if err := r.Enter(); err != nil {
				return got, err
			}
		}
	}
}

// TestEnter: defined-length sequences and items are walked like
// undefined-length ones, with made-up delimiters, in every syntax.
func TestEnter(t *testing.T) {
	want := []string{
		"(0008,1199)@0", "(FFFE,E000)@1", "(0008,1155)@2", "(FFFE,E00D)@1",
		"(FFFE,E000)@1", "(0008,1150)@1", "(FFFE,E00D)@1", "(FFFE,E0DD)@0", "(0010,0010)@0",
	}
	for _, s := range []Syntax{ExplicitLittle, ExplicitBig} {
		got, err := walk(definedSequence(s), s)
		require.NoError(t, err)
		assert.Equal(t, want, got, "%+v", s)
	}
}

// TestEnterBounds: an element that runs past the value it is in, and
// entered values nested too deep, are malformed.
func TestEnterBounds(t *testing.T) {
	data := definedSequence(ExplicitLittle)
	// Grow the first item's UI length by 2: it now runs past its item.
	i := bytes.Index(data, []byte{0x08, 0x00, 0x55, 0x11, 'U', 'I', 4, 0})
	require.Positive(t, i)
	bad := bytes.Clone(data)
	bad[i+6] = 6
	_, err := walk(bad, ExplicitLittle)
	assert.True(t, errors.Is(err, ErrMalformed), "%v", err)
	assert.ErrorContains(t, err, "(0008,1155) runs past the end", "the element that overruns is the one refused")

	// A defined-length sequence holding a sequence delimiter is malformed.
	delim, _ := AppendHeader(nil, Header{Tag: TagSequenceDelimitation}, ExplicitLittle)
	seq, _ := AppendHeader(nil, Header{Tag: 0x00081199, VR: VRSQ, Length: uint32(len(delim))}, ExplicitLittle)
	_, err = walk(append(seq, delim...), ExplicitLittle)
	assert.True(t, errors.Is(err, ErrMalformed), "%v", err)

	// MaxDepth+1 nested defined-length sequences, each with one item.
	inner := []byte{}
	for i := 0; i <= MaxDepth; i++ {
		item, _ := AppendHeader(nil, Header{Tag: TagItem, Length: uint32(len(inner))}, ExplicitLittle)
		item = append(item, inner...)
		inner, _ = AppendHeader(nil, Header{Tag: 0x00081199, VR: VRSQ, Length: uint32(len(item))}, ExplicitLittle)
		inner = append(inner, item...)
	}
	_, err = walk(inner, ExplicitLittle)
	assert.True(t, errors.Is(err, ErrTooDeep), "%v", err)
	assert.True(t, errors.Is(err, ErrMalformed), "%v", err)
}

// TestWriteBigEndian: the Writer writes explicit VR big endian headers,
// and the Reader reads them back.
func TestWriteBigEndian(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	m := testMeta
	m.TransferSyntaxUID = ExplicitVRBigEndian
	require.NoError(t, w.WriteMeta(m))
	require.NoError(t, w.WriteElement(0x00280010, MakeVR("US"), []byte{0x02, 0x00}))
	require.NoError(t, w.Begin(0x00081199, VRSQ))
	require.NoError(t, w.BeginItem())
	require.NoError(t, w.WriteElement(0x00081155, VRUI, []byte("1.2")))
	require.NoError(t, w.EndItem())
	require.NoError(t, w.End())
	require.NoError(t, w.Close())
	data := b.Bytes()
	assert.True(t, bytes.Contains(data, []byte{0x00, 0x28, 0x00, 0x10, 'U', 'S', 0x00, 0x02, 0x02, 0x00}), "big endian header")
	_, els, err := readAll(t, data, 0)
	require.NoError(t, err)
	require.Len(t, els, 6)
	assert.Equal(t, element{Tag: 0x00081155, VR: VRUI, Length: 4, Value: "1.2\x00", Depth: 1}, els[3])
}
