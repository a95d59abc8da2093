// Command tusupload uploads one file to a Tus 1.0 server with
// github.com/dicombridge/dicombridge/tusclient, shows progress, and resumes
// when run again after an interruption (Ctrl-C, a crash, a lost network).
//
//	go run ./examples/tusupload -endpoint URL [-header 'K: V']... [-metadata k=v]... [-chunk SIZE] [-resume-dir DIR] FILE
//
// The upload URL is printed on the last line of standard output. Progress
// and messages go to standard error: a bar on a terminal, else a line at
// most once a second. Exit status: 0 on success (or -h), 1 when the upload
// failed, 2 for bad usage or a FILE that does not exist, 130 when
// interrupted. Failures are one line: the cause and a hint.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/internal/uploadbar"
	"github.com/dicombridge/dicombridge/tusclient"
)

func main() { cli.Main(run) }

// Exit codes.
const (
	exitOK          = cli.ExitOK
	exitFailed      = cli.ExitFailed
	exitUsage       = cli.ExitUsage
	exitInterrupted = cli.ExitInterrupted
)

// listFlag collects a repeated flag in order.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := cli.New("tusupload", stdout, stderr)
	cmd.Synopsis = []string{"tusupload -endpoint URL [-header 'K: V']... [-metadata k=v]... [-chunk SIZE] [-resume-dir DIR] FILE"}
	cmd.About = "Uploads one file to a Tus 1.0 server and resumes when run again after an interruption. " +
		"The upload URL is the last line of standard output."
	cmd.Env = []cli.Var{{Name: "XDG_CACHE_HOME", Help: "default -resume-dir is $XDG_CACHE_HOME/dicombridge/tusupload (else ~/.cache/…)"}}
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "uploaded (or -h)"},
		{Name: "1", Help: "the upload failed; run the same command again to resume"},
		{Name: "2", Help: "bad usage, or a FILE that does not exist"},
		{Name: "130", Help: "interrupted (Ctrl-C); run the same command again to resume"},
	}
	cmd.Kinds = []cli.Kind{
		{Match: cli.As[*tusclient.HTTPError](), Cause: func(err error) string {
			var he *tusclient.HTTPError
			errors.As(err, &he)
			return fmt.Sprintf("the server answered %d %s to %s %s", he.StatusCode, http.StatusText(he.StatusCode), he.Method, he.URL)
		}, Hint: "check -endpoint and the -header values"},
	}
	fs := cmd.Flags
	var headers, meta listFlag
	endpoint := fs.String("endpoint", "", "Tus creation `URL` (required), e.g. https://tus.example.org/files/")
	fs.Var(&headers, "header", "add an HTTP header to every request, as `'K: V'` (repeatable)")
	fs.Var(&meta, "metadata", "add an Upload-Metadata entry `k=v`, in order (repeatable); default filename=<base name of FILE>")
	chunk := fs.String("chunk", "8MiB", "PATCH body `SIZE`: bytes, or with a unit (KiB, MiB, GiB, KB, MB, GB)")
	resumeDir := fs.String("resume-dir", defaultResumeDir(), "`DIR` that remembers unfinished uploads; empty disables resuming")
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	usage := func(format string, a ...any) int {
		return cmd.Fail(cli.Usagef(format, a...))
	}
	if *endpoint == "" {
		return usage("-endpoint is required")
	}
	if fs.NArg() != 1 {
		return usage("want exactly one FILE, got %d arguments", fs.NArg())
	}
	if err := cli.Paths(fs.Arg(0)); err != nil {
		return cmd.Fail(err)
	}
	chunkSize, err := parseSize(*chunk)
	if err != nil {
		return usage("-chunk %q: %v", *chunk, err)
	}
	header := http.Header{}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\r\n") || strings.ContainsAny(v, "\r\n") {
			return usage("-header %q: want 'Name: value'", h)
		}
		header.Add(k, strings.TrimSpace(v))
	}
	path := fs.Arg(0)
	var md tusclient.Metadata
	for _, m := range meta {
		k, v, ok := strings.Cut(m, "=")
		if !ok {
			return usage("-metadata %q: want k=v", m)
		}
		md = append(md, tusclient.Pair{Key: k, Value: v})
	}
	if len(meta) == 0 {
		md = tusclient.Metadata{{Key: "filename", Value: filepath.Base(path)}}
	}
	if _, err := md.Encode(); err != nil {
		return usage("-metadata: %v", err)
	}

	c, err := tusclient.New(tusclient.Config{Endpoint: *endpoint, Header: header, ChunkSize: chunkSize})
	if err != nil {
		return usage("%s", cli.Line(err.Error()))
	}
	defer c.CloseIdleConnections()

	f, err := os.Open(path)
	if err != nil {
		return cmd.Fail(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return cmd.Fail(err)
	}
	if !st.Mode().IsRegular() {
		return usage("%s is not a regular file", path)
	}

	opts := tusclient.UploadOptions{Metadata: md}
	if *resumeDir != "" {
		store, err := tusclient.NewFileStore(*resumeDir)
		if err != nil {
			return cmd.Fail(fmt.Errorf("-resume-dir: %w", err))
		}
		abs, _ := filepath.Abs(path)
		opts.Store = store
		opts.Fingerprint = fmt.Sprintf("file:%s:%d:%d", abs, st.Size(), st.ModTime().UnixNano())
	}
	meter := uploadbar.NewMeter(stderr, cli.IsTerminal(stderr), "uploading", nil)
	opts.OnCreated = func(url string) { meter.Say("upload URL: %s", url) }
	opts.OnRetry = func(err error, attempt int, delay time.Duration) {
		meter.Say("tusupload: retry %d in %v: %s", attempt, delay.Round(time.Millisecond), cli.Line(err.Error()))
	}
	start := time.Now()
	var before int64 = -1
	opts.OnProgress = func(p tusclient.Progress) {
		if before < 0 {
			before = p.Offset // what the server held when this run began
		}
		meter.Update(p.Sent, st.Size(), "")
	}
	up, err := c.NewUpload(f, st.Size(), opts)
	if err != nil {
		return usage("%s", cli.Line(err.Error()))
	}
	err = up.Run(ctx)
	meter.Done()
	switch {
	case err == nil:
		d := time.Since(start)
		// The rate counts only what this run sent, which a resumed run says.
		sent, resumed := st.Size()-max(before, 0), ""
		if before > 0 {
			resumed = "this run sent " + cli.Bytes(sent) + ", "
		}
		fmt.Fprintf(stderr, "uploaded %s in %v (%s%s)\n", cli.Bytes(st.Size()), d.Round(time.Millisecond),
			resumed, cli.Rate(sent, d))
		fmt.Fprintln(stdout, up.URL())
		return exitOK
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		msg := fmt.Sprintf("tusupload: interrupted with %s of %s on the server", cli.Bytes(up.Offset()), cli.Bytes(st.Size()))
		if opts.Store != nil {
			msg += "; run the same command again to resume"
		}
		fmt.Fprintln(stderr, msg)
		return exitInterrupted
	}
	line, code := cmd.Explain(err)
	if opts.Store != nil && up.URL() != "" {
		line += fmt.Sprintf(" (%s of %s are on the server; run the same command again to resume)", cli.Bytes(up.Offset()), cli.Bytes(st.Size()))
	}
	fmt.Fprintln(stderr, "tusupload: upload failed: "+line)
	return code
}

func defaultResumeDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "dicombridge", "tusupload")
}

// parseSize parses "1048576", "512KiB", "8MiB", "5MB", "1GiB".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, errors.New("want a positive size such as 8MiB")
	}
	return n * mult, nil
}
