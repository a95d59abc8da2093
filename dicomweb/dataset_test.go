package dicomweb

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDatasetAccessors(t *testing.T) {
	t.Parallel()
	ds, err := parseDatasets([]byte(`[{
		"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}, {"Ideographic": "x"}]},
		"00200011": {"vr": "IS", "Value": [3]},
		"00080061": {"vr": "CS", "Value": ["CT", "SR", null]},
		"00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2"]}}, 7]},
		"7FE00010": {"vr": "OW", "BulkDataURI": "https://k/bulk"}
	}]`))
	require.False(t, err != nil || len(ds) != 1, "%v", err)
	d := ds[0]
	assert.Falsef(t, d.String(tagPatientName) != "Doe^Jane" || strings.Join(d.Strings(tagModalitiesInStudy), ",") != "CT,SR,", "%v", d)
	if n, ok := d.Int(tagSeriesNumber); !ok || n != 3 {
		t.Errorf("series number %d", n)
	}
	if items := d.Items(tagReferencedSOPSequence); len(items) != 1 || items[0].String(tagReferencedSOPInstanceUID) != "1.2" {
		t.Errorf("items %v", items)
	}
	assert.False(t, d.String("00000000") != "" || d.Strings("00000000") != nil || d["7FE00010"].VR != "OW", "absent tags")
	if got, err := parseDatasets([]byte("  ")); err != nil || got != nil {
		t.Errorf("empty body: %v %v", got, err)
	}
	for _, bad := range []string{"{", `{"a":1}`, `[1]`} {
		if _, err := parseDatasets([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	res, err := parseStoreResponse([]byte(`[{"00081198":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.3"]},"00081197":{"vr":"US","Value":[290]}}]}}]`))
	assert.Falsef(t, err != nil || len(res.Failed) != 1 || res.Failed[0].Reason != 290 || res.Failed[0].SOPInstanceUID != "1.3", "store response %+v %v", res, err)
	if _, err := parseStoreResponse([]byte(`[{},{}]`)); err == nil {
		t.Error("two datasets accepted")
	}
}
