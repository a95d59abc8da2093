package dicombridge_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// outsideDoc matches a reference to a document a user of the repository
// cannot open: the research specs it was built from ("spec §4.8",
// "spec/aura-uploader.md", "../shared/..."). What the code relies on is
// written down in docs/ instead.
var outsideDoc = regexp.MustCompile(`(?i)\bspecs?\s*§|\bspec/|\.\./shared|\bshared/spec|\bseed\s+0\d\d`)

// TestRepositoryStandsAlone keeps every non-test Go file free of references
// to documents outside the repository, and every docs/ link in a comment
// pointing at a file that exists.
func TestRepositoryStandsAlone(t *testing.T) {
	testenv.LookPath(t, "git", "apt-get install git")
	out, err := exec.Command("git", "ls-files", "*.go").Output()
	require.NoError(t, err, "git ls-files: the test runs in a git checkout")
	docLink := regexp.MustCompile(`\bdocs/[A-Za-z0-9_-]+\.md`)
	for _, f := range strings.Fields(string(out)) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, line := range strings.Split(string(b), "\n") {
			assert.Falsef(t, outsideDoc.MatchString(line), "%s:%d refers to a document outside the repository: %s", f, i+1, strings.TrimSpace(line))
			for _, d := range docLink.FindAllString(line, -1) {
				_, err := os.Stat(d)
				assert.NoErrorf(t, err, "%s:%d points at %s, which does not exist", f, i+1, d)
			}
		}
	}
}
