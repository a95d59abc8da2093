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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
				require.NoError(t, err)
				e = env{"AURA_API_URL": aura.URL, "AURA_API_KEY": aura.APIKey, "AURA_UPLOAD_TOKEN": tok.Value, "XDG_STATE_HOME": t.TempDir()}
			}
			r := runCLI(context.Background(), e, "-patient-id", "PAT-1", "-context", `{"referral_id":"R-9"}`, sample)
			require.Equal(t, exitOK, r.code, "%s\n%s", r.stdout, r.stderr)
			assert.Equal(t, 3, strings.Count(r.stdout, "study "), r.stdout)
			m := uploadIDLine.FindStringSubmatch(r.stdout)
			require.NotNil(t, m, r.stdout)
			assert.Regexp(t, `(?m)^uploaded 3 studies, 6 series, 24 instances \([0-9.]+ [KM]iB as a [0-9.]+ [KM]iB zip\) in [0-9hms.µ]+, [0-9.]+ [KM]?i?B/s$`, r.stdout)
			ss, ok := aura.Session(m[1])
			require.True(t, ok)
			require.Equal(t, "completed", ss.State)
			assert.Contains(t, string(ss.Init), `"patient_id":"PAT-1","context":{"referral_id":"R-9"}}`)
			up, _ := aura.Upload(m[1])
			entries, err := up.ZipEntries()
			require.NoError(t, err)
			assert.Len(t, entries, 24)
			assert.NotContains(t, r.stdout+r.stderr, aura.Secret, "a credential was printed")
			assert.NotContains(t, r.stdout+r.stderr, aura.APIKey, "a credential was printed")
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
	require.Equal(t, exitInterrupted, r.code, r.stderr)
	require.Equal(t, "upload: paused; run the same command with -resume to continue, or -cancel to abandon it\n", r.stderr)
	aura.ClearFailures()
	return aura, e
}

// TestPauseResume: an interrupted upload (as by Ctrl-C) exits 130; running
// the command again asks for -resume or -cancel; -resume finishes it.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	aura, e := interrupted(t)
	r := runCLI(context.Background(), e, sample)
	require.Equal(t, exitUsage, r.code, r.stderr)
	assert.Regexp(t, `^upload: an unfinished upload of these paths exists \(upload_id [0-9a-f-]{36}, step [a-z]+, begun [0-9: -]+\); `+
		`run again with -resume to continue it, or with -cancel to abandon it\n$`, r.stderr)
	r = runCLI(context.Background(), e, "-resume", sample)
	require.Equal(t, exitOK, r.code, "%s\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "resumed at")
	ss := aura.Sessions()
	require.Len(t, ss, 1)
	assert.Equal(t, "completed", ss[0].State)
	r = runCLI(context.Background(), e, "-resume", sample)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no unfinished upload of these paths; starting a new one")
}

// TestCancelPending abandons a paused upload with -cancel.
func TestCancelPending(t *testing.T) {
	t.Parallel()
	aura, e := interrupted(t)
	r := runCLI(context.Background(), e, "-cancel", sample)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "abandoned upload")
	ss := aura.Sessions()
	require.Len(t, ss, 1)
	assert.Equal(t, "cancelled", ss[0].State)
	up := aura.Uploads()
	require.Len(t, up, 1)
	assert.True(t, up[0].Terminated)
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
	require.Equal(t, exitResumable, r.code, r.stderr)
	assert.Regexp(t, `^upload: .*; run the same command with -resume when the network is back\n$`, r.stderr, "one line")
	assert.NotContains(t, r.stderr, "Uploader.Resume", "no Go API advice")
	assert.NotContains(t, r.stderr, "uploader: ", "no package prefixes")
	aura.ClearFailures()
	r = runCLI(context.Background(), e, "-quiet", "-resume", sample)
	require.Equal(t, exitOK, r.code, r.stderr)
}

// TestErrors: bad usage, missing credentials, nothing to upload and
// refusals give one clear line and distinct exit codes.
func TestErrors(t *testing.T) {
	t.Parallel()
	aura := newAura(t)
	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, "readme.txt"), []byte("no images here"), 0o600))
	good := hmacEnv(aura, t.TempDir())
	with := func(kv ...string) env {
		e := env{}
		for a, b := range good {
			e[a] = b
		}
		for i := 0; i < len(kv); i += 2 {
			e[kv[i]] = kv[i+1]
		}
		return e
	}
	missing := filepath.Join(empty, "nope")
	cases := []struct {
		name   string
		env    env
		args   []string
		code   int
		stderr string // a regular expression for the whole of standard error
	}{
		{"no api", with("AURA_API_URL", ""), []string{sample}, exitUsage, `upload: -api \(or AURA_API_URL\) is required \(run 'upload -h' for usage\)\n`},
		{"no path", good, nil, exitUsage, `upload: no PATH to upload \(run 'upload -h' for usage\)\n`},
		{"missing path", good, []string{sample, missing}, exitUsage, `upload: ` + regexp.QuoteMeta(missing) + `: no such file or directory \(run 'upload -h' for usage\)\n`},
		{"missing path, dry run", env{}, []string{"-dry-run", missing}, exitUsage, `upload: ` + regexp.QuoteMeta(missing) + `: no such file or directory .*\n`},
		{"bad flag", good, []string{"-nope", sample}, exitUsage, `upload: flag provided but not defined: -nope \(run 'upload -h' for usage\)\n`},
		{"no key", with("AURA_API_KEY", ""), []string{sample}, exitUsage, `upload: AURA_API_KEY is not set; set it to the service API key \(aura_au_…\) in the environment\n`},
		{"no token", with("AURA_APP_SECRET", ""), []string{sample}, exitUsage, `upload: no upload token; set AURA_UPLOAD_TOKEN, or AURA_APP_ID and AURA_APP_SECRET, in the environment\n`},
		{"bad token", with("AURA_UPLOAD_TOKEN", "tok_123"), []string{sample}, exitUsage, `upload: AURA_UPLOAD_TOKEN must start with 'aubt_'; use the token your backend returned\n`},
		{"bad context", good, []string{"-context", "[1]", sample}, exitUsage, `upload: -context must be a JSON object .*\n`},
		{"resume and cancel", good, []string{"-resume", "-cancel", sample}, exitUsage, `upload: -resume and -cancel exclude each other .*\n`},
		{"resume without state", good, []string{"-resume", "-state-dir", "", sample}, exitUsage, `upload: -resume and -cancel need a -state-dir .*\n`},
		{"cancel nothing", good, []string{"-cancel", sample}, exitUsage, `upload: no unfinished upload of these paths; nothing to cancel\n`},
		{"unknown study", good, []string{"-skip-study", "1.2.3", sample}, exitUsage, `upload: -skip-study 1.2.3: no such study in these paths \(run 'upload -h' for usage\)\n`},
		{"no DICOM", good, []string{empty}, exitNoStudies, `upload: skipped ` + regexp.QuoteMeta(filepath.Join(empty, "readme.txt")) + `: not a DICOM file\n` +
			`upload: no DICOM studies to upload among 1 files \(1 skipped, 0 rejected, 0 unreadable\); run 'go run ./examples/scan PATH...' to see why each file was set aside\n`},
		{"wrong API key", with("AURA_API_KEY", "aura_au_wrong"), []string{sample}, exitFailed,
			`upload: Aura refused the credentials: 401 Unauthorized on POST /api/auth/exchange: .*; check AURA_API_KEY and AURA_UPLOAD_TOKEN \(or AURA_APP_ID and AURA_APP_SECRET\), and the clock\n`},
		{"unreachable", with("AURA_API_URL", "http://127.0.0.1:1/api"), []string{sample}, exitFailed,
			`upload: .*connection refused; is the server running, and is the URL right\?\n`},
		{"dry run", good, []string{"-dry-run", sample}, exitOK, ``},
		{"dry run without credentials", env{}, []string{"-dry-run", sample, "-skip-study", "x"}, exitUsage, `(?s)upload: -skip-study x: no such study in these paths .*\n`},
		{"dry run, nothing", env{}, []string{"-dry-run", empty}, exitNoStudies, `(?s)upload: skipped .*\nupload: no DICOM studies to upload among 1 files \(1 skipped, 0 rejected, 0 unreadable\); .*\n`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(context.Background(), c.env, append([]string{"-quiet"}, c.args...)...)
			assert.Equal(t, c.code, r.code)
			assert.Regexp(t, "^"+c.stderr+"$", r.stderr)
			assert.NotContains(t, r.stderr, "aura_au_wrong", "the API key was printed")
			assert.NotContains(t, r.stderr, "uploadtoken: ", "no package prefixes")
		})
	}
	assert.Empty(t, aura.CallsTo(auratest.EndpointInit), "init calls from runs that must not upload")
}

// TestDryRunNoCredentials: -dry-run lists the studies with no -api and no
// credential at all, and contacts nobody.
func TestDryRunNoCredentials(t *testing.T) {
	t.Parallel()
	r := runCLI(context.Background(), env{}, "-dry-run", sample)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, 3, strings.Count(r.stdout, "study "), r.stdout)
	assert.True(t, strings.HasSuffix(r.stdout, "dry run: 3 studies would be uploaded\n"), r.stdout)
	assert.Empty(t, r.stderr)
}

// TestHelp: -h prints usage with the environment variables and the exit
// codes on standard output, exits 0 and starts nothing, whatever else is
// on the command line.
func TestHelp(t *testing.T) {
	t.Parallel()
	aura := newAura(t)
	for _, args := range [][]string{{"-h"}, {"-help"}, {sample, "-h"}, {"-resume", "-h", sample}} {
		r := runCLI(context.Background(), hmacEnv(aura, t.TempDir()), args...)
		assert.Equal(t, exitOK, r.code, args)
		assert.Empty(t, r.stderr, args)
		for _, want := range []string{"usage: upload -api URL [flags] PATH...", "  -dry-run\n", "environment:\n  AURA_API_URL ",
			"  AURA_APP_SECRET ", "exit status:\n  0 ", "  75 "} {
			assert.Contains(t, r.stdout, want, args)
		}
	}
	assert.Empty(t, aura.Calls(), "-h contacted Aura")
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
	require.NoError(t, cmd.Start())
	if !waitRecord(stateDir) {
		cmd.Process.Kill()
		cmd.Wait()
		require.Fail(t, "no tus record appeared", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	require.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode(), "%v\n%s", err, stderr.String())
	assert.Equal(t, "upload: paused; run the same command with -resume to continue, or -cancel to abandon it\n", stderr.String())
	aura.ClearFailures()
	r := runCLI(context.Background(), e, "-quiet", "-resume", sample)
	require.Equal(t, exitOK, r.code, r.stderr)
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
		assert.Equal(t, exitInterrupted, r.code, r.stderr)
		assert.Empty(t, aura.CallsTo(auratest.EndpointInit))
	})
	t.Run("resume", func(t *testing.T) {
		t.Parallel()
		aura, e := interrupted(t)
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(uploader.ErrPaused)
		r := runCLI(ctx, e, "-quiet", "-resume", sample)
		assert.Equal(t, exitInterrupted, r.code, r.stderr)
		assert.Contains(t, r.stderr, "paused")
		aura.Fail(auratest.EndpointConfig, auratest.Failure{Abort: true})
		r = runCLI(context.Background(), e, "-quiet", "-resume", sample)
		assert.Equal(t, exitResumable, r.code, r.stderr)
		aura.ClearFailures()
		r = runCLI(context.Background(), e, "-quiet", "-resume", sample)
		require.Equal(t, exitOK, r.code, r.stderr)
		ss := aura.Sessions()
		require.Len(t, ss, 1)
		assert.Equal(t, "completed", ss[0].State)
	})
}

// TestSubmitAndWithdraw: -submit with repeated -metadata submits the
// upload once complete, with exactly those pairs; -withdraw takes it back
// with -reason; misuses of the flags are usage errors.
func TestSubmitAndWithdraw(t *testing.T) {
	t.Parallel()
	aura := newAura(t)
	e := hmacEnv(aura, t.TempDir())
	r := runCLI(context.Background(), e, "-quiet", "-submit", "-metadata", "priority=urgent", "-metadata", "ward=ICU=3", sample)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "submitted: submitted Upload submitted.")
	ss := aura.Sessions()
	require.Len(t, ss, 1)
	id := ss[0].UploadID
	assert.Equal(t, []string{"initialized", "started", "completed", "submitted"}, ss[0].States)
	calls := aura.CallsTo(auratest.EndpointSubmit)
	require.Len(t, calls, 1)
	assert.Equal(t, `{"upload_id":"`+id+`","metadata":{"priority":"urgent","ward":"ICU=3"}}`, string(calls[0].Body))

	r = runCLI(context.Background(), e, "-withdraw", id, "-reason", "wrong patient")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "upload_id "+id+" withdrawn: Upload withdrawn.\n", r.stdout)
	calls = aura.CallsTo(auratest.EndpointWithdraw)
	require.Len(t, calls, 1)
	assert.Equal(t, `{"upload_id":"`+id+`","reason":"wrong patient"}`, string(calls[0].Body))
	ss = aura.Sessions()
	assert.Equal(t, "withdrawn", ss[0].State)

	r = runCLI(context.Background(), e, "-withdraw", id)
	assert.Equal(t, exitFailed, r.code, "a second withdraw is refused by Aura: %s", r.stderr)

	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-metadata", "a=b", sample}, "-metadata needs -submit"},
		{[]string{"-submit", "-metadata", "novalue", sample}, `-metadata "novalue": want key=value`},
		{[]string{"-withdraw", id, sample}, "-withdraw takes no PATH"},
		{[]string{"-reason", "x", sample}, "-reason needs -withdraw"},
	} {
		r := runCLI(context.Background(), e, append([]string{"-quiet"}, c.args...)...)
		assert.Equal(t, exitUsage, r.code, "%v", c.args)
		assert.Contains(t, r.stderr, c.msg, "%v", c.args)
	}
}

// TestInterruptedWithoutStateDir: with no state directory nothing could
// resume an interrupted upload, so the program cancels it (Aura told, the
// Tus upload deleted) and exits 130.
func TestInterruptedWithoutStateDir(t *testing.T) {
	t.Parallel()
	aura := newAura(t)
	stateDir := t.TempDir()
	e := hmacEnv(aura, stateDir)
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Once the server answered the creation, and the client had the
		// time to read its answer, the first PATCH is held.
		for !tusCreated(aura) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	r := runCLI(ctx, e, "-quiet", "-state-dir", "", sample)
	require.Equal(t, exitInterrupted, r.code, r.stderr)
	assert.Contains(t, r.stderr, "the upload was cancelled")
	aura.ClearFailures()
	ss := aura.Sessions()
	require.Len(t, ss, 1)
	assert.Equal(t, "cancelled", ss[0].State)
	up := aura.Uploads()
	require.Len(t, up, 1)
	assert.True(t, up[0].Terminated)
}

// tusCreated reports whether the fake answered a Tus creation.
func tusCreated(aura *auratest.Server) bool {
	for _, c := range aura.CallsTo(auratest.EndpointTus) {
		if c.Method == "POST" && c.Status == 201 {
			return true
		}
	}
	return false
}
