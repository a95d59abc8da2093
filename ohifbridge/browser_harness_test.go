package ohifbridge_test

// The plumbing of the browser test (browser_test.go): the Chromium driver
// process, the "OHIF origin" that serves the OHIF v3 stand-in page, a
// recorder in front of the bridge, and a CORS front for the fake KHEOPS.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/httpx"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

// browserDir holds the npm project (package.json, package-lock.json), the
// driver and the stand-in page.
var browserDir = filepath.Join("testdata", "browser")

// browser is one headless Chromium driven by testdata/browser/driver.mjs:
// a scenario per line in, a result per line out.
type browser struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *testenv.Buffer
}

// scenario is what the driver runs in a fresh browser context.
type scenario struct {
	Start     string `json:"start"`
	Until     string `json:"until"`            // "done" or "response"
	StopAt    string `json:"stopAt,omitempty"` // with "response"
	TimeoutMs int    `json:"timeoutMs"`
	SettleMs  int    `json:"settleMs"`
}

type navigation struct {
	URL    string  `json:"url"`
	Status int     `json:"status"`
	At     float64 `json:"at"`
}

type pageRequest struct {
	Method string  `json:"method"`
	URL    string  `json:"url"`
	At     float64 `json:"at"`
}

// outcome is what the driver saw of a scenario; At values are ms after T0.
type outcome struct {
	T0          float64            `json:"t0"` // epoch ms before the first navigation
	Done        *struct{ OK bool } `json:"done"`
	TimedOut    bool               `json:"timedOut"`
	FinalURL    string             `json:"finalURL"`
	Navigations []navigation       `json:"navigations"`
	Requests    []pageRequest      `json:"requests"`
	Console     []string           `json:"console"`
	Errors      []string           `json:"errors"`
}

// startBrowser starts the driver (and so Chromium) once for a test.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	node := testenv.Node(t)
	chromium := testenv.Chromium(t)
	testenv.NodeModules(t, browserDir, "oidc-client-ts", "playwright-core")
	tmp := t.TempDir() // playwright's fresh --user-data-dir goes here
	b := &browser{lines: make(chan string, 16), stderr: &testenv.Buffer{}}
	b.cmd = exec.Command(node, "driver.mjs", chromium)
	b.cmd.Dir = browserDir
	b.cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	b.cmd.Stderr = b.stderr
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Chromium's processes join the driver's group
	var err error
	b.in, err = b.cmd.StdinPipe()
	require.NoError(t, err)
	out, err := b.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, b.cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
	}()
	t.Cleanup(func() {
		_ = b.in.Close() // the driver closes Chromium and exits
		exited := make(chan error, 1)
		go func() { exited <- b.cmd.Wait() }()
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL) // the group this test started
			<-exited
			t.Error("the driver did not exit within 15 s of its input closing; killed it")
		}
		if t.Failed() {
			t.Logf("driver stderr:\n%s", tail(b.stderr.String(), 4000))
		}
	})
	return b
}

// run runs one scenario and returns what the driver saw.
func (b *browser) run(t *testing.T, sc scenario) outcome {
	t.Helper()
	if sc.TimeoutMs == 0 {
		sc.TimeoutMs = 30000
	}
	line, err := json.Marshal(sc)
	require.NoError(t, err)
	_, err = b.in.Write(append(line, '\n'))
	require.NoError(t, err, "driver stdin")
	var res outcome
	select {
	case l, ok := <-b.lines:
		require.True(t, ok, "the driver exited; stderr:\n%s", tail(b.stderr.String(), 4000))
		require.NoError(t, json.Unmarshal([]byte(l), &res), l)
	case <-time.After(time.Duration(sc.TimeoutMs+sc.SettleMs)*time.Millisecond + 30*time.Second):
		require.FailNow(t, "the driver did not answer", "stderr:\n%s", tail(b.stderr.String(), 4000))
	}
	require.Empty(t, res.Errors, "page errors; console:\n%s", strings.Join(res.Console, "\n"))
	return res
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// pageReport is one report the stand-in page POSTs to /__report (see
// testdata/browser/ohif.js); each step fills some of the fields.
type pageReport struct {
	Step string `json:"step"`
	Href string `json:"href"`

	// done and errors
	OK               bool   `json:"ok"`
	FailedAt         string `json:"failedAt"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Message          string `json:"message"`

	// login
	Outcome       string `json:"outcome"`
	Iss           string `json:"iss"`
	TargetLinkURI string `json:"target_link_uri"`
	RedirectTo    string `json:"redirect_to"`
	HasLoginHint  bool   `json:"has_login_hint"`

	// the user (callback, renew, signout)
	Sub                  string  `json:"sub"`
	Name                 string  `json:"name"`
	Email                string  `json:"email"`
	AccessToken          string  `json:"access_token"`
	RefreshToken         string  `json:"refresh_token"`
	IDToken              string  `json:"id_token"`
	TokenType            string  `json:"token_type"`
	Scope                string  `json:"scope"`
	ExpiresIn            float64 `json:"expires_in"`
	PreviousAccessToken  string  `json:"previous_access_token"`
	PreviousRefreshToken string  `json:"previous_refresh_token"`
	Automatic            bool    `json:"automatic"`

	// viewer
	StudiesInURL        []string `json:"studies_in_url"`
	QIDOStatus          int      `json:"qido_status"`
	QIDOStudies         []string `json:"qido_studies"`
	MetadataStatus      int      `json:"metadata_status"`
	MetadataInstances   int      `json:"metadata_instances"`
	Instance            string   `json:"instance"`
	InstanceStatus      int      `json:"instance_status"`
	InstanceContentType string   `json:"instance_content_type"`
	InstanceBytes       int      `json:"instance_bytes"`
	InstanceHasDICM     bool     `json:"instance_has_dicm"`
	FirstBytesAt        float64  `json:"first_bytes_at"` // epoch ms

	// stow
	STOWStatus int      `json:"stow_status"`
	STOWStored []string `json:"stow_stored"`
	STOWBody   string   `json:"stow_body"`

	// signed-out
	UserLeft bool `json:"user_left"`
}

// ohifConfig is the stand-in's configuration: OHIF's oidc[0] keys and
// the DICOMweb root of servers.dicomWeb[0].
type ohifConfig struct {
	OIDC         []map[string]any `json:"oidc"`
	DICOMwebRoot string           `json:"dicomWebRoot"`
	STOW         bool             `json:"stow"`
	AutoRenew    bool             `json:"autoRenew"`
	LoginOnly    bool             `json:"loginOnly"`   // finish at the callback
	MenuSignOut  bool             `json:"menuSignOut"` // sign out as OHIF's menu does
}

// ohifSite is the OHIF origin: the stand-in page on every path, the
// oidc-client-ts browser bundle, the report sink, the instance to STOW,
// and /__launch, which stands in for the KHEOPS UI's launch form.
type ohifSite struct {
	srv *httptest.Server
	URL string

	mu      sync.Mutex // guards the fields below
	config  ohifConfig
	reports []pageReport
	launch  url.Values // the KHEOPS launch form
	kheops  string     // the form's action
	stow    []byte
}

func newOHIFSite(t *testing.T) *ohifSite {
	t.Helper()
	s := &ohifSite{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	return s
}

func (s *ohifSite) setConfig(f func(*ohifConfig)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.config)
}

// takeReports returns the reports received since the last call.
func (s *ohifSite) takeReports() []pageReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reports
	s.reports = nil
	return r
}

func (s *ohifSite) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case "/__report":
		var rep pageReport
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.reports = append(s.reports, rep)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case "/__launch":
		s.mu.Lock()
		action, form := s.kheops, s.launch
		s.mu.Unlock()
		var b strings.Builder
		fmt.Fprintf(&b, "<!doctype html><title>KHEOPS</title><form method=post action=\"%s\">", html.EscapeString(action))
		for k, vs := range form {
			for _, v := range vs {
				fmt.Fprintf(&b, "<input type=hidden name=\"%s\" value=\"%s\">", html.EscapeString(k), html.EscapeString(v))
			}
		}
		b.WriteString("</form><script>document.forms[0].submit()</script>")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, b.String())
	case "/__stow.dcm":
		s.mu.Lock()
		data := s.stow
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/dicom")
		_, _ = w.Write(data)
	case "/oidc-client-ts.min.js":
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, filepath.Join(browserDir, "node_modules", "oidc-client-ts", "dist", "browser", "oidc-client-ts.min.js"))
	case "/ohif.js":
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, filepath.Join(browserDir, "ohif.js"))
	case "/favicon.ico":
		http.NotFound(w, r)
	default:
		s.mu.Lock()
		cfg, err := json.Marshal(s.config)
		s.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// Like OHIF's index.html: the configuration, the library, the app.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>OHIF stand-in</title>"+
			"<script>window.OHIF_TEST_CONFIG = %s;</script>"+
			"<script src=\"/oidc-client-ts.min.js\"></script><script src=\"/ohif.js\"></script>", cfg)
	}
}

// call is one request a recorded server answered.
type call struct {
	Method, Path, Origin, Authorization string
	Query                               url.Values
	Status                              int
}

// recorder records the requests its handler answers (404 until serve).
type recorder struct {
	mu    sync.Mutex // guards h and calls
	h     http.Handler
	calls []call
}

func (rec *recorder) serve(h http.Handler) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.h = h
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	h := rec.h
	rec.mu.Unlock()
	if h == nil {
		h = http.NotFoundHandler()
	}
	sr := &httpx.StatusRecorder{ResponseWriter: w}
	defer func() {
		c := call{Method: r.Method, Path: r.URL.Path, Origin: r.Header.Get("Origin"),
			Authorization: r.Header.Get("Authorization"), Query: r.URL.Query(), Status: sr.Status}
		rec.mu.Lock()
		rec.calls = append(rec.calls, c)
		rec.mu.Unlock()
	}()
	h.ServeHTTP(sr, r)
}

// take returns the calls recorded since the last take.
func (rec *recorder) take() []call {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	c := rec.calls
	rec.calls = nil
	return c
}

// corsFront forwards to the fake KHEOPS and answers CORS for one origin,
// as the reverse proxy in front of a real KHEOPS must for OHIF to talk
// DICOMweb to it in Direct mode.
func corsFront(t *testing.T, kheopsURL, allowOrigin string) *httptest.Server {
	t.Helper()
	target, err := url.Parse(kheopsURL)
	require.NoError(t, err)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == allowOrigin {
			w.Header().Set("Access-Control-Allow-Origin", allowOrigin)
			w.Header().Set("Vary", "Origin")
			if r.Method == http.MethodOptions {
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
				w.Header().Set("Access-Control-Allow-Headers", "Authorization, Accept, Content-Type")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}
