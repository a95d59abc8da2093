package uploader

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// jsObject builds a JSON object byte for byte as JavaScript's
// JSON.stringify does for an object literal: keys in insertion order,
// compact, strings escaped with JSON.stringify's rules (see writeJSString).
// Aura's client builds every request body this way (docs/aura.md, "Uploader endpoints"),
// and a server that hashes or diffs bodies sees the same bytes from us.
type jsObject struct {
	buf *bytes.Buffer
	n   int
}

// beginObject writes "{" to buf; nested objects share their parent's
// buffer, so a body is written once, without copies.
func beginObject(buf *bytes.Buffer) jsObject {
	buf.WriteByte('{')
	return jsObject{buf: buf}
}

func (o *jsObject) key(k string) {
	if o.n > 0 {
		o.buf.WriteByte(',')
	}
	o.n++
	writeJSString(o.buf, k)
	o.buf.WriteByte(':')
}

// str adds a string member.
func (o *jsObject) str(k, v string) {
	o.key(k)
	writeJSString(o.buf, v)
}

// strOrNull adds v, or null when v is empty (series-level values; docs/aura.md, "Uploader endpoints").
func (o *jsObject) strOrNull(k, v string) {
	o.key(k)
	if v == "" {
		o.buf.WriteString("null")
		return
	}
	writeJSString(o.buf, v)
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
		writeJSString(o.buf, v)
	}
	o.buf.WriteByte(']')
}

// raw adds an already-encoded JSON value.
func (o *jsObject) raw(k string, v []byte) {
	o.key(k)
	o.buf.Write(v)
}

// object adds a member whose value is a nested object and returns it.
func (o *jsObject) object(k string) jsObject {
	o.key(k)
	return beginObject(o.buf)
}

func (o *jsObject) end() { o.buf.WriteByte('}') }

const hexDigits = "0123456789abcdef"

// writeJSString writes s as JSON.stringify does (ES2019): '"' and '\'
// escaped, \b \f \n \r \t by name, other C0 controls as \u00xx with
// lowercase hex, and everything else, including U+2028, U+2029, DEL and
// '<' '>' '&', as raw UTF-8. Go strings cannot hold lone surrogates;
// invalid UTF-8 bytes become U+FFFD, as a JS string decoded from them would.
func writeJSString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	start := 0 // s[start:i] is pending verbatim output
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf.WriteString(s[start:i])
			switch c {
			case '"':
				buf.WriteString(`\"`)
			case '\\':
				buf.WriteString(`\\`)
			case '\b':
				buf.WriteString(`\b`)
			case '\f':
				buf.WriteString(`\f`)
			case '\n':
				buf.WriteString(`\n`)
			case '\r':
				buf.WriteString(`\r`)
			case '\t':
				buf.WriteString(`\t`)
			default:
				buf.WriteString(`\u00`)
				buf.WriteByte(hexDigits[c>>4])
				buf.WriteByte(hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf.WriteString(s[start:i])
			buf.WriteString("\uFFFD")
			i++
			start = i
			continue
		}
		i += size
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

// marshalJSValue encodes an arbitrary value (the init "context") as
// JSON.stringify would encode the same value after JSON.parse: it is first
// marshalled with encoding/json (a json.RawMessage is taken as is), then
// re-encoded token by token so that strings follow writeJSString, numbers
// follow JavaScript's Number-to-string rules (encoding/json's float64
// formatting is that algorithm), and object keys come in JavaScript's
// enumeration order (array-index keys first, then insertion order; a
// repeated key keeps its first position and its last value). Go maps
// marshal with sorted keys; pass a json.RawMessage or a struct to choose
// the order.
func marshalJSValue(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var buf bytes.Buffer
	if err := reencode(dec, &buf, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxDepth bounds the nesting reencode accepts (JSON.parse has none, but a
// library must not recurse without limit).
const maxDepth = 200

func reencode(dec *json.Decoder, buf *bytes.Buffer, depth int) error {
	if depth > maxDepth {
		return errors.New("nesting too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	return reencodeToken(dec, tok, buf, depth)
}

func reencodeToken(dec *json.Decoder, tok json.Token, buf *bytes.Buffer, depth int) error {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			buf.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					buf.WriteByte(',')
				}
				if err := reencode(dec, buf, depth+1); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil { // ']'
				return err
			}
			buf.WriteByte(']')
			return nil
		case '{':
			var keys []string
			vals := map[string][]byte{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, ok := kt.(string)
				if !ok {
					return errors.New("object key is not a string")
				}
				var vb bytes.Buffer
				if err := reencode(dec, &vb, depth+1); err != nil {
					return err
				}
				if _, seen := vals[k]; !seen {
					keys = append(keys, k)
				}
				vals[k] = vb.Bytes()
			}
			if _, err := dec.Token(); err != nil { // '}'
				return err
			}
			o := beginObject(buf)
			for _, k := range jsKeyOrder(keys) {
				o.raw(k, vals[k])
			}
			o.end()
			return nil
		}
		return errors.New("unexpected delimiter")
	case string:
		writeJSString(buf, t)
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return err
		}
		if f == 0 {
			f = 0 // JSON.stringify(-0) is "0"
		}
		b, err := json.Marshal(f)
		if err != nil {
			return err // ±Inf: JSON.stringify would write null, but JSON cannot hold it anyway
		}
		buf.Write(b)
	case bool:
		if t {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case nil:
		buf.WriteString("null")
	}
	return nil
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
