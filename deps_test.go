package dicombridge_test

import (
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// TestPackageDependencies keeps the SDK's packages independent: each may
// compile only the third-party modules listed here (tests excluded), so
// that importing share, say, never builds tusd or Redis, and the core
// packages never import go-redis or suyashkumar/dicom.
func TestPackageDependencies(t *testing.T) {
	testenv.LookPath(t, "go", "the Go toolchain")
	const mod = "github.com/dicombridge/dicombridge"
	allowed := map[string][]string{
		"hmac":              nil,
		"uploadtoken":       nil,
		"tusclient":         nil,
		"dicomscan":         {"github.com/klauspost/compress", "golang.org/x/text"},
		"uploader":          {"github.com/klauspost/compress", "golang.org/x/text"},
		"gateway":           {"github.com/klauspost/compress", "golang.org/x/text"},
		"share":             {"github.com/golang-jwt/jwt/v5"},
		"reportprovider":    {"github.com/golang-jwt/jwt/v5"},
		"kheops/kheopstest": {"github.com/golang-jwt/jwt/v5"},
		"redisstore":        {"github.com/redis/go-redis/v9", "github.com/cespare/xxhash/v2", "go.uber.org/atomic", "golang.org/x/sys"},
		"auratest":          {"github.com/tus/tusd/v2", "golang.org/x/exp", "github.com/klauspost/compress", "golang.org/x/text"},
		"tusclient/tustest": {"github.com/tus/tusd/v2", "golang.org/x/exp"},
		// dicomgen writes with suyashkumar/dicom (which needs x/exp) and
		// encodes the patients' character sets with x/text.
		"dicomgen":         {"github.com/suyashkumar/dicom", "golang.org/x/exp", "golang.org/x/text"},
		"internal/dicomio": nil,
		"kheops":           nil,
	}
	for pkg, mods := range allowed {
		t.Run(pkg, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{.Module.Path}}{{end}}", mod+"/"+pkg).Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			seen := map[string]bool{}
			for _, m := range strings.Fields(string(out)) {
				if m != mod {
					seen[m] = true
				}
			}
			var extra []string
			for m := range seen {
				ok := false
				for _, a := range mods {
					ok = ok || m == a
				}
				if !ok {
					extra = append(extra, m)
				}
			}
			sort.Strings(extra)
			if len(extra) > 0 {
				t.Errorf("%s compiles modules outside its allowance: %v", pkg, extra)
			}
		})
	}
}
