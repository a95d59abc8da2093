package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

func runScan(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// sample writes 2 generated studies, a text file and an ExamCard.
func sample(t *testing.T) (string, []dicomgen.File) {
	t.Helper()
	dir := t.TempDir()
	files, err := dicomgen.Write(context.Background(), filepath.Join(dir, "data"), dicomgen.Options{Studies: 2, SeriesPerStudy: 2, InstancesPerSeries: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "notes.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "data"), files
}

// TestJSON checks the exact shape of issue 3 item 4 and every value.
func TestJSON(t *testing.T) {
	t.Parallel()
	dir, files := sample(t)
	missing := filepath.Join(dir, "missing.dcm")
	code, stdout, stderr := runScan(t, "-json", dir, missing)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The keys, exactly.
	var generic map[string]any
	if err := json.Unmarshal([]byte(stdout), &generic); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	keys := func(m map[string]any) []string {
		var k []string
		for key := range m {
			k = append(k, key)
		}
		sort.Strings(k)
		return k
	}
	if got := keys(generic); !reflect.DeepEqual(got, []string{"errors", "rejected", "skipped", "studies"}) {
		t.Errorf("top-level keys %v", got)
	}
	study := generic["studies"].([]any)[0].(map[string]any)
	if got := keys(study); !reflect.DeepEqual(got, []string{"modalities", "patient_id", "patient_name", "series",
		"study_date", "study_description", "study_instance_uid"}) {
		t.Errorf("study keys %v", got)
	}
	series := study["series"].([]any)[0].(map[string]any)
	if got := keys(series); !reflect.DeepEqual(got, []string{"instances", "modality", "series_description", "series_instance_uid"}) {
		t.Errorf("series keys %v", got)
	}
	// The values.
	var got report
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	want := report{Skipped: 1, Rejected: []rejectedEntry{}, Errors: []errorEntry{{Path: missing, Error: "stat " + missing + ": no such file or directory"}}}
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
		if len(got.Studies[i].StudyDate) != 8 || got.Studies[i].StudyDescription == "" {
			t.Errorf("study %d: date %q description %q", i, got.Studies[i].StudyDate, got.Studies[i].StudyDescription)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report\n got %+v\nwant %+v", got, want)
	}
}

// TestJSONPydicom runs the command over pydicom's DICOMDIR test set
// (81 instances, 7 studies, 14 series) and its malformed files.
func TestJSONPydicom(t *testing.T) {
	t.Parallel()
	root := testenv.PydicomTestFiles(t)
	code, stdout, stderr := runScan(t, "-json", filepath.Join(root, "dicomdirtests"), filepath.Join(root, "no_meta_group_length.dcm"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	series, instances := 0, 0
	for _, st := range r.Studies {
		for _, se := range st.Series {
			series++
			instances += se.Instances
		}
	}
	if len(r.Studies) != 7 || series != 14 || instances != 81 || r.Skipped != 10 || len(r.Errors) != 0 {
		t.Errorf("studies %d series %d instances %d skipped %d errors %v", len(r.Studies), series, instances, r.Skipped, r.Errors)
	}
	want := []rejectedEntry{{Path: filepath.Join(root, "no_meta_group_length.dcm"), Reason: "rejected: no Study Instance UID and no Series Instance UID"}}
	if !reflect.DeepEqual(r.Rejected, want) {
		t.Errorf("rejected %+v", r.Rejected)
	}
}

func TestSummaryAndZip(t *testing.T) {
	t.Parallel()
	dir, files := sample(t)
	out := filepath.Join(t.TempDir(), "out.zip")
	code, stdout, stderr := runScan(t, "-zip", out, dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(stdout, "\n")
	var total int64
	for _, f := range files {
		total += f.Size
	}
	if want := "13 files: 2 studies, 4 series, 12 instances (" + size(total) + "); 1 skipped, 0 rejected, 0 errors"; lines[0] != want {
		t.Errorf("first line\n got %q\nwant %q", lines[0], want)
	}
	for _, f := range []string{files[0].StudyInstanceUID, files[6].SeriesInstanceUID, `patient "` + files[0].PatientName + `"`} {
		if !strings.Contains(stdout, f) {
			t.Errorf("summary lacks %q:\n%s", f, stdout)
		}
	}
	if !strings.Contains(stdout, "wrote "+out+": 12 entries") {
		t.Errorf("no zip line:\n%s", stdout)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 12 || zr.File[0].Name != files[0].StudyInstanceUID+"/data-study01-series01-IM00001.dcm" {
		t.Errorf("%d entries, first %q", len(zr.File), zr.File[0].Name)
	}
	// With -json, stdout stays one JSON object.
	code, stdout, stderr = runScan(t, "-json", "-store", "-zip", out, dir)
	if code != 0 || !json.Valid([]byte(stdout)) || !strings.Contains(stderr, "wrote ") {
		t.Errorf("exit %d, valid JSON %v, stderr %q", code, json.Valid([]byte(stdout)), stderr)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"-level", "0", "."}, {"-nope", "."}} {
		if code, _, stderr := runScan(t, args...); code != 2 || !strings.Contains(stderr, "usage") && !strings.Contains(stderr, "level") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	dir, _ := sample(t)
	if code, _, stderr := runScan(t, "-zip", filepath.Join(dir, "no", "such", "dir", "x.zip"), dir); code != 1 || stderr == "" {
		t.Errorf("unwritable -zip: exit %d, stderr %q", code, stderr)
	}
}
