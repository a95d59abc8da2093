// Command quickstart shows the whole Aura upload working, with no network
// and no credentials:
//
//	go run ./examples/quickstart
//
// It starts a fake Aura API (package auratest: the real HMAC verifier,
// token issuer and an in-process tusd), writes a realistic sample (2
// studies, 6 series, 300 CT and MR instances with synthetic pixel data) to
// a temporary directory, exchanges an HMAC-signed request for an upload
// token, uploads the sample with a progress bar, and prints what happened:
// the studies, the bytes and the throughput, every call the server saw,
// and a check that the zip the server stored holds every source file byte
// for byte. It exits 0 when everything matches.
//
// With flags it uploads a real directory to a real Aura instance:
//
//	AURA_APP_ID=aura_pk_… AURA_APP_SECRET=aura_sk_… AURA_API_KEY=aura_au_… \
//	  go run ./examples/quickstart -api https://aura.example.com/api -dir /path/to/studies
//
// Exit status: 0 on success (or -h), 1 when the upload or the check
// failed, 2 for bad usage, missing credentials or a -dir that does not
// exist, 130 when interrupted. Failures are one line on standard error:
// the cause and a hint.
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/internal/uploadbar"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

func main() {
	cli.Main(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return run(ctx, args, os.Getenv, stdout, stderr)
	})
}

const (
	exitOK          = cli.ExitOK
	exitFailed      = cli.ExitFailed
	exitUsage       = cli.ExitUsage
	exitInterrupted = cli.ExitInterrupted
)

// The sample: 2 studies × 3 series × 50 instances of 256 × 256.
var sample = dicomgen.Options{Studies: 2, SeriesPerStudy: 3, InstancesPerSeries: 50, Rows: 256, Columns: 256, Seed: 2026}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := cli.New("quickstart", stdout, stderr)
	cmd.Synopsis = []string{
		"quickstart                     (demo against an in-process fake Aura)",
		"quickstart -api URL -dir DIR   (upload DIR to a real Aura)",
	}
	cmd.About = "Shows the whole Aura upload working: HMAC token exchange, scan, zip, resumable Tus upload, and a byte-for-byte check."
	cmd.Env = []cli.Var{
		{Name: "AURA_APP_ID", Help: "with -api: the app's HMAC key id, aura_pk_…"},
		{Name: "AURA_APP_SECRET", Help: "with -api: the app's HMAC secret, aura_sk_…"},
		{Name: "AURA_API_KEY", Help: "with -api: the service API key, aura_au_…"},
	}
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "success (or -h)"},
		{Name: "1", Help: "the upload or the check failed"},
		{Name: "2", Help: "bad usage, missing credentials, a -dir that does not exist"},
		{Name: "130", Help: "interrupted"},
	}
	cmd.Kinds = []cli.Kind{
		{Match: cli.Is(uploader.ErrCancelled), Code: exitInterrupted, Cause: func(error) string { return "interrupted" }},
		{Match: func(err error) bool {
			return errors.Is(err, uploadtoken.ErrUnauthorized) || errors.Is(err, uploadtoken.ErrForbidden)
		}, Hint: "check AURA_API_KEY, AURA_APP_ID and AURA_APP_SECRET, and the clock"},
		{Match: cli.Is(uploader.ErrNoStudies), Hint: "run 'go run ./examples/scan DIR' to see why each file was set aside"},
	}
	api := cmd.Flags.String("api", "", "Aura API `URL`, ending in /api (with -dir: upload to a real Aura)")
	dir := cmd.Flags.String("dir", "", "`directory` of DICOM files to upload (with -api)")
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	switch {
	case cmd.Flags.NArg() > 0:
		return cmd.Fail(cli.Usagef("unexpected argument %q", cmd.Flags.Arg(0)))
	case *api == "" && *dir == "":
		return cmd.Fail(demo(ctx, stdout, stderr))
	case *api == "" || *dir == "":
		return cmd.Fail(cli.Usagef("-api and -dir go together"))
	}
	if err := cli.Paths(*dir); err != nil {
		return cmd.Fail(err)
	}
	var missing []string
	creds := map[string]string{}
	for _, k := range []string{"AURA_APP_ID", "AURA_APP_SECRET", "AURA_API_KEY"} {
		if creds[k] = getenv(k); creds[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return cmd.Fail(&cli.UsageError{Msg: strings.Join(missing, ", ") + " not set",
			Hint: "set them in the environment (credentials are never taken from flags)"})
	}
	return cmd.Fail(real(ctx, *api, *dir, creds, stdout, stderr))
}

// real uploads dir to a real Aura instance.
func real(ctx context.Context, api, dir string, creds map[string]string, stdout, stderr io.Writer) error {
	exchanger := &uploadtoken.Client{
		BaseURL: api,
		APIKey:  creds["AURA_API_KEY"],
		Signer:  &hmac.Signer{AppID: creds["AURA_APP_ID"], Secret: creds["AURA_APP_SECRET"]},
	}
	bar := uploadbar.New(stderr, cli.IsTerminal(stderr))
	u := &uploader.Uploader{
		API:       &uploader.API{BaseURL: api, APIKey: creds["AURA_API_KEY"], Tokens: exchanger.Source(uploadtoken.ExchangeRequest{})},
		Callbacks: bar.Callbacks(uploader.Callbacks{OnStudies: printStudies(stdout)}),
	}
	res, err := upload(ctx, u, dir)
	bar.Finish()
	if err != nil {
		return err
	}
	summary(stdout, res)
	return nil
}

// demo runs the whole upload against an in-process fake Aura.
func demo(ctx context.Context, stdout, stderr io.Writer) error {
	aura := auratest.NewServer()
	defer aura.Close()
	tmp, err := os.MkdirTemp("", "dicombridge-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintf(stdout, "Fake Aura API on %s, its Tus server on %s\n", aura.URL, aura.TusURL)
	src := filepath.Join(tmp, "incoming")
	t0 := time.Now()
	files, err := dicomgen.Write(ctx, src, sample)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote %d synthetic DICOM files (%s) to %s in %s\n\n",
		len(files), cli.Bytes(total(files)), src, time.Since(t0).Round(time.Millisecond))

	// Phase 1, on the partner backend: HMAC credentials → upload token.
	exchanger := aura.Exchanger() // uploadtoken.Client with an hmac.Signer
	tok, err := exchanger.Exchange(ctx, uploadtoken.ExchangeRequest{TTL: time.Hour})
	if err != nil {
		return err
	}
	ex := aura.CallsTo(auratest.EndpointExchange)
	fmt.Fprintf(stdout, "1. Token exchange: POST /api/auth/exchange, signed with AURA-HMAC-SHA256\n   Authorization: %s\n   → upload token %s, scopes %v, valid until %s\n\n",
		ex[len(ex)-1].Header.Get("Authorization"), tok.Redacted(), tok.Scopes, tok.ExpiresAt.Format(time.RFC3339))

	// Phase 2: the upload, with the token.
	fmt.Fprintln(stdout, "2. Upload")
	bar := uploadbar.New(stderr, cli.IsTerminal(stderr))
	u := &uploader.Uploader{
		API:       &uploader.API{BaseURL: aura.URL, APIKey: aura.APIKey, Tokens: uploadtoken.StaticSource(tok), HTTPClient: aura.Client()},
		StateDir:  filepath.Join(tmp, "state"),
		Callbacks: bar.Callbacks(uploader.Callbacks{OnStudies: printStudies(stdout)}),
	}
	res, err := upload(ctx, u, src)
	bar.Finish()
	if err != nil {
		return err
	}
	summary(stdout, res)
	fmt.Fprintln(stdout, "\n3. What the server saw")
	printCalls(stdout, aura)
	ss, _ := aura.Session(res.UploadID)
	fmt.Fprintf(stdout, "   session %s: %s\n", res.UploadID, strings.Join(ss.States, " → "))

	fmt.Fprintln(stdout, "\n4. Check")
	n, err := check(aura, res.UploadID, src, files)
	if err != nil {
		return fmt.Errorf("check failed: %w", err)
	}
	fmt.Fprintf(stdout, "   all %d entries of the stored zip are byte-identical to the source files ✓\n", n)
	return nil
}

// upload uploads dir. An ended ctx (Ctrl-C) pauses an upload; this program
// keeps no state to resume it, so it cancels it instead (Aura told, the
// Tus upload deleted).
func upload(ctx context.Context, u *uploader.Uploader, dir string) (*uploader.Result, error) {
	s, err := u.Prepare(ctx, dir)
	if err != nil {
		return nil, err
	}
	res, err := s.Upload(ctx)
	if errors.Is(err, uploader.ErrPaused) {
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if cerr := s.Cancel(bg); cerr != nil {
			return nil, fmt.Errorf("%w; cancelling it failed: %w", err, cerr)
		}
		return nil, fmt.Errorf("%w: interrupted, the upload was cancelled", uploader.ErrCancelled)
	}
	return res, err
}

func printStudies(w io.Writer) func([]uploader.Study) {
	return func(studies []uploader.Study) {
		for _, s := range studies {
			fmt.Fprintf(w, "   study %s  %s  %s  %s: %d series, %d images\n",
				s.UID, s.PatientName, s.Date, strings.Join(s.Modalities, ","), len(s.Series), s.Images)
		}
	}
}

func summary(w io.Writer, res *uploader.Result) {
	secs := max(res.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "   uploaded %d studies, %d series, %d instances: %s of DICOM as a %s zip\n",
		res.Studies, res.Series, res.Instances, cli.Bytes(res.SourceBytes), cli.Bytes(res.ArchiveBytes))
	fmt.Fprintf(w, "   in %s: %s of DICOM, %.0f files/s (upload_id %s)\n",
		res.Elapsed.Round(time.Millisecond), cli.Rate(res.SourceBytes, res.Elapsed), float64(res.Instances)/secs, res.UploadID)
}

// printCalls lists the calls the fake recorded, consecutive PATCHes folded.
func printCalls(w io.Writer, aura *auratest.Server) {
	calls := slices.DeleteFunc(aura.Calls(), func(c auratest.Call) bool { return c.Method == "OPTIONS" })
	for i := 0; i < len(calls); i++ {
		c := calls[i]
		line := fmt.Sprintf("%-6s %s", c.Method, c.Path)
		note := ""
		switch {
		case c.Endpoint == auratest.EndpointTus && c.Method == "POST":
			line = fmt.Sprintf("%-6s %s", c.Method, c.Path)
			length := "Upload-Length " + c.Header.Get("Upload-Length")
			if c.Header.Get("Upload-Length") == "" {
				length = "Upload-Defer-Length " + c.Header.Get("Upload-Defer-Length") + " (one pass: the length comes with the last PATCH)"
			}
			note = "Tus creation, " + length + ", Authorization: " + c.Header.Get("Authorization") + " (the lift token; no X-Api-Key)"
		case c.Endpoint == auratest.EndpointTus && c.Method == "PATCH":
			j, bytes := i, int64(0)
			for ; j < len(calls) && calls[j].Method == "PATCH"; j++ {
				bytes += calls[j].BodySize
			}
			line = fmt.Sprintf("%-6s %s ×%d", c.Method, shorten(c.Path), j-i)
			note = fmt.Sprintf("%s in chunks of at most 5 MiB", cli.Bytes(bytes))
			i = j - 1
		case c.Endpoint != auratest.EndpointTus && len(c.Body) > 0 && len(c.Body) < 120:
			note = string(c.Body)
		case c.Endpoint == auratest.EndpointConfig:
			note = "→ lift (Tus endpoint, token, bucket) and mode"
		case c.Endpoint == auratest.EndpointInit:
			note = fmt.Sprintf("%d bytes of study metadata", len(c.Body))
		}
		fmt.Fprintf(w, "   %-58s %d  %s\n", line, c.Status, note)
	}
}

func shorten(p string) string {
	if len(p) > 20 {
		return p[:20] + "…"
	}
	return p
}

// check compares every entry of the zip the fake stored with its source
// file, by the reference client's naming rule: "<StudyInstanceUID>/<path
// relative to the parent of the scanned directory, '/' replaced by '-'>".
func check(aura *auratest.Server, id, src string, files []dicomgen.File) (int, error) {
	up, ok := aura.Upload(id)
	if !ok {
		return 0, errors.New("the server has no Tus upload for " + id)
	}
	zr, err := up.OpenZip()
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	want := map[string]string{}
	for _, f := range files {
		rel, err := filepath.Rel(filepath.Dir(src), f.Path)
		if err != nil {
			return 0, err
		}
		want[f.StudyInstanceUID+"/"+strings.ReplaceAll(filepath.ToSlash(rel), "/", "-")] = f.Path
	}
	if len(zr.File) != len(want) {
		return 0, fmt.Errorf("%d entries in the zip, %d source files", len(zr.File), len(want))
	}
	for _, f := range zr.File {
		path, ok := want[f.Name]
		if !ok {
			return 0, fmt.Errorf("unexpected entry %q", f.Name)
		}
		if err := sameBytes(f, path); err != nil {
			return 0, err
		}
	}
	return len(zr.File), nil
}

func sameBytes(f *zip.File, path string) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc) // checks the CRC-32 too
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	exp, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, exp) {
		return fmt.Errorf("%s differs from %s", f.Name, path)
	}
	return nil
}

func total(files []dicomgen.File) int64 {
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n
}
