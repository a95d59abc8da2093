package tusclient

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseOffset(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "70": 70, "9223372036854775807": 1<<63 - 1, "007": 7} {
		got, err := parseOffset(in)
		assert.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "9223372036854775808", "12345678901234567890"} {
		_, err := parseOffset(in)
		assert.Error(t, err, "parseOffset(%q) accepted", in)
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
	assert.True(t, c.Known)
	assert.Equal(t, []string{"creation", "termination", "checksum", "concatenation"}, c.Extensions)
	assert.EqualValues(t, 1<<30, c.MaxSize)
	assert.True(t, c.HasChecksum("sha1"))
	assert.False(t, c.HasChecksum("sha256"))
	assert.Equal(t, []string{"1.0.0", "0.2.2"}, c.Versions)
	c = parseCapabilities(http.Header{"Tus-Max-Size": {"-5"}})
	assert.False(t, c.Known)
	assert.Zero(t, c.MaxSize)
}

// FuzzParseHeaders: the Tus response header parsers never panic, accept
// only non-negative decimal offsets, and produce clean tokens.
func FuzzParseHeaders(f *testing.F) {
	f.Add("70", "creation,termination", "sha1, md5", "1.0.0")
	f.Add("-1", ",,", "", "")
	f.Add("99999999999999999999", " a , B\t", "\x00", "x")
	f.Fuzz(func(t *testing.T, offset, ext, algos, version string) {
		if n, err := parseOffset(offset); err == nil {
			require.Falsef(t, n < 0, "parseOffset(%q) = %d", offset, n)
			require.EqualValuesf(t, strings.TrimLeft(strconv.FormatInt(n, 10), "0"), strings.TrimLeft(offset, "0"), "parseOffset(%q) = %d", offset, n)
		}
		h := http.Header{"Tus-Extension": {ext}, "Tus-Checksum-Algorithm": {algos}, "Tus-Version": {version}, "Tus-Max-Size": {offset}}
		c := parseCapabilities(h)
		require.Falsef(t, c.MaxSize < 0, "MaxSize %d", c.MaxSize)
		for _, l := range [][]string{c.Extensions, c.ChecksumAlgorithms, c.Versions} {
			for _, tok := range l {
				require.NotZerof(t, tok, "token %q", tok)
				require.Falsef(t, strings.ContainsAny(tok, ","), "token %q", tok)
				require.EqualValuesf(t, strings.ToLower(tok), tok, "token %q", tok)
				require.EqualValuesf(t, tok, strings.Trim(tok, " \t"), "token %q", tok)
			}
		}
	})
}
