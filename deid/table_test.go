package deid

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTables checks the embedded table and dictionary: they parse, hold
// the counts of the edition, and give the rows and VRs the standard does.
func TestTables(t *testing.T) {
	tb, err := parseTables(profileTSV, dictionaryTSV)
	require.NoError(t, err)
	assert.Equal(t, "2024b", Edition)
	assert.Len(t, tb.rules, 620, "Table E.1-1 rows besides the private attributes row")
	assert.Len(t, tb.dict, 5112)
	for _, c := range []struct {
		tag  uint32
		want rule
	}{
		{0x00100010, rule{tag: 0x00100010, mask: 0xFFFFFFFF, basic: actZ}},
		{0x00080020, rule{tag: 0x00080020, mask: 0xFFFFFFFF, basic: actZ, modDates: actC}},
		{0x00181000, rule{tag: 0x00181000, mask: 0xFFFFFFFF, basic: actXZD, devID: actK}},
		{0x00081030, rule{tag: 0x00081030, mask: 0xFFFFFFFF, basic: actX, desc: actC}},
		{0x00101010, rule{tag: 0x00101010, mask: 0xFFFFFFFF, basic: actX, patChars: actK}},
		{0x00081140, rule{tag: 0x00081140, mask: 0xFFFFFFFF, basic: actXZU}},
		{0x60023000, rule{tag: 0x60003000, mask: 0xFF00FFFF, basic: actX}}, // overlay data, any group 60xx
		{0x50101234, rule{tag: 0x50000000, mask: 0xFF000000, basic: actX}}, // curve data
	} {
		got, ok := ruleFor(c.tag)
		assert.True(t, ok, "%08X", c.tag)
		assert.Equal(t, c.want, got, "%08X", c.tag)
	}
	_, ok := ruleFor(0x00280010)
	assert.False(t, ok, "Rows is not in the table")
	assert.Equal(t, uint16(vrSQ), vrFor(0x00081140))
	assert.Equal(t, uint16(vrUI), vrFor(0x0020000D))
	assert.Equal(t, uint16('O'<<8|'W'), vrFor(0x7FE00010), "pixel data, OB or OW")
	assert.Equal(t, uint16('O'<<8|'W'), vrFor(0x60023000), "overlay data in group 6002")
	assert.Zero(t, vrFor(0x00291010), "private")
	_, err = parseTables("00100010\tFFFFFFFF\tQ\t\t\t\t\tname\n", "")
	assert.Error(t, err, "an unknown action")
}
