package tusbench

// These tests reproduce, against tusd, the defects that rule out
// github.com/eventials/go-tus (pinned at its last commit, 2022-06-10). Each
// one passes while the defect is present (TestGoTusRace runs a -race child
// process to observe the data races).

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	gotus "github.com/eventials/go-tus"

	"github.com/dicombridge/dicombridge/internal/testenv"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

func gotusClient(t *testing.T, endpoint string, chunk int64) *gotus.Client {
	t.Helper()
	cfg := gotus.DefaultConfig()
	cfg.ChunkSize = chunk
	hc := newHTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	cfg.HttpClient = hc
	c, err := gotus.NewClient(endpoint, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoTusProgressChannelBlocks: a progress subscriber that is not read
// stalls the upload forever (the notification is a blocking send).
func TestGoTusProgressChannelBlocks(t *testing.T) {
	srv := tustest.NewServer()
	t.Cleanup(srv.Close)
	c := gotusClient(t, srv.URL, 128<<10)
	up, err := c.CreateUpload(gotus.NewUploadFromBytes(make([]byte, 1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan gotus.Upload) // nobody reads it
	up.NotifyUploadProgress(ch)
	done := make(chan error, 1)
	go func() { done <- up.Upload() }()
	time.Sleep(2 * time.Second)
	info, _ := srv.Info(up.Url())
	select {
	case <-done:
		t.Fatal("upload finished: defect not reproduced")
	default:
	}
	t.Logf("DEFECT: after 2 s the upload is stuck at %d of %d bytes", info.Offset, 1<<20)
	go func() {
		for range ch {
		}
	}()
	<-done
}

// TestGoTusGoroutineLeak: every Uploader leaves a goroutine blocked in
// broadcastProgress forever (its channel is never closed).
func TestGoTusGoroutineLeak(t *testing.T) {
	srv := tustest.NewServer()
	t.Cleanup(srv.Close)
	c := gotusClient(t, srv.URL, 1<<20)
	before := countStacks("broadcastProgress")
	for i := 0; i < 50; i++ {
		up, err := c.CreateUpload(gotus.NewUploadFromBytes([]byte("hello")))
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Upload(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	leaked := countStacks("broadcastProgress") - before
	if leaked < 50 {
		t.Fatalf("%d goroutines leaked, defect not reproduced", leaked)
	}
	t.Logf("DEFECT: 50 finished uploads left %d goroutines in (*Uploader).broadcastProgress", leaked)
}

func countStacks(fn string) int {
	buf := make([]byte, 8<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "go-tus.(*Uploader)."+fn)
}

// TestGoTusAbortDoesNotStopRequest: Abort does not interrupt the PATCH in
// flight (there is no context); against a stalled server Upload hangs.
func TestGoTusAbortDoesNotStopRequest(t *testing.T) {
	srv := tustest.NewServer()
	t.Cleanup(srv.Close)
	srv.Fail(tustest.Failure{Method: http.MethodPatch, Delay: time.Hour})
	c := gotusClient(t, srv.URL, 1<<20)
	up, err := c.CreateUpload(gotus.NewUploadFromBytes(make([]byte, 1000)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- up.Upload() }()
	time.Sleep(200 * time.Millisecond)
	up.Abort()
	select {
	case err := <-done:
		t.Fatalf("Upload returned after Abort (%v): defect not reproduced", err)
	case <-time.After(time.Second):
		t.Log("DEFECT: 1 s after Abort, Upload is still blocked in the PATCH")
	}
	srv.Stop() // closes the connection, which finally ends Upload
	<-done
}

// TestGoTusNoRetry: one 503 fails the whole upload; there is no retry.
func TestGoTusNoRetry(t *testing.T) {
	srv := tustest.NewServer()
	t.Cleanup(srv.Close)
	srv.Fail(tustest.Failure{Method: http.MethodPatch, Times: 1, Status: http.StatusServiceUnavailable})
	c := gotusClient(t, srv.URL, 1<<20)
	up, err := c.CreateUpload(gotus.NewUploadFromBytes([]byte("hello")))
	if err != nil {
		t.Fatal(err)
	}
	err = up.Upload()
	if err == nil {
		t.Fatal("upload survived a 503: defect not reproduced")
	}
	t.Logf("DEFECT: a single 503 ends the upload: %v", err)
}

// TestGoTusMetadataOrder: metadata is a map, so Upload-Metadata comes out
// in random order; the Aura uploader's fixed key order cannot be sent.
func TestGoTusMetadataOrder(t *testing.T) {
	u := gotus.NewUpload(bytes.NewReader(nil), 0, gotus.Metadata{
		"upload_id": "1", "bucket": "b", "mode": "m", "name": "n", "type": "t", "filetype": "t", "filename": "n",
	}, "")
	orders := map[string]bool{}
	for i := 0; i < 50; i++ {
		var keys []string
		for _, kv := range strings.Split(u.EncodedMetadata(), ",") {
			keys = append(keys, strings.Fields(kv)[0])
		}
		orders[strings.Join(keys, ",")] = true
	}
	if len(orders) < 2 {
		t.Fatal("metadata order was stable: defect not reproduced")
	}
	t.Logf("DEFECT: 50 encodings of the same metadata gave %d different key orders", len(orders))
}

// TestGoTusZeroSizePanics: Progress divides by the size.
func TestGoTusZeroSizePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("no panic: defect not reproduced")
		} else {
			t.Logf("DEFECT: Upload.Progress on an empty upload panics: %v", r)
		}
	}()
	gotus.NewUploadFromBytes(nil).Progress()
}

// TestGoTusRace reproduces go-tus's two data races (Abort against Upload,
// progress update against broadcast). The race detector reports them only
// in a -race build, so the test re-runs itself under -race in a child
// process and passes when the child's report names go-tus's uploader.
//
//	cd bench && go test -count=1 -run TestGoTusRace -v ./tusclient/
func TestGoTusRace(t *testing.T) {
	if os.Getenv("GOTUS_RACE_CHILD") == "1" {
		goTusRaceWorkload(t)
		return
	}
	// -short skips the child's -race build on a developer's machine; CI
	// (DICOMBRIDGE_CI=1, which also runs the module's tests under -race, so
	// the race runtime is there) always runs it.
	if testing.Short() && !testenv.Strict() {
		t.Skip("builds a -race test binary (runs in CI, or without -short)")
	}
	bin := filepath.Join(t.TempDir(), "race.test")
	build := exec.Command("go", "test", "-race", "-c", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the -race child: %v\n%s", err, out)
	}
	child := exec.Command(bin, "-test.run", "^TestGoTusRace$", "-test.count", "1")
	child.Env = append(os.Environ(), "GOTUS_RACE_CHILD=1", "GORACE=halt_on_error=0")
	out, _ := child.CombinedOutput() // the race detector makes the child fail
	report := string(out)
	if !strings.Contains(report, "WARNING: DATA RACE") || !strings.Contains(report, "eventials/go-tus") {
		t.Fatalf("no data race reported in go-tus: defect not reproduced\n%s", report)
	}
	t.Logf("DEFECT: the race detector reports %d data races in go-tus", strings.Count(report, "WARNING: DATA RACE"))
}

func goTusRaceWorkload(t *testing.T) {
	srv := tustest.NewServer()
	t.Cleanup(srv.Close)
	c := gotusClient(t, srv.URL, 64<<10)
	up, err := c.CreateUpload(gotus.NewUploadFromBytes(make([]byte, 1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan gotus.Upload, 100)
	up.NotifyUploadProgress(ch)
	go func() {
		for range ch {
		}
	}()
	done := make(chan error, 1)
	go func() { done <- up.Upload() }()
	time.Sleep(20 * time.Millisecond)
	up.Abort()
	<-done
}
