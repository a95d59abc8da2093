package dicomio

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testMeta = Meta{
	MediaStorageSOPClassUID:    "1.2.840.10008.5.1.4.1.1.7",
	MediaStorageSOPInstanceUID: "1.2.3.4",
	TransferSyntaxUID:          ExplicitVRLittleEndian,
	ImplementationClassUID:     "1.2.3",
}

// TestWriteMetaKnownAnswer pins the bytes of a minimal file. DCMTK's
// dcmdump reads it back (group length 106, every meta element, the
// dataset), as it does the deflated and implicit files of writeSample.
func TestWriteMetaKnownAnswer(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	require.NoError(t, w.WriteMeta(testMeta))
	require.NoError(t, w.WriteElement(0x00100010, MakeVR("PN"), []byte("Doe^Jane")))
	require.NoError(t, w.WriteElement(0x0020000D, VRUI, []byte("1.2.345")))
	require.NoError(t, w.Close())
	want := strings.Repeat("00", 128) + hex.EncodeToString([]byte("DICM")) +
		"02000000554c0400" + "6a000000" + // group length 106
		"020001004f420000020000000001" + // version 00\01
		"0200020055491a00" + hex.EncodeToString([]byte("1.2.840.10008.5.1.4.1.1.7\x00")) +
		"0200030055490800" + hex.EncodeToString([]byte("1.2.3.4\x00")) +
		"0200100055491400" + hex.EncodeToString([]byte("1.2.840.10008.1.2.1\x00")) +
		"0200120055490600" + hex.EncodeToString([]byte("1.2.3\x00")) +
		"10001000504e0800" + hex.EncodeToString([]byte("Doe^Jane")) +
		"20000d0055490800" + hex.EncodeToString([]byte("1.2.345\x00"))
	assert.Equal(t, want, hex.EncodeToString(b.Bytes()))
}

// element is what the round trip compares.
type element struct {
	Tag    Tag
	VR     VR
	Length uint32
	Value  string
	Depth  int
}

func readAll(t *testing.T, data []byte, limit int64) (Meta, []element, error) {
	t.Helper()
	r := NewReader(bytes.NewReader(data), limit)
	m, err := r.ReadMeta()
	if err != nil {
		return m, nil, err
	}
	var out []element
	for {
		h, err := r.Next()
		if err == io.EOF {
			return m, out, nil
		}
		if err != nil {
			return m, out, err
		}
		e := element{Tag: h.Tag, VR: h.VR, Length: h.Length, Depth: r.Depth()}
		if h.Length != UndefinedLength {
			v, err := r.ReadValue(1 << 10)
			if err != nil {
				return m, out, err
			}
			e.Value = string(v)
		}
		out = append(out, e)
	}
}

func writeSample(t *testing.T, ts string) []byte {
	return writeSampleWith(t, ts, 0, nil)
}

// writeSampleWith writes the sample file; with a non-nil pixels it adds
// (7FDF,0010) OB and a second fragment of pixel data, each size bytes
// streamed from pixels().
func writeSampleWith(t *testing.T, ts string, size uint32, pixels func() io.Reader) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b)
	m := testMeta
	m.TransferSyntaxUID = ts
	require.NoError(t, w.WriteMeta(m))
	require.NoError(t, w.WriteElement(0x00080060, MakeVR("CS"), []byte("OT")))
	require.NoError(t, w.Begin(0x00081199, VRSQ))
	require.NoError(t, w.BeginItem())
	require.NoError(t, w.WriteElement(0x00081155, VRUI, []byte("1.2.5")))
	require.NoError(t, w.EndItem())
	require.NoError(t, w.End())
	require.NoError(t, w.Begin(0x00091010, VRUN))
	require.NoError(t, w.BeginItem())
	require.NoError(t, w.WriteElement(0x00091011, MakeVR("LO"), []byte("private")))
	require.NoError(t, w.EndItem())
	require.NoError(t, w.End())
	require.NoError(t, w.WriteElement(0x00100010, MakeVR("PN"), []byte("Doe^Jane")))
	if pixels != nil {
		require.NoError(t, w.WriteFrom(0x7FDF0010, VROB, size, pixels()))
	}
	require.NoError(t, w.Begin(TagPixelData, VROB))
	require.NoError(t, w.Item(0, strings.NewReader("")))
	require.NoError(t, w.Item(4, strings.NewReader("abcd")))
	if pixels != nil {
		require.NoError(t, w.Item(size, pixels()))
	}
	require.NoError(t, w.End())
	require.NoError(t, w.Close())
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLE, "1.2.840.10008.1.2.4.50"} {
		t.Run(ts, func(t *testing.T) {
			m, els, err := readAll(t, writeSample(t, ts), 0)
			require.NoError(t, err)
			assert.Equal(t, ts, m.TransferSyntaxUID)
			assert.Equal(t, "1.2.3.4", m.MediaStorageSOPInstanceUID)
			explicit := ts != ImplicitVRLittleEndian
			vr := func(v string) VR {
				if explicit {
					return MakeVR(v)
				}
				return 0
			}
			want := []element{
				{Tag: 0x00080060, VR: vr("CS"), Length: 2, Value: "OT"},
				{Tag: 0x00081199, VR: vr("SQ"), Length: UndefinedLength, Depth: 1},
				{Tag: TagItem, Length: UndefinedLength, Depth: 1},
				{Tag: 0x00081155, VR: vr("UI"), Length: 6, Value: "1.2.5\x00", Depth: 1},
				{Tag: TagItemDelimitation, Depth: 1},
				{Tag: TagSequenceDelimitation},
				{Tag: 0x00091010, VR: vr("UN"), Length: UndefinedLength, Depth: 1},
				{Tag: TagItem, Length: UndefinedLength, Depth: 1},
				{Tag: 0x00091011, Length: 8, Value: "private ", Depth: 1}, // implicit inside UN
				{Tag: TagItemDelimitation, Depth: 1},
				{Tag: TagSequenceDelimitation},
				{Tag: 0x00100010, VR: vr("PN"), Length: 8, Value: "Doe^Jane"},
				{Tag: TagPixelData, VR: vr("OB"), Length: UndefinedLength, Depth: 1},
				{Tag: TagItem, Length: 0, Depth: 1},
				{Tag: TagItem, Length: 4, Value: "abcd", Depth: 1},
				{Tag: TagSequenceDelimitation},
			}
			assert.Equal(t, want, els)
		})
	}
}

func TestSkipAndStream(t *testing.T) {
	r := NewReader(bytes.NewReader(writeSample(t, ExplicitVRLittleEndian)), 0)
	_, err := r.ReadMeta()
	require.NoError(t, err)
	var tags []Tag
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		tags = append(tags, h.Tag)
		switch h.Tag {
		case 0x00081199, 0x00091010:
			require.NoError(t, r.Skip())
			assert.Equal(t, 0, r.Depth())
		case 0x00100010:
			v, err := io.ReadAll(r.Value())
			require.NoError(t, err)
			assert.Equal(t, "Doe^Jane", string(v))
		case TagPixelData:
			require.NoError(t, r.Skip())
		}
	}
	assert.Equal(t, []Tag{0x00080060, 0x00081199, 0x00091010, 0x00100010, TagPixelData}, tags)
}

func TestReadBigEndian(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	m := testMeta
	m.TransferSyntaxUID = ExplicitVRLittleEndian
	require.NoError(t, w.WriteMeta(m))
	data := b.Bytes()
	// Relabel as big endian (same length UID, padded) and append a big
	// endian element by hand.
	data = bytes.Replace(data, []byte("1.2.840.10008.1.2.1\x00"), []byte("1.2.840.10008.1.2.2\x00"), 1)
	data = append(data, 0x00, 0x10, 0x00, 0x20, 'L', 'O', 0x00, 0x04, 'I', 'D', '4', '2')
	_, els, err := readAll(t, data, 0)
	require.NoError(t, err)
	assert.Equal(t, []element{{Tag: 0x00100020, VR: MakeVR("LO"), Length: 4, Value: "ID42"}}, els)
}

func TestReaderRefusesAndBounds(t *testing.T) {
	good := writeSample(t, ExplicitVRLittleEndian)
	deflated := writeSample(t, DeflatedExplicitVRLE)
	cases := []struct {
		name  string
		data  []byte
		limit int64
		want  error
	}{
		{"not part 10", []byte("hello"), 0, ErrNotPart10},
		{"no DICM", append(make([]byte, 128), "DICX"...), 0, ErrNotPart10},
		{"truncated", good[:len(good)-3], 0, io.ErrUnexpectedEOF},
		{"limit", good, 200, ErrLimit},
		{"deflated limit counts inflated bytes", deflated, int64(len(deflated)), nil},
		{"deflated limit", deflated, 220, ErrLimit},
		{"stray delimiter", append(bytes.Clone(good[:len(good)-0]), 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0), 0, ErrMalformed},
		{"bad VR", append(bytes.Clone(good), 0x10, 0x00, 0x10, 0x00, 'x', 'y', 0, 0), 0, ErrMalformed},
		{"unclosed sequence", append(bytes.Clone(good), 0x10, 0x00, 0x11, 0x10, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF), 0, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readAll(t, c.data, c.limit)
			if c.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.True(t, errors.Is(err, c.want), "got %v, want %v", err, c.want)
		})
	}
}

func TestNestingIsBounded(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	require.NoError(t, w.WriteMeta(testMeta))
	for i := 0; i < MaxDepth; i++ {
		require.NoError(t, w.Begin(0x00081199, VRSQ))
		require.NoError(t, w.BeginItem())
	}
	assert.Error(t, w.Begin(0x00081199, VRSQ), "the writer nests no deeper than MaxDepth")
	data := b.Bytes()
	data = append(data, 0x08, 0x00, 0x99, 0x11, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF)
	_, _, err := readAll(t, data, 0)
	assert.True(t, errors.Is(err, ErrMalformed), "%v", err)
}

func TestReadValueRefusesLongValues(t *testing.T) {
	r := NewReader(bytes.NewReader(writeSample(t, ExplicitVRLittleEndian)), 0)
	_, err := r.ReadMeta()
	require.NoError(t, err)
	for {
		h, err := r.Next()
		require.NoError(t, err)
		if h.Tag == 0x00100010 {
			break
		}
	}
	_, err = r.ReadValue(4)
	assert.True(t, errors.Is(err, ErrTooLong), "%v", err)
	h, err := r.Next() // the long value is skipped
	require.NoError(t, err)
	assert.Equal(t, TagPixelData, h.Tag)
}

func TestWriterErrors(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	assert.Error(t, w.WriteElement(0x00100010, MakeVR("PN"), nil), "element before meta")
	w = NewWriter(&b)
	require.NoError(t, w.WriteMeta(testMeta))
	assert.Error(t, w.WriteElement(0x00100010, MakeVR("PN"), make([]byte, 70000)), "short VR with a long value")
	w = NewWriter(&b)
	require.NoError(t, w.WriteMeta(testMeta))
	assert.Error(t, w.WriteFrom(TagPixelData, MakeVR("OW"), 8, strings.NewReader("abc")), "short reader")
	w = NewWriter(&b)
	require.NoError(t, w.WriteMeta(testMeta))
	require.NoError(t, w.Begin(0x00081199, VRSQ))
	assert.Error(t, w.Close(), "open sequence")
}

func TestPad(t *testing.T) {
	assert.Equal(t, "1.2\x00", string(Pad(VRUI, []byte("1.2"))))
	assert.Equal(t, "CT1 ", string(Pad(MakeVR("CS"), []byte("CT1"))))
	assert.Equal(t, "ab\x00\x00", string(Pad(VROB, []byte("ab\x00"))))
	assert.Equal(t, "ab", string(Pad(VROB, []byte("ab"))))
}

func TestUIDRules(t *testing.T) {
	long := "2.25." + strings.Repeat("2", 70)
	cases := []struct {
		s        string
		oid, uid bool
	}{
		{"1.2.840.10008.1.2.1", true, true},
		{"2.25.329800735698586629295641978511506172918", true, true},
		{"1.2.03", true, false},
		{"01.2.3", true, false},
		{long, true, false},
		{"0.39", true, true},
		{"1.40", false, false},
		{"3.1", false, false},
		{"1", false, false},
		{"1..2", false, false},
		{"1.2.", false, false},
		{"1.2a", false, false},
		{"1.2/../3", false, false},
		{"", false, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.oid, IsOID(c.s), "IsOID(%q)", c.s)
		assert.Equal(t, c.uid, IsUID(c.s), "IsUID(%q)", c.s)
	}
}
