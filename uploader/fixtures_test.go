package uploader_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/dicombridge/dicombridge/uploader"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// initCase is one entry of testdata/init_cases.json, which
// testdata/stringify.mjs also reads.
type initCase struct {
	Name      string          `json:"name"`
	UploadID  string          `json:"upload_id"`
	Source    string          `json:"source"`
	PatientID string          `json:"patient_id"`
	Context   json.RawMessage `json:"context"`
	Studies   []struct {
		UID         string   `json:"uid"`
		Description string   `json:"description"`
		Institution string   `json:"institution"`
		PatientID   string   `json:"patient_id"`
		PatientName string   `json:"patient_name"`
		Date        string   `json:"date"`
		Time        string   `json:"time"`
		Modalities  []string `json:"modalities"`
		Images      int      `json:"images"`
		Series      []struct {
			UID         string `json:"uid"`
			Modality    string `json:"modality"`
			Description string `json:"description"`
			BodyPart    string `json:"body_part"`
			Date        string `json:"date"`
			Time        string `json:"time"`
			StudyDate   string `json:"study_date"`
			Number      string `json:"number"`
		} `json:"series"`
	} `json:"studies"`
}

func (c initCase) request() uploader.InitRequest {
	req := uploader.InitRequest{UploadID: c.UploadID, Source: c.Source, PatientID: c.PatientID}
	if len(c.Context) > 0 && string(c.Context) != "null" {
		req.Context = c.Context
	}
	for _, s := range c.Studies {
		st := uploader.Study{UID: s.UID, Description: s.Description, InstitutionName: s.Institution, PatientID: s.PatientID,
			PatientName: s.PatientName, Date: s.Date, Time: s.Time, Modalities: s.Modalities, Images: s.Images}
		for _, se := range s.Series {
			st.Series = append(st.Series, uploader.Series{UID: se.UID, Modality: se.Modality, Description: se.Description,
				BodyPartExamined: se.BodyPart, Date: se.Date, Time: se.Time, StudyDate: se.StudyDate, Number: se.Number})
		}
		req.Studies = append(req.Studies, st)
	}
	return req
}

type lifecycleCase struct {
	Name     string `json:"name"`
	Call     string `json:"call"`
	UploadID string `json:"upload_id"`
	Value    string `json:"value"`
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func initCases(t *testing.T) []initCase {
	var cs []initCase
	readJSON(t, "init_cases.json", &cs)
	return cs
}

func lifecycleCases(t *testing.T) []lifecycleCase {
	var cs []lifecycleCase
	readJSON(t, "lifecycle_cases.json", &cs)
	return cs
}

// golden compares got with testdata/golden/<name>.json, or rewrites it
// under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.WriteFile(path, append(append([]byte(nil), got...), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if len(want) > 0 && want[len(want)-1] == '\n' {
		want = want[:len(want)-1]
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from %s:\n got: %s\nwant: %s", name, path, got, want)
	}
}
