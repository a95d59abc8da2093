// Package cli gives every program in examples/ the same command-line
// behaviour, so that a person who learnt one knows them all:
//
//   - -h and -help print the usage, with the environment variables the
//     program reads and its exit codes, on standard output, and exit 0
//     without starting any work.
//   - Bad arguments and paths that do not exist exit [ExitUsage] (2) with
//     one line on standard error naming the problem.
//   - Runtime failures exit [ExitFailed] (1), or a code the program
//     documents, with one line: the cause, without the repeated package
//     prefixes of a wrapped Go error, and a hint saying what to do.
//   - Nothing printed for a failure carries a log timestamp.
//
// A program builds a [Command], declares its flags on [Command.Flags],
// calls [Command.Parse], and turns any error into its exit code with
// [Command.Fail]:
//
//	cmd := cli.New("scan", stdout, stderr)
//	cmd.Synopsis = []string{"scan [flags] PATH..."}
//	asJSON := cmd.Flags.Bool("json", false, "print one JSON object")
//	if err := cmd.Parse(args); err != nil {
//		return cmd.Fail(err)
//	}
//	if err := cli.Paths(cmd.Flags.Args()...); err != nil {
//		return cmd.Fail(err)
//	}
//
// How a failure reads is chosen by [Kind] values: the first kind whose
// Match accepts the error gives the exit code, an optional replacement of
// the cause, and the hint. [Command.Fail] tries the program's own kinds
// ([Command.Kinds]) before a few common ones (interrupted, connection
// refused, permission denied).
//
// The package is internal: it serves the example programs, not SDK users.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"
	"unicode"

	"golang.org/x/term"
)

// Exit codes shared by every program. A program may document more (upload
// uses 3 and 75), but these keep their meaning everywhere.
const (
	ExitOK          = 0   // success, or -h
	ExitFailed      = 1   // the work failed at run time
	ExitUsage       = 2   // bad arguments, missing configuration, a path that does not exist
	ExitInterrupted = 130 // stopped by Ctrl-C or SIGTERM (128 + SIGINT)
)

// Var documents one environment variable a program reads, or one exit
// code, for the usage text.
type Var struct {
	Name string // "AURA_API_KEY", or an exit code such as "0"
	Help string // one line
}

// Command is one program's command line. Fill the documentation fields
// before calling [Command.Parse]; the zero values print nothing.
type Command struct {
	// Name prefixes every message ("upload: ...").
	Name string
	// Synopsis lists the usage lines, without "usage:" (e.g. "upload
	// [flags] PATH...").
	Synopsis []string
	// About is a short paragraph printed under the synopsis.
	About string
	// Env lists the environment variables the program reads.
	Env []Var
	// Exit lists the exit codes the program uses, in order.
	Exit []Var
	// Flags holds the program's flags. Its output is discarded: Parse
	// reports errors itself.
	Flags *flag.FlagSet
	// Kinds classify runtime errors for [Command.Fail], tried in order
	// before the common kinds.
	Kinds []Kind

	stdout, stderr io.Writer
}

// New returns a Command named name that prints usage on stdout (-h) and
// failures on stderr.
func New(name string, stdout, stderr io.Writer) *Command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &Command{Name: name, Flags: fs, stdout: stdout, stderr: stderr}
}

// ErrHelp is returned by [Command.Parse] after it printed the usage for -h
// or -help. [Command.Fail] turns it into [ExitOK].
var ErrHelp = flag.ErrHelp

// UsageError is a problem with how the program was called: a bad flag,
// a missing argument or variable, a path that does not exist. It exits
// [ExitUsage].
type UsageError struct {
	Msg string
	// Hint replaces the default hint, "run 'NAME -h' for usage".
	Hint string
}

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a [*UsageError] with the formatted message.
func Usagef(format string, a ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, a...)}
}

// Parse parses args with c.Flags. Flags may follow positional arguments
// ("scan DIR -json"), except after "--". For -h or -help it prints the
// usage on standard output and returns [ErrHelp]; for a bad flag it
// returns a [*UsageError].
func (c *Command) Parse(args []string) error {
	var positional []string
	for {
		if err := c.Flags.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.Usage(c.stdout)
				return ErrHelp
			}
			return &UsageError{Msg: err.Error()}
		}
		rest := c.Flags.Args()
		consumed := args[:len(args)-len(rest)]
		if len(rest) == 0 || (len(consumed) > 0 && consumed[len(consumed)-1] == "--") {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Leave the positional arguments where flag.FlagSet.Args finds them.
	return c.Flags.Parse(append([]string{"--"}, positional...))
}

// Stderr returns the writer failures go to.
func (c *Command) Stderr() io.Writer { return c.stderr }

// Args returns the positional arguments after [Command.Parse].
func (c *Command) Args() []string { return c.Flags.Args() }

// Usage writes the usage text to w: synopsis, about, flags, environment
// variables and exit codes.
func (c *Command) Usage(w io.Writer) {
	for i, s := range c.Synopsis {
		if i == 0 {
			fmt.Fprintf(w, "usage: %s\n", s)
		} else {
			fmt.Fprintf(w, "       %s\n", s)
		}
	}
	if len(c.Synopsis) == 0 {
		fmt.Fprintf(w, "usage: %s [flags]\n", c.Name)
	}
	if c.About != "" {
		fmt.Fprintf(w, "\n%s\n", wrap(strings.TrimSpace(c.About), 76))
	}
	n := 0
	c.Flags.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		c.Flags.SetOutput(w)
		c.Flags.PrintDefaults()
		c.Flags.SetOutput(io.Discard)
	}
	table(w, "environment:", c.Env)
	table(w, "exit status:", c.Exit)
}

// wrap breaks s into lines of at most width bytes, between words.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(s) {
		switch {
		case n == 0:
		case n+1+len(word) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// longName is the widest name printed beside its help; a longer one gets
// its help on the next line.
const longName = 24

func table(w io.Writer, title string, vars []Var) {
	if len(vars) == 0 {
		return
	}
	width := 0
	for _, v := range vars {
		if len(v.Name) <= longName {
			width = max(width, len(v.Name))
		}
	}
	fmt.Fprintf(w, "\n%s\n", title)
	for _, v := range vars {
		if len(v.Name) > longName {
			fmt.Fprintf(w, "  %s\n  %-*s  %s\n", v.Name, width, "", v.Help)
			continue
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, v.Name, v.Help)
	}
}

// Paths returns a [*UsageError] naming the first path that does not exist
// or cannot be examined, or nil when all can be.
func Paths(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			if errors.Is(err, fs.ErrNotExist) {
				return Usagef("%s: no such file or directory", p)
			}
			return Usagef("%s: %v", p, err)
		}
	}
	return nil
}

// Kind is one class of runtime error: how to recognise it and what to
// tell the person who ran the program.
type Kind struct {
	// Match reports whether err belongs to the kind; see [Is] and [As].
	Match func(err error) bool
	// Code is the exit status; 0 means [ExitFailed].
	Code int
	// Cause, if set, replaces the error text as the cause (for example
	// with the fields of a typed error found with errors.As).
	Cause func(err error) string
	// Hint says what to do, in a few words; empty for none.
	Hint string
}

// Is returns a Match function for errors.Is(err, target).
func Is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// As returns a Match function for errors matching type T with errors.As.
func As[T error]() func(error) bool {
	return func(err error) bool {
		var t T
		return errors.As(err, &t)
	}
}

// common are tried after a program's own kinds.
var common = []Kind{
	{Match: Is(errInterrupted), Code: ExitInterrupted, Cause: func(error) string { return "interrupted" }},
	{Match: isRefused, Hint: "is the server running, and is the URL right?"},
	{Match: Is(syscall.EADDRINUSE), Hint: "another program listens there; choose another address"},
	{Match: isDNS, Hint: "check the host name in the URL"},
	{Match: Is(fs.ErrPermission), Hint: "check the file permissions"},
}

// errInterrupted is what a context cancelled by Ctrl-C leaves in a chain.
var errInterrupted = context.Canceled

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func isDNS(err error) bool {
	var d *net.DNSError
	return errors.As(err, &d)
}

// Fail reports err on standard error as one line and returns the exit
// code: [ExitOK] for nil and [ErrHelp], [ExitUsage] for a [*UsageError]
// (with a pointer to -h), else the code of the first matching kind
// ([ExitFailed] if none matches).
func (c *Command) Fail(err error) int {
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return ExitOK
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		if ue.Hint != "" {
			fmt.Fprintf(c.stderr, "%s: %s; %s\n", c.Name, Line(ue.Msg, c.Name), ue.Hint)
		} else {
			fmt.Fprintf(c.stderr, "%s: %s (run '%s -h' for usage)\n", c.Name, Line(ue.Msg, c.Name), c.Name)
		}
		return ExitUsage
	}
	line, code := c.Explain(err)
	fmt.Fprintf(c.stderr, "%s: %s\n", c.Name, line)
	return code
}

// Explain returns the line [Command.Fail] prints for err (without the
// program name) and its exit code.
func (c *Command) Explain(err error) (string, int) {
	k := Kind{}
	for _, cand := range append(append([]Kind{}, c.Kinds...), common...) {
		if cand.Match != nil && cand.Match(err) {
			k = cand
			break
		}
	}
	cause := ""
	if k.Cause != nil {
		cause = k.Cause(err)
	}
	if cause == "" {
		cause = err.Error()
	}
	line := Line(cause, c.Name)
	if k.Hint != "" {
		line += "; " + k.Hint
	}
	if k.Code == 0 {
		k.Code = ExitFailed
	}
	return line, k.Code
}

// pkgPrefix matches the error-message prefix of an SDK package ("uploader:
// ", "aura api: ") where a wrapped error repeats it: at the start, after
// ": ", "; " or "(".
var pkgPrefix = regexp.MustCompile(`(^|[:;(]\s*)(?:auratest|aura api|dicomscan|hmac|kheopstest|redisstore|reportprovider|share|tusclient|tustest|uploader|uploadtoken): `)

// goAdvice matches the advice some SDK errors give a Go caller ("resume
// it with Uploader.Resume(\"id\")"), which means nothing on a command line:
// each program gives its own hint instead.
var goAdvice = regexp.MustCompile(`\s*[:;,]?\s*(or )?(resume (it|the upload)|destroy it|submit it again) with (the API \()?(uploader\.)?(Uploader|API)\.\w+(\("[^"]*"\))?\)?`)

// maxLine bounds the cause printed; remote bodies are already bounded, but
// a line should stay readable.
const maxLine = 400

// Line turns an error message into one readable line: it drops the SDK's
// package prefixes ("uploader: ", "uploadtoken: ", "aura api: ", and
// extra, e.g. the program name) wherever a wrapped error repeats them,
// drops a part equal to the one before it and advice meant for Go callers
// ("resume it with Uploader.Resume(…)"), folds line breaks and control
// characters into spaces, and cuts the result at about 400 bytes.
func Line(msg string, extra ...string) string {
	msg = goAdvice.ReplaceAllString(msg, "")
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, msg)
	for {
		next := pkgPrefix.ReplaceAllString(msg, "$1")
		if next == msg {
			break
		}
		msg = next
	}
	parts := strings.Split(msg, ": ")
	out := parts[:0]
	for i, p := range parts {
		t := strings.TrimSpace(p)
		drop := i < len(parts)-1 && contains(extra, t)
		if !drop && len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == t {
			drop = true
		}
		if !drop {
			out = append(out, p)
		}
	}
	line := strings.Join(strings.Fields(strings.Join(out, ": ")), " ")
	if len(line) > maxLine {
		cut := maxLine
		for cut > 0 && !utf8Start(line[cut]) {
			cut--
		}
		line = line[:cut] + "…"
	}
	return line
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// IsTerminal reports whether w is a terminal, where a redrawn progress bar
// makes sense; anything else (a file, a pipe, a CI log) gets plain lines.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Bytes formats n in the one unit system every program prints: binary
// multiples (KiB, MiB, GiB; 1 MiB = 1,048,576 bytes), one decimal.
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Rate formats n bytes moved in d as a rate in the units of [Bytes] per
// second ("12.3 MiB/s"); "-" when d is not positive.
func Rate(n int64, d time.Duration) string {
	if d <= 0 || n < 0 {
		return "-"
	}
	return Bytes(int64(float64(n)/d.Seconds())) + "/s"
}
