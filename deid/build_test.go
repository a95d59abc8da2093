package deid

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/internal/dicomio"
	"github.com/stretchr/testify/require"
)

// testKey is the key of most tests.
var testKey = bytes.Repeat([]byte("k"), MinKeySize)

// sample describes a rich test instance: every kind of attribute the
// profile treats differently, at the top level and in sequences of
// defined and undefined length, private attributes, and pixel data.
type sample struct {
	ts          string // transfer syntax
	sop         string // SOP Instance UID
	refSOP      string // the instance its Referenced Image Sequence points at
	burnedIn    string
	pixels      []byte // native pixel data, or the fragment when encapsulated
	encapsulate bool
	bigPixels   int64 // if > 0: native pixel data of this many zero bytes instead
}

// richElements are the plain text elements of the sample, read from
// testdata/rich-elements.txt.
var richElements = func() []struct {
	tag       uint32
	vr, value string
} {
	data, err := os.ReadFile("testdata/rich-elements.txt")
	if err != nil {
		panic(err)
	}
	var out []struct {
		tag       uint32
		vr, value string
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || strings.HasPrefix(line, "#") {
			continue
		}
		tag, err := strconv.ParseUint(f[0], 16, 32)
		if err != nil {
			panic(err)
		}
		out = append(out, struct {
			tag       uint32
			vr, value string
		}{uint32(tag), f[1], f[2]})
	}
	return out
}()

// vr shortens dicomio.MakeVR.
func vr(s string) dicomio.VR { return dicomio.MakeVR(s) }

// build writes the sample as a Part 10 file.
func (s sample) build(t testing.TB) []byte {
	var b bytes.Buffer
	require.NoError(t, s.write(&b))
	return b.Bytes()
}

func (s sample) write(dst io.Writer) error {
	w := dicomio.NewWriter(dst)
	syn, _ := dicomio.SyntaxOf(s.ts)
	us := func(v uint16) []byte {
		if syn.BigEndian {
			return binary.BigEndian.AppendUint16(nil, v)
		}
		return binary.LittleEndian.AppendUint16(nil, v)
	}
	var err error
	el := func(tag uint32, v string, s string) {
		if err == nil {
			err = w.WriteElement(dicomio.Tag(tag), vr(v), []byte(s))
		}
	}
	bin := func(tag uint32, v string, b []byte) {
		if err == nil {
			err = w.WriteElement(dicomio.Tag(tag), vr(v), b)
		}
	}
	seq := func(tag uint32, items ...func()) {
		if err == nil {
			err = w.Begin(dicomio.Tag(tag), vrSQ)
		}
		for _, it := range items {
			if err == nil {
				err = w.BeginItem()
			}
			it()
			if err == nil {
				err = w.EndItem()
			}
		}
		if err == nil {
			err = w.End()
		}
	}
	// definedSeq writes a defined-length sequence of defined-length items,
	// encoded by a dataset writer of the same syntax.
	definedSeq := func(tag uint32, items ...func(*dicomio.Writer)) {
		var body bytes.Buffer
		for _, it := range items {
			var item bytes.Buffer
			iw, _ := dicomio.NewDatasetWriter(&item, syn)
			it(iw)
			h, _ := dicomio.AppendHeader(nil, dicomio.Header{Tag: dicomio.TagItem, Length: uint32(item.Len())}, syn)
			body.Write(h)
			body.Write(item.Bytes())
		}
		if err == nil {
			err = w.WriteFrom(dicomio.Tag(tag), vrSQ, uint32(body.Len()), &body)
		}
	}
	sop := s.sop
	if sop == "" {
		sop = "1.2.3.4.5.6.7.1"
	}
	if err := w.WriteMeta(dicomio.Meta{MediaStorageSOPClassUID: "1.2.840.10008.5.1.4.1.1.2", MediaStorageSOPInstanceUID: sop,
		TransferSyntaxUID: s.ts, SourceApplicationEntity: "HOSPITAL_AE"}); err != nil {
		return err
	}
	ref := s.refSOP
	if ref == "" {
		ref = "1.2.3.4.5.6.7.2"
	}
	// The plain text elements come from testdata/rich-elements.txt; the
	// others are written here; all in ascending tag order.
	steps := map[uint32]func(){
		0x00080018: func() { el(0x00080018, "UI", sop) },
		0x00081110: func() {
			definedSeq(0x00081110, func(iw *dicomio.Writer) {
				iw.WriteElement(0x00081150, vrUI, []byte("1.2.840.10008.3.1.2.3.1"))
				iw.WriteElement(0x00081155, vrUI, []byte("1.2.3.4.5.6.99"))
			})
		},
		0x00081140: func() {
			seq(0x00081140, func() {
				el(0x00081150, "UI", "1.2.840.10008.5.1.4.1.1.2")
				el(0x00081155, "UI", ref)
			})
		},
		0x00082112: func() {
			definedSeq(0x00082112, func(iw *dicomio.Writer) {
				iw.WriteElement(0x00081150, vrUI, []byte("1.2.840.10008.5.1.4.1.1.2"))
				iw.WriteElement(0x00081155, vrUI, []byte(ref))
				iw.Begin(0x0040A170, vrSQ)
				iw.BeginItem()
				iw.WriteElement(0x00080100, vrSH, []byte("121320"))
				iw.WriteElement(0x00080102, vrSH, []byte("DCM"))
				iw.WriteElement(0x00080104, vrLO, []byte("Uncompressed predecessor"))
				iw.EndItem()
				iw.End()
			})
		},
		0x00091002: func() { seq(0x00091002, func() { el(0x00100010, "PN", "Doe^Jane") }) },
		0x00101002: func() { seq(0x00101002, func() { el(0x00100020, "LO", "OTHER-77") }) },
		0x00400555: func() { seq(0x00400555, func() { el(0x0040A160, "UT", "context") }) },
		0x0040A730: func() {
			seq(0x0040A730, func() {
				el(0x0040A040, "CS", "TEXT")
				seq(0x0040A043, func() {
					el(0x00080100, "SH", "121071")
					el(0x00080102, "SH", "DCM")
					el(0x00080104, "LO", "Finding")
				})
				el(0x0040A160, "UT", "Jane Doe has a fracture")
			})
		},
		0x60003000: func() { bin(0x60003000, "OW", []byte{1, 0}) },
	}
	for tag, v := range map[uint32]uint16{0x00280002: 1, 0x00280010: 2, 0x00280011: 2, 0x00280100: 16,
		0x00280101: 16, 0x00280102: 15, 0x00280103: 0, 0x60000010: 2} {
		steps[tag] = func() { bin(tag, "US", us(v)) }
	}
	if s.burnedIn != "" {
		steps[0x00280301] = func() { el(0x00280301, "CS", s.burnedIn) }
	}
	for _, e := range richElements {
		steps[e.tag] = func() { el(e.tag, e.vr, e.value) }
	}
	tags := make([]uint32, 0, len(steps))
	for t := range steps {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	for _, t := range tags {
		steps[t]()
	}
	if err != nil {
		return err
	}
	switch {
	case s.bigPixels > 0:
		return errors2(w.WriteFrom(dicomio.TagPixelData, vr("OW"), uint32(s.bigPixels), io.LimitReader(zeroing{rand0{}}, s.bigPixels)), w.Close())
	case s.encapsulate:
		err = errors2(w.Begin(dicomio.TagPixelData, vr("OB")), w.Item(0, strings.NewReader("")))
		err = errors2(err, w.Item(uint32(len(s.pixels)), bytes.NewReader(s.pixels)), w.End())
	default:
		err = w.WriteElement(dicomio.TagPixelData, vr("OW"), s.pixels)
	}
	return errors2(err, w.Close())
}

func errors2(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// field is one element of a flattened file.
type field struct {
	VR    string `json:"vr"`
	Value string `json:"value"` // text trimmed, binary as hex, sequences as their item count
}

// flatten reads a file completely, entering every sequence, into
// path → field, where a path is like "(0008,1140)[0](0008,1155)". Pixel
// data and binary values are hex; encapsulated fragments are joined.
func flatten(t testing.TB, data []byte) (dicomio.Meta, map[string]field) {
	t.Helper()
	r := dicomio.NewReader(bytes.NewReader(data), 0)
	m, err := r.ReadMeta()
	require.NoError(t, err)
	out := map[string]field{}
	var walk func(prefix string)
	walk = func(prefix string) {
		for {
			h, err := r.Next()
			if err == io.EOF || h.Tag == dicomio.TagItemDelimitation {
				return
			}
			require.NoError(t, err)
			path := prefix + h.Tag.String()
			v := dicomio.VR(vrFor(uint32(h.Tag)))
			if h.VR != 0 && h.VR != vrUN {
				v = h.VR
			}
			if v == vrSQ || h.Length == dicomio.UndefinedLength && h.Tag != dicomio.TagPixelData {
				if h.Length != dicomio.UndefinedLength {
					require.NoError(t, r.Enter())
				}
				n := 0
				for {
					it, err := r.Next()
					require.NoError(t, err)
					if it.Tag == dicomio.TagSequenceDelimitation {
						break
					}
					if it.Length != dicomio.UndefinedLength {
						require.NoError(t, r.Enter())
					}
					walk(fmt.Sprintf("%s[%d]", path, n))
					n++
				}
				out[path] = field{VR: "SQ", Value: fmt.Sprint(n)}
				continue
			}
			if h.Length == dicomio.UndefinedLength {
				var frags []string
				for {
					it, err := r.Next()
					require.NoError(t, err)
					if it.Tag == dicomio.TagSequenceDelimitation {
						break
					}
					b, err := io.ReadAll(r.Value())
					require.NoError(t, err)
					frags = append(frags, fmt.Sprintf("%x", b))
				}
				out[path] = field{VR: v.String(), Value: strings.Join(frags, "|")}
				continue
			}
			b, err := r.ReadValue(1 << 30)
			require.NoError(t, err)
			if v.Text() {
				out[path] = field{VR: v.String(), Value: strings.TrimSpace(dicomio.TrimText(b))}
			} else {
				out[path] = field{VR: v.String(), Value: fmt.Sprintf("%x", b)}
			}
		}
	}
	walk("")
	return m, out
}

// rand0 is an endless reader of whatever its buffer holds.
type rand0 struct{}

func (rand0) Read(p []byte) (int, error) { return len(p), nil }
