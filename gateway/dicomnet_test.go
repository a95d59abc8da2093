package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/dicomnet"
	"github.com/dicombridge/dicombridge/gateway"
)

// TestAbortedMidDataset: an association aborted while an instance is
// halfway through leaves nothing in the spool (no study, no temporary
// file), and the next association stores normally, answered Success.
func TestAbortedMidDataset(t *testing.T) {
	t.Parallel()
	files := generate(t, dicomgen.Options{Rows: 512, Columns: 512, Seed: 16})
	whole, err := os.ReadFile(files[0].Path)
	require.NoError(t, err)
	dir := t.TempDir()
	g, err := gateway.Open(context.Background(), gateway.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { g.Close() })
	srv := &dicomnet.Server{AETitle: "GATEWAY", CallingAETitles: []string{"SENDER"}, Handler: g}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	opts := dicomnet.DialOptions{CallingAETitle: "SENDER", CalledAETitle: "GATEWAY", Contexts: []dicomnet.PresentationContext{
		{AbstractSyntax: files[0].SOPClassUID, TransferSyntaxes: []string{files[0].TransferSyntaxUID}}}}
	ctx := context.Background()

	a, err := dicomnet.Dial(ctx, ln.Addr().String(), opts)
	require.NoError(t, err)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { _, err := a.StoreFile(ctx, pr); done <- err }()
	_, err = pw.Write(whole[:len(whole)/2])
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)  // let the first half reach the gateway
	pw.CloseWithError(io.ErrClosedPipe) // the sender's file fails mid-dataset: the association is aborted
	assert.Error(t, <-done)
	_ = a.Abort()
	waitFor(t, "the temporary file removed", func() bool {
		ents, err := os.ReadDir(filepath.Join(dir, "tmp"))
		return err == nil && len(ents) == 0
	})
	l, err := gateway.List(dir)
	require.NoError(t, err)
	assert.Empty(t, l, "an aborted instance was kept")

	a, err = dicomnet.Dial(ctx, ln.Addr().String(), opts)
	require.NoError(t, err)
	st, err := a.StoreFile(ctx, bytes.NewReader(whole))
	require.NoError(t, err)
	assert.Equal(t, dicomnet.StatusSuccess, st)
	require.NoError(t, a.Release(ctx))
	l, err = gateway.List(dir)
	require.NoError(t, err)
	require.Len(t, l, 1)
	assert.Equal(t, 1, l[0].Instances)
	got, err := os.ReadFile(filepath.Join(l[0].Dir, files[0].SOPInstanceUID+".dcm"))
	require.NoError(t, err)
	assert.True(t, bytes.HasSuffix(got, whole[len(whole)-1000:]), "the dataset as sent")
}
