package tusclient

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Pair is one Upload-Metadata entry. Value may hold any bytes; it is sent
// as standard Base64 with padding.
type Pair struct {
	Key   string
	Value string
}

// Metadata is the ordered Upload-Metadata of an upload. Order is kept on
// the wire, which matters to servers that compare the header byte for byte
// (the Aura uploader sends upload_id, bucket, mode, name, type, filetype,
// filename in that order). Keys must be unique, non-empty, printable ASCII
// without spaces or commas.
type Metadata []Pair

// Get returns the value of key and whether it is present.
func (m Metadata) Get(key string) (string, bool) {
	for _, p := range m {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// validate reports the first rule m breaks, as an error wrapping
// [ErrInvalidMetadata].
func (m Metadata) validate() error {
	seen := make(map[string]struct{}, len(m))
	for i, p := range m {
		if err := validKey(p.Key); err != nil {
			return fmt.Errorf("%w: entry %d: %v", ErrInvalidMetadata, i, err)
		}
		if _, dup := seen[p.Key]; dup {
			return fmt.Errorf("%w: duplicate key %q", ErrInvalidMetadata, p.Key)
		}
		seen[p.Key] = struct{}{}
	}
	return nil
}

func validKey(k string) error {
	if k == "" {
		return fmt.Errorf("empty key")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || c == ',' {
			return fmt.Errorf("key %q: byte %#x at %d is not allowed (keys are printable ASCII without space or comma)", k, c, i)
		}
	}
	return nil
}

// Encode returns the Upload-Metadata header value: "key base64,key base64"
// in m's order. An empty value is encoded as "key " (key and a space), as
// tus-js-client does. Encode of empty metadata is "".
func (m Metadata) Encode() (string, error) {
	if err := m.validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	for i, p := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.Key)
		b.WriteByte(' ')
		b.WriteString(base64.StdEncoding.EncodeToString([]byte(p.Value)))
	}
	return b.String(), nil
}

// ParseMetadata parses an Upload-Metadata header value, keeping the order
// of its entries. It accepts what Tus 1.0 allows: comma-separated entries,
// optional spaces or tabs around each entry, and a key with no value
// ("key" or "key "). Empty entries are skipped. Anything else (an invalid
// key, a duplicate key, a value that is not standard padded Base64, more
// than one space inside an entry) is an error wrapping [ErrInvalidMetadata];
// ParseMetadata never panics.
func ParseMetadata(header string) (Metadata, error) {
	var m Metadata
	seen := map[string]struct{}{}
	for i, entry := range strings.Split(header, ",") {
		entry = strings.Trim(entry, " \t")
		if entry == "" {
			continue
		}
		key, val, _ := strings.Cut(entry, " ")
		if err := validKey(key); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrInvalidMetadata, i, err)
		}
		if _, dup := seen[key]; dup {
			return nil, fmt.Errorf("%w: duplicate key %q", ErrInvalidMetadata, key)
		}
		seen[key] = struct{}{}
		if i := strings.IndexFunc(val, notBase64); i >= 0 {
			return nil, fmt.Errorf("%w: key %q: byte %#x in value is not standard Base64", ErrInvalidMetadata, key, val[i])
		}
		dec, err := base64.StdEncoding.Strict().DecodeString(val)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: value is not standard Base64: %v", ErrInvalidMetadata, key, err)
		}
		m = append(m, Pair{Key: key, Value: string(dec)})
	}
	return m, nil
}

// notBase64 reports runes outside the standard Base64 alphabet. The
// decoder alone would skip CR and LF, which a strict parser must not.
func notBase64(r rune) bool {
	switch {
	case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '+', r == '/', r == '=':
		return false
	}
	return true
}
