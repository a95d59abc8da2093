package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/orthanctest"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

// outcome is what a de-identifier did to one top-level attribute of the
// original.
type outcome string

const (
	removed  outcome = "removed"
	emptied  outcome = "emptied"
	kept     outcome = "kept"
	replaced outcome = "replaced"
	added    outcome = "added"  // absent from the original
	absent   outcome = "absent" // in neither the original nor this output
)

func outcomeOf(orig, got map[string][2]string, tag string) outcome {
	o, inOrig := orig[tag]
	g, inGot := got[tag]
	switch {
	case !inGot && !inOrig:
		return absent
	case !inGot:
		return removed
	case !inOrig:
		return added
	case g[1] == "": // also when the original was already empty
		return emptied
	case g[1] == o[1]:
		return kept
	}
	return replaced
}

// difference records one attribute on which Orthanc's Basic Profile and
// deid's disagree, and which of the two follows the standard's table
// (PS3.15 Table E.1-1; deid applies the 2024b edition, Orthanc 1.10 the
// 2021b one, whose rows for these attributes are the same unless said).
type difference struct {
	name           string
	deid, orthanc  outcome
	standard       string // the action of Table E.1-1
	right, because string // "deid", "Orthanc", "both"; why
}

// differences is the table docs/deid.md ("Compared with Orthanc")
// summarises. Keys are the tags as pydicom prints them (GGGGEEEE); the
// test fails on a difference missing here and on a row no input shows,
// so the table is always what the two programs really do.
var differences = map[string]difference{
	// Dates and times of the instance and series: the table's X/D and
	// X/Z/D mean "remove, unless the IOD needs the attribute (Type 1: a
	// dummy; Type 2: empty)". deid resolves a combined action by the
	// strictest type the attribute has in any module, so the output is
	// valid whatever the IOD; it writes dummies where the image IODs
	// here only need removal.
	"00080012": {"Instance Creation Date", replaced, kept, "X/D", "deid",
		"SOP Common, Type 3: remove. deid writes the dummy 19000101 (no information); Orthanc's 2021b list leaves the real date"},
	"00080013": {"Instance Creation Time", replaced, kept, "X/Z/D", "deid",
		"SOP Common, Type 3: remove. deid writes the dummy 000000; Orthanc leaves the real time"},
	"00080021": {"Series Date", replaced, removed, "X/D", "Orthanc", "General Series, Type 3: remove; deid writes a dummy"},
	"00080031": {"Series Time", replaced, removed, "X/D", "Orthanc", "General Series, Type 3: remove; deid writes a dummy"},
	"00080022": {"Acquisition Date", emptied, removed, "X/Z", "Orthanc", "General Image, Type 3: remove; deid empties it"},
	"00080032": {"Acquisition Time", emptied, removed, "X/Z", "Orthanc", "General Image, Type 3: remove; deid empties it"},
	"00080023": {"Content Date", replaced, emptied, "Z/D", "Orthanc for images, deid for SR",
		"General Image, Type 2C: empty (Orthanc); SR Document General, Type 1: a dummy (deid)"},
	"00080033": {"Content Time", replaced, emptied, "Z/D", "Orthanc for images, deid for SR",
		"General Image, Type 2C: empty (Orthanc); SR Document General, Type 1: a dummy (deid)"},
	"0040A032": {"Observation DateTime", replaced, kept, "X/D", "deid",
		"not required at the top level of an SR: remove; deid writes a dummy, Orthanc leaves the real date and time"},
	"300A0006": {"RT Plan Date", replaced, removed, "X/D", "Orthanc", "RT General Plan, Type 2: the table says X/D, so remove"},
	"300A0007": {"RT Plan Time", replaced, removed, "X/D", "Orthanc", "RT General Plan, Type 2: the table says X/D, so remove"},
	// Equipment, staff and protocol: X/Z/D or X/D, Type 3 in the
	// modules of these IODs.
	"00080080": {"Institution Name", replaced, removed, "X/Z/D", "Orthanc", "General Equipment, Type 3: remove; deid writes ANONYMIZED"},
	"00081010": {"Station Name", replaced, removed, "X/Z/D", "Orthanc", "General Equipment, Type 3: remove; deid writes ANONYMIZED"},
	"00081070": {"Operators' Name", replaced, removed, "X/Z/D", "Orthanc", "General Series, Type 3: remove; deid writes ANONYMIZED"},
	"00181000": {"Device Serial Number", replaced, removed, "X/Z/D", "Orthanc", "General Equipment, Type 3: remove; deid writes ANONYMIZED"},
	"00181030": {"Protocol Name", replaced, removed, "X/D", "Orthanc", "General Series, Type 3: remove; deid writes ANONYMIZED"},
	"00180010": {"Contrast/Bolus Agent", replaced, emptied, "Z/D", "Orthanc",
		"Contrast/Bolus, Type 2: empty (Orthanc); deid writes ANONYMIZED"},
	"300A0002": {"RT Plan Label", replaced, emptied, "D", "deid", "D: a dummy value (RT General Plan, Type 1); Orthanc empties a Type 1 attribute"},
	// Sequences: D and X/Z/D on sequences.
	"00081111": {"Referenced Performed Procedure Step Sequence", kept, removed, "X/Z/D", "deid",
		"SR Document General, Type 2: empty; it was empty, deid keeps it so, Orthanc removes a Type 2 attribute"},
	"0040A073": {"Verifying Observer Sequence", kept, replaced, "D", "deid",
		"D: deid keeps the items and applies the table inside them (names replaced); Orthanc empties a Type 1C sequence of a verified SR"},
	"0040A730": {"Content Sequence", kept, replaced, "D", "deid",
		"D: deid keeps the SR tree and applies the table inside it; Orthanc empties it, which destroys the report"},
	// Attributes the profile adds.
	"00120064": {"De-identification Method Code Sequence", added, absent, "added by E.1.1", "both",
		"either (0012,0063) or (0012,0064) or both; deid writes both (113100 and the options' codes), Orthanc the text only"},
}

// TestAgainstOrthanc de-identifies the same files with deid and with
// Orthanc's Basic Profile (POST /instances/{id}/anonymize, DicomVersion
// 2021b), reads the three versions of each with pydicom, and compares
// what each did to every top-level attribute of the original.
func TestAgainstOrthanc(t *testing.T) {
	t.Parallel()
	corpus := testenv.PydicomTestFiles(t)
	o := orthanctest.Start(t, "", nil)
	in := filepath.Join(t.TempDir(), "in")
	require.NoError(t, os.Mkdir(in, 0o755))
	names := []string{"CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtplan.dcm", "rtdose.dcm", "test-SR.dcm", "image_dfl.dcm"}
	theirs := filepath.Join(t.TempDir(), "orthanc")
	require.NoError(t, os.Mkdir(theirs, 0o755))
	origPaths := map[string]string{} // original SOP Instance UID -> path
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(corpus, n))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(in, n), data, 0o644))
		stored := o.Upload(t, filepath.Join(in, n))
		resp, err := http.Post(o.URL+"instances/"+stored.ID+"/anonymize", "application/json",
			strings.NewReader(`{"DicomVersion":"2021b","KeepPrivateTags":false,"Force":true}`))
		require.NoError(t, err)
		file, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, "%s: %s", n, file)
		require.NoError(t, os.WriteFile(filepath.Join(theirs, n), file, 0o644))
	}
	ours := filepath.Join(t.TempDir(), "deid")
	mapFile := filepath.Join(t.TempDir(), "uids.csv")
	code, stdout, stderr := testenv.Run(context.Background(), run, "-key-file", keyFile(t, 5), "-out", ours, "-map", mapFile, in)
	require.Equal(t, 0, code, "%s%s", stdout, stderr)
	uids := readMap(t, mapFile)

	var origFiles, theirFiles, ourFiles []string
	for _, n := range names {
		origFiles = append(origFiles, filepath.Join(in, n))
		theirFiles = append(theirFiles, filepath.Join(theirs, n))
	}
	for rel := range outputs(t, ours) {
		ourFiles = append(ourFiles, filepath.Join(ours, rel))
	}
	origs := pydicomRead(t, origFiles...)
	theirRead := pydicomRead(t, theirFiles...)
	ourRead := map[string]readback{} // by new SOP Instance UID
	for _, r := range pydicomRead(t, ourFiles...) {
		ourRead[r.SOPInstanceUID] = r
	}
	seen := map[string]bool{}
	var report bytes.Buffer
	for _, n := range names {
		orig := origs[filepath.Join(in, n)]
		origPaths[orig.SOPInstanceUID] = n
		their := theirRead[filepath.Join(theirs, n)]
		our, ok := ourRead[uids[orig.SOPInstanceUID]]
		require.True(t, ok, "%s: no deid output", n)
		tags := map[string]bool{}
		for _, m := range []map[string][2]string{orig.Attrs, their.Attrs, our.Attrs} {
			for tag := range m {
				tags[tag] = true
			}
		}
		sorted := make([]string, 0, len(tags))
		for tag := range tags {
			sorted = append(sorted, tag)
		}
		sort.Strings(sorted)
		for _, tag := range sorted {
			if strings.HasPrefix(tag, "7FE0") {
				continue // pixel data: compared byte for byte elsewhere
			}
			od, oo := outcomeOf(orig.Attrs, our.Attrs, tag), outcomeOf(orig.Attrs, their.Attrs, tag)
			if od == oo {
				continue
			}
			if group := tag[:4]; group[3]%2 == 1 && od == removed && oo == removed {
				continue
			}
			d, known := differences[tag]
			fmt.Fprintf(&report, "%s %s %s: deid %s %q, Orthanc %s %q (orig %q)\n", n, tag, our.Attrs[tag][0]+their.Attrs[tag][0], od, our.Attrs[tag][1], oo, their.Attrs[tag][1], orig.Attrs[tag][1])
			if !assert.True(t, known, "%s: %s (%s): deid %s, Orthanc %s: not in the differences table", n, tag, our.Attrs[tag][0], od, oo) {
				continue
			}
			seen[tag] = true
			assert.Equal(t, d.deid, od, "%s %s (%s): deid", n, tag, d.name)
			assert.Equal(t, d.orthanc, oo, "%s %s (%s): Orthanc", n, tag, d.name)
		}
	}
	for tag, d := range differences {
		assert.True(t, seen[tag], "%s (%s): a row of the differences table no input shows", tag, d.name)
	}
	t.Logf("differences:\n%s", report.String())
}
