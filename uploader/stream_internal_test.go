package uploader

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStreamEndMidBlock: Tus can finish without reading the archive (on a
// resume, the server already held every byte) while the checker is in
// the middle of the last, partial block. Ending the stream there used to
// checksum the fraction read and compare it with the whole block's saved
// checksum: a resume of unchanged sources failed with SourcesChangedError
// ("the archive bytes from offset 0 differ"). The archive is held at that
// exact point: half of it written, the rest only once the stream ends.
func TestStreamEndMidBlock(t *testing.T) {
	t.Parallel()
	archive := make([]byte, 300<<10) // less than a block: block 0 is the last
	r := rand.New(rand.NewPCG(1, 2))
	for i := range archive {
		archive[i] = byte(r.Uint32())
	}
	first, err := openSums("id", "", nil)
	require.NoError(t, err)
	_, err = first.Write(archive)
	require.NoError(t, err)
	require.NoError(t, first.finish())
	require.Len(t, first.known, 1)
	path := filepath.Join(t.TempDir(), "id.sums")
	var rec [sumRecordSize]byte
	copy(rec[:], first.known[0][:])
	putCRC(rec[:])
	require.NoError(t, os.WriteFile(path, rec[:], 0o600))

	known, err := readSums(path)
	require.NoError(t, err)
	sums, err := openSums("id", path, known)
	require.NoError(t, err)
	defer sums.close()
	half, release := make(chan struct{}), make(chan struct{})
	st := newStreamFrom(context.Background(), func(ctx context.Context, w io.Writer) error {
		// A pipe write returns once the checker has read it all.
		if _, err := w.Write(archive[:len(archive)/2]); err != nil {
			return err
		}
		close(half)
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		_, err := w.Write(archive[len(archive)/2:])
		return err
	}, sums)
	<-half // the checker holds half of block 0; Tus read nothing
	ended := make(chan error, 1)
	go func() { ended <- st.end() }()
	select {
	case err := <-ended:
		t.Fatalf("the stream ended before the archive did: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-ended, "unchanged archive refused")
	assert.Equal(t, first.known, sums.known, "the whole block compared with its saved checksum")
	onDisk, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, rec[:], onDisk, "saved checksums untouched")

	// A changed archive is still refused at its end.
	changed := append([]byte(nil), archive...)
	changed[len(changed)-1] ^= 0xff
	sums2, err := openSums("id", path, known)
	require.NoError(t, err)
	defer sums2.close()
	st2 := newStreamFrom(context.Background(), func(ctx context.Context, w io.Writer) error {
		_, err := w.Write(changed)
		return err
	}, sums2)
	var sc *SourcesChangedError
	require.ErrorAs(t, st2.end(), &sc)
	assert.Contains(t, sc.Detail, "the archive bytes from offset 0 differ")
}
