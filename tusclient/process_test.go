package tusclient_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

const childEnv = "TUSCLIENT_TEST_CHILD"

// TestProcessRestart (fault c): a process uploading with a FileStore is
// killed (SIGKILL) mid-upload; a new process (here: this test) resumes the
// same server upload from the store and sends only the missing bytes.
func TestProcessRestart(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	srv.Fail(tustest.Failure{Method: http.MethodPatch, Delay: 10 * time.Millisecond})
	data := randomData(1<<20, 21)
	f := writeFile(t, data)
	storeDir := t.TempDir()
	fp := "file:" + f.Name()

	var out bytes.Buffer
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1", "TUSCLIENT_ENDPOINT="+srv.URL,
		"TUSCLIENT_FILE="+f.Name(), "TUSCLIENT_STORE="+storeDir, "TUSCLIENT_FP="+fp)
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	store, err := tusclient.NewFileStore(storeDir)
	require.NoError(t, err)
	ctx := context.Background()
	var rec tusclient.Record
	deadline := time.Now().Add(90 * time.Second)
	for {
		if time.Now().After(deadline) {
			require.FailNow(t, "child made no progress", "its output:\n%s", out.String())
		}
		r, ok, err := store.Get(ctx, fp)
		require.NoError(t, err)
		if ok {
			if info, err := srv.Info(r.URL); err == nil && info.Offset >= int64(len(data))/4 {
				rec = r
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	// The dead child's last PATCH may still be in the server (the socket
	// buffer held its body); wait until the server is quiet, as a new
	// process would only start later anyway.
	srv.ClearFailures()
	info := waitQuiet(t, srv, rec.URL)
	require.NotEqualValues(t, int64(len(data)), info.Offset, "the child finished before it was killed")
	t.Logf("child killed with %d of %d bytes stored", info.Offset, len(data))

	since := len(srv.Calls())
	c := newClient(t, srv, tusclient.Config{ChunkSize: 32 << 10})
	up, err := c.NewUpload(f, int64(len(data)), tusclient.UploadOptions{Fingerprint: fp, Store: store})
	require.NoError(t, err)
	require.NoError(t, up.Run(ctx))
	require.EqualValuesf(t, rec.URL, up.URL(), "resumed at %s, want the stored %s", up.URL(), rec.URL)
	var heads, posts int
	var resumeAt, sent int64 = -1, 0
	for _, r := range srv.Calls()[since:] {
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
	assert.Zero(t, posts, "resume created an upload")
	assert.Equal(t, 1, heads, "resume HEAD requests")
	assert.Equal(t, info.Offset, resumeAt, "first PATCH of the resume")
	assert.Equal(t, int64(len(data))-resumeAt, sent, "no byte sent twice")
	assertStored(t, srv, up.URL(), data)
	assert.False(t, stored(store, fp), "the store record survived a finished upload")
}

// childUpload is the process TestProcessRestart kills: TestMain runs it,
// instead of the tests, when childEnv is set. It uploads until killed.
func childUpload() error {
	f, err := os.Open(os.Getenv("TUSCLIENT_FILE"))
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	store, err := tusclient.NewFileStore(os.Getenv("TUSCLIENT_STORE"))
	if err != nil {
		return err
	}
	c, err := tusclient.New(tusclient.Config{Endpoint: os.Getenv("TUSCLIENT_ENDPOINT"), ChunkSize: 32 << 10})
	if err != nil {
		return err
	}
	up, err := c.NewUpload(f, st.Size(), tusclient.UploadOptions{Fingerprint: os.Getenv("TUSCLIENT_FP"), Store: store})
	if err != nil {
		return err
	}
	err = up.Run(context.Background())
	return fmt.Errorf("the child should have been killed; Run returned %v", err)
}

// waitQuiet waits until the stored offset of url has not moved for 200 ms.
func waitQuiet(t *testing.T, srv *tustest.Server, url string) tustest.Info {
	t.Helper()
	var last tustest.Info
	stable := time.Now()
	for time.Since(stable) < 200*time.Millisecond {
		info, err := srv.Info(url)
		require.NoError(t, err)
		if info.Offset != last.Offset {
			last, stable = info, time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return last
}
