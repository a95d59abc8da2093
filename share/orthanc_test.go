package share

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// orthanc is a real Orthanc (Debian's orthanc package) started by a test.
type orthanc struct {
	URL  string
	Stop func() // stops Orthanc (also done at the end of the test)
}

// startOrthanc starts Orthanc on 127.0.0.1 with free HTTP and DICOM ports,
// storage in storage (a new temporary directory if empty) and the extra
// configuration keys given, waits until /system answers, and stops it when
// the test ends.
func startOrthanc(t *testing.T, storage string, extra map[string]any) *orthanc {
	t.Helper()
	bin := testenv.LookPath(t, "Orthanc", "apt-get install orthanc")
	dir := t.TempDir()
	if storage == "" {
		storage = filepath.Join(dir, "storage")
	}
	port := testenv.FreePort(t)
	cfg := map[string]any{
		"Name":                  "dicombridge-share-test",
		"StorageDirectory":      storage,
		"IndexDirectory":        storage,
		"HttpPort":              port,
		"DicomPort":             testenv.FreePort(t),
		"DicomAet":              "SHARETEST",
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
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command(bin, cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Orthanc: %v", err)
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
	o := &orthanc{URL: fmt.Sprintf("http://127.0.0.1:%d/", port), Stop: stop}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(o.URL + "system")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 || resp.StatusCode == 403 { // 403: the authorization plugin is active
				return o
			}
		}
		select {
		case <-exited:
			t.Fatalf("Orthanc exited during start-up:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("Orthanc did not answer /system within 60 s:\n%s", out.String())
		}
	}
}

type uploaded struct {
	Instance, Series, Study, Patient string // Orthanc ids
	StudyUID, PatientID              string
}

// upload sends a DICOM file through POST /instances and reads back the
// study's tags.
func (o *orthanc) upload(t *testing.T, path string) uploaded {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(o.URL+"instances", "application/dicom", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct{ ID, ParentSeries, ParentStudy, ParentPatient, Status string }
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != 200 || ans.ParentStudy == "" {
		t.Fatalf("uploading %s: %d %+v %v", path, resp.StatusCode, ans, err)
	}
	u := uploaded{Instance: ans.ID, Series: ans.ParentSeries, Study: ans.ParentStudy, Patient: ans.ParentPatient}
	var st struct {
		MainDicomTags        struct{ StudyInstanceUID string }
		PatientMainDicomTags struct{ PatientID string }
	}
	o.getJSON(t, "studies/"+u.Study, &st)
	u.StudyUID, u.PatientID = st.MainDicomTags.StudyInstanceUID, st.PatientMainDicomTags.PatientID
	return u
}

func (o *orthanc) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(o.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// TestRealOrthanc runs against Debian's Orthanc with two real studies of
// the pydicom corpus: it mints a share from the StudyInstanceUID alone
// (the service asks Orthanc for the orthanc-id), then validates requests
// shaped like both plugin generations with the real ids Orthanc holds.
func TestRealOrthanc(t *testing.T) {
	t.Parallel()
	corpus := testenv.PydicomTestFiles(t)
	o := startOrthanc(t, "", nil)
	a := o.upload(t, filepath.Join(corpus, "CT_small.dcm"))
	b := o.upload(t, filepath.Join(corpus, "MR_small.dcm"))
	if a.Study == b.Study || a.StudyUID == b.StudyUID {
		t.Fatalf("the two files are one study: %+v %+v", a, b)
	}

	const serverID = "orthanc-share-test"
	f := newFixture(t, func(c *Config) {
		c.ServerID = serverID
		c.Orthanc = &OrthancClient{URL: o.URL}
	})

	t.Run("client", func(t *testing.T) {
		ctx := context.Background()
		oc := &OrthancClient{URL: strings.TrimSuffix(o.URL, "/")}
		if id, err := oc.lookupStudy(ctx, a.StudyUID); err != nil || id != a.Study {
			t.Errorf("LookupStudy = %q, %v; want %q", id, err, a.Study)
		}
		if uid, err := oc.studyInstanceUID(ctx, b.Study); err != nil || uid != b.StudyUID {
			t.Errorf("StudyInstanceUID = %q, %v; want %q", uid, err, b.StudyUID)
		}
		for level, id := range map[Level]string{LevelStudy: a.Study, LevelSeries: a.Series, LevelInstance: a.Instance} {
			if r, err := oc.parentStudy(ctx, level, id); err != nil || r != (Resource{DicomUID: a.StudyUID, OrthancID: a.Study, Level: LevelStudy}) {
				t.Errorf("parentStudy(%s) = %+v, %v", level, r, err)
			}
		}
		if _, err := oc.lookupStudy(ctx, "1.2.3.4.5.6.7.8.9"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown UID: %v", err)
		}
		if _, err := oc.studyInstanceUID(ctx, "no-such-study"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown id: %v", err)
		}
		// Ids that are dot segments (or empty) would resolve to another
		// route of Orthanc (its root, the list of studies, ...).
		for _, id := range []string{"..", ".", ""} {
			if _, err := oc.studyInstanceUID(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("StudyInstanceUID(%q): %v, want ErrNotFound", id, err)
			}
			for _, level := range []Level{LevelStudy, LevelSeries, LevelInstance} {
				if _, err := oc.parentStudy(ctx, level, id); !errors.Is(err, ErrNotFound) {
					t.Errorf("parentStudy(%s, %q): %v, want ErrNotFound", level, id, err)
				}
			}
		}
	})

	// Mint from the StudyInstanceUID alone, through the new API.
	status, body := f.do(t, "PUT", "/tokens/stone-viewer-publication",
		`{"id":"real","resources":[{"dicom-uid":"`+a.StudyUID+`","level":"study"}],"expiration-date":"`+formatPyTime(katNow.Add(time.Hour))+`"}`, nil)
	if status != 200 {
		t.Fatalf("mint: %d %s", status, body)
	}
	var minted struct {
		Request struct {
			Resources []struct {
				DicomUID  string `json:"dicom-uid"`
				OrthancID string `json:"orthanc-id"`
			}
		}
		Token string
	}
	if err := json.Unmarshal([]byte(body), &minted); err != nil {
		t.Fatal(err)
	}
	if r := minted.Request.Resources; len(r) != 1 || r[0].OrthancID != a.Study || r[0].DicomUID != a.StudyUID {
		t.Fatalf("orthanc-id not resolved: %s", body)
	}
	cl, err := f.codec.Decode(minted.Token)
	if err != nil || cl.Resources[0].OrthancID != a.Study || cl.ServerID != serverID {
		t.Fatalf("token claims %+v, %v", cl, err)
	}
	tok := minted.Token

	// And the other way round through the old API: orthanc-id only.
	status, body = f.do(t, "PUT", "/shares", `{"studies":[{"orthanc-id":"`+b.Study+`"}],"type":"osimis-viewer-publication"}`, nil)
	if status != 200 || !strings.Contains(body, `"dicom-uid":"`+b.StudyUID+`"`) {
		t.Fatalf("old API: %d %s", status, body)
	}
	if status, body := f.do(t, "PUT", "/tokens/stone-viewer-publication", `{"resources":[{"dicom-uid":"9.9.9.9"}]}`, nil); status != 404 {
		t.Fatalf("unknown study: %d %s", status, body)
	}
	if status, body := f.do(t, "PUT", "/shares", `{"studies":[{"orthanc-id":".."}],"type":"osimis-viewer-publication"}`, nil); status != 404 {
		t.Fatalf("orthanc-id \"..\": %d %s, want 404", status, body)
	}

	// A token to revoke and a spare one.
	revoked := f.mint(t, cl)
	if _, err := f.svc.Revoke(context.Background(), revoked); err != nil {
		t.Fatal(err)
	}

	srv := str(serverID)
	studyA := func(tk string) access {
		return access{method: "get", level: "study", dicomUID: a.StudyUID, orthancID: a.Study, server: srv, header: tk, tokenKey: "token", tokenValue: tk}
	}
	granted, denied := `{"granted":true,"validity":60}`, `{"granted":false,"validity":60}`
	cases := []struct {
		name string
		a    access
		want string
	}{
		{"shared study granted", studyA(tok), granted},
		{"other study denied", access{method: "get", level: "study", dicomUID: b.StudyUID, orthancID: b.Study, server: srv, header: tok}, denied},
		{"patient-level call denied", access{method: "get", level: "patient", dicomUID: a.PatientID, orthancID: a.Patient, server: srv, header: tok}, denied},
		{"series-level call denied", access{method: "get", level: "series", dicomUID: "x", orthancID: a.Series, server: srv, header: tok}, denied},
		{"DELETE denied", access{method: "delete", level: "study", dicomUID: a.StudyUID, orthancID: a.Study, server: srv, header: tok}, denied},
		{"POST /instances (system) denied", access{method: "post", level: "system", uri: "/instances", server: srv, header: tok}, denied},
		{"revoked denied", studyA(revoked), denied},
		{"other server denied", access{method: "get", level: "study", dicomUID: a.StudyUID, orthancID: a.Study, server: str("elsewhere"), header: tok}, denied},
	}
	for _, g := range []generation{plugin0114, plugin041} {
		path := map[generation]string{plugin0114: "/tokens/validate", plugin041: "/shares/validate"}[g]
		for _, c := range cases {
			if _, got := f.validate(t, g, path, c.a); got != c.want {
				t.Errorf("%v %s: %s, want %s", g, c.name, got, c.want)
			}
		}
	}
	// One hour later the token has expired.
	f.clock.Advance(time.Hour)
	for _, g := range []generation{plugin0114, plugin041} {
		if _, got := f.validate(t, g, "/tokens/validate", studyA(tok)); got != denied {
			t.Errorf("%v expired: %s", g, got)
		}
	}
}
