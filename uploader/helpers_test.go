package uploader_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// newServer starts a fake Aura that is closed when the test ends.
func newServer(t *testing.T, opts ...auratest.Option) *auratest.Server {
	t.Helper()
	s := auratest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// bothLengths runs f in parallel subtests, each with a new fake Aura and
// uploader (and its state directory): once against a Tus server that
// announces creation-defer-length (one pass), once against one that does
// not (knownLength: the archive is packed first to learn its length).
func bothLengths(t *testing.T, f func(t *testing.T, knownLength bool, aura *auratest.Server, u *uploader.Uploader, rec *recorder, stateDir string)) {
	t.Parallel()
	for _, known := range []bool{false, true} {
		name := "deferred length"
		if known {
			name = "known length"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			aura := newServer(t)
			stateDir := t.TempDir()
			u, rec := newUploader(t, aura, stateDir)
			if known {
				knownLengthOnly(t, u)
			}
			f(t, known, aura, u, rec, stateDir)
		})
	}
}

// liftCapture is a RoundTripper that remembers the lift token of the last
// /uploader/config answer, to compare with what Tus received.
type liftCapture struct {
	base http.RoundTripper
	mu   sync.Mutex
	tok  string
}

func (l *liftCapture) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/uploader/config") {
		return resp, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var cfg struct {
		Lift struct {
			Token string `json:"token"`
		} `json:"lift"`
	}
	if json.Unmarshal(b, &cfg) == nil {
		l.mu.Lock()
		l.tok = cfg.Lift.Token
		l.mu.Unlock()
	}
	return resp, nil
}

func (l *liftCapture) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tok
}

// fastRetry keeps fault tests short.
var fastRetry = tusclient.RetryPolicy{Delays: []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond}}

// recorder keeps what the callbacks received. It has no lock on purpose:
// the engine promises that callbacks never overlap, and -race checks it.
type recorder struct {
	states    []uploader.State
	progress  []uploader.Progress
	studies   [][]uploader.Study
	completes []*uploader.Result
	errs      []error
	cancels   int // StateCancelled reports
	onState   func(uploader.State)
	onProg    func(uploader.Progress)
}

func (r *recorder) callbacks() uploader.Callbacks {
	return uploader.Callbacks{
		OnStudies: func(s []uploader.Study) { r.studies = append(r.studies, s) },
		OnState: func(s uploader.State) {
			r.states = append(r.states, s)
			if s == uploader.StateCancelled {
				r.cancels++
			}
			if r.onState != nil {
				r.onState(s)
			}
		},
		OnProgress: func(p uploader.Progress) {
			r.progress = append(r.progress, p)
			if r.onProg != nil {
				r.onProg(p)
			}
		},
		OnComplete: func(res *uploader.Result) { r.completes = append(r.completes, res) },
		OnError:    func(err error) { r.errs = append(r.errs, err) },
	}
}

// last returns the last progress report of a state.
func (r *recorder) last(st uploader.State) (uploader.Progress, bool) {
	for i := len(r.progress) - 1; i >= 0; i-- {
		if r.progress[i].State == st {
			return r.progress[i], true
		}
	}
	return uploader.Progress{}, false
}

// newUploader returns an uploader for the fake, with fast Tus retries and
// its own state directory (stateDir "" for none).
func newUploader(t *testing.T, aura *auratest.Server, stateDir string) (*uploader.Uploader, *recorder) {
	t.Helper()
	rec := &recorder{}
	api := &uploader.API{BaseURL: aura.URL, APIKey: aura.APIKey, HTTPClient: aura.Client(),
		Tokens: aura.Exchanger().Source(uploadtoken.ExchangeRequest{})}
	return &uploader.Uploader{API: api, StateDir: stateDir, TusRetry: fastRetry, Callbacks: rec.callbacks()}, rec
}

// expectedEntries maps each archive entry name to its source file, by the
// reference client's rule (spec §5): "<StudyInstanceUID>/<relative path
// with '/' replaced by '-'>", the path relative to the parent of the
// scanned directory.
func expectedEntries(t *testing.T, scanned string, files []dicomgen.File, skipStudies ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range files {
		if slices.Contains(skipStudies, f.StudyInstanceUID) {
			continue
		}
		rel, err := filepath.Rel(filepath.Dir(scanned), f.Path)
		if err != nil {
			t.Fatal(err)
		}
		out[f.StudyInstanceUID+"/"+strings.ReplaceAll(filepath.ToSlash(rel), "/", "-")] = f.Path
	}
	return out
}

// checkZip asserts that the archive Tus received for id holds exactly the
// expected entries, each byte-identical to its source file.
func checkZip(t *testing.T, aura *auratest.Server, id string, want map[string]string) {
	t.Helper()
	up, ok := aura.Upload(id)
	if !ok {
		t.Fatalf("no tus upload with upload_id %s", id)
	}
	zr, err := up.OpenZip()
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	seen := map[string]bool{}
	for _, f := range zr.File {
		src, ok := want[f.Name]
		if !ok {
			t.Errorf("unexpected entry %q", f.Name)
			continue
		}
		seen[f.Name] = true
		if f.Method != zip.Store && f.Method != zip.Deflate {
			t.Errorf("%s: method %d", f.Name, f.Method)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc) // also checks the CRC-32
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		exp, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, exp) {
			t.Errorf("%s: %d bytes differ from %s (%d bytes)", f.Name, len(got), src, len(exp))
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("entry %q missing", name)
		}
	}
}

// lifecycle returns the API calls (no preflights, no exchange) and Tus
// requests in order, as "init", "tus PATCH", ...
func lifecycle(aura *auratest.Server) []string {
	var out []string
	for _, c := range aura.Calls() {
		if c.Method == "OPTIONS" || c.Endpoint == auratest.EndpointExchange {
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(string(c.Endpoint), "uploader/"), "upload/")
		if c.Endpoint == auratest.EndpointTus {
			name = "tus " + c.Method
		}
		out = append(out, name)
	}
	return out
}

// compact removes repeats of consecutive equal items ("tus PATCH" ×3 →
// once).
func compact(calls []string) []string { return slices.Compact(slices.Clone(calls)) }

func count(calls []string, name string) int {
	n := 0
	for _, c := range calls {
		if c == name {
			n++
		}
	}
	return n
}

// body returns the recorded body of the only call to ep.
func body(t *testing.T, aura *auratest.Server, ep auratest.Endpoint) string {
	t.Helper()
	var bodies []string
	for _, c := range aura.CallsTo(ep) {
		if c.Method == "POST" {
			bodies = append(bodies, string(c.Body))
		}
	}
	if len(bodies) != 1 {
		t.Fatalf("%d POSTs to %s, want 1: %q", len(bodies), ep, bodies)
	}
	return bodies[0]
}

// patchBytes sums the body bytes of the Tus PATCHes recorded after seq.
func patchBytes(aura *auratest.Server, afterSeq int) int64 {
	var n int64
	for _, c := range aura.CallsTo(auratest.EndpointTus) {
		if c.Seq > afterSeq && c.Method == "PATCH" {
			n += c.BodySize
		}
	}
	return n
}

// lastSeq is the sequence number of the last recorded call.
func lastSeq(aura *auratest.Server) int {
	calls := aura.Calls()
	if len(calls) == 0 {
		return 0
	}
	return calls[len(calls)-1].Seq
}

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stateFiles lists what an upload left in a state directory (ignoring the
// empty tus record directory).
func stateFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// jsonKeys returns the member names of a JSON object in order.
func jsonKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func sampleSize(files []dicomgen.File) int64 {
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n
}

// withoutDeferLength is a Tus transport that hides creation-defer-length
// from the server's OPTIONS answer, as a Tus server without it would: the
// engine must then send the archive with a known length (two passes).
type withoutDeferLength struct{ base http.RoundTripper }

func (w withoutDeferLength) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.base.RoundTrip(req)
	if err != nil || req.Method != http.MethodOptions {
		return resp, err
	}
	var kept []string
	for _, v := range resp.Header.Values("Tus-Extension") {
		for _, ext := range strings.Split(v, ",") {
			if ext = strings.TrimSpace(ext); ext != "creation-defer-length" {
				kept = append(kept, ext)
			}
		}
	}
	resp.Header.Set("Tus-Extension", strings.Join(kept, ","))
	return resp, nil
}

// knownLengthOnly makes u talk to a Tus server without
// creation-defer-length.
func knownLengthOnly(t *testing.T, u *uploader.Uploader) {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	u.TusHTTPClient = &http.Client{Transport: withoutDeferLength{base: tr}}
}
