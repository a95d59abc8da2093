package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/testenv"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// fake is one running fakeaura.
type fake struct {
	env    map[string]string // the exported variables
	tus    string
	page   string
	stderr *testenv.Buffer
	stop   func() int // cancels the context, returns the exit code
}

var exportLine = regexp.MustCompile(`^export (AURA_[A-Z_]+)=(\S+)$`)

// start runs fakeaura with args and parses what it prints on standard
// output, as a person pasting the lines would.
func start(t *testing.T, args ...string) *fake {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	f := &fake{env: map[string]string{}, stderr: &testenv.Buffer{}}
	done := make(chan int, 1)
	go func() {
		code := run(ctx, args, pw, f.stderr)
		pw.Close()
		done <- code
	}()
	var once sync.Once
	code := -1
	f.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(shutdownTimeout + 5*time.Second):
				t.Error("fakeaura did not stop")
			}
		})
		return code
	}
	t.Cleanup(func() { f.stop() })
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if m := exportLine.FindStringSubmatch(line); m != nil {
			f.env[m[1]] = m[2]
		}
		if v, ok := strings.CutPrefix(line, "# Tus endpoint: "); ok {
			f.tus = v
		}
		if v, ok := strings.CutPrefix(line, "# page: "); ok {
			f.page, _, _ = strings.Cut(v, " ")
		}
		if f.tus != "" && (f.page != "" || !strings.Contains(strings.Join(args, " "), "-static ")) {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	require.NotEmpty(t, f.tus, "no Tus line; stderr:\n%s", f.stderr.String())
	for _, k := range []string{"AURA_API_URL", "AURA_APP_ID", "AURA_APP_SECRET", "AURA_API_KEY"} {
		require.NotEmpty(t, f.env[k], "%s not printed", k)
	}
	return f
}

// sample writes one gendicom-like study and returns its directory.
func sample(t *testing.T) (string, []dicomgen.File) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dicom")
	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{SeriesPerStudy: 2, InstancesPerSeries: 3, Rows: 64, Columns: 64,
		TransferSyntaxes: []string{dicomgen.ExplicitVRLittleEndian, dicomgen.JPEGBaseline}})
	require.NoError(t, err)
	return dir, files
}

// TestUploadCLI is the README's walk-through: fakeaura in one terminal,
// the exported variables in the environment of examples/upload in
// another, a generated study uploaded end to end.
func TestUploadCLI(t *testing.T) {
	t.Parallel()
	goBin := testenv.LookPath(t, "go", "https://go.dev/dl/")
	f := start(t, "-listen", "127.0.0.1:0")
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/api$`, f.env["AURA_API_URL"])
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/files/$`, f.tus)

	bin := t.TempDir()
	out, err := exec.Command(goBin, "build", "-o", bin, "../upload", "../gendicom").CombinedOutput()
	require.NoError(t, err, "go build ../upload ../gendicom: %s", out)
	env := []string{"HOME=" + t.TempDir(), "XDG_STATE_HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	for k, v := range f.env {
		env = append(env, k+"="+v)
	}
	dir := filepath.Join(t.TempDir(), "dicom")
	gen := exec.Command(filepath.Join(bin, "gendicom"), "-studies", "2", "-series", "2", "-instances", "3", "-size", "64", dir)
	gen.Env = env
	out, err = gen.CombinedOutput()
	require.NoError(t, err, "gendicom: %s", out)
	cmd := exec.Command(filepath.Join(bin, "upload"), dir)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "upload:\n%s\n%s\nfakeaura:\n%s", stdout.String(), stderr.String(), f.stderr.String())
	assert.Contains(t, stdout.String(), "uploaded 2 studies, 4 series, 12 instances")
	assert.Regexp(t, `(?m)^upload_id [0-9a-f-]{36}$`, stdout.String())

	assert.Equal(t, 0, f.stop(), "Ctrl-C is a clean stop")
	log := f.stderr.String()
	for _, want := range []string{
		`POST    /api/auth/exchange 200  \(auth/exchange\)`,
		`GET     /api/uploader/config 200  \(uploader/config\)`,
		`POST    /api/uploader/upload/init 20\d  \(uploader/upload/init\)`,
		`POST    /files/ 201  \(tus\)`,
		`PATCH   /files/\w+ 204  \(tus\)`,
		`POST    /api/uploader/upload/complete 200  \(uploader/upload/complete\)`,
	} {
		assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} `+want, log)
	}
	assert.True(t, strings.HasSuffix(log, "fakeaura: stopped\n"), log)
	assertNoSecrets(t, f, log)
}

// assertNoSecrets: the call log holds no credential.
func assertNoSecrets(t *testing.T, f *fake, log string) {
	t.Helper()
	for _, k := range []string{"AURA_APP_SECRET", "AURA_API_KEY"} {
		assert.NotContains(t, log, f.env[k], "%s in the call log", k)
	}
	assert.NotRegexp(t, `aubt_[A-Za-z0-9]{20}`, log, "a whole token in the call log")
}

// TestSDK: the printed values are all an SDK user needs, with the API
// behind -listen and tokens from the HMAC exchange.
func TestSDK(t *testing.T) {
	t.Parallel()
	f := start(t, "-listen", "127.0.0.1:0")
	dir, files := sample(t)
	u := &uploader.Uploader{API: &uploader.API{
		BaseURL: f.env["AURA_API_URL"],
		APIKey:  f.env["AURA_API_KEY"],
		Tokens: (&uploadtoken.Client{BaseURL: f.env["AURA_API_URL"], APIKey: f.env["AURA_API_KEY"],
			Signer: &hmac.Signer{AppID: f.env["AURA_APP_ID"], Secret: f.env["AURA_APP_SECRET"]}}).Source(uploadtoken.ExchangeRequest{}),
	}}
	res, err := u.Upload(context.Background(), dir)
	require.NoError(t, err, f.stderr.String())
	assert.Equal(t, [3]int{1, 2, len(files)}, [3]int{res.Studies, res.Series, res.Instances})

	// A wrong secret is refused, and the log says why without the secret.
	bad := &uploadtoken.Client{BaseURL: f.env["AURA_API_URL"], APIKey: f.env["AURA_API_KEY"],
		Signer: &hmac.Signer{AppID: f.env["AURA_APP_ID"], Secret: "aura_sk_wrong"}}
	_, err = bad.Exchange(context.Background(), uploadtoken.ExchangeRequest{})
	require.Error(t, err)
	assert.Equal(t, 0, f.stop())
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3}   hmac: request rejected status=403 .* error=hmac: signature mismatch$`, f.stderr.String())
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} POST    /api/auth/exchange 403  \(auth/exchange\)$`, f.stderr.String())
	assertNoSecrets(t, f, f.stderr.String())
}

// TestStaticPage: -static serves the folder on a second origin that CORS
// lets in, with the page's configuration and a token endpoint; other
// origins stay out.
func TestStaticPage(t *testing.T) {
	t.Parallel()
	web := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(web, "index.html"), []byte("<h1>widget</h1>\n"), 0o644))
	f := start(t, "-listen", "127.0.0.1:0", "-static", web, "-static-listen", "127.0.0.1:0", "-allow-origin", "http://localhost:5173")
	require.Regexp(t, `^http://127\.0\.0\.1:\d+/$`, f.page)
	origin := strings.TrimSuffix(f.page, "/")

	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get(f.page)
	assert.Equal(t, 200, code)
	assert.Equal(t, "<h1>widget</h1>\n", body)

	code, body = get(f.page + "fakeaura.json")
	require.Equal(t, 200, code)
	var cfg map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &cfg))
	assert.Equal(t, map[string]string{"api_url": f.env["AURA_API_URL"], "api_key": f.env["AURA_API_KEY"],
		"token_url": f.page + "api/upload-token"}, cfg)

	resp, err := http.Post(f.page+"api/upload-token", "application/json", nil)
	require.NoError(t, err)
	var tok struct {
		Token  string   `json:"token"`
		Scopes []string `json:"scopes"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.True(t, strings.HasPrefix(tok.Token, "aubt_"), tok.Token)

	// The browser's preflight, from the page's origin, from the allowed
	// dev server's, and from elsewhere; on the API and on Tus.
	for _, c := range []struct {
		url, origin string
		status      int
	}{
		{f.env["AURA_API_URL"] + "/uploader/config", origin, http.StatusNoContent},
		{f.env["AURA_API_URL"] + "/uploader/config", "http://localhost:5173", http.StatusNoContent},
		{f.env["AURA_API_URL"] + "/uploader/config", "http://evil.example", http.StatusForbidden},
		{f.tus, origin, http.StatusOK},
		{f.tus, "http://evil.example", http.StatusForbidden},
	} {
		req, err := http.NewRequest(http.MethodOptions, c.url, nil)
		require.NoError(t, err)
		req.Header.Set("Origin", c.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, c.status, resp.StatusCode, "%s from %s", c.url, c.origin)
		if c.status != http.StatusForbidden {
			assert.Equal(t, c.origin, resp.Header.Get("Access-Control-Allow-Origin"), "%s from %s", c.url, c.origin)
		}
	}
	assert.Equal(t, 0, f.stop())
	log := f.stderr.String()
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} OPTIONS /api/uploader/config 204  \(CORS preflight from `+origin+` for POST\)$`, log)
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} OPTIONS /api/uploader/config 403  \(CORS preflight from http://evil\.example for POST; origin not allowed: see -allow-origin\)$`, log)
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} OPTIONS /files/ 403  \(CORS preflight from http://evil\.example for POST; origin not allowed: see -allow-origin\)$`, log)
	assertNoSecrets(t, f, log)
}

// TestNoOriginByDefault: without -allow-origin or -static no page may
// call the fake.
func TestNoOriginByDefault(t *testing.T) {
	t.Parallel()
	f := start(t, "-listen", "127.0.0.1:0")
	req, err := http.NewRequest(http.MethodOptions, f.env["AURA_API_URL"]+"/uploader/config", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "http://localhost:5173")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

// TestEnvFile: -env writes the lines for '. FILE' with mode 0600 and
// removes the file at exit.
func TestEnvFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "fakeaura.env")
	f := start(t, "-listen", "127.0.0.1:0", "-env", file)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Contains(t, string(b), "export AURA_APP_SECRET="+f.env["AURA_APP_SECRET"]+"\n")
	assert.Equal(t, 0, f.stop())
	_, err = os.Stat(file)
	assert.True(t, os.IsNotExist(err), "the env file outlives the fake")
}

// TestUsage: -h prints the usage and exits 0 without listening; bad usage
// exits 2 with one line; a busy port exits 1.
func TestUsage(t *testing.T) {
	t.Parallel()
	busy := testenv.BusyAddr(t)
	for name, c := range map[string]struct {
		args []string
		code int
		want string // standard error, a regexp
	}{
		"help":          {[]string{"-h", "-listen", busy}, 0, `^$`},
		"help long":     {[]string{"-help"}, 0, `^$`},
		"argument":      {[]string{"x"}, 2, `^fakeaura: unexpected argument "x" \(run 'fakeaura -h' for usage\)\n$`},
		"static":        {[]string{"-static", "/nonexistent"}, 2, `^fakeaura: -static /nonexistent: not a directory \(run 'fakeaura -h' for usage\)\n$`},
		"origin":        {[]string{"-allow-origin", "localhost:5173"}, 2, `^fakeaura: -allow-origin "localhost:5173": want scheme://host\[:port\], e\.g\. http://localhost:5173 \(run 'fakeaura -h' for usage\)\n$`},
		"bad address":   {[]string{"-listen", "nonsense"}, 2, `^fakeaura: nonsense: not a listen address \(want host:port, e\.g\. 127\.0\.0\.1:8787\) \(run 'fakeaura -h' for usage\)\n$`},
		"port in use":   {[]string{"-listen", busy}, 1, `^fakeaura: ` + regexp.QuoteMeta(busy) + ` is in use: stop what listens there, or pick another address \(port 0: any free port\)\n$`},
		"static in use": {[]string{"-listen", "127.0.0.1:0", "-static", ".", "-static-listen", busy}, 1, `is in use`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- run(context.Background(), c.args, &out, &errOut) }()
			select {
			case code := <-done:
				assert.Equal(t, c.code, code)
			case <-time.After(10 * time.Second):
				t.Fatal("fakeaura started instead of exiting")
			}
			assert.Regexp(t, c.want, errOut.String())
			if c.code == 0 {
				assert.Contains(t, out.String(), "usage: fakeaura")
				assert.NotContains(t, out.String(), "export AURA")
			} else {
				assert.Empty(t, out.String())
			}
		})
	}
}
