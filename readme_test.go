package dicombridge_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// TestREADMEProgramBuilds extracts every complete program (a ```go block
// with "package main") from README.md and builds it against this module,
// so the README's runnable examples cannot drift from the API.
func TestREADMEProgramBuilds(t *testing.T) {
	testenv.LookPath(t, "go", "the Go toolchain")
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var programs []string
	for _, block := range strings.Split(string(readme), "```go\n")[1:] {
		code, _, _ := strings.Cut(block, "```")
		if strings.Contains(code, "\npackage main\n") || strings.HasPrefix(code, "package main\n") {
			programs = append(programs, code)
		}
	}
	if len(programs) == 0 {
		t.Fatal("README.md has no complete program (the backend token endpoint of issue 8)")
	}
	for i, code := range programs {
		// A directory starting with "_" is ignored by ./... but builds when named.
		dir, err := os.MkdirTemp(".", "_readme")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("go", "vet", "./"+filepath.Base(dir)).CombinedOutput()
		if err != nil {
			t.Errorf("README program %d does not build:\n%s", i+1, out)
		}
	}
}
