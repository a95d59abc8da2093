package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newCmd() (*Command, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	c := New("prog", &out, &errb)
	c.Synopsis = []string{"prog [flags] PATH...", "prog -x"}
	c.About = "Does things."
	c.Env = []Var{{"PROG_KEY", "the key"}, {"PROG_URL_LONGER", "the URL"}}
	c.Exit = []Var{{"0", "success"}, {"2", "bad usage"}}
	return c, &out, &errb
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "-help", "--help"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			c, out, errb := newCmd()
			c.Flags.Bool("json", false, "print JSON")
			err := c.Parse([]string{"x", arg, "-json"})
			require.ErrorIs(t, err, ErrHelp)
			assert.Equal(t, ExitOK, c.Fail(err))
			assert.Empty(t, errb.String())
			assert.Equal(t, `usage: prog [flags] PATH...
       prog -x

Does things.

flags:
  -json
    	print JSON

environment:
  PROG_KEY         the key
  PROG_URL_LONGER  the URL

exit status:
  0  success
  2  bad usage
`, out.String())
		})
	}
}

func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantJSON bool
		wantArgs []string
	}{
		{"flags first", []string{"-json", "a", "b"}, true, []string{"a", "b"}},
		{"flags after", []string{"a", "-json", "b"}, true, []string{"a", "b"}},
		{"flags last", []string{"a", "b", "-json"}, true, []string{"a", "b"}},
		{"double dash", []string{"a", "--", "-json"}, false, []string{"a", "-json"}},
		{"none", nil, false, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _, _ := newCmd()
			j := c.Flags.Bool("json", false, "")
			require.NoError(t, c.Parse(tt.args))
			assert.Equal(t, tt.wantJSON, *j)
			assert.Equal(t, tt.wantArgs, append([]string{}, c.Args()...))
		})
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "aaa bb\ncccc d", wrap("aaa  bb cccc\nd", 6))
	assert.Equal(t, "", wrap("", 6))
	assert.Equal(t, "toolongword\nx", wrap("toolongword x", 4))
}

func TestBadFlag(t *testing.T) {
	t.Parallel()
	c, out, errb := newCmd()
	err := c.Parse([]string{"-nope"})
	var ue *UsageError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, ExitUsage, c.Fail(err))
	assert.Empty(t, out.String())
	assert.Equal(t, "prog: flag provided but not defined: -nope (run 'prog -h' for usage)\n", errb.String())
}

func TestPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	assert.NoError(t, Paths(dir, file))
	missing := filepath.Join(dir, "missing")
	err := Paths(dir, missing, file)
	var ue *UsageError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, missing+": no such file or directory", ue.Msg)
}

type remoteErr struct{ status int }

func (e *remoteErr) Error() string { return fmt.Sprintf("aura api: POST /x: %d", e.status) }

var errSentinel = errors.New("uploader: upload paused")

func TestFail(t *testing.T) {
	t.Parallel()
	refused := fmt.Errorf("uploader: config: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantLine string
	}{
		{"nil", nil, 0, ""},
		{"usage", Usagef("want one FILE, got %d", 2), 2, "prog: want one FILE, got 2 (run 'prog -h' for usage)\n"},
		{"prefixes dropped", fmt.Errorf("prog: upload: %w", fmt.Errorf("uploader: prepare: %w", fmt.Errorf("upload token: uploadtoken: exchange: %w", errors.New("aura api: POST /api/auth/exchange: 500 Internal Server Error")))),
			1, "prog: upload: prepare: upload token: exchange: POST /api/auth/exchange: 500 Internal Server Error\n"},
		{"kind with cause and hint", fmt.Errorf("uploader: x: %w", &remoteErr{401}), 1, "prog: Aura refused the credentials (401); check PROG_KEY\n"},
		{"kind with code", fmt.Errorf("uploader: %w: resume with Uploader.Resume(\"id\")", errSentinel), 75, "prog: paused; run again with -resume\n"},
		{"interrupted", fmt.Errorf("uploader: scan: %w", context.Canceled), 130, "prog: interrupted\n"},
		{"refused", refused, 1, "prog: config: dial tcp: connect: connection refused; is the server running, and is the URL right?\n"},
		{"multi-line", errors.New("tusclient: bad\nthing\x1b[31m"), 1, "prog: bad thing [31m\n"},
		{"usage with its own hint", &UsageError{Msg: "an upload exists", Hint: "run again with -resume"}, 2, "prog: an upload exists; run again with -resume\n"},
		{"go advice dropped", errors.New(`uploader: upload failed: EOF; reporting it to Aura failed too (x): resume the upload with Uploader.Resume("abc")`), 1,
			"prog: upload failed: EOF; reporting it to Aura failed too (x)\n"},
		{"go advice dropped 2", errors.New(`uploader: upload paused: upload abc at step upload; resume it with Uploader.Resume`), 1,
			"prog: upload paused: upload abc at step upload\n"},
		{"go advice dropped 3", errors.New(`uploader: upload paused: upload abc at step upload (context canceled); resume it with Uploader.Resume, or destroy it with Uploader.Cancel`), 1,
			"prog: upload paused: upload abc at step upload (context canceled)\n"},
		{"go advice dropped 4", errors.New(`uploader: upload abc at step upload (x); resume it with Uploader.Resume, or destroy it with Uploader.Cancel`), 1,
			"prog: upload abc at step upload (x)\n"},
		{"repeated part", errors.New("share: token: token: expired"), 1, "prog: token: expired\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, out, errb := newCmd()
			c.Kinds = []Kind{
				{Match: As[*remoteErr](), Cause: func(err error) string {
					var re *remoteErr
					errors.As(err, &re)
					return fmt.Sprintf("Aura refused the credentials (%d)", re.status)
				}, Hint: "check PROG_KEY"},
				{Match: Is(errSentinel), Code: 75, Cause: func(error) string { return "paused" }, Hint: "run again with -resume"},
			}
			assert.Equal(t, tt.wantCode, c.Fail(tt.err))
			assert.Equal(t, tt.wantLine, errb.String())
			assert.Empty(t, out.String())
			assert.Equal(t, 1, max(1, strings.Count(errb.String(), "\n")), "one line")
		})
	}
}

func TestLineBounded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 1000)
	got := Line(long)
	assert.LessOrEqual(t, len(got), maxLine+len("…"))
	assert.True(t, strings.HasSuffix(got, "…"))
	assert.NotContains(t, got, "\ufffd")
}

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	assert.False(t, IsTerminal(&bytes.Buffer{}))
	f, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, IsTerminal(f))
}

func FuzzLine(f *testing.F) {
	f.Add("uploader: a: uploader: b\nc")
	f.Add(": : :")
	f.Add(strings.Repeat("x", 500))
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s, "prog")
		assert.NotContains(t, got, "\n")
		assert.LessOrEqual(t, len(got), maxLine+len("…"))
	})
}
