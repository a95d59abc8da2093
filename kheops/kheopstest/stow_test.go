package kheopstest_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

// studyAttrs are what KHEOPS stores of study 1.2.7 (set by its first
// instance).
var studyAttrs = map[string]string{
	"00080020": "20240506", "00080030": "101112", "00081030": "Chest CT", "00080050": "ACC1",
	"00080090": "House^Gregory", "00100010": "Doe^John^^^", "00100020": "P1", "00100030": "19700101",
	"00100040": "M", "00200010": "7",
}

var seriesAttrs = map[string]string{"00080060": "CT", "0008103E": "Axial", "00180015": "CHEST"}

func with(base map[string]string, changes map[string]string) map[string]string {
	out := maps.Clone(base)
	for k, v := range changes {
		if v == "<absent>" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// failedTags returns, per failed SOP instance, its FailureReason and the
// tags of its AttributeIdentifierList.
func failedTags(t *testing.T, body string) (reason int, tags []string) {
	t.Helper()
	var resp map[string]struct {
		Value []map[string]struct {
			VR    string            `json:"vr"`
			Value []json.RawMessage `json:"Value"`
		} `json:"Value"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &resp))
	items := resp["00081198"].Value
	require.Len(t, items, 1, body)
	require.NoError(t, json.Unmarshal(items[0]["00081197"].Value[0], &reason))
	if l, ok := items[0]["00001005"]; ok {
		assert.Equal(t, "LO", l.VR)
		for _, v := range l.Value {
			var s string
			require.NoError(t, json.Unmarshal(v, &s))
			tags = append(tags, s)
		}
	}
	return reason, tags
}

// TestStoreAttributeCheck: KHEOPS refuses an instance whose study (or
// existing series) attributes differ from what it stores, with
// FailureReason 0x0106 and the differing tags as decimal numbers.
func TestStoreAttributeCheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		series string // "new" or "existing"
		study  map[string]string
		extra  map[string]string // series attributes of the upload
		tags   []string          // nil: accepted
	}{
		{"identical", "existing", studyAttrs, seriesAttrs, nil},
		{"new series, same study", "new", studyAttrs, map[string]string{"00080060": "SR"}, nil},
		{"StudyID absent", "new", with(studyAttrs, map[string]string{"00200010": "<absent>"}), nil, []string{"2097168"}},
		{"StudyID empty", "new", with(studyAttrs, map[string]string{"00200010": ""}), nil, []string{"2097168"}},
		{"StudyID different", "new", with(studyAttrs, map[string]string{"00200010": "8"}), nil, []string{"2097168"}},
		{"other study attributes absent", "new", map[string]string{"00200010": "7"}, nil, nil},
		{"names without ^ and =", "new", with(studyAttrs, map[string]string{"00100010": "DoeJohn", "00080090": "=House^Gregory"}), nil, nil},
		{"name different", "new", with(studyAttrs, map[string]string{"00100010": "Doe^Jane"}), nil, []string{"1048592"}},
		{"several", "new", with(studyAttrs, map[string]string{"00080020": "20240507", "00081030": "Head", "00100040": "F", "00100020": "P2"}), nil,
			[]string{"524320", "528432", "1048608", "1048640"}},
		{"existing series: modality and number", "existing", studyAttrs, map[string]string{"00080060": "MR", "0008103E": "Axial", "00180015": "CHEST", "00200011": "2"},
			[]string{"524384", "2097169"}},
		{"existing series: body part absent", "existing", studyAttrs, map[string]string{"00080060": "CT", "0008103E": "Axial"}, []string{"1572885"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			_, err := f.k.AddInstance(f.album, kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.7", SeriesUID: "1.2.7.1", SOPInstanceUID: "1.2.7.1.1",
				Modality: "CT", SeriesNumber: 1, Attributes: with(studyAttrs, seriesAttrs)}))
			require.NoError(t, err)
			spec := kheopstest.InstanceSpec{StudyUID: "1.2.7", SeriesUID: "1.2.7.2", SOPInstanceUID: "1.2.7.2.1", SeriesNumber: 1}
			if c.series == "existing" {
				spec.SeriesUID, spec.SOPInstanceUID = "1.2.7.1", "1.2.7.1.2"
			}
			spec.Attributes = with(c.study, c.extra)
			if m := spec.Attributes["00080060"]; m != "" {
				spec.Modality = m
			}
			if spec.Attributes["00200011"] == "2" {
				spec.SeriesNumber = 2
			}
			r := f.stow("/api/studies", f.alice, kheopstest.NewInstance(spec))
			if c.tags == nil {
				assert.Equalf(t, http.StatusOK, r.Status, "%s", r.Body)
				return
			}
			assert.Equal(t, http.StatusConflict, r.Status)
			reason, tags := failedTags(t, r.Body)
			assert.Equal(t, 0x0106, reason)
			assert.Equal(t, c.tags, tags)
		})
	}
}

// TestStoreResponseGolden pins the bytes of a refused upload's answer.
func TestStoreResponseGolden(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	_, err := f.k.AddInstance(f.album, kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.7", SeriesUID: "1.2.7.1", SOPInstanceUID: "1.2.7.1.1", Attributes: studyAttrs}))
	require.NoError(t, err)
	ok := kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.7", SeriesUID: "1.2.7.2", SOPInstanceUID: "1.2.7.2.1", Attributes: studyAttrs})
	noID := kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: "1.2.7", SeriesUID: "1.2.7.2", SOPInstanceUID: "1.2.7.2.2",
		Attributes: with(studyAttrs, map[string]string{"00200010": "<absent>"})})
	r := f.stow("/api/studies/1.2.7", f.alice, ok, noID)
	assert.Equal(t, http.StatusAccepted, r.Status)
	assert.Equal(t, "application/dicom+json", r.Header.Get("Content-Type"))
	golden(t, "stow_attribute_mismatch.json", r.Body, f)
}
