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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

// TestMain runs main() instead of the tests when the test binary is
// started as the CLI by cli() below.
func TestMain(m *testing.M) {
	if os.Getenv("TUSUPLOAD_AS_CLI") == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// cli starts this test binary as tusupload with args.
func cli(t *testing.T, args ...string) (*exec.Cmd, *lines, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TUSUPLOAD_AS_CLI=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func dataFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	p := filepath.Join(t.TempDir(), "study.zip")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndex(s, "\n")+1:]
}

func TestUpload(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer(t, tustest.Options{})
	path, data := dataFile(t, 300_000)
	dir := t.TempDir()
	cmd, errs, out := cli(t, "-endpoint", srv.URL, "-header", "Authorization: Bearer tok-1", "-header", "X-Trace: a:b",
		"-metadata", "filename=x.zip", "-metadata", "type=application/zip", "-chunk", "64KiB", "-resume-dir", dir, path)
	if code := wait(t, cmd, errs); code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	url := lastLine(out.String())
	sum, err := srv.StoredSHA256(url)
	if err != nil || sum != fmt.Sprintf("%x", sha256sum(data)) {
		t.Fatalf("stored %s (%v); stdout %q", sum, err, out.String())
	}
	var patches int
	for _, r := range srv.Calls() {
		if r.Header.Get("Authorization") != "Bearer tok-1" || r.Header.Get("X-Trace") != "a:b" {
			t.Fatalf("%s without the -header values: %v", r.Method, r.Header)
		}
		switch r.Method {
		case http.MethodPost:
			if m := r.Header.Get("Upload-Metadata"); m != "filename eC56aXA=,type YXBwbGljYXRpb24vemlw" {
				t.Fatalf("Upload-Metadata %q", m)
			}
		case http.MethodPatch:
			patches++
			if r.ContentLength > 64<<10 {
				t.Fatalf("PATCH of %d bytes with -chunk 64KiB", r.ContentLength)
			}
		}
	}
	if patches != 5 {
		t.Fatalf("%d PATCHes, want 5", patches)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("resume dir not cleaned after success: %v", entries)
	}
	if !strings.Contains(errs.String(), "100%") || !strings.Contains(errs.String(), "uploaded 293.0 KiB") {
		t.Fatalf("no progress shown:\n%s", errs)
	}
}

// TestResume interrupts the CLI mid-upload (Ctrl-C, or a kill) and runs it
// again: the second run resumes the same upload and sends only the rest.
func TestResume(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			srv := tustest.NewServer(t, tustest.Options{})
			srv.Fail(tustest.Failure{Method: http.MethodPatch, Delay: 15 * time.Millisecond})
			path, data := dataFile(t, 1<<20)
			dir := t.TempDir()
			args := []string{"-endpoint", srv.URL, "-chunk", "32KiB", "-resume-dir", dir, path}
			cmd, errs, _ := cli(t, args...)
			var url string
			deadline := time.Now().Add(60 * time.Second)
			for {
				if time.Now().After(deadline) {
					t.Fatalf("no progress:\n%s", errs)
				}
				if u, ok := errs.find("upload URL: "); ok {
					if info, err := srv.Info(u); err == nil && info.Offset >= 256<<10 {
						url = u
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			code := wait(t, cmd, errs)
			if sig == syscall.SIGINT && (code != 130 || !strings.Contains(errs.String(), "run the same command again to resume")) {
				t.Fatalf("after Ctrl-C: exit %d\n%s", code, errs)
			}
			srv.ClearFailures()
			held := quiet(t, srv, url)
			if held == int64(len(data)) {
				t.Fatal("finished before the interruption")
			}
			since := len(srv.Calls())

			cmd, errs, out := cli(t, args...)
			if code := wait(t, cmd, errs); code != 0 {
				t.Fatalf("second run: exit %d\n%s", code, errs)
			}
			if got := lastLine(out.String()); got != url {
				t.Fatalf("second run printed %q, want the resumed %q", got, url)
			}
			var sent int64
			for i, r := range srv.Calls()[since:] {
				if r.Method == http.MethodPost || (i == 1 && r.Method != http.MethodHead) {
					t.Fatalf("request %d: %s; the second run did not resume", i, r.Method)
				}
				sent += max(r.ContentLength, 0)
			}
			if sent != int64(len(data))-held {
				t.Fatalf("second run sent %d bytes, want %d", sent, int64(len(data))-held)
			}
			if sum, _ := srv.StoredSHA256(url); sum != fmt.Sprintf("%x", sha256sum(data)) {
				t.Fatal("stored file differs")
			}
		})
	}
}

// quiet waits until the server's offset for url stops moving.
func quiet(t *testing.T, srv *tustest.Server, url string) int64 {
	t.Helper()
	last, stable := int64(-1), time.Now()
	for time.Since(stable) < 200*time.Millisecond {
		info, err := srv.Info(url)
		if err != nil {
			t.Fatal(err)
		}
		if info.Offset != last {
			last, stable = info.Offset, time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return last
}

func TestFailures(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer(t, tustest.Options{})
	path, _ := dataFile(t, 1000)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no endpoint", []string{path}, 2, "-endpoint is required"},
		{"no file", []string{"-endpoint", srv.URL}, 2, "want exactly one FILE"},
		{"two files", []string{"-endpoint", srv.URL, path, path}, 2, "want exactly one FILE"},
		{"bad chunk", []string{"-endpoint", srv.URL, "-chunk", "8XB", path}, 2, `-chunk "8XB"`},
		{"zero chunk", []string{"-endpoint", srv.URL, "-chunk", "0", path}, 2, "positive size"},
		{"bad header", []string{"-endpoint", srv.URL, "-header", "NoColon", path}, 2, "want 'Name: value'"},
		{"bad metadata", []string{"-endpoint", srv.URL, "-metadata", "novalue", path}, 2, "want k=v"},
		{"bad metadata key", []string{"-endpoint", srv.URL, "-metadata", "a b=1", path}, 2, "invalid Upload-Metadata"},
		{"bad endpoint", []string{"-endpoint", "ftp://x/", path}, 2, "http or https"},
		{"missing file", []string{"-endpoint", srv.URL, "-resume-dir", "", "/nonexistent/f"}, 1, "no such file"},
		{"server refuses", []string{"-endpoint", srv.URL + "nope/", "-resume-dir", "", path}, 1,
			"upload failed: tusclient: POST " + srv.URL + "nope/: 405 Method Not Allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errs bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errs)
			if code != tc.code || !strings.Contains(errs.String(), tc.msg) || out.Len() != 0 {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d with %q", code, errs.String(), tc.code, tc.msg)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1": 1, "512KiB": 512 << 10, "8MiB": 8 << 20, "5MB": 5_000_000, "1GiB": 1 << 30, "64 KiB": 64 << 10, "100B": 100} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1.5MiB", "MiB", "2TiB", "99999999GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func sha256sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
