package uploader_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// The test binary re-executed with childEnv set runs one upload (childMain)
// instead of the tests, so that a test can kill it with SIGKILL halfway.
const childEnv = "UPLOADER_TEST_CHILD"

func childMain() int {
	api := &uploader.API{
		BaseURL: os.Getenv("CHILD_API"),
		APIKey:  os.Getenv("CHILD_KEY"),
		Tokens:  uploadtoken.StaticSource(&uploadtoken.Token{Value: os.Getenv("CHILD_TOKEN")}),
	}
	u := &uploader.Uploader{API: api, StateDir: os.Getenv("CHILD_STATE"), Store: true, ChunkSize: 1 << 20}
	if _, err := u.Upload(context.Background(), os.Getenv("CHILD_DIR")); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// TestKillResume kills a process with SIGKILL in the middle of its
// transfer, then resumes the upload from the state it left: the upload
// completes under the same upload_id, the bytes the server held are not
// sent again, and the zip is intact.
func TestKillResume(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	ctx := context.Background()
	tok, err := aura.IssueToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	// Three 1 MiB PATCHes go through; the fourth is held until the kill.
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Skip: 3, Delay: time.Minute})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_API="+aura.URL, "CHILD_KEY="+aura.APIKey,
		"CHILD_TOKEN="+tok.Value, "CHILD_STATE="+stateDir, "CHILD_DIR="+bigDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var held int64
	waitFor(t, "3 MiB on the server", func() bool {
		ups := aura.Uploads()
		if len(ups) == 1 {
			held = ups[0].Offset
		}
		return held == 3<<20
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if stderr.Len() > 0 {
		t.Logf("child stderr: %s", stderr.String())
	}
	aura.ClearFailures()
	// A PATCH of the child may still be in the server when it dies (under
	// load its chunks need not end on the 3 MiB mark), and the server keeps
	// what it received of it. Wait until the server's offset and call log
	// have settled, then take what it holds and where the resume's calls
	// begin. (The held PATCH never reaches the store.)
	var seq int
	held = -1
	for stable := 0; stable < 3; {
		time.Sleep(50 * time.Millisecond)
		off, s := aura.Uploads()[0].Offset, lastSeq(aura)
		if off == held && s == seq {
			stable++
		} else {
			held, seq, stable = off, s, 0
		}
	}
	if held < 3<<20 {
		t.Fatalf("the server holds %d bytes after the kill, want at least 3 MiB", held)
	}

	u, rec := newUploader(t, aura, stateDir)
	pending, err := u.Pending()
	if err != nil || len(pending) != 1 || pending[0].Step != "started" {
		t.Fatalf("Pending() = %+v, %v", pending, err)
	}
	res, err := u.Resume(ctx, pending[0].UploadID)
	if err != nil {
		t.Fatal(err)
	}
	sent := patchBytes(aura, seq)
	if sent != res.ArchiveBytes-held || sent >= res.ArchiveBytes || res.ResumedAt != held {
		t.Errorf("after the restart %d of %d bytes were sent (resumed at %d); want only the %d missing",
			sent, res.ArchiveBytes, res.ResumedAt, res.ArchiveBytes-held)
	}
	calls := lifecycle(aura)
	if count(calls, "init") != 1 || count(calls, "start") != 1 || count(calls, "complete") != 1 || count(calls, "tus POST") != 1 {
		t.Errorf("calls %q", compact(calls))
	}
	ss, _ := aura.Session(res.UploadID)
	if !slices.Equal(ss.States, []string{"initialized", "started", "completed"}) {
		t.Errorf("server states %v", ss.States)
	}
	checkZip(t, aura, res.UploadID, expectedEntries(t, bigDir, bigFiles))
	if len(rec.completes) != 1 {
		t.Errorf("%d OnComplete calls", len(rec.completes))
	}
}
