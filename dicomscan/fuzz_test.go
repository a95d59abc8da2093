package dicomscan

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unicode/utf8"

	"github.com/suyashkumar/dicom"
)

// maxFuzzAlloc is the most memory one input may cost the parser (the issue
// asks for 16 MiB; a normal file costs a few KiB after the first).
const maxFuzzAlloc = 16 << 20

// FuzzParse feeds arbitrary bytes to the header parser as a file, as a
// stream of unknown size (a deflated dataset or a .zip member) and without
// the preamble requirement. It must not panic, must classify every failure
// with a sentinel error, must return valid UTF-8 and must not allocate more
// than maxFuzzAlloc. testdata/fuzz/FuzzParse keeps the input that made
// suyashkumar/dicom v1.1.0 panic.
//
//	go test ./dicomscan -run '^$' -fuzz FuzzParse -fuzztime 2m
func FuzzParse(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := newParser()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, mode := range []struct {
			seek       bool
			size       int64
			noPreamble bool
		}{{true, int64(len(b)), false}, {false, -1, false}, {true, int64(len(b)), true}} {
			r := bytes.NewReader(b)
			var err error
			if mode.seek {
				err = p.parse(r, r, mode.size, mode.noPreamble)
			} else {
				err = p.parse(struct{ io.Reader }{r}, nil, mode.size, mode.noPreamble)
			}
			if err != nil {
				if !isVerdict(err) {
					t.Fatalf("unclassified error: %v", err)
				}
				continue
			}
			a := p.h.attributes(&p.cache)
			for i := 0; i < numAttrs; i++ {
				if f := a.field(i); f != nil && !utf8.ValidString(*f) {
					t.Fatalf("attribute %d is not UTF-8: %q", i, *f)
				}
			}
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > maxFuzzAlloc {
			t.Fatalf("allocated %d bytes for a %d-byte input", n, len(b))
		}
	})
}

// FuzzDecodeText checks that any Specific Character Set and any value
// decode to valid UTF-8 without panicking.
func FuzzDecodeText(f *testing.F) {
	f.Add([]byte(`\ISO 2022 IR 87`), []byte("\x1b$B;3ED\x1b(B^X"), true)
	f.Add([]byte(`ISO 2022 IR 13\ISO 2022 IR 87`), []byte("\xd4\xcf\x1b$B;3\x1b(J="), true)
	f.Add([]byte(`\ISO 2022 IR 149`), []byte("\x1b$)C\xfb\xf3^\x1b$)C\xd1"), true)
	f.Add([]byte("GB18030"), []byte("\xcd\xf5\\\x81"), false)
	f.Add([]byte("ISO_IR 192"), []byte("\xff\xfe"), false)
	f.Add([]byte("ISO 2022 IR 159"), []byte("\x1b$(D01\x1b(B"), true)
	f.Fuzz(func(t *testing.T, charset, value []byte, pn bool) {
		s := newTextDecoder(charset).decode(value, pn)
		if !utf8.ValidString(s) {
			t.Fatalf("decode(%q, %q) = %q, not UTF-8", charset, value, s)
		}
	})
}

func fuzzSeeds() [][]byte {
	le := func() *ds { return &ds{} }
	seeds := [][]byte{
		part10(tsExplicitLE, basic(le())),
		part10(tsImplicitLE, basic(&ds{implicit: true})),
		part10(tsExplicitBE, basic(&ds{bigEndian: true})),
		part10(tsDeflatedLE, basic(le())),
		part10("", basic(&ds{implicit: true})),
		part10(tsExplicitLE, le().str(0x00080005, "CS", `\ISO 2022 IR 87`).
			header(0x00081140, "SQ", undefinedLength).header(tagItem, "", undefinedLength).
			header(0x00091010, "UN", undefinedLength).header(tagItem, "", 0).header(tagSequenceDelimitation, "", 0).
			header(tagItemDelimitation, "", 0).header(tagSequenceDelimitation, "", 0).
			instance(study, series, sop).bytes()),
		basic(le()),
	}
	return seeds
}

// TestCrasher runs the input that panics suyashkumar/dicom v1.1.0 through
// the scanner (which rejects it cleanly, as a file and as a dataset without
// preamble) and through suyashkumar/dicom behind recover, to keep the
// reason for not parsing untrusted files with it visible.
func TestCrasher(t *testing.T) {
	t.Parallel()
	path := filepath.Join("testdata", "suyashkumar-readSequence-panic.dcm")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, noPreamble := range []bool{false, true} {
		_, _, err := parseAll(t, b, noPreamble)
		if !errors.Is(err, ErrNotDICOM) {
			t.Errorf("noPreamble %v: err = %v, want ErrNotDICOM", noPreamble, err)
		}
	}
	res, err := (&Scanner{AllowNoPreamble: true}).Scan(t.Context(), path)
	if err != nil || len(res.Skipped) != 1 || !errors.Is(res.Skipped[0], ErrNotDICOM) {
		t.Errorf("Scan: %v, skipped %v", err, res.Skipped)
	}
	// The reference parser, for contrast.
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		parser, err := dicom.NewParser(bytes.NewReader(b), int64(len(b)), nil, dicom.SkipMetadataReadOnNewParserInit())
		if err == nil {
			for {
				if _, err := parser.Next(); err != nil {
					break
				}
			}
		}
		return false
	}()
	t.Logf("suyashkumar/dicom v1.1.0 panics on this input: %v", panicked)
}
