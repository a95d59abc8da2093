package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/dicomweb"
	"github.com/dicombridge/dicombridge/internal/testenv"
	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/reportprovider"
)

// TestEndToEnd runs the example against the fake KHEOPS: register, launch
// from a real pydicom CT, see the user and the series, store a PDF report
// with STOW-RS, and find it in the fake, readable by pydicom.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	fake := kheopstest.NewServer(kheopstest.WithBasePath("/kheops"))
	defer fake.Close()
	alice := fake.AddUser(kheopstest.User{Sub: "alice", Name: "Alice Radiologist", Email: "alice@example.org"})
	album := fake.AddAlbum("", nil)
	if err := fake.AddMember(album, "alice", true); err != nil {
		t.Fatal(err)
	}
	ct, err := os.ReadFile(filepath.Join(testenv.PydicomTestFiles(t), "CT_small.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := fake.AddInstance(album, ct)
	if err != nil {
		t.Fatal(err)
	}

	publicURL := startApp(t, fake)

	clientID, err := fake.Register(ctx, alice, album, "Example", publicURL+configPath)
	if err != nil {
		t.Fatal(err)
	}
	launch, err := fake.Launch(ctx, alice, clientID, in.StudyUID)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(u string) (int, string, string) {
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Request.URL.Path, string(b)
	}
	status, path, body := get(launch)
	if status != 200 || path != "/report" {
		t.Fatalf("launch: HTTP %d at %s: %s", status, path, body)
	}
	for _, want := range []string{"Alice Radiologist", "alice@example.org", "Study " + in.StudyUID, in.SeriesUID, "<td>CT</td>",
		"CompressedSamples^CT1", `href="` + fake.URL + "/albums/" + album + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("report page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(launch, "code=") && strings.Contains(body, "code=") {
		t.Error("the code is still in the page")
	}

	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if csrf == nil {
		t.Fatal("no anti-CSRF token in the page")
	}
	post := func(form url.Values, h http.Header) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, publicURL+"/report/store", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, _ := post(url.Values{"csrf": {"wrong"}}, nil); status != http.StatusForbidden {
		t.Errorf("wrong anti-CSRF token: HTTP %d", status)
	}
	if status, _ := post(url.Values{"csrf": {csrf[1]}}, http.Header{"Origin": {"https://evil.example"}}); status != http.StatusForbidden {
		t.Errorf("cross-origin store: HTTP %d", status)
	}
	if got := len(fake.Instances(in.StudyUID)); got != 1 {
		t.Fatalf("refused requests stored %d instances", got-1)
	}
	status, page := post(url.Values{"csrf": {csrf[1]}}, http.Header{"Origin": {publicURL}})
	stored := regexp.MustCompile(`Stored report (2\.25\.[0-9]+)`).FindStringSubmatch(page)
	if status != 200 || stored == nil {
		t.Fatalf("store: HTTP %d\n%s", status, page)
	}

	// The report is in the fake, in a new DOC series of the launched study.
	var report *kheopstest.Instance
	for _, x := range fake.Instances(in.StudyUID) {
		if x.SOPInstanceUID == stored[1] {
			report = &x
		}
	}
	if report == nil || report.SOPClassUID != "1.2.840.10008.5.1.4.1.1.104.1" || report.SeriesUID == in.SeriesUID {
		t.Fatalf("stored instance %+v", report)
	}
	status, _, body = get(publicURL + "/report")
	if status != 200 || !strings.Contains(body, "<td>DOC</td>") || !strings.Contains(body, report.SeriesUID) {
		t.Errorf("the new series is not listed through QIDO-RS:\n%s", body)
	}

	// pydicom reads what suyashkumar/dicom wrote: an Encapsulated PDF with
	// the patient of the study.
	py := testenv.DebianPython(t, "pydicom")
	file := filepath.Join(t.TempDir(), "report.dcm")
	if err := os.WriteFile(file, report.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", `import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
doc = bytes(ds.EncapsulatedDocument)
print(ds.SOPClassUID, ds.Modality, ds.PatientID, ds.PatientName, ds.MIMETypeOfEncapsulatedDocument, doc[:8].decode(), doc.rstrip(b"\0").endswith(b"%%EOF\n"), ds.StudyInstanceUID == sys.argv[2])`, file, in.StudyUID).CombinedOutput()
	if err != nil {
		t.Fatalf("pydicom: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "1.2.840.10008.5.1.4.1.1.104.1 DOC 1CT1 CompressedSamples^CT1 application/pdf %PDF-1.4 True True" {
		t.Errorf("pydicom sees %s", got)
	}

	// Replaying the launch URL does not create a session.
	status, _, _ = get(launch)
	if status != http.StatusBadRequest {
		t.Errorf("replayed launch: HTTP %d", status)
	}
	// Without the cookie there is nothing to see.
	resp, err := http.Get(publicURL + "/report")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no cookie: HTTP %d", resp.StatusCode)
	}
}

// startApp serves the example on 127.0.0.1 for the fake KHEOPS and returns
// its public URL.
func startApp(t *testing.T, fake *kheopstest.Server) string {
	t.Helper()
	keyPEM, err := os.ReadFile("../../reportprovider/testdata/k1.pem")
	if err != nil {
		t.Fatal(err)
	}
	key, err := reportprovider.ParseKeyPEM("rp-1", keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	publicURL := "http://" + ln.Addr().String()
	_, h, err := newApp(config{PublicURL: publicURL, Issuer: fake.URL, Key: key, AllowHTTP: true, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return publicURL
}

func TestDemoLaunch(t *testing.T) {
	fake := kheopstest.NewServer()
	defer fake.Close()
	publicURL := startApp(t, fake)
	launch, err := demoLaunch(context.Background(), fake, publicURL+configPath)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	resp, err := (&http.Client{Jar: jar}).Get(launch)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Demo User") || strings.Count(string(body), `class="series"`) != 2 {
		t.Errorf("HTTP %d\n%s", resp.StatusCode, body)
	}
}

func TestOnePagePDF(t *testing.T) {
	pdf := string(onePagePDF([]string{"a (b) \\ c", "é"}))
	if !strings.HasPrefix(pdf, "%PDF-1.4\n") || !strings.HasSuffix(pdf, "%%EOF\n") || !strings.Contains(pdf, `(a \(b\) \\ c) Tj`) || !strings.Contains(pdf, "(?) Tj") {
		t.Errorf("%s", pdf)
	}
	// xref offsets point at the objects.
	for i, m := range regexp.MustCompile(`(\d{10}) 00000 n`).FindAllStringSubmatch(pdf, -1) {
		var off int
		for _, c := range m[1] {
			off = off*10 + int(c-'0')
		}
		if !strings.HasPrefix(pdf[off:], strings.TrimSpace(string(rune('1'+i)))+" 0 obj") {
			t.Errorf("xref entry %d points at %q", i+1, pdf[off:off+10])
		}
	}
}

// TestExpiredSessionsAreForgotten: sessions whose token expired are dropped
// when a new launch starts one, not only when their own cookie comes back
// (an abandoned session would otherwise stay in memory for good).
func TestExpiredSessionsAreForgotten(t *testing.T) {
	a := &app{sessions: map[string]*session{
		"old":  {rp: &reportprovider.Session{Expiry: time.Now().Add(-time.Minute)}},
		"live": {rp: &reportprovider.Session{Expiry: time.Now().Add(time.Hour)}},
	}}
	rec := httptest.NewRecorder()
	a.started(rec, httptest.NewRequest(http.MethodGet, "/launch", nil), &reportprovider.Session{Expiry: time.Now().Add(time.Hour)})
	if _, ok := a.sessions["old"]; ok || len(a.sessions) != 2 {
		t.Errorf("%d sessions after a launch (old one kept: %v), want the live one and the new one", len(a.sessions), ok)
	}
}

// TestMain lets the tests run main in a child process (the test binary
// itself), to send it real signals.
func TestMain(m *testing.M) {
	if os.Getenv("REPORTPROVIDER_EXAMPLE_RUN_MAIN") == "1" {
		os.Args = append([]string{"reportprovider"}, strings.Fields(os.Getenv("REPORTPROVIDER_EXAMPLE_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startMain runs main with args in dir and returns the process and the
// first lines it printed up to the launch URL.
func startMain(t *testing.T, dir string, args ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REPORTPROVIDER_EXAMPLE_RUN_MAIN=1", "REPORTPROVIDER_EXAMPLE_ARGS="+strings.Join(args, " "))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "configuration URL to register in KHEOPS: http://127.0.0.1:")
	return cmd, out
}

func TestSignalShutsDownGracefully(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cmd, out := startMain(t, dir, "-demo", "-addr", "127.0.0.1:0")
			for { // up to the launch URL: the demo is registered and serving
				line, err := out.ReadString('\n')
				require.NoError(t, err)
				if strings.HasPrefix(line, "http://") {
					break
				}
			}
			require.NoError(t, cmd.Process.Signal(sig))
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case err := <-waited:
				assert.NoError(t, err, "exit status after %v", sig)
			case <-time.After(15 * time.Second):
				t.Fatalf("still running 15 s after %v", sig)
			}
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing is written to the working directory without -key")
		})
	}
}

func TestServeFinishesInFlightRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	started, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, srv, ln, 5*time.Second) }()
	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			body <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body <- string(b)
	}()
	<-started
	cancel() // as a signal would
	time.Sleep(100 * time.Millisecond)
	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	assert.Error(t, err, "new connections are refused once shutdown starts")
	close(release)
	assert.Equal(t, "finished", <-body)
	assert.NoError(t, <-done)
}

func TestServeGivesUpAfterTheTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	started := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(2 * time.Second)
	})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, srv, ln, 100*time.Millisecond) }()
	go func() { _, _ = http.Get("http://" + ln.Addr().String()) }()
	<-started
	cancel()
	err = <-done
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	k, err := loadKey("", "kid-1")
	require.NoError(t, err)
	assert.NotNil(t, k)
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)

	path := filepath.Join(dir, "rp-key.pem")
	k1, err := loadKey(path, "kid-1")
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	k2, err := loadKey(path, "kid-1")
	require.NoError(t, err)
	p1, err := k1.MarshalPEM()
	require.NoError(t, err)
	p2, err := k2.MarshalPEM()
	require.NoError(t, err)
	assert.Equal(t, p1, p2, "the second run reads the key the first one wrote")
}

// TestReportPassesKHEOPSAttributeCheck: KHEOPS refuses an upload whose
// study attributes differ from those it stores. The example's report, built
// from the study's metadata, is accepted for a dicomgen study whose patient
// name has three component groups; the same report without StudyID, or
// carrying the alphabetic group of the name only (as the example once
// did), is refused with FailureReason 0x0106 naming the tag.
func TestReportPassesKHEOPSAttributeCheck(t *testing.T) {
	ctx := context.Background()
	fake := kheopstest.NewServer(kheopstest.WithBasePath("/kheops"))
	defer fake.Close()
	alice := fake.AddUser(kheopstest.User{Sub: "alice", Name: "Alice Radiologist"})
	album := fake.AddAlbum("", nil)
	require.NoError(t, fake.AddMember(album, "alice", true))
	// Seed 3: patient 山田^太郎=やまだ^たろう in UTF-8, StudyID "1".
	files, err := dicomgen.Write(ctx, t.TempDir(), dicomgen.Options{Seed: 3})
	require.NoError(t, err)
	data, err := os.ReadFile(files[0].Path)
	require.NoError(t, err)
	in, err := fake.AddInstance(album, data)
	require.NoError(t, err)

	dw := &dicomweb.Client{Endpoint: fake.URL + "/api/link/" + alice, HTTPClient: fake.Client()}
	meta, err := dw.Metadata(ctx, in.StudyUID, "")
	require.NoError(t, err)
	require.NotEmpty(t, meta)
	author := reportprovider.UserInfo{Name: "Alice Radiologist"}

	store := func(study dicomweb.Dataset) error {
		obj, _, err := encapsulatedPDF(study, author, 1, time.Now())
		require.NoError(t, err)
		_, err = dw.Store(ctx, in.StudyUID, bytes.NewReader(obj))
		return err
	}
	require.NoError(t, store(meta[0]), "the example's report")

	refused := func(study dicomweb.Dataset, tag uint32) {
		t.Helper()
		err := store(study)
		var se *dicomweb.StoreError
		require.ErrorAs(t, err, &se)
		require.Len(t, se.Failed, 1)
		assert.Equal(t, dicomweb.ReasonAttributeMismatch, se.Failed[0].Reason)
		assert.Equal(t, []uint32{tag}, se.Failed[0].Tags)
	}
	noStudyID := maps.Clone(meta[0])
	delete(noStudyID, tagStudyID)
	refused(noStudyID, 0x00200010)
	alphabetic := maps.Clone(meta[0])
	alphabetic[tagPatientName] = dicomweb.Attribute{VR: "PN", Value: []json.RawMessage{json.RawMessage(`{"Alphabetic":"` + meta[0].String(tagPatientName) + `"}`)}}
	refused(alphabetic, 0x00100010)
}
