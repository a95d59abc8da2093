package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

// runScan runs the program in-process: exit code, stdout, stderr.
func runScan(args ...string) (int, string, string) {
	return testenv.Run(context.Background(), run, args...)
}

// sample writes 2 generated studies and a text file.
func sample(t *testing.T) (string, []dicomgen.File) {
	t.Helper()
	dir := t.TempDir()
	files, err := dicomgen.Write(context.Background(), filepath.Join(dir, "data"), dicomgen.Options{Studies: 2, SeriesPerStudy: 2, InstancesPerSeries: 3, Seed: 1})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data", "notes.txt"), []byte("hello"), 0o644))
	return filepath.Join(dir, "data"), files
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

// TestJSON checks the exact shape of the -json object and every value.
func TestJSON(t *testing.T) {
	t.Parallel()
	dir, files := sample(t)
	code, stdout, stderr := runScan("-json", dir)
	require.Equal(t, 0, code, stderr)
	// The keys, exactly.
	var generic map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &generic), stdout)
	assert.Equal(t, []string{"errors", "rejected", "skipped", "studies", "totals"}, keys(generic))
	study := generic["studies"].([]any)[0].(map[string]any)
	assert.Equal(t, []string{"modalities", "patient_id", "patient_name", "series",
		"study_date", "study_description", "study_instance_uid"}, keys(study))
	series := study["series"].([]any)[0].(map[string]any)
	assert.Equal(t, []string{"instances", "modality", "series_description", "series_instance_uid"}, keys(series))
	assert.Equal(t, []string{"path", "reason"}, keys(generic["skipped"].([]any)[0].(map[string]any)))
	assert.Equal(t, []string{"bytes", "errors", "files", "instances", "rejected", "series", "skipped", "studies"},
		keys(generic["totals"].(map[string]any)))
	// The values.
	var got report
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	var size int64
	for _, f := range files {
		size += f.Size
	}
	want := report{
		Skipped:  []rejectedEntry{{Path: filepath.Join(dir, "notes.txt"), Reason: "not a DICOM file"}},
		Rejected: []rejectedEntry{}, Errors: []errorEntry{},
		Totals: totals{Files: 13, Studies: 2, Series: 4, Instances: 12, Bytes: size, Skipped: 1},
	}
	for i := 0; i < len(files); i += 6 {
		f := files[i]
		st := studyReport{
			StudyInstanceUID: f.StudyInstanceUID, PatientName: f.PatientName, PatientID: f.PatientID,
			StudyDate: "", StudyDescription: "", Modalities: []string{f.Modality},
		}
		for j := i; j < i+6; j += 3 {
			st.Series = append(st.Series, seriesReport{SeriesInstanceUID: files[j].SeriesInstanceUID, Modality: f.Modality, Instances: 3})
		}
		want.Studies = append(want.Studies, st)
	}
	// Dates and descriptions come from the generator's headers.
	for i := range got.Studies {
		want.Studies[i].StudyDate = got.Studies[i].StudyDate
		want.Studies[i].StudyDescription = got.Studies[i].StudyDescription
		for j := range got.Studies[i].Series {
			want.Studies[i].Series[j].SeriesDescription = got.Studies[i].Series[j].SeriesDescription
		}
		assert.Len(t, got.Studies[i].StudyDate, 8, "study %d date", i)
		assert.NotEmpty(t, got.Studies[i].StudyDescription, "study %d description", i)
	}
	assert.Equal(t, want, got)
}

// TestJSONPydicom runs the command over pydicom's DICOMDIR test set
// (81 instances, 7 studies, 14 series) and its malformed files.
func TestJSONPydicom(t *testing.T) {
	t.Parallel()
	root := testenv.PydicomTestFiles(t)
	code, stdout, stderr := runScan("-json", filepath.Join(root, "dicomdirtests"), filepath.Join(root, "no_meta_group_length.dcm"))
	require.Equal(t, 0, code, stderr)
	var r report
	require.NoError(t, json.Unmarshal([]byte(stdout), &r))
	series, instances := 0, 0
	for _, st := range r.Studies {
		for _, se := range st.Series {
			series++
			instances += se.Instances
		}
	}
	assert.Equal(t, totals{Files: 92, Studies: 7, Series: 14, Instances: 81, Bytes: r.Totals.Bytes, Skipped: 10, Rejected: 1}, r.Totals)
	assert.Equal(t, 7, len(r.Studies))
	assert.Equal(t, 14, series)
	assert.Equal(t, 81, instances)
	assert.Len(t, r.Skipped, 10)
	for _, s := range r.Skipped {
		assert.NotEmpty(t, s.Reason, s.Path)
		assert.True(t, strings.HasPrefix(s.Path, root), s.Path)
	}
	assert.Contains(t, r.Skipped, rejectedEntry{Path: filepath.Join(root, "dicomdirtests", "DICOMDIR"), Reason: "DICOMDIR"})
	assert.Empty(t, r.Errors)
	want := []rejectedEntry{{Path: filepath.Join(root, "no_meta_group_length.dcm"), Reason: "rejected: no Study Instance UID and no Series Instance UID"}}
	assert.Equal(t, want, r.Rejected)
}

func TestSummaryAndZip(t *testing.T) {
	t.Parallel()
	dir, files := sample(t)
	out := filepath.Join(t.TempDir(), "out.zip")
	code, stdout, stderr := runScan("-zip", out, dir)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(stdout, "\n")
	var total int64
	for _, f := range files {
		total += f.Size
	}
	assert.Equal(t, "13 files: 2 studies, 4 series, 12 instances ("+cli.Bytes(total)+"); 1 skipped, 0 rejected, 0 errors", lines[0])
	for _, f := range []string{files[0].StudyInstanceUID, files[6].SeriesInstanceUID, `patient "` + files[0].PatientName + `"`,
		"skipped (not instances to upload):\n  " + filepath.Join(dir, "notes.txt") + ": not a DICOM file\n"} {
		assert.Contains(t, stdout, f)
	}
	assert.Contains(t, stdout, "wrote "+out+": 12 entries")
	zr, err := zip.OpenReader(out)
	require.NoError(t, err)
	defer zr.Close()
	require.Len(t, zr.File, 12)
	assert.Equal(t, files[0].StudyInstanceUID+"/data-study01-series01-IM00001.dcm", zr.File[0].Name)
	// With -json, stdout stays one JSON object.
	code, stdout, stderr = runScan("-json", "-store", "-zip", out, dir)
	assert.Equal(t, 0, code)
	assert.True(t, json.Valid([]byte(stdout)))
	assert.Contains(t, stderr, "wrote ")
}

// The command-line contract shared by every program: -h prints usage and
// exits 0; bad usage and missing paths exit 2 with one line; runtime
// failures exit 1 with one line.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	dir, _ := sample(t)
	missing := filepath.Join(dir, "missing.dcm")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // exact
	}{
		{"help", []string{"-h"}, 0, "usage: scan [-json]", ""},
		{"help after a path", []string{dir, "-help"}, 0, "exit status:\n  0 ", ""},
		{"no path", nil, 2, "", "scan: no PATH to scan (run 'scan -h' for usage)\n"},
		{"bad level", []string{"-level", "0", dir}, 2, "", "scan: -level must be 1-9 (run 'scan -h' for usage)\n"},
		{"bad flag", []string{"-nope", dir}, 2, "", "scan: flag provided but not defined: -nope (run 'scan -h' for usage)\n"},
		{"missing path", []string{dir, missing}, 2, "", "scan: " + missing + ": no such file or directory (run 'scan -h' for usage)\n"},
		{"dump two files", []string{"-dump", dir, dir}, 2, "", "scan: -dump takes one FILE and no -json or -zip (run 'scan -h' for usage)\n"},
		{"dump a directory", []string{"-dump", dir}, 2, "", "scan: " + dir + ": -dump takes a file, not a directory (run 'scan -h' for usage)\n"},
		{"unwritable zip", []string{"-zip", filepath.Join(dir, "no", "x.zip"), dir}, 1, "13 files", "scan: writing " +
			filepath.Join(dir, "no", "x.zip") + ": cannot create a file in " + filepath.Join(dir, "no") + ": no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runScan(tt.args...)
			assert.Equal(t, tt.code, code)
			assert.Contains(t, stdout, tt.stdout)
			assert.Equal(t, tt.stderr, stderr)
		})
	}
}

func TestDump(t *testing.T) {
	t.Parallel()
	dir, files := sample(t)
	code, stdout, stderr := runScan("-dump", files[0].Path)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "(0002,0010) UI [1.2.840.10008.1.2.1]  # 20, TransferSyntaxUID\n")
	assert.Contains(t, stdout, "(0020,000D) UI ["+files[0].StudyInstanceUID+"]")
	assert.Contains(t, stdout, ", PixelData\n")
	assert.True(t, strings.HasSuffix(stdout, "# scan: accepted: an instance of study "+files[0].StudyInstanceUID+
		", series "+files[0].SeriesInstanceUID+" ("+files[0].Modality+")\n"), stdout)

	code, stdout, stderr = runScan("-dump", filepath.Join(dir, "notes.txt"))
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "# scan: skipped: not a DICOM file\n", stdout)

	// A file without Study and Series UIDs: listed, then rejected.
	root := testenv.PydicomTestFiles(t)
	code, stdout, stderr = runScan("-dump", filepath.Join(root, "no_meta_group_length.dcm"))
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "(0002,0010) UI [1.2.840.10008.1.2]  # 18, TransferSyntaxUID\n(0002,0012)")
	assert.Contains(t, stdout, "(0008,0013) [125601.140000]  # 14, InstanceCreationTime\n", "implicit VR: no VR shown")
	assert.True(t, strings.HasSuffix(stdout, "# scan: rejected: rejected: no Study Instance UID and no Series Instance UID\n"), stdout)
}
