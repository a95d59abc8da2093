package tusclient

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestParseOffset(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "70": 70, "9223372036854775807": 1<<63 - 1, "007": 7} {
		if got, err := parseOffset(in); err != nil || got != want {
			t.Errorf("parseOffset(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "9223372036854775808", "12345678901234567890"} {
		if _, err := parseOffset(in); err == nil {
			t.Errorf("parseOffset(%q) accepted", in)
		}
	}
}

func TestParseCapabilities(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Add("Tus-Version", "1.0.0,0.2.2")
	h.Add("Tus-Extension", "creation, Termination ,,checksum")
	h.Add("Tus-Extension", "concatenation")
	h.Add("Tus-Checksum-Algorithm", "md5,sha1")
	h.Add("Tus-Max-Size", "1073741824")
	c := parseCapabilities(h)
	if !c.Known || strings.Join(c.Extensions, "|") != "creation|termination|checksum|concatenation" ||
		c.MaxSize != 1<<30 || !c.HasChecksum("sha1") || c.HasChecksum("sha256") || c.Versions[1] != "0.2.2" {
		t.Fatalf("%+v", c)
	}
	if c := parseCapabilities(http.Header{"Tus-Max-Size": {"-5"}}); c.Known || c.MaxSize != 0 {
		t.Fatalf("%+v", c)
	}
}

// FuzzParseHeaders: the Tus response header parsers never panic, accept
// only non-negative decimal offsets, and produce clean tokens.
func FuzzParseHeaders(f *testing.F) {
	f.Add("70", "creation,termination", "sha1, md5", "1.0.0")
	f.Add("-1", ",,", "", "")
	f.Add("99999999999999999999", " a , B\t", "\x00", "x")
	f.Fuzz(func(t *testing.T, offset, ext, algos, version string) {
		if n, err := parseOffset(offset); err == nil {
			if n < 0 || strings.TrimLeft(offset, "0") != strings.TrimLeft(strconv.FormatInt(n, 10), "0") {
				t.Fatalf("parseOffset(%q) = %d", offset, n)
			}
		}
		h := http.Header{"Tus-Extension": {ext}, "Tus-Checksum-Algorithm": {algos}, "Tus-Version": {version}, "Tus-Max-Size": {offset}}
		c := parseCapabilities(h)
		if c.MaxSize < 0 {
			t.Fatalf("MaxSize %d", c.MaxSize)
		}
		for _, l := range [][]string{c.Extensions, c.ChecksumAlgorithms, c.Versions} {
			for _, tok := range l {
				if tok == "" || strings.ContainsAny(tok, ",") || tok != strings.ToLower(tok) || strings.Trim(tok, " \t") != tok {
					t.Fatalf("token %q", tok)
				}
			}
		}
	})
}
