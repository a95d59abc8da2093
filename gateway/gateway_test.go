package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/gateway"
)

// recorder is an Uploader that records the studies it is given, with a
// copy of their files, and fails as told.
type recorder struct {
	mu    sync.Mutex
	calls []upload
	fail  int // fail this many calls first
	err   error
}

type upload struct {
	at    time.Time
	study gateway.Study
	files map[string][]byte
}

func (r *recorder) Upload(ctx context.Context, s *gateway.Study) error {
	files := map[string][]byte{}
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(s.Dir, e.Name()))
		if err != nil {
			return err
		}
		files[e.Name()] = b
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, upload{at: time.Now(), study: *s, files: files})
	if r.fail > 0 {
		r.fail--
		return r.err
	}
	return nil
}

func (r *recorder) uploads() []upload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// storeFile stores the Part 10 file at path as if it had been received.
func storeFile(ctx context.Context, g *gateway.Gateway, path string) error {
	return gateway.Receive(g, ctx, func(w io.Writer) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
}

func generate(t *testing.T, o dicomgen.Options) []dicomgen.File {
	t.Helper()
	files, err := dicomgen.Write(context.Background(), t.TempDir(), o)
	require.NoError(t, err)
	return files
}

// run starts g.Run until the test ends.
func run(t *testing.T, g *gateway.Gateway) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStudiesGroupedAndUploaded stores two studies, interleaved: each is
// handed to the uploader once, as one study holding exactly its files,
// byte for byte, and leaves the spool afterwards.
func TestStudiesGroupedAndUploaded(t *testing.T) {
	t.Parallel()
	files := generate(t, dicomgen.Options{Studies: 2, SeriesPerStudy: 2, InstancesPerSeries: 3, Seed: 7,
		TransferSyntaxes: []string{dicomgen.ExplicitVRLittleEndian, dicomgen.ImplicitVRLittleEndian}})
	rec := &recorder{}
	dir := t.TempDir()
	g, err := gateway.Open(context.Background(), gateway.Config{Dir: dir, Quiet: 300 * time.Millisecond, Uploader: rec})
	require.NoError(t, err)
	t.Cleanup(func() { g.Close() })
	for i := range files {
		f := files[(i*5)%len(files)] // interleave the studies
		require.NoError(t, storeFile(context.Background(), g, f.Path))
	}
	run(t, g) // after the stores: a slow machine does not split a study
	waitFor(t, "two uploads", func() bool { return len(rec.uploads()) == 2 })
	waitFor(t, "an empty spool", func() bool { l, _ := gateway.List(dir); return len(l) == 0 })
	byStudy := map[string]upload{}
	for _, u := range rec.uploads() {
		byStudy[u.study.StudyInstanceUID] = u
	}
	require.Len(t, byStudy, 2)
	for _, f := range files {
		u, ok := byStudy[f.StudyInstanceUID]
		require.True(t, ok, f.StudyInstanceUID)
		want, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		assert.Equal(t, want, u.files[f.SOPInstanceUID+".dcm"], f.Name)
		assert.Len(t, u.files, 6)
		assert.Equal(t, 6, u.study.Instances)
		assert.Equal(t, gateway.StateUploading, u.study.State)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "tmp"))
	require.NoError(t, err)
	assert.Empty(t, ents, "temporary files left")
}

// TestRestartFinishesPending closes a gateway (as a crash would leave it:
// no Run, a half-written temporary file) and opens the spool again: the
// received study is found, the temporary file is dropped, and the study is
// uploaded once.
func TestRestartFinishesPending(t *testing.T) {
	t.Parallel()
	files := generate(t, dicomgen.Options{InstancesPerSeries: 3, Seed: 8})
	dir := t.TempDir()
	g, err := gateway.Open(context.Background(), gateway.Config{Dir: dir})
	require.NoError(t, err)
	for _, f := range files {
		require.NoError(t, storeFile(context.Background(), g, f.Path))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tmp", "in-123.dcm"), []byte("half"), 0o600))
	l, err := gateway.List(dir)
	require.NoError(t, err)
	require.Len(t, l, 1)
	assert.Equal(t, gateway.StateReceiving, l[0].State)
	assert.Equal(t, 3, l[0].Instances)
	require.NoError(t, g.Close())

	rec := &recorder{}
	g, err = gateway.Open(context.Background(), gateway.Config{Dir: dir, Quiet: 50 * time.Millisecond, Uploader: rec})
	require.NoError(t, err)
	t.Cleanup(func() { g.Close() })
	_, err = os.Stat(filepath.Join(dir, "tmp", "in-123.dcm"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	run(t, g)
	waitFor(t, "the upload", func() bool { return len(rec.uploads()) == 1 })
	waitFor(t, "an empty spool", func() bool { l, _ := gateway.List(dir); return len(l) == 0 })
	assert.Len(t, rec.uploads()[0].files, 3)
}

// TestRetryWithBackoff makes the uploader fail twice: the study stays in
// the spool, listed as retrying with the error, and is retried after
// growing waits until it succeeds.
func TestRetryWithBackoff(t *testing.T) {
	t.Parallel()
	files := generate(t, dicomgen.Options{Seed: 9})
	rec := &recorder{fail: 2, err: errors.New("aura is down")}
	dir := t.TempDir()
	g, err := gateway.Open(context.Background(), gateway.Config{Dir: dir, Quiet: 20 * time.Millisecond, Uploader: rec,
		RetryBase: 200 * time.Millisecond, RetryMax: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { g.Close() })
	require.NoError(t, storeFile(context.Background(), g, files[0].Path))
	run(t, g)
	waitFor(t, "the first failure", func() bool { return len(rec.uploads()) == 1 })
	waitFor(t, "the study listed as retrying", func() bool {
		l, _ := gateway.List(dir)
		return len(l) == 1 && l[0].State == gateway.StateRetrying
	})
	l, err := gateway.List(dir)
	require.NoError(t, err)
	assert.Equal(t, 1, l[0].Attempts)
	assert.Equal(t, "aura is down", l[0].LastError)
	assert.False(t, l[0].NextAttempt.IsZero())
	waitFor(t, "three attempts", func() bool { return len(rec.uploads()) == 3 })
	waitFor(t, "an empty spool", func() bool { l, _ := gateway.List(dir); return len(l) == 0 })
	ups := rec.uploads()
	first, second := ups[1].at.Sub(ups[0].at), ups[2].at.Sub(ups[1].at)
	// 200 ms then 400 ms, ±20%.
	assert.GreaterOrEqual(t, first, 160*time.Millisecond)
	assert.GreaterOrEqual(t, second, 320*time.Millisecond, "the wait doubles")
}

// TestNoUploaderKeepsSpool: without an Uploader, quiet studies are queued
// and stay.
func TestNoUploaderKeepsSpool(t *testing.T) {
	t.Parallel()
	files := generate(t, dicomgen.Options{Seed: 10})
	dir := t.TempDir()
	g, err := gateway.Open(context.Background(), gateway.Config{Dir: dir, Quiet: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { g.Close() })
	require.NoError(t, storeFile(context.Background(), g, files[0].Path))
	run(t, g)
	waitFor(t, "the study queued", func() bool {
		l, _ := gateway.List(dir)
		return len(l) == 1 && l[0].State == gateway.StateQueued
	})
}

// TestSpoolLocked: a second gateway cannot take a spool in use.
func TestSpoolLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g, err := gateway.Open(context.Background(), gateway.Config{Dir: dir})
	require.NoError(t, err)
	_, err = gateway.Open(context.Background(), gateway.Config{Dir: dir})
	assert.ErrorIs(t, err, gateway.ErrLocked)
	require.NoError(t, g.Close())
	g, err = gateway.Open(context.Background(), gateway.Config{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, g.Close())
	assert.ErrorIs(t, storeFile(context.Background(), g, "x"), gateway.ErrClosed)
}

// TestRefusals: data that is not an instance with a study, and a dataset
// cut short, are refused and leave nothing in the spool.
func TestRefusals(t *testing.T) {
	t.Parallel()
	files := generate(t, dicomgen.Options{Seed: 11})
	whole, err := os.ReadFile(files[0].Path)
	require.NoError(t, err)
	dir := t.TempDir()
	g, err := gateway.Open(context.Background(), gateway.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { g.Close() })
	cut := errors.New("association aborted")
	for _, c := range []struct {
		name string
		data []byte
		err  error
		want error
	}{
		{"not DICOM", []byte("hello"), nil, gateway.ErrNotDICOM},
		{"no study", whole[:200], nil, gateway.ErrNotDICOM},
		{"cut short", whole[:len(whole)/2], cut, cut},
	} {
		err := gateway.Receive(g, context.Background(), func(w io.Writer) error {
			if _, err := io.Copy(w, bytes.NewReader(c.data)); err != nil {
				return err
			}
			return c.err
		})
		assert.ErrorIs(t, err, c.want, c.name)
	}
	l, err := gateway.List(dir)
	require.NoError(t, err)
	assert.Empty(t, l)
	ents, err := os.ReadDir(filepath.Join(dir, "tmp"))
	require.NoError(t, err)
	assert.Empty(t, ents)
}

// TestListDamaged: a study whose state file is damaged is listed with
// ErrDamaged, and left alone by the gateway.
func TestListDamaged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "studies", "20260101T000000.000000000Z-0011223344556677")
	require.NoError(t, os.MkdirAll(filepath.Join(bad, "instances"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(bad, "study.json"), []byte("{"), 0o600))
	l, err := gateway.List(dir)
	require.NoError(t, err)
	require.Len(t, l, 1)
	assert.ErrorIs(t, l[0].Err, gateway.ErrDamaged)
	g, err := gateway.Open(context.Background(), gateway.Config{Dir: dir, Uploader: &recorder{}})
	require.NoError(t, err)
	require.NoError(t, g.Close())
	_, err = os.Stat(bad)
	assert.NoError(t, err)
}
