package tusclient_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

const childEnv = "TUSCLIENT_TEST_CHILD"

// TestProcessRestart (fault c): a process uploading with a FileStore is
// killed (SIGKILL) mid-upload; a new process (here: this test) resumes the
// same server upload from the store and sends only the missing bytes.
func TestProcessRestart(t *testing.T) {
	t.Parallel()
	srv := tustest.NewServer(t, tustest.Options{PatchDelay: 10 * time.Millisecond})
	data := randomData(1<<20, 21)
	f := writeFile(t, data)
	storeDir := t.TempDir()
	fp := "file:" + f.Name()

	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperChildUpload$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1", "TUSCLIENT_ENDPOINT="+srv.URL,
		"TUSCLIENT_FILE="+f.Name(), "TUSCLIENT_STORE="+storeDir, "TUSCLIENT_FP="+fp)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	store, err := tusclient.NewFileStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var rec tusclient.Record
	deadline := time.Now().Add(90 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("child made no progress; its output:\n%s", out.String())
		}
		r, ok, err := store.Get(ctx, fp)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if info, err := srv.Info(r.URL); err == nil && info.Offset >= int64(len(data))/4 {
				rec = r
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// The dead child's last PATCH may still be in the server (the socket
	// buffer held its body); wait until the server is quiet, as a new
	// process would only start later anyway.
	srv.SetPatchDelay(0)
	info := waitQuiet(t, srv, rec.URL)
	if info.Offset == int64(len(data)) {
		t.Fatal("the child finished before it was killed")
	}
	t.Logf("child killed with %d of %d bytes stored", info.Offset, len(data))

	srv.ResetRequests()
	c := newClient(t, srv, tusclient.Config{ChunkSize: 32 << 10})
	up, err := c.NewUpload(f, int64(len(data)), tusclient.UploadOptions{Fingerprint: fp, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if up.URL() != rec.URL {
		t.Fatalf("resumed at %s, want the stored %s", up.URL(), rec.URL)
	}
	var heads, posts int
	var resumeAt, sent int64 = -1, 0
	for _, r := range srv.Requests() {
		switch r.Method {
		case http.MethodHead:
			heads++
		case http.MethodPost:
			posts++
		case http.MethodPatch:
			if resumeAt < 0 {
				resumeAt, _ = parseInt(r.Header.Get("Upload-Offset"))
			}
			sent += r.ContentLength
		}
	}
	if posts != 0 || heads != 1 || resumeAt != info.Offset || sent != int64(len(data))-resumeAt {
		t.Fatalf("resume: %d POST, %d HEAD, first PATCH at %d, %d bytes sent; want 0 POST, 1 HEAD, no byte twice",
			posts, heads, resumeAt, sent)
	}
	assertStored(t, srv, up.URL(), data)
	if _, ok, _ := store.Get(ctx, fp); ok {
		t.Fatal("the store record survived a finished upload")
	}
}

// TestHelperChildUpload is the process TestProcessRestart kills.
func TestHelperChildUpload(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("helper process for TestProcessRestart")
	}
	f, err := os.Open(os.Getenv("TUSCLIENT_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	store, err := tusclient.NewFileStore(os.Getenv("TUSCLIENT_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tusclient.New(tusclient.Config{Endpoint: os.Getenv("TUSCLIENT_ENDPOINT"), ChunkSize: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.NewUpload(f, st.Size(), tusclient.UploadOptions{Fingerprint: os.Getenv("TUSCLIENT_FP"), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	err = up.Run(context.Background())
	t.Fatalf("the child should have been killed; Run returned %v", err)
}

// waitQuiet waits until the stored offset of url has not moved for 200 ms.
func waitQuiet(t *testing.T, srv *tustest.Server, url string) tustest.Info {
	t.Helper()
	var last tustest.Info
	stable := time.Now()
	for time.Since(stable) < 200*time.Millisecond {
		info, err := srv.Info(url)
		if err != nil {
			t.Fatal(err)
		}
		if info.Offset != last.Offset {
			last, stable = info, time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return last
}
