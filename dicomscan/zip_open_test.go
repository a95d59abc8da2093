package dicomscan

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestZipOpen: Zip.Open supplies the bytes of every entry (stored and
// deflated, compressed ahead or streamed); bytes of another length than
// Instance.Size fail with ErrChanged.
func TestZipOpen(t *testing.T) {
	t.Parallel()
	res, _ := mixedStudies(t)
	// The transformation: every byte inverted, the same length.
	invert := func(_ context.Context, in *Instance) (io.ReadCloser, error) {
		data, err := os.ReadFile(in.Path)
		if err != nil {
			return nil, err
		}
		for i := range data {
			data[i] = ^data[i]
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	for _, z := range []Zip{{Open: invert}, {Open: invert, Store: true}, {Open: invert, aheadLimit: smallAhead}} {
		var buf bytes.Buffer
		_, err := z.Write(context.Background(), &buf, res.Studies)
		require.NoError(t, err)
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		require.NoError(t, err)
		byName := map[string]*Instance{}
		for _, e := range z.Entries(res.Studies) {
			byName[e.Name] = e.Instance
		}
		require.Len(t, zr.File, len(byName))
		for _, f := range zr.File {
			rc, err := f.Open()
			require.NoError(t, err)
			got, err := io.ReadAll(rc)
			rc.Close()
			require.NoError(t, err, f.Name)
			want, _ := invert(context.Background(), byName[f.Name])
			wb, _ := io.ReadAll(want)
			assert.Equal(t, wb, got, "%s (store %v)", f.Name, z.Store)
		}
	}
	short := Zip{Open: func(context.Context, *Instance) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("too short")), nil
	}}
	_, err := short.Write(context.Background(), io.Discard, res.Studies)
	assert.ErrorIs(t, err, ErrChanged)
}
