package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

// TestMain runs main() instead of the tests when the test binary is
// started as the CLI by startCLI() below.
func TestMain(m *testing.M) {
	if os.Getenv("TUSUPLOAD_AS_CLI") == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// startCLI starts this test binary as tusupload with args.
func startCLI(t *testing.T, args ...string) (*exec.Cmd, *lines, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TUSUPLOAD_AS_CLI=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	l := &lines{}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			l.add(sc.Text())
		}
	}()
	return cmd, l, &stdout
}

// lines collects a stream's lines.
type lines struct {
	mu sync.Mutex
	l  []string
	wg sync.WaitGroup
}

func (l *lines) add(s string) { l.mu.Lock(); l.l = append(l.l, s); l.mu.Unlock() }

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.l, "\n")
}

// find returns the rest of the first line starting with prefix.
func (l *lines) find(prefix string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.l {
		if v, ok := strings.CutPrefix(s, prefix); ok {
			return v, true
		}
	}
	return "", false
}

// wait waits for the process and its stderr, returning the exit code.
func wait(t *testing.T, cmd *exec.Cmd, l *lines) int {
	t.Helper()
	l.wg.Wait()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

func dataFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	p := filepath.Join(t.TempDir(), "study.zip")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p, b
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndex(s, "\n")+1:]
}

func TestUpload(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer()
	t.Cleanup(srv.Close)
	path, data := dataFile(t, 300_000)
	dir := t.TempDir()
	cmd, errs, out := startCLI(t, "-endpoint", srv.URL, "-header", "Authorization: Bearer tok-1", "-header", "X-Trace: a:b",
		"-metadata", "filename=x.zip", "-metadata", "type=application/zip", "-chunk", "64KiB", "-resume-dir", dir, path)
	require.Equal(t, 0, wait(t, cmd, errs), errs.String())
	url := lastLine(out.String())
	sum, err := srv.StoredSHA256(url)
	require.NoError(t, err, out.String())
	assert.Equal(t, fmt.Sprintf("%x", sha256sum(data)), sum)
	var patches int
	for _, r := range srv.Calls() {
		assert.Equal(t, "Bearer tok-1", r.Header.Get("Authorization"), r.Method)
		assert.Equal(t, "a:b", r.Header.Get("X-Trace"), r.Method)
		switch r.Method {
		case http.MethodPost:
			assert.Equal(t, "filename eC56aXA=,type YXBwbGljYXRpb24vemlw", r.Header.Get("Upload-Metadata"))
		case http.MethodPatch:
			patches++
			assert.LessOrEqual(t, r.ContentLength, int64(64<<10), "PATCH size with -chunk 64KiB")
		}
	}
	assert.Equal(t, 5, patches)
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries, "resume dir not cleaned after success")
	// stderr is a pipe: plain progress lines, the last at 100%, no bar.
	assert.Regexp(t, `(?m)^uploading: 100%  293\.0 KiB of 293\.0 KiB`, errs.String())
	assert.Regexp(t, `(?m)^uploaded 293\.0 KiB in [0-9hms.µ]+ \([0-9.]+ [KMG]?i?B/s\)$`, errs.String())
	assert.NotContains(t, errs.String(), "\r")
}

// TestResume interrupts the CLI mid-upload (Ctrl-C, or a kill) and runs it
// again: the second run resumes the same upload and sends only the rest.
func TestResume(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			srv := tustest.NewServer()
			t.Cleanup(srv.Close)
			srv.Fail(tustest.Failure{Method: http.MethodPatch, Delay: 15 * time.Millisecond})
			path, data := dataFile(t, 1<<20)
			dir := t.TempDir()
			args := []string{"-endpoint", srv.URL, "-chunk", "32KiB", "-resume-dir", dir, path}
			cmd, errs, _ := startCLI(t, args...)
			var url string
			deadline := time.Now().Add(60 * time.Second)
			for {
				require.False(t, time.Now().After(deadline), "no progress:\n%s", errs)
				if u, ok := errs.find("upload URL: "); ok {
					if info, err := srv.Info(u); err == nil && info.Offset >= 256<<10 {
						url = u
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
			require.NoError(t, cmd.Process.Signal(sig))
			code := wait(t, cmd, errs)
			if sig == syscall.SIGINT {
				require.Equal(t, 130, code, errs.String())
				assert.Regexp(t, `(?m)^tusupload: interrupted with [0-9.]+ [KM]iB of 1\.0 MiB on the server; run the same command again to resume$`, errs.String())
			}
			srv.ClearFailures()
			held := quiet(t, srv, url)
			require.NotEqual(t, int64(len(data)), held, "finished before the interruption")
			since := len(srv.Calls())

			cmd, errs, out := startCLI(t, args...)
			require.Equal(t, 0, wait(t, cmd, errs), "second run:\n%s", errs)
			assert.Equal(t, url, lastLine(out.String()), "the second run resumes the same upload")
			var sent int64
			for i, r := range srv.Calls()[since:] {
				require.NotEqual(t, http.MethodPost, r.Method, "request %d: the second run did not resume", i)
				if i == 1 {
					require.Equal(t, http.MethodHead, r.Method, "request %d: the second run did not resume", i)
				}
				sent += max(r.ContentLength, 0)
			}
			assert.Equal(t, int64(len(data))-held, sent, "bytes sent by the second run")
			sum, _ := srv.StoredSHA256(url)
			assert.Equal(t, fmt.Sprintf("%x", sha256sum(data)), sum, "stored file differs")
			// The summary says what this run sent, and the rate counts only
			// that: a resume once printed terabytes per second.
			m := regexp.MustCompile(`uploaded 1\.0 MiB in ([0-9hms.µ]+) \(this run sent ([0-9.]+ [KM]?i?B), ([0-9.]+) ([KMGT]?i?B)/s\)`).FindStringSubmatch(errs.String())
			require.NotNil(t, m, errs.String())
			assert.Equal(t, cli.Bytes(sent), m[2], "bytes this run sent")
			took, err := time.ParseDuration(m[1])
			require.NoError(t, err)
			rate, err := strconv.ParseFloat(m[3], 64)
			require.NoError(t, err)
			unit := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[4]]
			// sent/took, with the duration rounded to the ms and the rate
			// to one decimal.
			lo := float64(sent) / (took + time.Millisecond/2).Seconds() * 0.95
			hi := float64(sent) / max(took-time.Millisecond/2, time.Microsecond).Seconds() * 1.05
			assert.True(t, lo <= rate*unit && rate*unit <= hi, "rate of a resumed upload: %s %s/s, %d bytes in %v", m[3], m[4], sent, took)
		})
	}
}

// quiet waits until the server's offset for url stops moving.
func quiet(t *testing.T, srv *tustest.Server, url string) int64 {
	t.Helper()
	last, stable := int64(-1), time.Now()
	for time.Since(stable) < 200*time.Millisecond {
		info, err := srv.Info(url)
		require.NoError(t, err)
		if info.Offset != last {
			last, stable = info.Offset, time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return last
}

func TestFailures(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer()
	t.Cleanup(srv.Close)
	path, _ := dataFile(t, 1000)
	dir := filepath.Dir(path)
	h := ` \(run 'tusupload -h' for usage\)\n`
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // regular expression for all of stderr
	}{
		{"help", []string{"-h"}, 0, "usage: tusupload -endpoint URL", ``},
		{"help with a file", []string{"-endpoint", srv.URL, path, "-help"}, 0, "exit status:\n  0 ", ``},
		{"no endpoint", []string{path}, 2, "", `tusupload: -endpoint is required` + h},
		{"no file", []string{"-endpoint", srv.URL}, 2, "", `tusupload: want exactly one FILE, got 0 arguments` + h},
		{"two files", []string{"-endpoint", srv.URL, path, path}, 2, "", `tusupload: want exactly one FILE, got 2 arguments` + h},
		{"bad chunk", []string{"-endpoint", srv.URL, "-chunk", "8XB", path}, 2, "", `tusupload: -chunk "8XB": want a positive size such as 8MiB` + h},
		{"zero chunk", []string{"-endpoint", srv.URL, "-chunk", "0", path}, 2, "", `tusupload: -chunk "0": want a positive size such as 8MiB` + h},
		{"bad header", []string{"-endpoint", srv.URL, "-header", "NoColon", path}, 2, "", `tusupload: -header "NoColon": want 'Name: value'` + h},
		{"bad metadata", []string{"-endpoint", srv.URL, "-metadata", "novalue", path}, 2, "", `tusupload: -metadata "novalue": want k=v` + h},
		{"bad metadata key", []string{"-endpoint", srv.URL, "-metadata", "a b=1", path}, 2, "", `tusupload: -metadata: invalid Upload-Metadata.*` + h},
		{"bad endpoint", []string{"-endpoint", "ftp://x/", path}, 2, "", `tusupload: .*http or https.*` + h},
		{"missing file", []string{"-endpoint", srv.URL, "-resume-dir", "", "/nonexistent/f"}, 2, "", `tusupload: /nonexistent/f: no such file or directory` + h},
		{"a directory", []string{"-endpoint", srv.URL, "-resume-dir", "", dir}, 2, "", `tusupload: ` + regexp.QuoteMeta(dir) + ` is not a regular file` + h},
		{"server refuses", []string{"-endpoint", srv.URL + "nope/", "-resume-dir", "", path}, 1, "",
			`(?s).*\ntusupload: upload failed: the server answered 405 Method Not Allowed to POST ` + regexp.QuoteMeta(srv.URL+"nope/") +
				`; check -endpoint and the -header values\n`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errs bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errs)
			assert.Equal(t, tc.code, code)
			assert.Regexp(t, "^"+tc.stderr+"$", errs.String())
			if tc.stdout == "" {
				assert.Empty(t, out.String())
			} else {
				assert.Contains(t, out.String(), tc.stdout)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1": 1, "512KiB": 512 << 10, "8MiB": 8 << 20, "5MB": 5_000_000, "1GiB": 1 << 30, "64 KiB": 64 << 10, "100B": 100} {
		got, err := parseSize(in)
		assert.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "0", "-1", "1.5MiB", "MiB", "2TiB", "99999999GiB"} {
		_, err := parseSize(in)
		assert.Error(t, err, in)
	}
}

func sha256sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
