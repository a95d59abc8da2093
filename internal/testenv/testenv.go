// Package testenv finds the external things some tests need (server
// binaries, the pydicom sample corpus, Debian's Python modules) and decides
// what happens when one is missing: on a developer machine the test skips
// with a message that says how to install it; under CI (DICOMBRIDGE_CI=1,
// set by .ci/run) it fails, so nothing is silently skipped there.
package testenv

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Strict reports whether missing test dependencies must fail the test
// rather than skip it. .ci/run sets DICOMBRIDGE_CI=1.
func Strict() bool { return os.Getenv("DICOMBRIDGE_CI") == "1" }

// Missing skips t (or fails it under CI) because a dependency is absent.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	msg := what + " not found; install with: " + install + " (or run .ci/run)"
	if Strict() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Unsupported skips the test when the system cannot do what it needs
// (named pipes, symbolic links), or fails it under CI, whose Linux machines
// can: there the error is a real failure, not a missing feature.
func Unsupported(t testing.TB, what string, err error) {
	t.Helper()
	if Strict() {
		t.Fatalf("%s: %v", what, err)
	}
	t.Skipf("no %s here: %v", what, err)
}

// LookPath returns the path of the named binary, trying PATH and then the
// extra directories given (Debian puts some daemons in /usr/sbin). If it is
// absent, the test skips or, under CI, fails, with install as the hint.
func LookPath(t testing.TB, name, install string, extraDirs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range append(extraDirs, "/usr/sbin", "/usr/local/sbin") {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	Missing(t, name, install)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RepoRoot returns the module root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// pydicomRel is where Debian's python3-pydicom keeps its sample files,
// relative to the file-system root (or to a dpkg -x extraction directory).
const pydicomRel = "usr/lib/python3/dist-packages/pydicom/data/test_files"

// PydicomTestFiles returns the directory of the pydicom sample corpus
// (pydicom/data/test_files of Debian's python3-pydicom 2.3.1). It looks at
// $DICOMBRIDGE_PYDICOM_DIR, then the extraction .ci/run makes in
// .cache/debs/, then an installed python3-pydicom.
func PydicomTestFiles(t testing.TB) string {
	t.Helper()
	cands := []string{
		os.Getenv("DICOMBRIDGE_PYDICOM_DIR"),
		filepath.Join(RepoRoot(t), ".cache", "debs", pydicomRel),
		filepath.Join("/", pydicomRel),
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if st, err := os.Stat(filepath.Join(c, "dicomdirtests")); err == nil && st.IsDir() {
			return c
		}
	}
	Missing(t, "pydicom sample corpus",
		"apt-get download python3-pydicom && dpkg -x python3-pydicom_*.deb .cache/debs")
	return ""
}

// DebianPython returns Debian's /usr/bin/python3 after checking that it can
// import every named module (for example "jwt" from python3-jwt). Debian's
// modules are not visible to other Pythons (pyenv, venvs) on PATH, so tests
// must not use a bare "python3".
func DebianPython(t testing.TB, modules ...string) string {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		Missing(t, py, "apt-get install python3")
		return ""
	}
	if len(modules) > 0 {
		code := "import " + strings.Join(modules, ", ")
		if out, err := exec.Command(py, "-c", code).CombinedOutput(); err != nil {
			pkgs := make([]string, len(modules))
			for i, m := range modules {
				pkgs[i] = "python3-" + m
			}
			Missing(t, "python modules "+strings.Join(modules, ",")+" ("+strings.TrimSpace(string(out))+")",
				"apt-get install "+strings.Join(pkgs, " "))
			return ""
		}
	}
	return py
}

// Buffer is a bytes.Buffer that one goroutine may write while another
// reads it: what a test hands a program or server as stdout, stderr or a
// log writer and then polls.
type Buffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
