package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Chromium returns the Chromium binary browser tests drive:
// $DICOMBRIDGE_CHROMIUM, or Debian's /usr/bin/chromium. Tests never let
// npm download a browser.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("DICOMBRIDGE_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, "chromium", "apt-get install chromium")
	return ""
}

// Node returns the path of node.
func Node(t testing.TB) string {
	t.Helper()
	return LookPath(t, "node", "apt-get install nodejs")
}

// NodeModules checks that dir/node_modules holds exactly the versions
// dir/package-lock.json pins for the named packages (what `npm ci` in dir
// installs) and returns dir/node_modules. A missing or stale install skips
// the test, or fails it under CI.
func NodeModules(t testing.TB, dir string, packages ...string) string {
	t.Helper()
	install := "npm ci --prefix " + dir
	if abs, err := filepath.Abs(dir); err == nil {
		if rel, err := filepath.Rel(RepoRoot(t), abs); err == nil {
			install = "npm ci --prefix " + rel + " (from the repository root)"
		}
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		t.Fatalf("testenv: %s/package-lock.json: %v", dir, err)
	}
	modules := filepath.Join(dir, "node_modules")
	for _, name := range packages {
		want, ok := lock.Packages["node_modules/"+name]
		if !ok || want.Version == "" {
			t.Fatalf("testenv: %s/package-lock.json pins no %s", dir, name)
		}
		var got struct {
			Version string `json:"version"`
		}
		data, err := os.ReadFile(filepath.Join(modules, name, "package.json"))
		if err == nil {
			err = json.Unmarshal(data, &got)
		}
		if err != nil || got.Version != want.Version {
			Missing(t, "npm package "+name+"@"+want.Version+" in "+modules, install)
			return ""
		}
	}
	return modules
}
