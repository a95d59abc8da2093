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
// Exit status: 0 success (or -dry-run, or -cancel done), 1 upload failed
// (Aura was told), 2 bad usage or missing credentials, 3 no DICOM study
// found, 75 failed but resumable (Aura could not be told: run again with
// -resume), 130 interrupted (paused, or cancelled without a state
// directory).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/internal/uploadbar"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitNoStudies   = 3
	exitResumable   = 75 // EX_TEMPFAIL
	exitInterrupted = 130
)

func main() {
	// The first Ctrl-C or SIGTERM pauses the upload (resumable); a second
	// one kills the program.
	ctx, cancel := context.WithCancelCause(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		signal.Stop(sig)
		cancel(uploader.ErrPaused)
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	cancel(nil)
	os.Exit(code)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	api, stateDir, patientID, contextJSON, source string
	resume, cancel, store, dryRun, quiet          bool
	skip                                          listFlag
	paths                                         []string
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("upload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.api, "api", getenv("AURA_API_URL"), "Aura API base `URL`, ending in /api (default $AURA_API_URL)")
	fs.StringVar(&o.stateDir, "state-dir", defaultStateDir(getenv), "`DIR` keeping unfinished uploads for -resume; empty disables resuming")
	fs.BoolVar(&o.resume, "resume", false, "continue the unfinished upload of these paths (start a new one if there is none)")
	fs.BoolVar(&o.cancel, "cancel", false, "abandon the unfinished upload of these paths (tells Aura, deletes the partial upload)")
	fs.Var(&o.skip, "skip-study", "do not upload the study with this Study Instance `UID` (repeatable)")
	fs.StringVar(&o.patientID, "patient-id", "", "Aurabox patient `id`, if known")
	fs.StringVar(&o.contextJSON, "context", "", "init context as a JSON `object`, e.g. '{\"referral_id\":\"R-1\"}'")
	fs.StringVar(&o.source, "source", "", "init source (default \"standalone-uploader\")")
	fs.BoolVar(&o.store, "store", false, "store files in the zip instead of compressing them (one pass, more bytes sent)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "scan and list the studies, upload nothing")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: upload -api URL [flags] PATH...")
		fmt.Fprintln(stderr, "credentials: AURA_API_KEY, and AURA_UPLOAD_TOKEN or AURA_APP_ID + AURA_APP_SECRET (environment only)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	o.paths = fs.Args()
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "upload: "+format+"\n", a...)
		return exitUsage
	}
	switch {
	case o.api == "":
		return usage("-api (or AURA_API_URL) is required")
	case len(o.paths) == 0:
		return usage("no PATH to upload")
	case o.resume && o.cancel:
		return usage("-resume and -cancel exclude each other")
	case (o.resume || o.cancel) && o.stateDir == "":
		return usage("-resume and -cancel need a -state-dir")
	}
	var uploadContext any
	if o.contextJSON != "" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(o.contextJSON), &m); err != nil || m == nil {
			return usage("-context must be a JSON object")
		}
		uploadContext = json.RawMessage(o.contextJSON)
	}
	tokens, code := tokenSource(o.api, getenv, stderr)
	if code != exitOK {
		return code
	}
	for i, p := range o.paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return usage("%v", err)
		}
		o.paths[i] = abs
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
		Callbacks: cb,
	}
	defer func() {
		if bar != nil {
			bar.Finish()
		}
	}()

	pending, err := matching(u, o, stderr)
	if err != nil {
		return report(stderr, err)
	}
	switch {
	case o.cancel:
		if len(pending) == 0 {
			fmt.Fprintln(stderr, "upload: no unfinished upload of these paths")
			return exitUsage
		}
		for _, p := range pending {
			if err := u.Discard(ctx, p.UploadID); err != nil {
				return report(stderr, err)
			}
			fmt.Fprintf(stderr, "upload: abandoned upload %s\n", p.UploadID)
		}
		return exitOK
	case len(pending) > 0 && !o.resume:
		p := pending[len(pending)-1]
		fmt.Fprintf(stderr, "upload: an unfinished upload of these paths exists (upload_id %s, step %s, begun %s)\n"+
			"        run again with -resume to continue it, or with -cancel to abandon it\n",
			p.UploadID, p.Step, p.Created.Local().Format(time.DateTime))
		return exitUsage
	case len(pending) > 0:
		p := pending[len(pending)-1]
		if len(o.skip) > 0 {
			fmt.Fprintln(stderr, "upload: -skip-study is ignored when resuming: the upload keeps the studies it began with")
		}
		fmt.Fprintf(stderr, "upload: resuming upload %s (%s)\n", p.UploadID, p.Step)
		u.Callbacks.OnStudies = listStudies(stdout)
		res, err := u.Resume(ctx, p.UploadID)
		if err != nil {
			return report(stderr, err)
		}
		return done(stdout, res)
	case o.resume:
		fmt.Fprintln(stderr, "upload: no unfinished upload of these paths; starting a new one")
	}

	s, err := u.Prepare(ctx, o.paths...)
	if err != nil {
		return report(stderr, err)
	}
	listStudies(stdout)(s.Studies())
	scanProblems(stderr, s)
	for _, uid := range o.skip {
		if err := s.Remove(uid); err != nil {
			return usage("-skip-study %s: no such study in these paths", uid)
		}
	}
	if o.dryRun {
		fmt.Fprintf(stdout, "dry run: %d studies would be uploaded\n", len(s.Studies()))
		return exitOK
	}
	res, err := s.Upload(ctx)
	if err != nil {
		return report(stderr, err)
	}
	return done(stdout, res)
}

// tokenSource picks the upload token: given, or exchanged with HMAC.
func tokenSource(api string, getenv func(string) string, stderr io.Writer) (uploadtoken.Source, int) {
	key, tok, appID, secret := getenv("AURA_API_KEY"), getenv("AURA_UPLOAD_TOKEN"), getenv("AURA_APP_ID"), getenv("AURA_APP_SECRET")
	switch {
	case key == "":
		fmt.Fprintln(stderr, "upload: set AURA_API_KEY (the service API key, aura_au_…) in the environment")
		return nil, exitUsage
	case tok != "":
		if !strings.HasPrefix(tok, uploadtoken.Prefix) {
			fmt.Fprintln(stderr, "upload: AURA_UPLOAD_TOKEN must start with 'aubt_'")
			return nil, exitUsage
		}
		return uploadtoken.StaticSource(&uploadtoken.Token{Value: tok}), exitOK
	case appID != "" && secret != "":
		c := &uploadtoken.Client{BaseURL: api, APIKey: key, Signer: &hmac.Signer{AppID: appID, Secret: secret}}
		return c.Source(uploadtoken.ExchangeRequest{}), exitOK
	}
	fmt.Fprintln(stderr, "upload: set AURA_UPLOAD_TOKEN, or AURA_APP_ID and AURA_APP_SECRET, in the environment")
	return nil, exitUsage
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

// scanProblems reports the files the scan set aside.
func scanProblems(w io.Writer, s *uploader.Session) {
	r := s.Scan()
	if n := len(r.Skipped); n > 0 {
		fmt.Fprintf(w, "upload: %d files skipped (not DICOM, DICOMDIR, duplicates)\n", n)
	}
	for _, e := range r.Rejected {
		fmt.Fprintf(w, "upload: rejected %s: %s\n", e.Path, e.Reason())
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "upload: unreadable %s: %s\n", e.Path, e.Reason())
	}
}

func done(w io.Writer, res *uploader.Result) int {
	resumed := ""
	if res.Resumed {
		resumed = fmt.Sprintf(", resumed at %.1f MB", float64(res.ResumedAt)/1e6)
	}
	fmt.Fprintf(w, "uploaded %d studies, %d series, %d instances (%.1f MB as a %.1f MB zip) in %s%s\n",
		res.Studies, res.Series, res.Instances, float64(res.SourceBytes)/1e6, float64(res.ArchiveBytes)/1e6,
		res.Elapsed.Round(time.Millisecond), resumed)
	fmt.Fprintf(w, "upload_id %s\n", res.UploadID)
	return exitOK
}

// report explains an error and picks the exit code.
func report(w io.Writer, err error) int {
	var ae *uploadtoken.APIError
	var sc *uploader.SourcesChangedError
	switch {
	case errors.Is(err, uploader.ErrCancelled):
		fmt.Fprintln(w, "upload: cancelled; nothing is left to resume")
		return exitInterrupted
	case errors.Is(err, uploader.ErrPaused):
		fmt.Fprintln(w, "upload: paused; run the same command with -resume to continue, or -cancel to abandon it")
		return exitInterrupted
	case errors.Is(err, uploader.ErrNoStudies):
		fmt.Fprintln(w, "upload:", err)
		return exitNoStudies
	case errors.As(err, &sc):
		fmt.Fprintf(w, "upload: %v\n        the upload was abandoned; run the command again (without -resume) for a new one\n", err)
		return exitFailed
	case errors.Is(err, uploader.ErrResumable):
		fmt.Fprintf(w, "upload: %v\n        run the same command with -resume when the network is back\n", err)
		return exitResumable
	case errors.Is(err, uploadtoken.ErrUnauthorized), errors.Is(err, uploadtoken.ErrForbidden):
		fmt.Fprintf(w, "upload: Aura refused the credentials: %v\n        check AURA_API_KEY and the upload token (or AURA_APP_ID/AURA_APP_SECRET)\n", err)
		return exitFailed
	case errors.Is(err, uploader.ErrServerConfig):
		fmt.Fprintf(w, "upload: Aura's upload configuration is unusable: %v\n", err)
		return exitFailed
	case errors.As(err, &ae):
		fmt.Fprintf(w, "upload: Aura answered %d: %v\n", ae.StatusCode, err)
		return exitFailed
	}
	fmt.Fprintln(w, "upload:", err)
	return exitFailed
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
