package dicomscan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseAll parses b three ways (a seekable file, a stream of known size,
// a stream of unknown size, like a deflated dataset or a .zip member) and
// checks they agree.
func parseAll(t *testing.T, b []byte, noPreamble bool) (attributes, string, error) {
	t.Helper()
	type result struct {
		a   attributes
		ts  string
		err error
	}
	run := func(src io.Reader, sk io.Seeker, size int64) result {
		p := newParser()
		err := p.parse(src, sk, size, noPreamble)
		if err != nil {
			return result{err: err}
		}
		return result{p.h.attributes(&p.cache), p.h.transferSyntax, nil}
	}
	r := bytes.NewReader(b)
	seek := run(r, r, int64(len(b)))
	stream := run(struct{ io.Reader }{bytes.NewReader(b)}, nil, int64(len(b)))
	unknown := run(struct{ io.Reader }{bytes.NewReader(b)}, nil, -1)
	for _, o := range []result{stream, unknown} {
		assert.Equal(t, seek.a, o.a, "stream and seekable parses differ")
		assert.Equal(t, seek.ts, o.ts, "stream and seekable parses differ")
		assert.True(t, sameKind(o.err, seek.err), "stream and seekable parses differ: %v and %v", o.err, seek.err)
	}
	return seek.a, seek.ts, seek.err
}

func sameKind(a, b error) bool {
	for _, k := range []error{ErrNotDICOM, ErrDICOMDIR, ErrMalformed, ErrTruncated} {
		if errors.Is(a, k) != errors.Is(b, k) {
			return false
		}
	}
	return (a == nil) == (b == nil)
}

const (
	study  = "1.2.3.4"
	series = "1.2.3.4.5"
	sop    = "1.2.3.4.5.6"
)

func basic(d *ds) []byte { return d.instance(study, series, sop).bytes() }

func TestParseTransferSyntaxes(t *testing.T) {
	t.Parallel()
	implicit := basic(&ds{implicit: true})
	explicit := basic(&ds{})
	bigEndian := basic(&ds{bigEndian: true})
	tests := []struct {
		name string
		file []byte
		ts   string
	}{
		{"explicit LE", part10(tsExplicitLE, explicit), tsExplicitLE},
		{"implicit LE", part10(tsImplicitLE, implicit), tsImplicitLE},
		{"explicit BE", part10(tsExplicitBE, bigEndian), tsExplicitBE},
		{"deflated", part10(tsDeflatedLE, explicit), tsDeflatedLE},
		{"JPEG baseline", part10("1.2.840.10008.1.2.4.50", explicit), "1.2.840.10008.1.2.4.50"},
		{"unknown syntax", part10("1.2.3.999", explicit), "1.2.3.999"},
		{"missing syntax, implicit dataset", part10("", implicit), ""},
		{"missing syntax, big endian dataset", part10("", bigEndian), ""},
		{"explicit label, implicit dataset", part10("1.2.840.10008.1.2.4.70", implicit), "1.2.840.10008.1.2.4.70"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, ts, err := parseAll(t, tt.file, false)
			require.NoError(t, err)
			assert.Equal(t, tt.ts, ts, "transfer syntax")
			want := [5]string{study, series, sop, "CT", "Test^Patient"}
			assert.Equal(t, want, [5]string{a.StudyInstanceUID, a.SeriesInstanceUID, a.SOPInstanceUID, a.Modality, a.PatientName})
		})
	}
}

func TestParseStructure(t *testing.T) {
	t.Parallel()
	le := func() *ds { return &ds{} }
	// A dataset of undefined-length sequences (items of defined and of
	// undefined length, nested) before the attributes, which must still
	// be found.
	nested := le().str(0x00080005, "CS", "ISO_IR 100").
		header(0x00081140, "SQ", undefinedLength).
		header(tagItem, "", undefinedLength).
		str(0x00081150, "UI", "1.2").
		header(0x00081199, "SQ", undefinedLength).
		header(tagItem, "", 10).raw(make([]byte, 10)).
		header(tagSequenceDelimitation, "", 0).
		header(tagItemDelimitation, "", 0).
		header(tagItem, "", 0).
		header(tagSequenceDelimitation, "", 0).
		instance(study, series, sop).bytes()
	// UN of undefined length holds implicit VR items (PS3.5 6.2.2).
	unSeq := le().header(0x00091010, "UN", undefinedLength).
		header(tagItem, "", undefinedLength).
		raw((&ds{implicit: true}).str(0x00100010, "PN", "Inside^Sequence").bytes()).
		header(tagItemDelimitation, "", 0).
		header(tagSequenceDelimitation, "", 0).
		instance(study, series, sop).bytes()
	definedSQ := le().header(0x00081140, "SQ", 28).
		header(tagItem, "", 20).str(0x00100010, "PN", "Not^This^One").
		instance(study, series, sop).bytes()
	// Pixel data that claims 4 GiB in a 1 KiB file: never read.
	hugePixels := le().instance(study, series, sop).
		header(0x7FE00010, "OW", 0xFFFFFFF0).raw(make([]byte, 64)).bytes()
	padded := le().instance(study, series, sop).
		str(0x00081030, "LO", "  Head\x00junk").
		str(0x00101000, "LO", `A1 \ B2\C3`).bytes()
	firstWins := le().str(0x00080060, "CS", "MR").instance(study, series, sop).bytes()
	deep := le()
	for range 100 {
		deep.header(0x00081140, "SQ", undefinedLength).header(tagItem, "", undefinedLength)
	}
	badVR := le().header(0x00080060, "ZZ", 2).raw([]byte("CT")).bytes()
	junkInSeq := le().header(0x00081140, "SQ", undefinedLength).str(0x00100010, "PN", "X").bytes()
	hugeSkipped := le().header(0x00090010, "OB", 0xFFFFFFF0).raw(make([]byte, 16)).bytes()
	var implicitHuge ds
	implicitHuge.implicit = true
	implicitHuge.header(0x00100010, "", 0xFFFFFFF0).raw([]byte("Doe^John"))
	var implicitLong ds
	implicitLong.implicit = true
	implicitLong.header(0x00100010, "", 60000).raw([]byte("Doe^John"))
	truncatedHeader := le().instance(study, series, sop).raw([]byte{0x20, 0x00, 0x11}).bytes()
	corruptDeflate := part10(tsDeflatedLE, basic(le()))
	corruptDeflate[len(corruptDeflate)/2+80] ^= 0xFF
	corruptDeflate = append(corruptDeflate[:len(corruptDeflate)-20], 0xFF, 0xFF, 0xFF)

	tests := []struct {
		name    string
		file    []byte
		wantErr error
		check   func(t *testing.T, a attributes)
	}{
		{name: "nested undefined-length sequences", file: part10(tsExplicitLE, nested)},
		{name: "UN sequence of undefined length", file: part10(tsExplicitLE, unSeq), check: func(t *testing.T, a attributes) {
			assert.Equal(t, "Test^Patient", a.PatientName, "read from inside a sequence")
		}},
		{name: "defined-length sequence", file: part10(tsExplicitLE, definedSQ)},
		{name: "stops before pixel data", file: part10(tsExplicitLE, hugePixels)},
		{name: "NUL cut and trim", file: part10(tsExplicitLE, padded), check: func(t *testing.T, a attributes) {
			assert.Equal(t, "Head", a.StudyDescription)
			assert.Equal(t, []string{"A1", "B2", "C3"}, a.OtherPatientIDs)
		}},
		{name: "first occurrence wins", file: part10(tsExplicitLE, firstWins), check: func(t *testing.T, a attributes) {
			assert.Equal(t, "MR", a.Modality, "want the first one")
		}},
		{name: "nesting too deep", file: part10(tsExplicitLE, deep.bytes()), wantErr: ErrMalformed},
		{name: "invalid VR", file: part10(tsExplicitLE, badVR), wantErr: ErrMalformed},
		{name: "element inside a sequence", file: part10(tsExplicitLE, junkInSeq), wantErr: ErrMalformed},
		{name: "skipped element longer than the file", file: part10(tsExplicitLE, hugeSkipped), wantErr: ErrTruncated},
		{name: "needed value of 4 GiB", file: part10(tsImplicitLE, implicitHuge.bytes()), wantErr: ErrMalformed},
		{name: "needed value longer than the file", file: part10(tsImplicitLE, implicitLong.bytes()), wantErr: ErrTruncated},
		{name: "file ends inside an element header", file: part10(tsExplicitLE, truncatedHeader), wantErr: ErrTruncated},
		{name: "corrupt deflate stream", file: corruptDeflate, wantErr: ErrMalformed},
		{name: "no preamble", file: basic(le()), wantErr: ErrNotDICOM},
		{name: "empty file", file: nil, wantErr: ErrNotDICOM},
		{name: "131 bytes", file: make([]byte, 131), wantErr: ErrNotDICOM},
		{name: "text", file: []byte(strings.Repeat("not a DICOM file\n", 20)), wantErr: ErrNotDICOM},
		{name: "DICOMDIR", file: func() []byte {
			b := part10(tsExplicitLE, basic(le()))
			return bytes.Replace(b, []byte("1.2.840.10008.5.1.4.1.1.2\x00"), []byte("1.2.840.10008.1.3.10\x00\x00\x00\x00\x00\x00"), 1)
		}(), wantErr: ErrDICOMDIR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _, err := parseAll(t, tt.file, false)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, [3]string{study, series, sop}, [3]string{a.StudyInstanceUID, a.SeriesInstanceUID, a.SOPInstanceUID}, "UIDs")
			if tt.check != nil {
				tt.check(t, a)
			}
		})
	}
}

func TestParseNoPreamble(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file []byte
		ok   bool
	}{
		{"explicit LE", basic(&ds{}), true},
		{"implicit LE", basic(&ds{implicit: true}), true},
		{"explicit BE", basic(&ds{bigEndian: true}), true},
		{"meta without preamble", part10(tsExplicitLE, basic(&ds{}))[128:], true},
		{"meta group without DICM", part10(tsImplicitLE, basic(&ds{implicit: true}))[132:], true},
		{"text", []byte("hello, world, this is not DICOM"), false},
		{"short", []byte{8, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _, err := parseAll(t, tt.file, true)
			if !tt.ok {
				require.ErrorIs(t, err, ErrNotDICOM)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, sop, a.SOPInstanceUID)
		})
	}
}

// TestParseAllocations: a crafted header declaring huge lengths costs no
// more memory than a normal one (suyashkumar/dicom allocates 3.8 GiB for
// a 186-byte file, spec/dependencies.md §3).
func TestParseAllocations(t *testing.T) {
	var implicitLong ds
	implicitLong.implicit = true
	implicitLong.header(0x00100010, "", 0xFFFF).raw([]byte("Doe^John"))
	files := map[string][]byte{
		"huge pixel data": part10(tsExplicitLE, (&ds{}).instance(study, series, sop).header(0x7FE00010, "OW", 0xFFFFFFF0).bytes()),
		"huge value":      part10(tsImplicitLE, implicitLong.bytes()),
		"huge skip":       part10(tsExplicitLE, (&ds{}).header(0x00090010, "OB", 0xFFFFFFF0).bytes()),
		"deflated":        part10(tsDeflatedLE, (&ds{}).header(0x00090010, "OB", 0xFFFFFFF0).bytes()),
	}
	for name, b := range files {
		p := newParser()
		p.parse(bytes.NewReader(b), nil, int64(len(b)), false) // warm up: buffers, inflater
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 10 {
			p.parse(struct{ io.Reader }{bytes.NewReader(b)}, nil, -1, false)
			p.h.attributes(&p.cache)
		}
		runtime.ReadMemStats(&after)
		assert.LessOrEqual(t, (after.TotalAlloc-before.TotalAlloc)/10, uint64(64<<10), "%s: bytes allocated per parse", name)
	}
}

// TestParseRepeatedValues: a needed element repeated many times (here
// 100 Patient Names of 60,000 bytes, deflated to a file of a few
// KiB) keeps one value. Each copy used to be appended to the worker's
// arena, so the file cost hundreds of times its size in memory, kept by
// the worker for the rest of the scan.
func TestParseRepeatedValues(t *testing.T) {
	d := &ds{}
	d.str(0x00080005, "CS", "ISO_IR 100")
	for range 100 {
		d.str(0x00100010, "PN", strings.Repeat("A", 60000))
		d.str(0x00080005, "CS", "ISO_IR 192")
	}
	d.instance(study, series, sop)
	for _, ts := range []string{tsExplicitLE, tsDeflatedLE} {
		b := part10(ts, d.bytes())
		p := newParser()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := p.parse(struct{ io.Reader }{bytes.NewReader(b)}, nil, int64(len(b)), false)
		runtime.ReadMemStats(&after)
		require.NoError(t, err, "%s", ts)
		assert.LessOrEqual(t, cap(p.h.arena), (numAttrs+1)*maxValue, "%s (%d bytes): arena", ts, len(b))
		assert.LessOrEqual(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "%s (%d bytes): bytes allocated", ts, len(b))
		a := p.h.attributes(&p.cache)
		assert.Equal(t, strings.Repeat("A", 60000), a.PatientName, "%s: PatientName", ts)
		assert.Equal(t, sop, a.SOPInstanceUID, ts)
		assert.Equal(t, "ISO_IR 100", string(p.h.charsetValue()), "%s: Specific Character Set, want the first one", ts)
	}
}

func TestDecodeText(t *testing.T) {
	t.Parallel()
	latin1 := func(s string) []byte {
		var b []byte
		for _, r := range s {
			b = append(b, byte(r))
		}
		return b
	}
	tests := []struct {
		name, charset string
		value         []byte
		pn            bool
		want          string
	}{
		{"default, ASCII", "", []byte("Doe^John"), true, "Doe^John"},
		{"default, UTF-8 bytes", "", []byte("Müller"), true, "Müller"},
		{"default, Latin-1 bytes", "", latin1("Müller"), true, "Müller"},
		{"ISO_IR 100", "ISO_IR 100", latin1("Buc^Jérôme"), true, "Buc^Jérôme"},
		{"lenient spelling", "iso-ir 100", latin1("Jérôme"), true, "Jérôme"},
		{"ISO_IR 192", "ISO_IR 192", []byte("Wang^XiaoDong=王^小東"), true, "Wang^XiaoDong=王^小東"},
		{"ISO_IR 192, invalid", "ISO_IR 192", []byte{'A', 0xFF, 'B'}, true, "A\uFFFDB"},
		{"GB18030", "GB18030", []byte("Wang^XiaoDong=\xcd\xf5^\xd0\xa1\xb6\xab="), true, "Wang^XiaoDong=王^小东="},
		{"ISO_IR 144", "ISO_IR 144", []byte("\xbb\xee\xdace\xdc\xd1yp\xd3"), true, "Люкceмбypг"},
		{"ISO_IR 126", "ISO_IR 126", []byte("\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2"), true, "Διονυσιος"},
		{"ISO_IR 13", "ISO_IR 13", []byte("\xd4\xcf\xc0\xde"), true, "ﾔﾏﾀﾞ"},
		{"ISO_IR 166", "ISO_IR 166", []byte("\xa1\xa2"), false, "กข"},
		{"ISO 2022 Japanese", `\ISO 2022 IR 87`,
			[]byte("Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B"), true,
			"Yamada^Tarou=山田^太郎=やまだ^たろう"},
		{"ISO 2022 Korean", `\ISO 2022 IR 149`,
			[]byte("Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf"), true,
			"Hong^Gildong=洪^吉洞=홍^길동"},
		{"ISO 2022 switch to Greek and back at '^'", `ISO 2022 IR 100\ISO 2022 IR 126`,
			append(append([]byte("Caf\xe9\x1b-F"), 0xc4, 0xe9, '^'), 0xe9), true, "Café\u0394ι^é"},
		{"unknown set", "ISO_IR 999", latin1("Jérôme"), true, "Jérôme"},
		{"stray ESC", "", []byte("A\x1bB"), true, "AB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newTextDecoder([]byte(tt.charset))
			assert.Equal(t, tt.want, d.decode(tt.value, tt.pn), "decode(%q)", tt.value)
		})
	}
}

// TestCharsetInFile decodes through the whole parser, including a
// big-endian dataset (strings are not swapped).
func TestCharsetInFile(t *testing.T) {
	t.Parallel()
	for _, bigEndian := range []bool{false, true} {
		d := &ds{bigEndian: bigEndian}
		d.str(0x00080005, "CS", "ISO_IR 100").instance(study, series, sop).str(0x00081030, "LO", "T\xeate\xe9")
		b := part10(map[bool]string{false: tsExplicitLE, true: tsExplicitBE}[bigEndian], d.bytes())
		a, _, err := parseAll(t, b, false)
		require.NoError(t, err)
		assert.Equal(t, "Têteé", a.StudyDescription, "big endian %v", bigEndian)
	}
}

func TestElementHeaderLengths(t *testing.T) {
	t.Parallel()
	// A long-VR element (UT) and a short one (LO) in both byte orders.
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		d := &ds{bigEndian: order == binary.BigEndian}
		d.str(0x00080081, "ST", "1 Main Street").str(0x00081030, "UT", "Long text VR")
		d.instance(study, series, sop)
		ts := tsExplicitLE
		if d.bigEndian {
			ts = tsExplicitBE
		}
		a, _, err := parseAll(t, part10(ts, d.bytes()), false)
		require.NoError(t, err)
		assert.Equal(t, "1 Main Street", a.InstitutionAddress, "%v", order)
		assert.Equal(t, "Long text VR", a.StudyDescription, "%v", order)
	}
}

// TestParseMetaIndependentOfPreviousFile: the meta group is always
// explicit VR little endian, however the worker's previous file was
// encoded. Its undefined-length sequences used to be read with the byte
// order and VR mode left over from that file, so the same file parsed or
// failed depending on which worker read it.
func TestParseMetaIndependentOfPreviousFile(t *testing.T) {
	t.Parallel()
	var meta ds
	meta.str(0x00020010, "UI", tsExplicitLE).
		header(0x00021000, "SQ", undefinedLength).
		header(tagItem, "", undefinedLength).
		str(0x00021001, "LO", "private").
		header(tagItemDelimitation, "", 0).
		header(tagSequenceDelimitation, "", 0)
	file := append(append(append(make([]byte, 128), "DICM"...), meta.bytes()...), basic(&ds{})...)
	previous := map[string][]byte{
		"fresh parser":        nil,
		"after explicit BE":   part10(tsExplicitBE, basic(&ds{bigEndian: true})),
		"after implicit LE":   part10(tsImplicitLE, basic(&ds{implicit: true})),
		"after deflated file": part10(tsDeflatedLE, basic(&ds{})),
	}
	for name, prev := range previous {
		p := newParser()
		if prev != nil {
			require.NoError(t, p.parse(bytes.NewReader(prev), nil, int64(len(prev)), false), "%s", name)
		}
		if !assert.NoError(t, p.parse(bytes.NewReader(file), nil, int64(len(file)), false), name) {
			continue
		}
		assert.Equal(t, sop, p.h.attributes(&p.cache).SOPInstanceUID, name)
	}
}
