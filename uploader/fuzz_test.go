package uploader

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParseServerConfig(f *testing.F) {
	for _, s := range []string{
		`{"lift":{"endpoint":"https://tus-server.com/files/","token":"tus-auth-token","bucket":"uploads"},"mode":"bulk"}`,
		`{"lift":{"endpoint":"http://127.0.0.1:1/files/","token":"t","bucket":"b"},"mode":"bulk"}`,
		`{"lift":null}`, `{"lift":{"endpoint":5}}`, `[]`, ``, `{"mode":"bulk","lift":{"endpoint":"/x","token":"t","bucket":"b"}}`,
	} {
		f.Add([]byte(s), true)
	}
	base, _ := url.Parse("https://aura.example.com/api")
	f.Fuzz(func(t *testing.T, data []byte, https bool) {
		b := base
		if !https {
			b = nil
		}
		cfg, err := parseServerConfig(data, b)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrServerConfig) || !strings.HasPrefix(ce.Message, "Server config missing") {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		u, err := url.Parse(cfg.Lift.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "https" && (https || u.Scheme != "http")) {
			t.Fatalf("accepted endpoint %q", cfg.Lift.Endpoint)
		}
		if cfg.Lift.Token == "" || cfg.Lift.Bucket == "" || cfg.Mode == "" || strings.ContainsAny(cfg.Lift.Token, "\r\n") {
			t.Fatalf("accepted %+v", cfg)
		}
		if strings.Contains(cfg.Lift.String(), cfg.Lift.Token) && len(cfg.Lift.Token) > 12 {
			t.Fatal("lift token printed")
		}
	})
}

func FuzzParseInitResponse(f *testing.F) {
	for _, s := range []string{`{"studies":[{"id":"a"},{"id":7}]}`, `{"studies":null}`, `{}`, `x`, `{"studies":[{"id":{}}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := parseInitResponse(data)
		if r == nil {
			t.Fatal("nil response")
		}
	})
}

// writeJSString must always produce JSON that decodes to the input (with
// invalid UTF-8 replaced, as a JS string decoded from those bytes would be).
func FuzzWriteJSString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\u2028\u2029<>&", "\x00\x1f\x7f", "é😀", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		writeJSString(&buf, s)
		var back string
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, buf.Bytes(), err)
		}
		if want := replaceInvalid(s); back != want {
			t.Fatalf("round trip %q -> %s -> %q, want %q", s, buf.Bytes(), back, want)
		}
	})
}

// replaceInvalid replaces each invalid UTF-8 byte with U+FFFD.
func replaceInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// marshalJSValue must keep the meaning of any JSON value it is given.
func FuzzMarshalJSValue(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[true,null,"x"],"2":-0,"10":1e21}`, `"\u2028"`, `[]`, `{"a":1,"a":2}`, `1.50`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		out, err := marshalJSValue(json.RawMessage(data))
		if err != nil {
			return // too deep, or a number out of float64 range
		}
		var a, b any
		if json.Unmarshal(data, &a) != nil {
			return
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("%s re-encoded to invalid JSON %s", data, out)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s re-encoded to %s with another meaning", data, out)
		}
	})
}
