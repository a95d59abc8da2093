package share

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// startDocNginx runs the nginx configuration given in docs/orthanc.md
// ("Mitigation: a reverse-proxy rule") in front of the Orthanc at
// orthancAddr (host:port), on a free port of 127.0.0.1, and returns its
// base URL.
func startDocNginx(t *testing.T, orthancAddr string) string {
	t.Helper()
	bin := testenv.LookPath(t, "nginx", "apt-get install nginx-light")
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "orthanc.md"))
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)```nginx\n(.*?)```").FindSubmatch(doc)
	require.NotNil(t, m, "docs/orthanc.md has no nginx block")
	conf := string(m[1])
	port := testenv.FreePort(t)
	for old, repl := range map[string]string{
		"server 127.0.0.1:8042;": "server " + orthancAddr + ";",
		"listen 443 ssl;":        fmt.Sprintf("listen 127.0.0.1:%d;", port),
	} {
		require.Contains(t, conf, old, "docs/orthanc.md's nginx block changed: update this test")
		conf = strings.Replace(conf, old, repl, 1)
	}
	dir := t.TempDir()
	full := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr warn;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, conf)
	path := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(path, []byte(full), 0o600))
	testenv.StartProcess(t, exec.Command(bin, "-p", dir, "-c", path, "-e", "stderr"), syscall.SIGQUIT, 10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}
