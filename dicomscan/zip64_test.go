//go:build !race

package dicomscan

import (
	"archive/zip"
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestZip64 writes an entry over 4 GiB (a sparse file, read at memory
// speed) to a sparse archive, and reads it back. It is not built under the
// race detector, which checks every byte a read syscall fills and makes it
// take minutes; .ci/run runs it without -race.
func TestZip64(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "big.dcm")
	head := part10(tsExplicitLE, (&ds{}).instance("5.5", "5.5.1", "5.5.1.1").header(0x7FE00010, "OW", 0xFFFFFFF0).bytes())
	f, err := os.Create(src)
	require.NoError(t, err)
	f.Write(head)
	size := int64(len(head)) + 0xFFFFFFF0
	require.NoError(t, f.Truncate(size), "a sparse file")
	f.Close()
	small := filepath.Join(dir, "small.dcm")
	os.WriteFile(small, part10(tsExplicitLE, (&ds{}).instance("5.5", "5.5.1", "5.5.1.2").bytes()), 0o644)
	res, err := Scan(context.Background(), src, small)
	require.NoError(t, err)
	require.Equal(t, 2, res.Instances(), "errors %v", res.Errors)
	z := Zip{Store: true}
	want, err := z.Size(res.Studies)
	require.NoError(t, err)
	out, err := os.Create(filepath.Join(dir, "out.zip"))
	require.NoError(t, err)
	sw := &sparseWriter{f: out}
	n, err := z.Write(context.Background(), sw, res.Studies)
	if err == nil {
		err = sw.finish()
	}
	out.Close()
	require.NoError(t, err)
	assert.Equal(t, want, n, "bytes written against Size()")
	zr, err := zip.OpenReader(out.Name())
	require.NoError(t, err)
	defer zr.Close()
	require.Len(t, zr.File, 2)
	require.Equal(t, uint64(size), zr.File[0].UncompressedSize64)
	require.Equal(t, "5.5/small.dcm", zr.File[1].Name)
	// The big entry's CRC-32, computed without reading it back: the
	// header, then zeros.
	crc := crc32.Update(0, crc32.IEEETable, head)
	zeros := make([]byte, 1<<20)
	for left := size - int64(len(head)); left > 0; left -= int64(len(zeros)) {
		crc = crc32.Update(crc, crc32.IEEETable, zeros[:min(left, int64(len(zeros)))])
	}
	assert.Equal(t, crc, zr.File[0].CRC32, "big entry CRC-32")
	// The small entry sits after 4 GiB: its offset is in a zip64 record.
	rc, err := zr.File[1].Open()
	require.NoError(t, err)
	got, err := io.ReadAll(rc) // checks the CRC-32
	rc.Close()
	assert.NoError(t, err)
	want2, _ := os.ReadFile(small)
	assert.Equal(t, want2, got, "small entry")
}

// sparseWriter leaves holes for runs of zeros, so a 4 GiB archive of a
// sparse file takes no disk space.
type sparseWriter struct {
	f   *os.File
	off int64
}

func (w *sparseWriter) Write(p []byte) (int, error) {
	zero := true
	for rest := p; len(rest) > 0 && zero; rest = rest[min(len(rest), len(zeroChunk)):] {
		zero = bytes.Equal(rest[:min(len(rest), len(zeroChunk))], zeroChunk[:min(len(rest), len(zeroChunk))])
	}
	var err error
	if zero {
		_, err = w.f.Seek(int64(len(p)), io.SeekCurrent)
	} else {
		_, err = w.f.Write(p)
	}
	if err != nil {
		return 0, err
	}
	w.off += int64(len(p))
	return len(p), nil
}

var zeroChunk = make([]byte, 64<<10)

func (w *sparseWriter) finish() error { return w.f.Truncate(w.off) }
