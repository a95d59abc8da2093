package dicomscan

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDump checks the elements Dump lists, exactly, in the three plain
// transfer syntaxes and the deflated one, with a nested undefined-length
// sequence and a defined-length one, stopping at Pixel Data.
func TestDump(t *testing.T) {
	t.Parallel()
	build := func(d *ds) []byte {
		d.str(0x00080005, "CS", "ISO_IR 100").
			header(0x00081140, "SQ", undefinedLength).header(tagItem, "", undefinedLength).
			str(0x00081150, "UI", "1.2.3").
			header(tagItemDelimitation, "", 0).header(tagSequenceDelimitation, "", 0)
		d.instance(study, series, sop)
		var item ds
		item.implicit, item.bigEndian = d.implicit, d.bigEndian
		item.str(0x00081155, "UI", "1.2.4")
		d.header(0x00082112, "SQ", uint32(8+len(item.bytes())))
		d.header(tagItem, "", uint32(len(item.bytes()))).raw(item.bytes())
		d.header(0x00280010, "US", 2).raw([]byte{0, 2}[:2])
		d.header(tagPixelData, "OW", 4).raw([]byte{1, 2, 3, 4})
		d.str(0x7FE10010, "LO", "never read")
		return d.bytes()
	}
	vr := func(explicit bool, v string) string {
		if explicit {
			return v
		}
		return ""
	}
	for _, tc := range []struct {
		name     string
		ts       string
		d        *ds
		explicit bool
		rows     string
	}{
		{"explicit LE", tsExplicitLE, &ds{}, true, "512"},
		{"implicit LE", tsImplicitLE, &ds{implicit: true}, false, "0002"},
		{"explicit BE", tsExplicitBE, &ds{bigEndian: true}, true, "2"},
		{"deflated", tsDeflatedLE, &ds{}, true, "512"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := part10(tc.ts, build(tc.d))
			path := filepath.Join(t.TempDir(), "f.dcm")
			require.NoError(t, os.WriteFile(path, b, 0o600))
			got, err := Dump(path, false)
			require.NoError(t, err)
			ts := tc.ts
			if len(ts)%2 == 1 {
				ts += "" // shown without its padding
			}
			e := tc.explicit
			want := []Element{
				{Tag: 0x00020000, VR: "UL", Length: 4, Value: got[0].Value},
				{Tag: 0x00020002, VR: "UI", Length: 26, Value: "1.2.840.10008.5.1.4.1.1.2"},
				{Tag: 0x00020010, VR: "UI", Length: uint32(len(ts) + len(ts)%2), Value: ts},
				{Tag: 0x00080005, VR: vr(e, "CS"), Length: 10, Value: "ISO_IR 100"},
				{Tag: 0x00081140, VR: vr(e, "SQ"), Length: undefinedLength},
				{Tag: tagItem, Length: undefinedLength},
				{Tag: 0x00081150, VR: vr(e, "UI"), Length: 6, Value: "1.2.3", Depth: 1},
				{Tag: tagItemDelimitation},
				{Tag: tagSequenceDelimitation},
				{Tag: 0x00080016, VR: vr(e, "UI"), Length: 26, Value: "1.2.840.10008.5.1.4.1.1.2"},
				{Tag: 0x00080018, VR: vr(e, "UI"), Length: uint32(len(sop) + len(sop)%2), Value: sop},
				{Tag: 0x00080060, VR: vr(e, "CS"), Length: 2, Value: "CT"},
				{Tag: 0x00100010, VR: vr(e, "PN"), Length: 12, Value: "Test^Patient"},
				{Tag: 0x0020000D, VR: vr(e, "UI"), Length: uint32(len(study) + len(study)%2), Value: study},
				{Tag: 0x0020000E, VR: vr(e, "UI"), Length: uint32(len(series) + len(series)%2), Value: series},
				{Tag: 0x00082112, VR: vr(e, "SQ"), Length: got[15].Length},
				{Tag: tagItem, Length: got[16].Length},
				{Tag: 0x00081155, VR: vr(e, "UI"), Length: 6, Value: "1.2.4", Depth: 1},
				{Tag: 0x00280010, VR: vr(e, "US"), Length: 2, Value: tc.rows},
				{Tag: tagPixelData, VR: vr(e, "OW"), Length: 4},
			}
			if !e {
				// Implicit VR: the defined-length sequence is not known
				// to be one, so its bytes are shown as a value.
				want = append(want[:15], want[18:]...)
				want = append(want[:15], append([]Element{{Tag: 0x00082112, Length: got[15].Length, Value: got[15].Value}}, want[15:]...)...)
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestDumpVerdicts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	text := write("notes.txt", []byte("hello, this is not DICOM at all, not even close........................................................................................................."))
	_, err := Dump(text, false)
	assert.ErrorIs(t, err, ErrNotDICOM)

	full := part10(tsExplicitLE, (&ds{}).instance(study, series, sop).bytes())
	got, err := Dump(write("cut.dcm", full[:len(full)-5]), false)
	assert.ErrorIs(t, err, ErrTruncated)
	assert.NotEmpty(t, got, "elements before the cut are listed")

	bad := part10(tsExplicitLE, (&ds{}).raw([]byte{8, 0, 0x16, 0, 'z', 'z', 2, 0, '1', '2'}).bytes())
	_, err = Dump(write("badvr.dcm", bad), false)
	assert.ErrorIs(t, err, ErrMalformed)

	noPreamble := (&ds{}).instance(study, series, sop).bytes()
	p := write("nopre.dcm", noPreamble)
	_, err = Dump(p, false)
	assert.ErrorIs(t, err, ErrNotDICOM)
	got, err = Dump(p, true)
	require.NoError(t, err)
	assert.Len(t, got, 6)

	_, err = Dump(dir, false)
	assert.ErrorIs(t, err, ErrNotRegular)
	_, err = Dump(filepath.Join(dir, "missing"), false)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestDumpValues(t *testing.T) {
	t.Parallel()
	long := bytes.Repeat([]byte("é"), 100)
	for _, tc := range []struct {
		vr   string
		v    []byte
		want string
	}{
		{"LO", []byte("abc  "), "abc"},
		{"LO", long, string(bytes.Repeat([]byte("é"), 64)) + "…"},
		{"LO", []byte("a\x01b"), `a\x01b`},
		{"US", []byte{1, 0, 2, 0}, `1\2`},
		{"FD", []byte{0, 0, 0, 0, 0, 0, 0xF0, 0x3F}, "1"},
		{"AT", []byte{0x10, 0, 0x10, 0}, "(0010,0010)"},
		{"OB", bytes.Repeat([]byte{0xAB}, 20), "abababababababababababababababab…"},
		{"", []byte("TEXT"), "TEXT"},
		{"", []byte{0, 1, 2, 3}, "00010203"},
	} {
		assert.Equal(t, tc.want, showValue(tc.vr, tc.v, false, false), "%s %q", tc.vr, tc.v)
	}
}

// The dump never reads more than the file, never panics, and stays within
// its element bound.
func FuzzDump(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, false)
	}
	f.Add(basic(&ds{}), true)
	f.Fuzz(func(t *testing.T, b []byte, noPreamble bool) {
		els, _ := dump(bytes.NewReader(b), int64(len(b)), noPreamble)
		if len(els) > dumpMaxElements+1 {
			t.Fatalf("%d elements", len(els))
		}
	})
}
