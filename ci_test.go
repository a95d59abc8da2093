package dicombridge_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// TestTrackedBinaries runs .ci/tracked-binaries (the check .ci/run makes)
// on throwaway repositories: it must refuse tracked executables of each
// format and large files outside testdata/, and pass everything else.
func TestTrackedBinaries(t *testing.T) {
	t.Parallel()
	git := testenv.LookPath(t, "git", "apt-get install git")
	script, err := filepath.Abs(filepath.Join(".ci", "tracked-binaries"))
	require.NoError(t, err)
	pe := make([]byte, 0x80)
	copy(pe, "MZ")
	pe[0x3c] = 0x40
	copy(pe[0x40:], "PE\x00\x00")
	mib := func(n int) []byte { return bytes.Repeat([]byte("x"), n<<20) }
	for name, c := range map[string]struct {
		files map[string][]byte
		bad   string // the file named in the failure; "" for a pass
	}{
		"clean":             {map[string][]byte{"main.go": []byte("package main\n"), "x/testdata/a.json": []byte("{}")}, ""},
		"ELF":               {map[string][]byte{"scan": append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 64)...)}, "scan is an ELF executable"},
		"Mach-O":            {map[string][]byte{"bin/tool": []byte("\xcf\xfa\xed\xfe\x07\x00\x00\x01")}, "bin/tool is a Mach-O executable"},
		"Mach-O fat":        {map[string][]byte{"tool": []byte("\xca\xfe\xba\xbe\x00\x00\x00\x02")}, "tool is a Mach-O executable"},
		"PE":                {map[string][]byte{"upload.exe": pe}, "upload.exe is a PE (Windows) executable"},
		"MZ text":           {map[string][]byte{"notes.txt": []byte("MZ is not an executable on its own\n")}, ""},
		"ELF in testdata":   {map[string][]byte{"x/testdata/crash": []byte("\x7fELF")}, "x/testdata/crash is an ELF executable"},
		"large":             {map[string][]byte{"dump.bin": mib(2)}, "dump.bin is 2097152 bytes, over the 1 MiB limit"},
		"large in testdata": {map[string][]byte{"dicomscan/testdata/corpus.bin": mib(2)}, ""},
		"huge in testdata":  {map[string][]byte{"x/testdata/big": mib(17)}, "x/testdata/big is 17825792 bytes, over the 16 MiB limit"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for p, b := range c.files {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, p), b, 0o644))
			}
			for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}} {
				cmd := exec.Command(git, args...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "git %v: %s", args, out)
			}
			cmd := exec.Command("bash", script)
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if c.bad == "" {
				assert.NoError(t, err, stderr.String())
				assert.Empty(t, stderr.String())
				return
			}
			assert.Error(t, err)
			assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), stderr.String())
			assert.Contains(t, stderr.String(), "ci: tracked file "+c.bad)
		})
	}
}
