package dicomscan

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
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
			got, err := dump(bytes.NewReader(b), int64(len(b)), false)
			require.NoError(t, err)
			ts := tc.ts
			if len(ts)%2 == 1 {
				ts += "" // shown without its padding
			}
			e := tc.explicit
			want := []element{
				{tag: 0x00020000, vr: "UL", length: 4, value: got[0].value},
				{tag: 0x00020002, vr: "UI", length: 26, value: "1.2.840.10008.5.1.4.1.1.2"},
				{tag: 0x00020010, vr: "UI", length: uint32(len(ts) + len(ts)%2), value: ts},
				{tag: 0x00080005, vr: vr(e, "CS"), length: 10, value: "ISO_IR 100"},
				{tag: 0x00081140, vr: vr(e, "SQ"), length: undefinedLength},
				{tag: tagItem, length: undefinedLength},
				{tag: 0x00081150, vr: vr(e, "UI"), length: 6, value: "1.2.3", depth: 1},
				{tag: tagItemDelimitation},
				{tag: tagSequenceDelimitation},
				{tag: 0x00080016, vr: vr(e, "UI"), length: 26, value: "1.2.840.10008.5.1.4.1.1.2"},
				{tag: 0x00080018, vr: vr(e, "UI"), length: uint32(len(sop) + len(sop)%2), value: sop},
				{tag: 0x00080060, vr: vr(e, "CS"), length: 2, value: "CT"},
				{tag: 0x00100010, vr: vr(e, "PN"), length: 12, value: "Test^Patient"},
				{tag: 0x0020000D, vr: vr(e, "UI"), length: uint32(len(study) + len(study)%2), value: study},
				{tag: 0x0020000E, vr: vr(e, "UI"), length: uint32(len(series) + len(series)%2), value: series},
				{tag: 0x00082112, vr: vr(e, "SQ"), length: got[15].length},
				{tag: tagItem, length: got[16].length},
				{tag: 0x00081155, vr: vr(e, "UI"), length: 6, value: "1.2.4", depth: 1},
				{tag: 0x00280010, vr: vr(e, "US"), length: 2, value: tc.rows},
				{tag: tagPixelData, vr: vr(e, "OW"), length: 4},
			}
			if !e {
				// Implicit VR: the defined-length sequence is not known
				// to be one, so its bytes are shown as a value.
				want = append(want[:15], want[18:]...)
				want = append(want[:15], append([]element{{tag: 0x00082112, length: got[15].length, value: got[15].value}}, want[15:]...)...)
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
	var out bytes.Buffer
	err := Dump(&out, text, false)
	assert.ErrorIs(t, err, ErrNotDICOM)

	full := part10(tsExplicitLE, (&ds{}).instance(study, series, sop).bytes())
	err = Dump(&out, write("cut.dcm", full[:len(full)-5]), false)
	assert.ErrorIs(t, err, ErrTruncated)
	assert.Contains(t, out.String(), "(0008,0018) UI [", "elements before the cut are listed")

	bad := part10(tsExplicitLE, (&ds{}).raw([]byte{8, 0, 0x16, 0, 'z', 'z', 2, 0, '1', '2'}).bytes())
	err = Dump(io.Discard, write("badvr.dcm", bad), false)
	assert.ErrorIs(t, err, ErrMalformed)

	noPreamble := (&ds{}).instance(study, series, sop).bytes()
	p := write("nopre.dcm", noPreamble)
	assert.ErrorIs(t, Dump(io.Discard, p, false), ErrNotDICOM)
	out.Reset()
	require.NoError(t, Dump(&out, p, true))
	assert.Equal(t, 6, strings.Count(out.String(), "\n"))

	assert.ErrorIs(t, Dump(io.Discard, dir, false), ErrNotRegular)
	assert.ErrorIs(t, Dump(io.Discard, filepath.Join(dir, "missing"), false), os.ErrNotExist)
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

// TestDumpText checks the dcmdump-like lines, exactly.
func TestDumpText(t *testing.T) {
	t.Parallel()
	d := (&ds{}).str(0x00100010, "PN", "Doe^Jane").
		header(0x00081140, "SQ", undefinedLength).header(tagItem, "", undefinedLength).
		str(0x00081150, "UI", "1.2.3").
		header(tagItemDelimitation, "", 0).header(tagSequenceDelimitation, "", 0).
		str(0x00091001, "LO", "private").
		header(tagPixelData, "OB", undefinedLength)
	path := filepath.Join(t.TempDir(), "f.dcm")
	require.NoError(t, os.WriteFile(path, part10(tsExplicitLE, d.bytes()), 0o600))
	var out bytes.Buffer
	require.NoError(t, Dump(&out, path, false))
	assert.Equal(t, `(0002,0000) UL [62]  # 4, FileMetaInformationGroupLength
(0002,0002) UI [1.2.840.10008.5.1.4.1.1.2]  # 26, MediaStorageSOPClassUID
(0002,0010) UI [1.2.840.10008.1.2.1]  # 20, TransferSyntaxUID
(0010,0010) PN [Doe^Jane]  # 8, PatientName
(0008,1140) SQ (Sequence)  # u/l, ReferencedImageSequence
(FFFE,E000) (Item)  # u/l
  (0008,1150) UI [1.2.3]  # 6, ReferencedSOPClassUID
(FFFE,E00D) (ItemDelimitationItem)  # 0
(FFFE,E0DD) (SequenceDelimitationItem)  # 0
(0009,1001) LO [private]  # 8
(7FE0,0010) OB (not read)  # u/l, PixelData
`, out.String())
}
