package dicomscan

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Character sets of Specific Character Set (0008,0005), PS3.3 C.12.1.1.2
// of the DICOM standard; what this package supports and how it falls back
// is summed up in docs/dicom.md, "Character sets".
//
// Supported: the default repertoire, ISO_IR 100, 101, 109, 110, 126, 127,
// 138, 144, 148, 166, 203 and 13, ISO_IR 192 (UTF-8), GB18030 and GBK, and
// the ISO 2022 code extensions of all of them plus ISO 2022 IR 87 and 159
// (Japanese kanji), 149 (Korean) and 58 (Simplified Chinese), switched by
// escape sequences and reset at value, component and line delimiters.
// Approximations: JIS X 0201 romaji is read as ASCII (0x5C is '\', not the
// yen sign); an unknown character set, or bytes above 0x7F without one,
// are read as UTF-8 if valid and as Latin-1 otherwise (the Aura uploader
// always reads Latin-1).

// charsetKind says how a code element decodes.
type charsetKind uint8

const (
	kindNone     charsetKind = iota // no G1 designated: default repertoire fallback
	kindASCII                       // G0: ASCII, or JIS X 0201 romaji
	kindJIS0208                     // G0: two 7-bit bytes per character
	kindJIS0212                     // G0: two 7-bit bytes per character
	kindCharmap                     // G1: one byte per character
	kindKatakana                    // G1: JIS X 0201 katakana
	kindDouble                      // G1: two bytes with the high bit set (KS X 1001, GB 2312)
)

type codeElement struct {
	kind charsetKind
	cm   *charmap.Charmap  // kindCharmap
	enc  encoding.Encoding // kindDouble
}

var (
	g0ASCII    = codeElement{kind: kindASCII}
	g0JIS0208  = codeElement{kind: kindJIS0208}
	g0JIS0212  = codeElement{kind: kindJIS0212}
	g1None     = codeElement{kind: kindNone}
	g1Katakana = codeElement{kind: kindKatakana}
	g1KSX1001  = codeElement{kind: kindDouble, enc: korean.EUCKR}
	g1GB2312   = codeElement{kind: kindDouble, enc: simplifiedchinese.GBK}
)

// singleByteSets maps an ISO-IR number to its 8-bit code element.
var singleByteSets = map[string]*charmap.Charmap{
	"100": charmap.ISO8859_1,
	"101": charmap.ISO8859_2,
	"109": charmap.ISO8859_3,
	"110": charmap.ISO8859_4,
	"144": charmap.ISO8859_5,
	"127": charmap.ISO8859_6,
	"126": charmap.ISO8859_7,
	"138": charmap.ISO8859_8,
	"148": charmap.ISO8859_9,
	"203": charmap.ISO8859_15,
	"166": charmap.Windows874, // TIS 620-2533, plus 0x80-0x9F
}

// escapes maps the ISO 2022 escape sequences DICOM allows (without the
// leading ESC) to the code element they designate and whether it is G0.
var escapes = []struct {
	seq string
	g0  bool
	ce  codeElement
}{
	{"(B", true, g0ASCII},
	{"(J", true, g0ASCII},
	{"$B", true, g0JIS0208},
	{"$(D", true, g0JIS0212},
	{")I", false, g1Katakana},
	{"$)C", false, g1KSX1001},
	{"$)A", false, g1GB2312},
	{"-A", false, codeElement{kind: kindCharmap, cm: charmap.ISO8859_1}},
	{"-B", false, codeElement{kind: kindCharmap, cm: charmap.ISO8859_2}},
	{"-C", false, codeElement{kind: kindCharmap, cm: charmap.ISO8859_3}},
	{"-D", false, codeElement{kind: kindCharmap, cm: charmap.ISO8859_4}},
	{"-L", false, codeElement{kind: kindCharmap, cm: charmap.ISO8859_5}},
	{"-G", false, codeElement{kind: kindCharmap, cm: charmap.ISO8859_6}},
	{"-F", false, codeElement{kind: kindCharmap, cm: charmap.ISO8859_7}},
	{"-H", false, codeElement{kind: kindCharmap, cm: charmap.ISO8859_8}},
	{"-M", false, codeElement{kind: kindCharmap, cm: charmap.ISO8859_9}},
	{"-b", false, codeElement{kind: kindCharmap, cm: charmap.ISO8859_15}},
	{"-T", false, codeElement{kind: kindCharmap, cm: charmap.Windows874}},
}

// textDecoder decodes the values of one dataset by its Specific Character
// Set.
type textDecoder struct {
	whole  encoding.Encoding // non-nil: one multi-byte encoding for the whole value
	utf8   bool              // ISO_IR 192
	g0, g1 codeElement       // the initial code elements
}

// newTextDecoder parses a Specific Character Set value. Names are matched
// leniently (case, spaces, '_' and '-' ignored), so "ISO_IR 100",
// "ISO 2022 IR 100" and "iso-ir100" are the same.
func newTextDecoder(value []byte) *textDecoder {
	d := &textDecoder{g0: g0ASCII, g1: g1None}
	first, _, _ := bytes.Cut(value, []byte{'\\'})
	name := normalizeCharset(string(first))
	if strings.HasPrefix(name, "ISO2022IR") {
		name = "ISOIR" + name[len("ISO2022IR"):]
	}
	switch name {
	case "ISOIR192":
		d.utf8 = true
	case "GB18030":
		d.whole = simplifiedchinese.GB18030
	case "GBK":
		d.whole = simplifiedchinese.GBK
	case "ISOIR13":
		d.g1 = g1Katakana
	case "ISOIR87":
		d.g0 = g0JIS0208
	case "ISOIR159":
		d.g0 = g0JIS0212
	case "ISOIR149":
		d.g1 = g1KSX1001
	case "ISOIR58":
		d.g1 = g1GB2312
	default:
		if cm := singleByteSets[strings.TrimPrefix(name, "ISOIR")]; cm != nil {
			d.g1 = codeElement{kind: kindCharmap, cm: cm}
		}
	}
	return d
}

func normalizeCharset(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '_' || c == '-' || c == 0:
		case 'a' <= c && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// decode converts one value to UTF-8. pn says whether '^' and '=' are
// delimiters (Person Name).
func (d *textDecoder) decode(v []byte, pn bool) string {
	switch {
	case d.utf8:
		return strings.ToValidUTF8(string(v), "\uFFFD")
	case d.whole != nil:
		s, err := d.whole.NewDecoder().Bytes(v)
		if err != nil {
			return defaultText(v)
		}
		return string(s)
	}
	var out strings.Builder
	out.Grow(len(v) * 2)
	g0, g1 := d.g0, d.g1
	start := 0 // start of the pending run
	runG1 := false
	flush := func(end int) {
		if end > start {
			if runG1 {
				decodeG1(&out, g1, v[start:end])
			} else {
				decodeG0(&out, g0, v[start:end])
			}
		}
		start = end
	}
	for i := 0; i < len(v); {
		c := v[i]
		if c == 0x1B {
			flush(i)
			n, ce, isG0, ok := matchEscape(v[i+1:])
			if !ok {
				i++
				start = i // drop a stray ESC
				continue
			}
			if isG0 {
				g0 = ce
			} else {
				g1 = ce
			}
			i += 1 + n
			start = i
			continue
		}
		high := c >= 0x80
		if high != runG1 {
			flush(i)
			runG1 = high
		}
		if !high && (g0.kind == kindASCII) && isDelimiter(c, pn) {
			// Back to the initial code elements before a delimiter.
			flush(i)
			out.WriteByte(c)
			g0, g1 = d.g0, d.g1
			i++
			start = i
			continue
		}
		i++
	}
	flush(len(v))
	return out.String()
}

func isDelimiter(c byte, pn bool) bool {
	switch c {
	case '\\', '\r', '\n', '\f', '\t':
		return true
	case '^', '=':
		return pn
	}
	return false
}

func matchEscape(b []byte) (n int, ce codeElement, g0 bool, ok bool) {
	for _, e := range escapes {
		if bytes.HasPrefix(b, []byte(e.seq)) {
			return len(e.seq), e.ce, e.g0, true
		}
	}
	return 0, codeElement{}, false, false
}

// decodeG0 decodes a run of bytes below 0x80.
func decodeG0(out *strings.Builder, ce codeElement, run []byte) {
	switch ce.kind {
	case kindJIS0208, kindJIS0212:
		euc := make([]byte, 0, len(run)*3/2+2)
		for i := 0; i < len(run); i++ {
			c := run[i]
			if c <= 0x20 { // space and controls stay single-byte
				euc = append(euc, c)
				continue
			}
			if ce.kind == kindJIS0212 && i%2 == 0 {
				euc = append(euc, 0x8F)
			}
			euc = append(euc, c|0x80)
		}
		s, err := japanese.EUCJP.NewDecoder().Bytes(euc)
		if err != nil {
			out.WriteString(strings.Repeat("\uFFFD", len(run)/2))
			return
		}
		out.Write(s)
	default:
		out.Write(run)
	}
}

// decodeG1 decodes a run of bytes at or above 0x80.
func decodeG1(out *strings.Builder, ce codeElement, run []byte) {
	switch ce.kind {
	case kindCharmap:
		for _, c := range run {
			out.WriteRune(ce.cm.DecodeByte(c))
		}
	case kindKatakana:
		for _, c := range run {
			if 0xA1 <= c && c <= 0xDF {
				out.WriteRune(0xFF61 + rune(c-0xA1))
			} else {
				out.WriteRune(utf8.RuneError)
			}
		}
	case kindDouble:
		s, err := ce.enc.NewDecoder().Bytes(run)
		if err != nil {
			out.WriteString(strings.Repeat("\uFFFD", len(run)/2))
			return
		}
		out.Write(s)
	default:
		out.WriteString(defaultText(run))
	}
}

// defaultText decodes a value in the default repertoire: ASCII as is;
// other bytes as UTF-8 when they form valid UTF-8 (common in practice,
// though not conformant), else as Latin-1, so the result is always valid
// UTF-8.
func defaultText(v []byte) string {
	if utf8.Valid(v) {
		return string(v)
	}
	var b strings.Builder
	b.Grow(len(v) * 2)
	for _, c := range v {
		b.WriteRune(rune(c))
	}
	return b.String()
}
