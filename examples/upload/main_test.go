package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/uploader"
)

// sample is a directory with 3 studies, written once.
var sample string

func TestMain(m *testing.M) {
	if os.Getenv("UPLOAD_AS_CLI") == "1" {
		main() // the test binary re-executed as the command
		return
	}
	root, err := os.MkdirTemp("", "upload-example-")
	if err != nil {
		panic(err)
	}
	sample = filepath.Join(root, "studies")
	if _, err := dicomgen.Write(context.Background(), sample, dicomgen.Options{Studies: 3, SeriesPerStudy: 2, InstancesPerSeries: 4, Rows: 128, Columns: 128}); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(root)
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/tus/tusd/v2/pkg/handler.newDelayedContext.func1")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// env is the environment of one run.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// hmacEnv has the fake's credentials for the HMAC exchange.
func hmacEnv(aura *auratest.Server, stateDir string) env {
	return env{"AURA_API_URL": aura.URL, "AURA_API_KEY": aura.APIKey, "AURA_APP_ID": aura.AppID,
		"AURA_APP_SECRET": aura.Secret, "XDG_STATE_HOME": stateDir}
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(ctx context.Context, e env, args ...string) result {
	var out, errOut bytes.Buffer
	code := run(ctx, args, e.get, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func newAura(t *testing.T) *auratest.Server {
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	return aura
}

var uploadIDLine = regexp.MustCompile(`(?m)^upload_id ([0-9a-f-]{36})$`)

// TestUpload: the CLI uploads a directory, listing the studies and ending
// with the upload id; with an HMAC exchange or with a token from a backend.
func TestUpload(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"exchange", "token"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			aura := newAura(t)
			e := hmacEnv(aura, t.TempDir())
			if mode == "token" {
				tok, err := aura.IssueToken(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				e = env{"AURA_API_URL": aura.URL, "AURA_API_KEY": aura.APIKey, "AURA_UPLOAD_TOKEN": tok.Value, "XDG_STATE_HOME": t.TempDir()}
			}
			r := runCLI(context.Background(), e, "-patient-id", "PAT-1", "-context", `{"referral_id":"R-9"}`, sample)
			if r.code != exitOK {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if n := strings.Count(r.stdout, "study "); n != 3 {
				t.Errorf("%d studies listed:\n%s", n, r.stdout)
			}
			m := uploadIDLine.FindStringSubmatch(r.stdout)
			if m == nil || !strings.Contains(r.stdout, "uploaded 3 studies, 6 series, 24 instances") {
				t.Fatalf("stdout:\n%s", r.stdout)
			}
			ss, ok := aura.Session(m[1])
			if !ok || ss.State != "completed" {
				t.Fatalf("server session %+v", ss)
			}
			if !strings.Contains(string(ss.Init), `"patient_id":"PAT-1","context":{"referral_id":"R-9"}}`) {
				t.Errorf("init body ends %s", ss.Init[max(0, len(ss.Init)-80):])
			}
			up, _ := aura.Upload(m[1])
			if entries, err := up.ZipEntries(); err != nil || len(entries) != 24 {
				t.Errorf("zip: %d entries, %v", len(entries), err)
			}
			if strings.Contains(r.stdout+r.stderr, aura.Secret) || strings.Contains(r.stdout+r.stderr, aura.APIKey) {
				t.Error("a credential was printed")
			}
		})
	}
}

// waitRecord waits until the tus resume record is on disk, so that a pause
// leaves a resumable upload. It reports whether it appeared in time.
func waitRecord(stateDir string) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir(filepath.Join(stateDir, "dicombridge-upload", "tus"))
		if len(ents) > 0 {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// interrupted runs an upload and interrupts it as Ctrl-C does once its
// transfer began; it returns the fake and the environment of the run.
func interrupted(t *testing.T) (*auratest.Server, env) {
	t.Helper()
	aura := newAura(t)
	stateDir := t.TempDir()
	e := hmacEnv(aura, stateDir)
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Delay: time.Minute})
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		waitRecord(stateDir)
		cancel(uploader.ErrPaused) // what main does on SIGINT
	}()
	r := runCLI(ctx, e, "-quiet", sample)
	if r.code != exitInterrupted || !strings.Contains(r.stderr, "paused; run the same command with -resume") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	aura.ClearFailures()
	return aura, e
}

// TestPauseResume: an interrupted upload (as by Ctrl-C) exits 130; running
// the command again asks for -resume or -cancel; -resume finishes it.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	aura, e := interrupted(t)
	r := runCLI(context.Background(), e, sample)
	if r.code != exitUsage || !strings.Contains(r.stderr, "run again with -resume to continue it, or with -cancel to abandon it") {
		t.Fatalf("without -resume: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(context.Background(), e, "-resume", sample)
	if r.code != exitOK || !strings.Contains(r.stdout, "resumed at") {
		t.Fatalf("-resume: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	ss := aura.Sessions()
	if len(ss) != 1 || ss[0].State != "completed" {
		t.Errorf("server sessions %+v", ss)
	}
	r = runCLI(context.Background(), e, "-resume", sample)
	if r.code != exitOK || !strings.Contains(r.stderr, "no unfinished upload of these paths; starting a new one") {
		t.Errorf("-resume with nothing pending: exit %d\n%s", r.code, r.stderr)
	}
}

// TestCancelPending abandons a paused upload with -cancel.
func TestCancelPending(t *testing.T) {
	t.Parallel()
	aura, e := interrupted(t)
	r := runCLI(context.Background(), e, "-cancel", sample)
	if r.code != exitOK || !strings.Contains(r.stderr, "abandoned upload") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if ss := aura.Sessions(); len(ss) != 1 || ss[0].State != "cancelled" {
		t.Errorf("server sessions %+v", ss)
	}
	if up := aura.Uploads(); len(up) != 1 || !up[0].Terminated {
		t.Errorf("tus uploads %+v", up)
	}
}

// TestResumableFailure: Tus and Aura both unreachable: exit 75, and
// -resume later finishes.
func TestResumableFailure(t *testing.T) {
	t.Parallel()
	aura := newAura(t)
	e := hmacEnv(aura, t.TempDir())
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Abort: true})
	aura.Fail(auratest.EndpointError, auratest.Failure{Abort: true})
	r := runCLI(context.Background(), e, "-quiet", sample)
	if r.code != exitResumable || !strings.Contains(r.stderr, "run the same command with -resume when the network is back") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	aura.ClearFailures()
	if r := runCLI(context.Background(), e, "-quiet", "-resume", sample); r.code != exitOK {
		t.Fatalf("-resume: exit %d\n%s", r.code, r.stderr)
	}
}

// TestErrors: bad usage, missing credentials, nothing to upload and
// refusals give clear messages and distinct exit codes.
func TestErrors(t *testing.T) {
	t.Parallel()
	aura := newAura(t)
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "readme.txt"), []byte("no images here"), 0o600)
	good := hmacEnv(aura, t.TempDir())
	with := func(k, v string) env {
		e := env{}
		for a, b := range good {
			e[a] = b
		}
		e[k] = v
		return e
	}
	cases := []struct {
		name string
		env  env
		args []string
		code int
		msg  string
	}{
		{"no api", with("AURA_API_URL", ""), []string{sample}, exitUsage, "-api (or AURA_API_URL) is required"},
		{"no path", good, nil, exitUsage, "no PATH to upload"},
		{"no key", with("AURA_API_KEY", ""), []string{sample}, exitUsage, "set AURA_API_KEY"},
		{"no token", with("AURA_APP_SECRET", ""), []string{sample}, exitUsage, "set AURA_UPLOAD_TOKEN, or AURA_APP_ID and AURA_APP_SECRET"},
		{"bad token", with("AURA_UPLOAD_TOKEN", "tok_123"), []string{sample}, exitUsage, "must start with 'aubt_'"},
		{"bad context", good, []string{"-context", "[1]", sample}, exitUsage, "-context must be a JSON object"},
		{"resume and cancel", good, []string{"-resume", "-cancel", sample}, exitUsage, "exclude each other"},
		{"resume without state", good, []string{"-resume", "-state-dir", "", sample}, exitUsage, "need a -state-dir"},
		{"cancel nothing", good, []string{"-cancel", sample}, exitUsage, "no unfinished upload of these paths"},
		{"unknown study", good, []string{"-skip-study", "1.2.3", sample}, exitUsage, "-skip-study 1.2.3: no such study"},
		{"no DICOM", good, []string{empty}, exitNoStudies, "no DICOM studies to upload among 1 files"},
		{"wrong API key", with("AURA_API_KEY", "aura_au_wrong"), []string{sample}, exitFailed, "Aura refused the credentials"},
		{"dry run", good, []string{"-dry-run", sample}, exitOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(context.Background(), c.env, append([]string{"-quiet"}, c.args...)...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", r.code, r.stderr, c.code, c.msg)
			}
			if strings.Contains(r.stderr, "aura_au_wrong") {
				t.Error("the API key was printed")
			}
		})
	}
	if n := len(aura.CallsTo(auratest.EndpointInit)); n != 0 {
		t.Errorf("%d init calls from runs that must not upload", n)
	}
}

// TestSignal runs the real program and interrupts it with SIGINT: it
// pauses (exit 130) and a run with -resume completes the upload.
func TestSignal(t *testing.T) {
	t.Parallel()
	aura := newAura(t)
	stateDir := t.TempDir()
	e := hmacEnv(aura, stateDir)
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Delay: time.Minute})
	cmd := exec.Command(os.Args[0], "-quiet", sample)
	cmd.Env = append(os.Environ(), "UPLOAD_AS_CLI=1")
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitRecord(stateDir) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no tus record appeared\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(stderr.String(), "paused") {
		t.Fatalf("exit %d (%v)\n%s", code, err, stderr.String())
	}
	aura.ClearFailures()
	if r := runCLI(context.Background(), e, "-quiet", "-resume", sample); r.code != exitOK {
		t.Fatalf("-resume: exit %d\n%s", r.code, r.stderr)
	}
}

// TestInterruptedBeforeUpload: Ctrl-C before anything was announced (while
// connecting or scanning) exits 130 like any interruption, and -resume with
// the network down exits 75 and keeps the upload for a later -resume.
func TestInterruptedBeforeUpload(t *testing.T) {
	t.Parallel()
	t.Run("new upload", func(t *testing.T) {
		t.Parallel()
		aura := newAura(t)
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(uploader.ErrPaused) // what main does on SIGINT
		r := runCLI(ctx, hmacEnv(aura, t.TempDir()), "-quiet", sample)
		if r.code != exitInterrupted {
			t.Errorf("exit %d, want %d\n%s", r.code, exitInterrupted, r.stderr)
		}
		if n := len(aura.CallsTo(auratest.EndpointInit)); n != 0 {
			t.Errorf("%d init calls", n)
		}
	})
	t.Run("resume", func(t *testing.T) {
		t.Parallel()
		aura, e := interrupted(t)
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(uploader.ErrPaused)
		if r := runCLI(ctx, e, "-quiet", "-resume", sample); r.code != exitInterrupted || !strings.Contains(r.stderr, "paused") {
			t.Errorf("interrupted -resume: exit %d, want %d\n%s", r.code, exitInterrupted, r.stderr)
		}
		aura.Fail(auratest.EndpointConfig, auratest.Failure{Abort: true})
		if r := runCLI(context.Background(), e, "-quiet", "-resume", sample); r.code != exitResumable {
			t.Errorf("-resume with the network down: exit %d, want %d\n%s", r.code, exitResumable, r.stderr)
		}
		aura.ClearFailures()
		if r := runCLI(context.Background(), e, "-quiet", "-resume", sample); r.code != exitOK {
			t.Fatalf("-resume: exit %d\n%s", r.code, r.stderr)
		}
		if ss := aura.Sessions(); len(ss) != 1 || ss[0].State != "completed" {
			t.Errorf("server sessions %+v", ss)
		}
	})
}
