package deid

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
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
	el(0x00080005, "CS", "ISO_IR 100")
	el(0x00080012, "DA", "20240115")
	el(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.2")
	el(0x00080018, "UI", sop)
	el(0x00080020, "DA", "20240115")
	el(0x00080021, "DA", "20240115")
	el(0x00080030, "TM", "083000")
	el(0x0008002A, "DT", "20240115083000.000000+0100")
	el(0x00080050, "SH", "ACC123")
	el(0x00080060, "CS", "CT")
	el(0x00080070, "LO", "ACME")
	el(0x00080080, "LO", "Hospital of St Jane")
	el(0x00080090, "PN", "Welby^Marcus")
	el(0x00081010, "SH", "CT01")
	el(0x00081030, "LO", "CT of Doe Jane head")
	el(0x0008103E, "LO", "Axial")
	definedSeq(0x00081110, func(iw *dicomio.Writer) {
		iw.WriteElement(0x00081150, vrUI, []byte("1.2.840.10008.3.1.2.3.1"))
		iw.WriteElement(0x00081155, vrUI, []byte("1.2.3.4.5.6.99"))
	})
	ref := s.refSOP
	if ref == "" {
		ref = "1.2.3.4.5.6.7.2"
	}
	seq(0x00081140, func() {
		el(0x00081150, "UI", "1.2.840.10008.5.1.4.1.1.2")
		el(0x00081155, "UI", ref)
	})
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
	el(0x00090010, "LO", "ACME 1.0")
	el(0x00091001, "LO", "calibration 7")
	seq(0x00091002, func() { el(0x00100010, "PN", "Doe^Jane") })
	el(0x00100010, "PN", "Doe^Jane")
	el(0x00100020, "LO", "PID123")
	el(0x00100030, "DA", "19700101")
	el(0x00100040, "CS", "F")
	el(0x00101000, "LO", "OTHER-77")
	seq(0x00101002, func() { el(0x00100020, "LO", "OTHER-77") })
	el(0x00101010, "AS", "054Y")
	el(0x001021B0, "LT", "Jane had a fall")
	el(0x00181000, "LO", "SN-42")
	el(0x00181030, "LO", "Head Doe")
	el(0x0020000D, "UI", "1.2.3.4.5.6.1")
	el(0x0020000E, "UI", "1.2.3.4.5.6.2")
	el(0x00200010, "SH", "S1")
	el(0x00200013, "IS", "1")
	el(0x00200052, "UI", "1.2.3.4.5.6.3")
	el(0x00204000, "LT", "Patient PID123 moved")
	bin(0x00280002, "US", us(1))
	el(0x00280004, "CS", "MONOCHROME2")
	bin(0x00280010, "US", us(2))
	bin(0x00280011, "US", us(2))
	bin(0x00280100, "US", us(16))
	bin(0x00280101, "US", us(16))
	bin(0x00280102, "US", us(15))
	bin(0x00280103, "US", us(0))
	if s.burnedIn != "" {
		el(0x00280301, "CS", s.burnedIn)
	}
	seq(0x00400555, func() { el(0x0040A160, "UT", "context") })
	seq(0x0040A730, func() {
		el(0x0040A040, "CS", "TEXT")
		seq(0x0040A043, func() {
			el(0x00080100, "SH", "121071")
			el(0x00080102, "SH", "DCM")
			el(0x00080104, "LO", "Finding")
		})
		el(0x0040A160, "UT", "Jane Doe has a fracture")
	})
	bin(0x60000010, "US", us(2))
	bin(0x60003000, "OW", []byte{1, 0})
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
