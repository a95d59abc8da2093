package uploader_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	u := &uploader.Uploader{API: api, StateDir: os.Getenv("CHILD_STATE"), Store: os.Getenv("CHILD_STORE") == "1", ChunkSize: 1 << 20}
	if _, err := u.Upload(context.Background(), os.Getenv("CHILD_DIR")); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// TestKillResume kills a process with SIGKILL in the middle of its
// transfer, then resumes the upload from the state it left: the upload
// completes under the same upload_id, the bytes the server held are not
// sent again, and the zip is intact; with stored entries (known length)
// and deflated ones (one pass, deferred length).
func TestKillResume(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		store  bool
		chunks int // 1 MiB PATCHes let through before one is held
	}{{"stored", true, 3}, {"deflated", false, 2}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			killResume(t, c.store, c.chunks)
		})
	}
}

func killResume(t *testing.T, store bool, chunks int) {
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	ctx := context.Background()
	tok, err := aura.IssueToken(ctx)
	require.NoError(t, err)
	stateDir := t.TempDir()
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Skip: chunks, Delay: time.Minute})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_API="+aura.URL, "CHILD_KEY="+aura.APIKey,
		"CHILD_TOKEN="+tok.Value, "CHILD_STATE="+stateDir, "CHILD_DIR="+bigDir, "CHILD_STORE="+map[bool]string{true: "1"}[store])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	var held int64
	want := int64(chunks) << 20
	waitFor(t, "the first chunks on the server", func() bool {
		ups := aura.Uploads()
		if len(ups) == 1 {
			held = ups[0].Offset
		}
		return held == want
	})
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	if stderr.Len() > 0 {
		t.Logf("child stderr: %s", stderr.String())
	}
	aura.ClearFailures()
	// A PATCH of the child may still be in the server when it dies (under
	// load its chunks need not end on the mark), and the server keeps what
	// it received of it. Wait until the server's offset and call log have
	// settled, then take what it holds and where the resume's calls begin.
	// (The held PATCH never reaches the store.)
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
	require.GreaterOrEqual(t, held, want, "the server's bytes after the kill")

	u, rec := newUploader(t, aura, stateDir)
	pending, err := u.Pending()
	require.NoError(t, err)
	require.Len(t, pending, 1)
	assert.Equal(t, "started", pending[0].Step)
	res, err := u.Resume(ctx, pending[0].UploadID)
	require.NoError(t, err)
	sent := patchBytes(aura, seq)
	assert.Equal(t, res.ArchiveBytes-held, sent, "after the restart only the missing bytes are sent")
	assert.Equal(t, held, res.ResumedAt)
	calls := lifecycle(aura)
	for _, name := range []string{"init", "start", "complete", "tus POST"} {
		assert.Equal(t, 1, count(calls, name), "%s: %q", name, compact(calls))
	}
	ss, _ := aura.Session(res.UploadID)
	assert.Equal(t, []string{"initialized", "started", "completed"}, ss.States)
	checkZip(t, aura, res.UploadID, expectedEntries(t, bigDir, bigFiles))
	assert.Len(t, rec.completes, 1, "OnComplete calls")
}
