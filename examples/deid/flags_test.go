package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/deid"
)

// TestSafePrivateFlag parses -safe-private values.
func TestSafePrivateFlag(t *testing.T) {
	t.Parallel()
	var s safeFlag
	require.NoError(t, s.Set("SIEMENS CSA HEADER:0029:08"))
	require.NoError(t, s.Set("A:B:C:0009:ff")) // a creator may hold colons
	assert.Equal(t, safeFlag{{Creator: "SIEMENS CSA HEADER", Group: 0x0029, Element: 0x08}, {Creator: "A:B:C", Group: 0x0009, Element: 0xFF}}, s)
	for _, bad := range []string{"", "X", "X:0029", ":0029:08", "X:0028:08", "X:0029:100", "X:zz:08", "X:10029:08"} {
		assert.Error(t, (&safeFlag{}).Set(bad), "%q", bad)
	}
}

// FuzzSafePrivateFlag: any value either fails or gives a private tag
// with a creator and an odd group.
func FuzzSafePrivateFlag(f *testing.F) {
	for _, seed := range []string{"SIEMENS CSA HEADER:0029:08", "X:0028:08", "::", "a:1:1", "\xff:0009:00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var s safeFlag
		if s.Set(v) != nil {
			return
		}
		require.Len(t, s, 1)
		tag := s[0]
		assert.NotEmpty(t, tag.Creator)
		assert.Equal(t, uint16(1), tag.Group%2)
		_ = deid.PrivateTag(tag)
	})
}
