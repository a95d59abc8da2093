package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
)

// credential matches an unredacted upload token, lift token, API key or
// secret.
var credential = regexp.MustCompile(`(aubt|lift|aura_sk|aura_au)_[A-Za-z0-9]{8}`)

// TestQuickstart runs the README's main command, `go run
// ./examples/quickstart`, and checks what it prints: the studies, the
// calls the server saw in order, the server's session states, and the
// byte-for-byte check; and no credential.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), nil, noEnv, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	s := out.String()
	want := []string{
		"Wrote 300 synthetic DICOM files",
		"1. Token exchange: POST /api/auth/exchange, signed with AURA-HMAC-SHA256",
		"SignedHeaders=content-type;host;x-aura-nonce;x-aura-timestamp,Signature=…#",
		": 3 series, 150 images",
		"uploaded 2 studies, 6 series, 300 instances",
		"MB/s of DICOM",
		"initialized → started → completed",
		"all 300 entries of the stored zip are byte-identical to the source files ✓",
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q:\n%s", w, s)
		}
	}
	// The calls, in order.
	order := []string{"POST   /api/auth/exchange", "GET    /api/uploader/config", "POST   /api/uploader/upload/init",
		"POST   /api/uploader/upload/start", "POST   /files/", "PATCH  /files/", "POST   /api/uploader/upload/complete"}
	at := 0
	for _, o := range order {
		i := strings.Index(s[at:], o)
		if i < 0 {
			t.Fatalf("call %q missing or out of order:\n%s", o, s)
		}
		at += i
	}
	if m := credential.FindString(s + errOut.String()); m != "" {
		t.Errorf("output shows a credential (%s…)", m)
	}
	if !strings.Contains(errOut.String(), "uploading 300/300 files 100%") {
		t.Errorf("no finished progress bar on stderr:\n%s", errOut.String())
	}
}

func noEnv(string) string { return "" }

// TestQuickstartRealMode runs the flags a user with a real Aura would use,
// against the fake: credentials from the environment, a directory.
func TestQuickstartRealMode(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	dir := filepath.Join(t.TempDir(), "studies")
	if _, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{Studies: 2, SeriesPerStudy: 2, InstancesPerSeries: 3}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AURA_APP_ID": aura.AppID, "AURA_APP_SECRET": aura.Secret, "AURA_API_KEY": aura.APIKey}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-api", aura.URL, "-dir", dir}, func(k string) string { return env[k] }, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "uploaded 2 studies, 4 series, 12 instances") {
		t.Errorf("output:\n%s", out.String())
	}
	ss := aura.Sessions()
	if len(ss) != 1 || ss[0].State != "completed" {
		t.Errorf("server sessions %+v", ss)
	}
	if strings.Contains(out.String()+errOut.String(), aura.Secret) {
		t.Error("the secret was printed")
	}
}

func TestQuickstartUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		code int
		msg  string
	}{
		{"api without dir", []string{"-api", "https://aura.example.com/api"}, nil, exitUsage, "-api and -dir go together"},
		{"stray argument", []string{"somewhere"}, nil, exitUsage, `unexpected argument "somewhere"`},
		{"unknown flag", []string{"-token", "x"}, nil, exitUsage, "flag provided but not defined"},
		{"no credentials", []string{"-api", "https://aura.example.com/api", "-dir", os.TempDir()}, map[string]string{"AURA_API_KEY": "k"},
			exitUsage, "set AURA_APP_ID, AURA_APP_SECRET in the environment"},
		{"unreachable Aura", []string{"-api", "http://127.0.0.1:1/api", "-dir", os.TempDir()},
			map[string]string{"AURA_APP_ID": "a", "AURA_APP_SECRET": "s", "AURA_API_KEY": "k"}, exitFailed, "connection refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := run(context.Background(), c.args, func(k string) string { return c.env[k] }, &out, &errOut)
			if code != c.code || !strings.Contains(errOut.String(), c.msg) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errOut.String(), c.code, c.msg)
			}
		})
	}
	t.Run("interrupted", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var out, errOut bytes.Buffer
		if code := run(ctx, nil, noEnv, &out, &errOut); code != exitInterrupted {
			t.Errorf("exit %d, want %d\n%s", code, exitInterrupted, errOut.String())
		}
	})
}
