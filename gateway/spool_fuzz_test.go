package gateway

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadRecord feeds study.json files to readRecord: it never panics,
// and whatever it accepts has a valid Study Instance UID and a known state
// and is written back and read again unchanged.
func FuzzReadRecord(f *testing.F) {
	f.Add([]byte(`{"version":1,"study_instance_uid":"1.2.3","state":"receiving","created":"2026-12-02T22:00:00Z"}`))
	f.Add([]byte(`{"version":1,"study_instance_uid":"1.2.3","state":"retrying","created":"2026-12-02T22:00:00Z","attempts":2,"last_error":"x","next_attempt":"2026-12-02T22:01:00Z"}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"study_instance_uid":"../..","state":"queued"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, studyFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := readRecord(dir)
		if err != nil {
			return
		}
		if r.State == "" || r.StudyInstanceUID == "" {
			t.Fatalf("accepted %q as %+v", data, r)
		}
		if err := writeRecord(dir, r); err != nil {
			t.Fatal(err)
		}
		again, err := readRecord(dir)
		if err != nil || again.StudyInstanceUID != r.StudyInstanceUID || again.State != r.State || again.Attempts != r.Attempts {
			t.Fatalf("round trip: %+v, %v; was %+v", again, err, r)
		}
	})
}
