package gateway_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/gateway"
	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// newAura starts a fake Aura and returns it with an Aura uploader for it.
func newAura(t *testing.T) (*auratest.Server, *gateway.Aura) {
	t.Helper()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	tok, err := aura.IssueToken(context.Background())
	require.NoError(t, err)
	api := &uploader.API{BaseURL: aura.URL, APIKey: aura.APIKey, Tokens: uploadtoken.StaticSource(tok), HTTPClient: aura.Client()}
	return aura, &gateway.Aura{Uploader: &uploader.Uploader{API: api, ChunkSize: 1 << 20,
		TusRetry: tusclient.RetryPolicy{Delays: []time.Duration{}}, LifecycleRetries: -1}}
}

// zipFiles returns the members of the upload of uploadID, by base name
// (the scan names them "<StudyInstanceUID>/instances-<SOPInstanceUID>.dcm"
// after the spool's directory; the prefix is dropped).
func zipFiles(t *testing.T, aura *auratest.Server, uploadID string) map[string][]byte {
	t.Helper()
	up, ok := aura.Upload(uploadID)
	require.True(t, ok, "no Tus upload for %s", uploadID)
	zr, err := up.OpenZip()
	require.NoError(t, err)
	defer zr.Close()
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		out[strings.TrimPrefix(path.Base(f.Name), "instances-")] = b
	}
	return out
}

// TestAuraThroughGateway: a study received by the gateway reaches the fake
// Aura as one completed upload whose zip holds every file byte for byte.
func TestAuraThroughGateway(t *testing.T) {
	t.Parallel()
	files := generate(t, dicomgen.Options{SeriesPerStudy: 2, InstancesPerSeries: 2, Seed: 12,
		TransferSyntaxes: []string{dicomgen.ExplicitVRLittleEndian, dicomgen.JPEGBaseline}})
	aura, up := newAura(t)
	dir := t.TempDir()
	g, err := gateway.Open(context.Background(), gateway.Config{Dir: dir, Quiet: 50 * time.Millisecond, Uploader: up})
	require.NoError(t, err)
	t.Cleanup(func() { g.Close() })
	for _, f := range files {
		require.NoError(t, storeFile(context.Background(), g, f.Path))
	}
	run(t, g)
	waitFor(t, "an empty spool", func() bool { l, _ := gateway.List(dir); return len(l) == 0 })
	sessions := aura.Sessions()
	require.Len(t, sessions, 1)
	assert.Equal(t, auratest.StateCompleted, sessions[0].State)
	got := zipFiles(t, aura, sessions[0].UploadID)
	require.Len(t, got, len(files))
	for _, f := range files {
		want, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		assert.Equal(t, want, got[f.SOPInstanceUID+".dcm"], f.Name)
	}
}

// study returns a Study of freshly generated files, as the gateway hands
// it to its Uploader.
func study(t *testing.T, o dicomgen.Options) *gateway.Study {
	t.Helper()
	dir := t.TempDir()
	_, err := dicomgen.Write(context.Background(), dir, o)
	require.NoError(t, err)
	return &gateway.Study{ID: "s", Dir: dir, StateDir: t.TempDir()}
}

// TestAuraCompletedNotRepeated: called again after a completed upload (as
// after a crash before the gateway recorded it), Aura uploads nothing.
func TestAuraCompletedNotRepeated(t *testing.T) {
	t.Parallel()
	aura, up := newAura(t)
	s := study(t, dicomgen.Options{InstancesPerSeries: 2, Seed: 13})
	require.NoError(t, up.Upload(context.Background(), s))
	require.NoError(t, up.Upload(context.Background(), s))
	assert.Equal(t, 1, len(aura.CallsTo(auratest.EndpointInit)))
	assert.Equal(t, 1, len(aura.CallsTo(auratest.EndpointComplete)))
	require.Equal(t, 1, len(aura.Sessions()))
	assert.Equal(t, auratest.StateCompleted, aura.Sessions()[0].State)
}

// TestAuraResumesInterrupted: an upload stopped halfway (its context ends
// while Tus holds the first chunk) is resumed by the next call under the
// same upload_id, not started again.
func TestAuraResumesInterrupted(t *testing.T) {
	t.Parallel()
	aura, up := newAura(t)
	up.Uploader.Store = true
	s := study(t, dicomgen.Options{InstancesPerSeries: 12, Rows: 256, Columns: 256, Seed: 14})
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Skip: 1, Times: 1, Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitFor(t, "the first chunk", func() bool {
			ups := aura.Uploads()
			return len(ups) == 1 && ups[0].Offset == 1<<20
		})
		cancel()
	}()
	err := up.Upload(ctx, s)
	require.ErrorIs(t, err, uploader.ErrPaused)
	aura.ClearFailures()
	require.NoError(t, up.Upload(context.Background(), s))
	assert.Equal(t, 1, len(aura.CallsTo(auratest.EndpointInit)))
	require.Equal(t, 1, len(aura.Sessions()))
	assert.Equal(t, auratest.StateCompleted, aura.Sessions()[0].State)
	assert.Equal(t, 1, len(aura.Uploads()))
}

// TestAuraFailedStartsAnew: after a failure Aura was told of, the next
// call starts a new upload, which completes.
func TestAuraFailedStartsAnew(t *testing.T) {
	t.Parallel()
	aura, up := newAura(t)
	s := study(t, dicomgen.Options{InstancesPerSeries: 2, Seed: 15})
	aura.Fail(auratest.EndpointComplete, auratest.Failure{Status: 422, Times: 1})
	err := up.Upload(context.Background(), s)
	require.Error(t, err)
	assert.False(t, errors.Is(err, uploader.ErrResumable), "%v", err)
	require.NoError(t, up.Upload(context.Background(), s))
	sessions := aura.Sessions()
	require.Len(t, sessions, 2)
	assert.Equal(t, auratest.StateFailed, sessions[0].State)
	assert.Equal(t, auratest.StateCompleted, sessions[1].State)
}
