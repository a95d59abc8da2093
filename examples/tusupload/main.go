// Command tusupload uploads one file to a Tus 1.0 server with
// github.com/dicombridge/dicombridge/tusclient, shows progress, and resumes
// when run again after an interruption (Ctrl-C, a crash, a lost network).
//
//	go run ./examples/tusupload -endpoint URL [-header 'K: V']... [-metadata k=v]... [-chunk SIZE] [-resume-dir DIR] FILE
//
// The upload URL is printed on the last line of standard output. Progress
// and messages go to standard error. Exit status: 0 on success, 1 when the
// upload failed, 2 for bad usage, 130 when interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/dicombridge/dicombridge/tusclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// listFlag collects a repeated flag in order.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tusupload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var headers, meta listFlag
	endpoint := fs.String("endpoint", "", "Tus creation `URL` (required), e.g. https://tus.example.org/files/")
	fs.Var(&headers, "header", "add an HTTP header to every request, as `'K: V'` (repeatable)")
	fs.Var(&meta, "metadata", "add an Upload-Metadata entry `k=v`, in order (repeatable); default filename=<base name of FILE>")
	chunk := fs.String("chunk", "8MiB", "PATCH body `SIZE`: bytes, or with a unit (KiB, MiB, GiB, KB, MB, GB)")
	resumeDir := fs.String("resume-dir", defaultResumeDir(), "`DIR` that remembers unfinished uploads; empty disables resuming")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tusupload -endpoint URL [-header 'K: V']... [-metadata k=v]... [-chunk SIZE] [-resume-dir DIR] FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "tusupload: "+format+"\n", a...)
		fs.Usage()
		return exitUsage
	}
	if *endpoint == "" {
		return usage("-endpoint is required")
	}
	if fs.NArg() != 1 {
		return usage("want exactly one FILE, got %d arguments", fs.NArg())
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
		return usage("%v", err)
	}
	defer c.CloseIdleConnections()

	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "tusupload: %v\n", err)
		return exitFailed
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		fmt.Fprintf(stderr, "tusupload: %s is not a regular file\n", path)
		return exitFailed
	}

	opts := tusclient.UploadOptions{Metadata: md}
	if *resumeDir != "" {
		store, err := tusclient.NewFileStore(*resumeDir)
		if err != nil {
			fmt.Fprintf(stderr, "tusupload: %v\n", err)
			return exitFailed
		}
		abs, _ := filepath.Abs(path)
		opts.Store = store
		opts.Fingerprint = fmt.Sprintf("file:%s:%d:%d", abs, st.Size(), st.ModTime().UnixNano())
	}
	prog := newProgress(stderr, st.Size())
	opts.OnProgress = prog.update
	opts.OnCreated = func(url string) { prog.say("upload URL: %s", url) }
	opts.OnRetry = func(err error, attempt int, delay time.Duration) {
		prog.say("retry %d in %v: %v", attempt, delay, err)
	}
	up, err := c.NewUpload(f, st.Size(), opts)
	if err != nil {
		return usage("%v", err)
	}
	start := time.Now()
	err = up.Run(ctx)
	prog.done()
	switch {
	case err == nil:
		d := time.Since(start)
		fmt.Fprintf(stderr, "uploaded %s in %v (%s/s)\n", human(st.Size()), d.Round(time.Millisecond),
			human(int64(float64(st.Size())/max(d.Seconds(), 1e-9))))
		fmt.Fprintln(stdout, up.URL())
		return exitOK
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		fmt.Fprintf(stderr, "tusupload: interrupted with %s of %s on the server", human(up.Offset()), human(st.Size()))
		if opts.Store != nil {
			fmt.Fprint(stderr, "; run the same command again to resume")
		}
		fmt.Fprintln(stderr)
		return exitInterrupted
	default:
		fmt.Fprintf(stderr, "tusupload: upload failed: %v\n", err)
		if opts.Store != nil && up.URL() != "" {
			fmt.Fprintf(stderr, "tusupload: %s of %s are on the server; run the same command again to resume\n",
				human(up.Offset()), human(st.Size()))
		}
		return exitFailed
	}
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

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progress shows a bar on a terminal and a line per 10% otherwise.
type progress struct {
	w    io.Writer
	size int64
	bar  *progressbar.ProgressBar
	step int64 // last 10% step printed (no terminal)
}

func newProgress(w io.Writer, size int64) *progress {
	p := &progress{w: w, size: size, step: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetDescription("uploading"),
		)
	}
	return p
}

// update is the OnProgress callback; calls never overlap.
func (p *progress) update(pr tusclient.Progress) {
	if p.bar != nil {
		_ = p.bar.Set64(pr.Sent)
		return
	}
	if p.size <= 0 {
		return
	}
	if step := pr.Offset * 10 / p.size; step > p.step {
		p.step = step
		fmt.Fprintf(p.w, "%3d%%  %s of %s\n", step*10, human(pr.Offset), human(p.size))
	}
}

func (p *progress) say(format string, a ...any) {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.w, format+"\n", a...)
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Exit()
		fmt.Fprintln(p.w)
	}
}
