package uploader

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// jsObject builds a JSON object byte for byte as JavaScript's
// JSON.stringify does for an object literal: keys in insertion order,
// compact, strings escaped with JSON.stringify's rules (see writeJSString).
// Aura's client builds every request body this way (spec §4.3, §8 item 17),
// and a server that hashes or diffs bodies sees the same bytes from us.
type jsObject struct {
	buf bytes.Buffer
	n   int
}

func newJSObject() *jsObject {
	o := &jsObject{}
	o.buf.WriteByte('{')
	return o
}

func (o *jsObject) key(k string) {
	if o.n > 0 {
		o.buf.WriteByte(',')
	}
	o.n++
	writeJSString(&o.buf, k)
	o.buf.WriteByte(':')
}

// str adds a string member.
func (o *jsObject) str(k, v string) {
	o.key(k)
	writeJSString(&o.buf, v)
}

// strOrNull adds v, or null when v is empty (series-level values, spec §4.3).
func (o *jsObject) strOrNull(k, v string) {
	o.key(k)
	if v == "" {
		o.buf.WriteString("null")
		return
	}
	writeJSString(&o.buf, v)
}

func (o *jsObject) int(k string, v int) {
	o.key(k)
	o.buf.WriteString(strconv.Itoa(v))
}

func (o *jsObject) strings(k string, vs []string) {
	o.key(k)
	o.buf.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			o.buf.WriteByte(',')
		}
		writeJSString(&o.buf, v)
	}
	o.buf.WriteByte(']')
}

// raw adds an already-encoded JSON value.
func (o *jsObject) raw(k string, v []byte) {
	o.key(k)
	o.buf.Write(v)
}

func (o *jsObject) bytes() []byte {
	o.buf.WriteByte('}')
	return o.buf.Bytes()
}

const hexDigits = "0123456789abcdef"

// writeJSString writes s as JSON.stringify does (ES2019): '"' and '\'
// escaped, \b \f \n \r \t by name, other C0 controls as \u00xx with
// lowercase hex, and everything else, including U+2028, U+2029, DEL and
// '<' '>' '&', as raw UTF-8. Go strings cannot hold lone surrogates;
// invalid UTF-8 bytes become U+FFFD, as a JS string decoded from them would.
func writeJSString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				buf.WriteString(`\"`)
			case c == '\\':
				buf.WriteString(`\\`)
			case c == '\b':
				buf.WriteString(`\b`)
			case c == '\f':
				buf.WriteString(`\f`)
			case c == '\n':
				buf.WriteString(`\n`)
			case c == '\r':
				buf.WriteString(`\r`)
			case c == '\t':
				buf.WriteString(`\t`)
			case c < 0x20:
				buf.WriteString(`\u00`)
				buf.WriteByte(hexDigits[c>>4])
				buf.WriteByte(hexDigits[c&0xf])
			default:
				buf.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf.WriteString("\uFFFD")
		} else {
			buf.WriteString(s[i : i+size])
		}
		i += size
	}
	buf.WriteByte('"')
}

// marshalJSValue encodes an arbitrary value (the init "context") with
// encoding/json, then undoes the two places where Go differs from
// JSON.stringify on strings: HTML characters (<, >, &) and U+2028/U+2029
// stay raw. Object keys of Go maps come out sorted; pass a json.RawMessage
// or a struct to control their order.
func marshalJSValue(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if !bytes.Contains(b, []byte(`\u202`)) {
		return b, nil
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+5 < len(b) && string(b[i+2:i+5]) == "202" && (b[i+5] == '8' || b[i+5] == '9') {
			out = utf8.AppendRune(out, rune(0x2028+int(b[i+5]-'8')))
			i += 5
			continue
		}
		out = append(out, b[i], b[i+1]) // keep any other escape intact
		i++
	}
	return out, nil
}

// jsKeyOrder returns keys in the order a JavaScript object enumerates them
// when they were inserted in the given order: keys that are array indices
// (canonical decimal integers below 2^32-1) first in ascending numeric
// order, then every other key in insertion order. A Study Instance UID is
// almost never an array index, but "12345" is a legal one.
func jsKeyOrder(keys []string) []string {
	var idx []uint64
	idxKey := map[uint64]string{}
	var rest []string
	for _, k := range keys {
		if n, ok := arrayIndex(k); ok {
			idx = append(idx, n)
			idxKey[n] = k
			continue
		}
		rest = append(rest, k)
	}
	if len(idx) == 0 {
		return keys
	}
	// insertion sort: index keys are rare and few
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && idx[j] < idx[j-1]; j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	out := make([]string, 0, len(keys))
	for _, n := range idx {
		out = append(out, idxKey[n])
	}
	return append(out, rest...)
}

// arrayIndex reports whether k is a canonical array index: "0", or digits
// without a leading zero, whose value is at most 2^32-2.
func arrayIndex(k string) (uint64, bool) {
	if k == "" || len(k) > 10 || (len(k) > 1 && k[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(k); i++ {
		if k[i] < '0' || k[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(k[i]-'0')
	}
	return n, n <= 1<<32-2
}
