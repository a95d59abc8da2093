// Package orthanctest starts a real Orthanc (Debian's orthanc package) for
// tests: on 127.0.0.1 with free HTTP and DICOM ports, its storage in
// t.TempDir() unless given, stopped by t.Cleanup. A missing binary skips the
// test locally and fails it under CI (internal/testenv).
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
	"syscall"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// Server is a running Orthanc.
type Server struct {
	URL       string // REST root with a trailing slash, e.g. "http://127.0.0.1:8042/"
	DicomPort int    // its DICOM port (AE title AET)
	AET       string
	Storage   string // its storage and index directory
	Process   *testenv.Process
}

// Start runs Orthanc with the configuration keys in extra added to (or
// replacing) a minimal loopback configuration, and waits until GET /system
// answers (200, or 403 when an authorization plugin is active). storage is
// the storage directory; empty means a new temporary one.
func Start(t testing.TB, storage string, extra map[string]any) *Server {
	t.Helper()
	bin := testenv.LookPath(t, "Orthanc", "apt-get install orthanc")
	dir := t.TempDir()
	if storage == "" {
		storage = filepath.Join(dir, "storage")
	}
	s := &Server{DicomPort: testenv.FreePort(t), AET: "ORTHANCTEST", Storage: storage}
	port := testenv.FreePort(t)
	cfg := map[string]any{
		"Name":                  "dicombridge-test",
		"StorageDirectory":      storage,
		"IndexDirectory":        storage,
		"HttpPort":              port,
		"DicomPort":             s.DicomPort,
		"DicomAet":              s.AET,
		"RemoteAccessAllowed":   false,
		"AuthenticationEnabled": false,
		"Plugins":               []string{},
		"ConcurrentJobs":        1,
		"SaveJobs":              false,
	}
	for k, v := range extra {
		cfg[k] = v
	}
	if aet, ok := cfg["DicomAet"].(string); ok {
		s.AET = aet
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatalf("orthanctest: configuration: %v", err)
	}
	cfgPath := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s.URL = fmt.Sprintf("http://127.0.0.1:%d/", port)
	s.Process = testenv.StartProcess(t, exec.Command(bin, cfgPath), syscall.SIGTERM, 60*time.Second, func() bool {
		resp, err := http.Get(s.URL + "system")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200 || resp.StatusCode == 403
	})
	return s
}

// Stop stops Orthanc now (it is also stopped when the test ends).
func (s *Server) Stop() { s.Process.Stop() }

// Instance is what POST /instances answered: Orthanc's ids of the stored
// instance and of its parents.
type Instance struct {
	ID, ParentSeries, ParentStudy, ParentPatient, Status string
}

// Upload stores a DICOM file through POST /instances.
func (s *Server) Upload(t testing.TB, path string) Instance {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in Instance
	s.Do(t, "POST", "instances", "application/dicom", bytes.NewReader(data), &in)
	if in.ParentStudy == "" {
		t.Fatalf("orthanctest: uploading %s: %+v", path, in)
	}
	return in
}

// GetJSON decodes GET path (relative to URL) into v.
func (s *Server) GetJSON(t testing.TB, path string, v any) {
	t.Helper()
	s.Do(t, "GET", path, "", nil, v)
}

// Do sends a request to Orthanc's REST API and decodes a 2xx JSON answer
// into v (unless v is nil); any other status fails the test with the body.
func (s *Server) Do(t testing.TB, method, path, contentType string, body io.Reader, v any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("orthanctest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode/100 != 2 {
		t.Fatalf("orthanctest: %s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("orthanctest: %s %s: %v: %.200s", method, path, err, data)
		}
	}
}
