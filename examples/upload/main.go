// Command upload sends folders of DICOM studies to Aura with
// github.com/dicombridge/dicombridge/uploader, with a progress bar, and
// resumes an upload interrupted by Ctrl-C, a crash or a lost network.
//
//	upload -api https://aura.example.com/api [flags] PATH...
//
// Credentials come from the environment only: AURA_API_KEY (the service
// key, required) and either AURA_UPLOAD_TOKEN (an aubt_… token from your
// backend) or AURA_APP_ID and AURA_APP_SECRET (exchanged for a token with
// an HMAC-signed request, refreshed as needed).
//
// The studies found are listed on standard output before the upload; the
// last line is "upload_id <id>". Progress and messages go to standard
// error. Ctrl-C (or SIGTERM) pauses: run the same command with -resume to
// continue without sending again what the server holds, or with -cancel to
// abandon the upload.
//
// With -submit the upload is submitted for processing once complete, with
// the -metadata key=value pairs given (repeatable; values are strings).
// -withdraw UPLOAD_ID [-reason TEXT] takes a submitted upload back.
//
// -dry-run scans and lists the studies without contacting Aura, so it
// needs neither -api nor credentials.
//
// Exit status: 0 success (or -dry-run, or -cancel done, or -h), 1 upload
// failed (Aura was told), 2 bad usage, missing credentials or a PATH that
// does not exist, 3 no DICOM study found, 75 failed but resumable (Aura
// could not be told: run again with -resume), 130 interrupted (paused, or
// cancelled without a state directory). Failures are one line on standard
// error: the cause and what to do.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/dicombridge/dicombridge/internal/auraenv"
	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/internal/uploadbar"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// Exit codes.
const (
	exitOK          = cli.ExitOK
	exitFailed      = cli.ExitFailed
	exitUsage       = cli.ExitUsage
	exitNoStudies   = 3
	exitResumable   = 75 // EX_TEMPFAIL
	exitInterrupted = cli.ExitInterrupted
)

func main() {
	// The first Ctrl-C or SIGTERM ends the context, which pauses the upload
	// (resumable); once it did, a second one kills the program.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	api, stateDir, patientID, contextJSON, source string
	withdraw, reason                              string
	resume, cancel, store, dryRun, quiet, submit  bool
	skip, metadata                                listFlag
	paths                                         []string
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var o options
	cmd := cli.New("upload", stdout, stderr)
	cmd.Synopsis = []string{"upload -api URL [flags] PATH...", "upload -api URL -withdraw UPLOAD_ID [-reason TEXT]", "upload -dry-run PATH..."}
	cmd.About = "Sends folders of DICOM studies to Aura; Ctrl-C pauses, -resume continues, -cancel abandons. " +
		"Studies are listed on standard output, progress and messages go to standard error."
	cmd.Env = []cli.Var{
		{Name: "AURA_API_URL", Help: "default for -api"},
		{Name: "AURA_API_KEY", Help: "the service API key, aura_au_… (required, except for -dry-run)"},
		{Name: "AURA_UPLOAD_TOKEN", Help: "an upload token, aubt_…, from your backend; or:"},
		{Name: "AURA_APP_ID", Help: "the app's HMAC key id, aura_pk_…, exchanged for a token with"},
		{Name: "AURA_APP_SECRET", Help: "the app's HMAC secret, aura_sk_…"},
		{Name: "XDG_STATE_HOME", Help: "default -state-dir is $XDG_STATE_HOME/dicombridge-upload (else ~/.local/state/…)"},
	}
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "uploaded (or -dry-run, -cancel or -withdraw done, -h)"},
		{Name: "1", Help: "the upload failed; Aura was told"},
		{Name: "2", Help: "bad usage, missing credentials, a PATH that does not exist, an unfinished upload in the way"},
		{Name: "3", Help: "no DICOM study in the paths"},
		{Name: "75", Help: "failed but resumable: run the same command with -resume"},
		{Name: "130", Help: "interrupted (Ctrl-C): paused, run again with -resume"},
	}
	cmd.Kinds = kinds
	fs := cmd.Flags
	fs.StringVar(&o.api, "api", getenv("AURA_API_URL"), "Aura API base `URL`, ending in /api (default $AURA_API_URL)")
	fs.StringVar(&o.stateDir, "state-dir", defaultStateDir(getenv), "`DIR` keeping unfinished uploads for -resume; empty disables resuming")
	fs.BoolVar(&o.resume, "resume", false, "continue the unfinished upload of these paths (start a new one if there is none)")
	fs.BoolVar(&o.cancel, "cancel", false, "abandon the unfinished upload of these paths (tells Aura, deletes the partial upload)")
	fs.Var(&o.skip, "skip-study", "do not upload the study with this Study Instance `UID` (repeatable)")
	fs.StringVar(&o.patientID, "patient-id", "", "Aurabox patient `id`, if known")
	fs.StringVar(&o.contextJSON, "context", "", "init context as a JSON `object`, e.g. '{\"referral_id\":\"R-1\"}'")
	fs.StringVar(&o.source, "source", "", "init source (default \"standalone-uploader\")")
	fs.BoolVar(&o.store, "store", false, "store files in the zip instead of compressing them (one pass, more bytes sent)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "scan and list the studies, upload nothing (needs no -api and no credentials)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress display")
	fs.BoolVar(&o.submit, "submit", false, "submit the upload for processing once complete (token scope upload:manage)")
	fs.Var(&o.metadata, "metadata", "submit metadata as `key=value` (repeatable; the value is a string); needs -submit")
	fs.StringVar(&o.withdraw, "withdraw", "", "take the submitted upload `UPLOAD_ID` back (no PATH), with -reason")
	fs.StringVar(&o.reason, "reason", "", "why the upload is withdrawn (`TEXT`), with -withdraw")
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	o.paths = cmd.Args()
	usage := func(format string, a ...any) int {
		return cmd.Fail(cli.Usagef(format, a...))
	}
	metadata := map[string]any{}
	for _, kv := range o.metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usage("-metadata %q: want key=value", kv)
		}
		metadata[k] = v
	}
	switch {
	case o.api == "" && !o.dryRun:
		return usage("-api (or AURA_API_URL) is required")
	case o.withdraw != "" && (len(o.paths) > 0 || o.submit || o.resume || o.cancel || o.dryRun || len(o.metadata) > 0):
		return usage("-withdraw takes no PATH and no other action")
	case o.reason != "" && o.withdraw == "":
		return usage("-reason needs -withdraw")
	case len(o.metadata) > 0 && !o.submit:
		return usage("-metadata needs -submit")
	case o.withdraw != "":
	case len(o.paths) == 0:
		return usage("no PATH to upload")
	case o.resume && o.cancel:
		return usage("-resume and -cancel exclude each other")
	case (o.resume || o.cancel) && o.stateDir == "":
		return usage("-resume and -cancel need a -state-dir")
	case o.dryRun && (o.resume || o.cancel):
		return usage("-dry-run excludes -resume and -cancel")
	}
	if err := cli.Paths(o.paths...); err != nil {
		return cmd.Fail(err)
	}
	var uploadContext any
	if o.contextJSON != "" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(o.contextJSON), &m); err != nil || m == nil {
			return usage("-context must be a JSON object")
		}
		uploadContext = json.RawMessage(o.contextJSON)
	}
	for i, p := range o.paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return usage("%v", err)
		}
		o.paths[i] = abs
	}
	if o.dryRun {
		return cmd.Fail(dryRun(ctx, o, stdout, stderr))
	}
	tokens, err := auraenv.Tokens(o.api, getenv)
	if err != nil {
		return cmd.Fail(err)
	}
	if o.withdraw != "" {
		api := &uploader.API{BaseURL: o.api, APIKey: getenv("AURA_API_KEY"), Tokens: tokens}
		mr, err := api.Withdraw(ctx, o.withdraw, o.reason)
		if err != nil {
			return cmd.Fail(err)
		}
		fmt.Fprintf(stdout, "upload_id %s %s: %s\n", mr.UploadID, mr.Status, mr.Message)
		return exitOK
	}

	var bar *uploadbar.Bar
	cb := uploader.Callbacks{}
	if !o.quiet {
		bar = uploadbar.New(stderr, cli.IsTerminal(stderr))
		cb = bar.Callbacks(cb)
	}
	u := &uploader.Uploader{
		API:       &uploader.API{BaseURL: o.api, APIKey: getenv("AURA_API_KEY"), Tokens: tokens},
		StateDir:  o.stateDir,
		Source:    o.source,
		PatientID: o.patientID,
		Context:   uploadContext,
		Store:     o.store,
		Submit:    o.submit,
		Callbacks: cb,
	}
	if len(metadata) > 0 {
		u.SubmitMetadata = metadata
	}
	fail := func(err error) int {
		if bar != nil {
			bar.Finish()
		}
		return cmd.Fail(err)
	}

	pending, err := matching(u, o, stderr)
	if err != nil {
		return fail(err)
	}
	switch {
	case o.cancel:
		if len(pending) == 0 {
			return fail(&cli.UsageError{Msg: "no unfinished upload of these paths", Hint: "nothing to cancel"})
		}
		for _, p := range pending {
			if err := u.Cancel(ctx, p.UploadID); err != nil {
				return fail(err)
			}
			fmt.Fprintf(stderr, "upload: abandoned upload %s\n", p.UploadID)
		}
		return exitOK
	case len(pending) > 0 && !o.resume:
		p := pending[len(pending)-1]
		return fail(&cli.UsageError{
			Msg: fmt.Sprintf("an unfinished upload of these paths exists (upload_id %s, step %s, begun %s)",
				p.UploadID, p.Step, p.Created.Local().Format(time.DateTime)),
			Hint: "run again with -resume to continue it, or with -cancel to abandon it",
		})
	case len(pending) > 0:
		p := pending[len(pending)-1]
		if len(o.skip) > 0 {
			fmt.Fprintln(stderr, "upload: -skip-study is ignored when resuming: the upload keeps the studies it began with")
		}
		fmt.Fprintf(stderr, "upload: resuming upload %s (%s)\n", p.UploadID, p.Step)
		u.Callbacks.OnStudies = listStudies(stdout)
		res, err := u.Resume(ctx, p.UploadID)
		if bar != nil {
			bar.Finish()
		}
		return finish(cmd, stdout, res, err)
	case o.resume:
		fmt.Fprintln(stderr, "upload: no unfinished upload of these paths; starting a new one")
	}

	s, err := u.Prepare(ctx, o.paths...)
	if err != nil {
		return fail(err)
	}
	listStudies(stdout)(s.Studies())
	scanProblems(stderr, s.Scan())
	for _, uid := range o.skip {
		if err := s.Remove(uid); err != nil {
			return usage("-skip-study %s: no such study in these paths", uid)
		}
	}
	res, err := s.Upload(ctx)
	if bar != nil {
		bar.Finish()
	}
	if errors.Is(err, uploader.ErrPaused) && !errors.Is(err, uploader.ErrResumable) {
		// Without a state directory nothing can resume it: destroy it
		// rather than leave it to Aura half done.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if cerr := s.Cancel(bg); cerr != nil {
			line, _ := cmd.Explain(cerr)
			fmt.Fprintf(stderr, "upload: interrupted, and cancelling the upload failed: %s\n", line)
			return exitInterrupted
		}
		fmt.Fprintln(stderr, "upload: interrupted without a state directory: the upload was cancelled")
		return exitInterrupted
	}
	return finish(cmd, stdout, res, err)
}

// finish reports an upload's outcome: a completed upload whose submit
// failed is reported as uploaded, then the submit's failure.
func finish(cmd *cli.Command, stdout io.Writer, res *uploader.Result, err error) int {
	if res == nil {
		return cmd.Fail(err)
	}
	code := done(stdout, res)
	if err != nil {
		line, _ := cmd.Explain(err)
		fmt.Fprintf(cmd.Stderr(), "upload: %s; the upload is complete but not submitted: submit it in Aura\n", line)
		return exitFailed
	}
	return code
}

// dryRun scans the paths as the upload would, lists the studies and the
// files set aside, and contacts nobody.
func dryRun(ctx context.Context, o options, stdout, stderr io.Writer) error {
	res, err := (&dicomscan.Scanner{}).Scan(ctx, o.paths...)
	if err != nil {
		return err
	}
	studies := res.Studies
	for _, uid := range o.skip {
		i := slices.IndexFunc(studies, func(s *dicomscan.Study) bool { return s.StudyInstanceUID == uid })
		if i < 0 {
			return cli.Usagef("-skip-study %s: no such study in these paths", uid)
		}
		studies = slices.Delete(slices.Clone(studies), i, i+1)
	}
	for _, s := range studies {
		fmt.Fprintf(stdout, "study %s  patient %q (%s)  %s  %s  %d series, %d images\n", s.StudyInstanceUID, s.PatientName, s.PatientID,
			s.StudyDate, strings.Join(s.Modalities, ","), len(s.Series), s.Instances())
	}
	scanProblems(stderr, res)
	if len(studies) == 0 {
		return fmt.Errorf("%w among %d files (%d skipped, %d rejected, %d unreadable)",
			uploader.ErrNoStudies, res.Files, len(res.Skipped), len(res.Rejected), len(res.Errors))
	}
	fmt.Fprintf(stdout, "dry run: %d studies would be uploaded\n", len(studies))
	return nil
}

// kinds turn the uploader's errors into one line and an exit code.
var kinds = []cli.Kind{
	{Match: cli.Is(uploader.ErrCancelled), Code: exitInterrupted,
		Cause: func(error) string { return "cancelled" }, Hint: "nothing is left to resume"},
	{Match: cli.Is(uploader.ErrPaused), Code: exitInterrupted,
		Cause: func(error) string { return "paused" }, Hint: "run the same command with -resume to continue, or -cancel to abandon it"},
	{Match: cli.Is(uploader.ErrNoStudies), Code: exitNoStudies,
		Hint: "run 'go run ./examples/scan PATH...' to see why each file was set aside"},
	{Match: cli.As[*uploader.SourcesChangedError](),
		Hint: "the upload was abandoned; run the command again (without -resume) for a new one"},
	{Match: cli.Is(uploader.ErrResumable), Code: exitResumable,
		Hint: "run the same command with -resume when the network is back"},
	{Match: func(err error) bool {
		return errors.Is(err, uploadtoken.ErrUnauthorized) || errors.Is(err, uploadtoken.ErrForbidden)
	}, Cause: apiCause("Aura refused the credentials"),
		Hint: "check AURA_API_KEY and AURA_UPLOAD_TOKEN (or AURA_APP_ID and AURA_APP_SECRET), and the clock"},
	{Match: cli.Is(uploadtoken.ErrRateLimited), Cause: apiCause("Aura asks to slow down"), Hint: "wait a minute and try again"},
	{Match: cli.Is(uploader.ErrServerConfig), Hint: "Aura's upload configuration is unusable; ask the Aura administrator"},
	{Match: cli.As[*uploadtoken.APIError](), Cause: apiCause("Aura answered an error"), Hint: "try again later; if it persists, report it with the time"},
}

// apiCause describes an *uploadtoken.APIError in the chain: what, the
// status, the call and Aura's message.
func apiCause(what string) func(error) string {
	return func(err error) string {
		var ae *uploadtoken.APIError
		if !errors.As(err, &ae) {
			return ""
		}
		msg := fmt.Sprintf("%s: %d %s on %s %s", what, ae.StatusCode, http.StatusText(ae.StatusCode), ae.Method, urlPath(ae.URL))
		if ae.Message != "" && ae.Message != http.StatusText(ae.StatusCode) {
			msg += ": " + ae.Message
		}
		return msg
	}
}

// matching returns the unfinished uploads of the same paths to the same API.
// Saved uploads that cannot be read are reported on w, and included for
// -cancel, which removes them.
func matching(u *uploader.Uploader, o options, w io.Writer) ([]uploader.Pending, error) {
	all, err := u.Pending()
	if err != nil {
		return nil, err
	}
	var out []uploader.Pending
	for _, p := range all {
		if p.Err != nil {
			fmt.Fprintf(w, "upload: saved upload %s cannot be read (%v); -cancel removes it\n", p.UploadID, p.Err)
			if o.cancel {
				out = append(out, p)
			}
			continue
		}
		if p.API == o.api && slices.Equal(p.Paths, o.paths) {
			out = append(out, p)
		}
	}
	return out, nil
}

func listStudies(w io.Writer) func([]uploader.Study) {
	return func(studies []uploader.Study) {
		for _, s := range studies {
			fmt.Fprintf(w, "study %s  patient %q (%s)  %s  %s  %d series, %d images\n", s.UID, s.PatientName, s.PatientID,
				s.Date, strings.Join(s.Modalities, ","), len(s.Series), s.Images)
		}
	}
}

// maxProblems bounds the files set aside that are listed one by one.
const maxProblems = 20

// scanProblems names the files the scan set aside, with the reason.
func scanProblems(w io.Writer, r *dicomscan.Result) {
	n := 0
	for _, v := range []struct {
		what string
		fes  []*dicomscan.FileError
	}{{"skipped", r.Skipped}, {"rejected", r.Rejected}, {"unreadable", r.Errors}} {
		for _, e := range v.fes {
			if n++; n <= maxProblems {
				fmt.Fprintf(w, "upload: %s %s: %s\n", v.what, e.Path, e.Reason())
			}
		}
	}
	if n > maxProblems {
		fmt.Fprintf(w, "upload: … and %d more files set aside; 'go run ./examples/scan PATH...' lists them all\n", n-maxProblems)
	}
}

func done(w io.Writer, res *uploader.Result) int {
	resumed := ""
	if res.Resumed {
		resumed = fmt.Sprintf(", resumed at %s", cli.Bytes(res.ResumedAt))
	}
	// The rate counts only what this run sent, over this run's time.
	fmt.Fprintf(w, "uploaded %d studies, %d series, %d instances (%s as a %s zip) in %s, %s%s\n",
		res.Studies, res.Series, res.Instances, cli.Bytes(res.SourceBytes), cli.Bytes(res.ArchiveBytes),
		res.Elapsed.Round(time.Millisecond), cli.Rate(res.ArchiveBytes-res.ResumedAt, res.Elapsed), resumed)
	if res.Submitted != nil {
		fmt.Fprintf(w, "submitted: %s %s\n", res.Submitted.Status, res.Submitted.Message)
	}
	fmt.Fprintf(w, "upload_id %s\n", res.UploadID)
	return exitOK
}

// defaultStateDir is $XDG_STATE_HOME/dicombridge-upload, else
// ~/.local/state/dicombridge-upload.
func defaultStateDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "dicombridge-upload")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "dicombridge-upload")
	}
	return filepath.Join(os.TempDir(), "dicombridge-upload")
}

// urlPath returns the path of an error's URL, the part a person needs to
// tell the calls apart ("/api/auth/exchange"); the whole URL when it does
// not parse.
func urlPath(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Path != "" {
		return u.Path
	}
	return raw
}
