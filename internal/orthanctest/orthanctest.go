// Package orthanctest starts a real Orthanc (Debian's orthanc package) on
// 127.0.0.1 for tests, the one way every test of the SDK runs Orthanc: free
// HTTP and DICOM ports, its own storage, no authentication, no plugins
// unless asked, stopped when the test ends. Without the binary the test
// skips, or fails under CI (internal/testenv).
package orthanctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// Server is a running Orthanc.
type Server struct {
	// URL is its REST root, with a trailing slash.
	URL string
	// Stop stops Orthanc (also done when the test ends); it may be called
	// more than once.
	Stop func()
}

// Start starts Orthanc with its storage and index in storage (a new
// temporary directory if empty) and the configuration keys of extra on top
// of the defaults (no plugins, no authentication, one job at a time, jobs
// not saved), waits until /system answers (200, or 403 behind the
// authorization plugin), and stops it when t ends.
func Start(t testing.TB, storage string, extra map[string]any) *Server {
	t.Helper()
	bin := testenv.LookPath(t, "Orthanc", "apt-get install orthanc")
	dir := t.TempDir()
	if storage == "" {
		storage = filepath.Join(dir, "storage")
	}
	port := testenv.FreePort(t)
	cfg := map[string]any{
		"Name":                  "dicombridge-test",
		"StorageDirectory":      storage,
		"IndexDirectory":        storage,
		"HttpPort":              port,
		"DicomPort":             testenv.FreePort(t),
		"DicomAet":              "DBTEST",
		"RemoteAccessAllowed":   false,
		"AuthenticationEnabled": false,
		"Plugins":               []string{},
		"ConcurrentJobs":        1,
		"SaveJobs":              false,
	}
	for k, v := range extra {
		cfg[k] = v
	}
	data, _ := json.MarshalIndent(cfg, "", "  ")
	cfgPath := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		t.Fatalf("orthanctest: %v", err)
	}
	var out testenv.Buffer
	cmd := exec.Command(bin, cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("orthanctest: starting Orthanc: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	t.Cleanup(stop)
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d/", port), Stop: stop}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "system")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 || resp.StatusCode == 403 {
				return s
			}
		}
		select {
		case <-exited:
			t.Fatalf("orthanctest: Orthanc exited during start-up:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("orthanctest: Orthanc did not answer /system within 60 s:\n%s", out.String())
		}
	}
}

// Instance is an instance stored in Orthanc: the Orthanc ids of it and its
// parents, and its study's StudyInstanceUID and PatientID.
type Instance struct {
	Instance, Series, Study, Patient string // Orthanc ids
	StudyUID, PatientID              string
}

// Upload stores a DICOM file through POST /instances and reads back its
// study's tags.
func (s *Server) Upload(t testing.TB, path string) Instance {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("orthanctest: %v", err)
	}
	var ans struct{ ID, ParentSeries, ParentStudy, ParentPatient, Status string }
	if status := s.Do(t, http.MethodPost, "instances", data, &ans); status != 200 || ans.ParentStudy == "" {
		t.Fatalf("orthanctest: uploading %s: %d %+v", path, status, ans)
	}
	in := Instance{Instance: ans.ID, Series: ans.ParentSeries, Study: ans.ParentStudy, Patient: ans.ParentPatient}
	var st struct {
		MainDicomTags        struct{ StudyInstanceUID string }
		PatientMainDicomTags struct{ PatientID string }
	}
	s.GetJSON(t, "studies/"+in.Study, &st)
	in.StudyUID, in.PatientID = st.MainDicomTags.StudyInstanceUID, st.PatientMainDicomTags.PatientID
	return in
}

// GetJSON decodes the answer of GET path (relative to URL) into v; any
// status other than 200 fails the test.
func (s *Server) GetJSON(t testing.TB, path string, v any) {
	t.Helper()
	if status := s.Do(t, http.MethodGet, path, nil, v); status != 200 {
		t.Fatalf("orthanctest: GET %s: HTTP %d", path, status)
	}
}

// Do sends a request (body may be nil) and decodes a JSON answer into v
// (when v is not nil and the status is 2xx); it returns the status. A
// network error fails the test.
func (s *Server) Do(t testing.TB, method, path string, body []byte, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("orthanctest: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("orthanctest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("orthanctest: %s %s: %v", method, path, err)
	}
	if v != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("orthanctest: %s %s: %v: %.200s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// Get returns the body of GET path; any status other than 200 fails the
// test.
func (s *Server) Get(t testing.TB, path string) []byte {
	t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatalf("orthanctest: GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("orthanctest: GET %s: HTTP %d %v", path, resp.StatusCode, err)
	}
	return data
}
