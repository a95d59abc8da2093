package uploader

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/dicombridge/dicombridge/dicomscan"
)

// blockSize is the archive span covered by one checksum record.
const blockSize = 4 << 20

// sumRecordSize is one record of the .sums file: the first 16 bytes of the
// block's SHA-256, then the CRC-32 (IEEE, little endian) of those 16
// bytes, so that a record torn by a crash is recognised and ignored.
const sumRecordSize = 20

// blockSums checksums the archive as it is produced, block by block. The
// blocks already known (from the packing pass, or from the run that was
// interrupted) are compared; later ones are appended to the .sums file, so
// that a resumed upload can prove that it produces the same bytes again.
// It is used by one goroutine at a time.
type blockSums struct {
	uploadID string
	known    [][16]byte
	f        *os.File // append-only; nil keeps the sums in memory only
	h        hash.Hash
	n        int64 // bytes in the current block
	block    int   // index of the current block
	finished bool
}

// readSums loads the valid records of a .sums file (none if it is absent).
func readSums(path string) ([][16]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("uploader: %w", err)
	}
	return parseSums(data), nil
}

// parseSums decodes records up to the first torn or corrupt one.
func parseSums(data []byte) [][16]byte {
	var out [][16]byte
	for len(data) >= sumRecordSize {
		var s [16]byte
		copy(s[:], data[:16])
		if crc32.ChecksumIEEE(s[:]) != binary.LittleEndian.Uint32(data[16:20]) {
			break
		}
		out = append(out, s)
		data = data[sumRecordSize:]
	}
	return out
}

// putCRC completes a record whose first 16 bytes are set.
func putCRC(rec []byte) {
	binary.LittleEndian.PutUint32(rec[16:sumRecordSize], crc32.ChecksumIEEE(rec[:16]))
}

// openSums prepares checksumming against known records, appending new ones
// to path (truncated to the known records first; "" keeps them in memory).
func openSums(uploadID, path string, known [][16]byte) (*blockSums, error) {
	b := &blockSums{uploadID: uploadID, known: known, h: sha256.New()}
	if path == "" {
		return b, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("uploader: %w", err)
	}
	end := int64(len(known)) * sumRecordSize
	if err := f.Truncate(end); err != nil {
		f.Close()
		return nil, fmt.Errorf("uploader: %w", err)
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("uploader: %w", err)
	}
	b.f = f
	return b, nil
}

// Write checksums p.
func (b *blockSums) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(int64(len(p)), blockSize-b.n)
		b.h.Write(p[:k])
		b.n += k
		p = p[k:]
		if b.n == blockSize {
			if err := b.endBlock(); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

// finish closes the last, partial block. It is idempotent.
func (b *blockSums) finish() error {
	if b.finished {
		return nil
	}
	b.finished = true
	if b.n == 0 {
		return nil
	}
	return b.endBlock()
}

func (b *blockSums) endBlock() error {
	var s [16]byte
	copy(s[:], b.h.Sum(nil))
	b.h.Reset()
	start := int64(b.block) * blockSize
	b.n = 0
	i := b.block
	b.block++
	if i < len(b.known) {
		if b.known[i] != s {
			return &SourcesChangedError{UploadID: b.uploadID, Detail: fmt.Sprintf(
				"the archive bytes from offset %d differ from those produced before (a file's content changed, or another version of the software made the archive)", start)}
		}
		return nil
	}
	b.known = append(b.known, s)
	if b.f != nil {
		var rec [sumRecordSize]byte
		copy(rec[:], s[:])
		putCRC(rec[:])
		// On disk before the block's bytes can reach the server (see stream).
		if _, err := b.f.Write(rec[:]); err != nil {
			return fmt.Errorf("uploader: saving archive checksums: %w", err)
		}
		if err := b.f.Sync(); err != nil {
			return fmt.Errorf("uploader: saving archive checksums: %w", err)
		}
	}
	return nil
}

func (b *blockSums) close() {
	if b.f != nil {
		b.f.Close()
		b.f = nil
	}
}

// entryEnds records where each archive entry ends, so that a confirmed
// Tus offset can be turned into a number of files. It is safe for
// concurrent use: the zip writer fills it while the Tus progress reads it.
type entryEnds struct {
	mu   sync.Mutex // guards ends
	ends []int64    // ends[i] is the archive offset after entry i; filled in order
}

func (e *entryEnds) set(entries int, end int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.ends) < entries {
		e.ends = append(e.ends, end)
	}
}

// filesBelow returns how many entries end at or before off.
func (e *entryEnds) filesBelow(off int64) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return sort.Search(len(e.ends), func(i int) bool { return e.ends[i] > off })
}

// countWriter counts and discards.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// measure writes the archive once into checksums and a counter, to learn
// its length (the packing pass).
func measure(ctx context.Context, z dicomscan.Zip, studies []*dicomscan.Study, sums *blockSums) (int64, error) {
	var cw countWriter
	w := io.Writer(&cw)
	if sums != nil {
		w = io.MultiWriter(&cw, sums)
	}
	if _, err := z.Write(ctx, w, studies); err != nil {
		return 0, err
	}
	if sums != nil {
		if err := sums.finish(); err != nil {
			return 0, err
		}
	}
	return cw.n, nil
}

// stream produces the archive into a pipe from its own goroutine. Close
// stops it and waits for it.
//
// It hands the archive out one 4 MiB block at a time, and only once the
// block's checksum was compared with the known one or saved: whatever the
// Tus server holds when the process stops, a resume can check all of it,
// so a source that changed without changing its size and time cannot
// leave a mixed archive.
type stream struct {
	pr     *io.PipeReader
	sums   *blockSums
	cancel context.CancelFunc
	done   chan error
	block  []byte // the block being handed out, checked
	next   int    // its first byte not handed out yet
	err    error  // returned once block is handed out: io.EOF or a failure
}

// errStreamClosed ends the producer when the reader stops early.
var errStreamClosed = errors.New("uploader: archive stream closed")

func newStream(ctx context.Context, z dicomscan.Zip, studies []*dicomscan.Study, sums *blockSums) *stream {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	s := &stream{pr: pr, sums: sums, cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := z.Write(ctx, pw, studies)
		pw.CloseWithError(err) // nil: EOF
		s.done <- err
	}()
	return s
}

// Read reads the archive, checksummed block by block.
func (s *stream) Read(p []byte) (int, error) {
	if s.sums == nil {
		return s.pr.Read(p)
	}
	for s.next == len(s.block) {
		if s.err != nil {
			return 0, s.err
		}
		s.fill()
	}
	n := copy(p, s.block[s.next:])
	s.next += n
	return n, nil
}

// fill reads the next block (the last may be shorter) and checks it.
func (s *stream) fill() {
	if s.block == nil {
		s.block = make([]byte, blockSize)
	}
	n, err := io.ReadFull(s.pr, s.block[:blockSize])
	s.block, s.next = s.block[:n], 0
	if n > 0 {
		if _, serr := s.sums.Write(s.block); serr != nil {
			s.block, s.err = s.block[:0], serr
			return
		}
	}
	switch err {
	case nil:
	case io.EOF, io.ErrUnexpectedEOF:
		s.err = io.EOF
		if serr := s.sums.finish(); serr != nil {
			s.block, s.err = s.block[:0], serr
		}
	default:
		s.block, s.err = s.block[:0], err
	}
}

// Close stops the producer and returns its error, if it failed for a
// reason other than being stopped.
func (s *stream) Close() error {
	s.pr.CloseWithError(errStreamClosed)
	s.cancel()
	err := <-s.done
	if errors.Is(err, errStreamClosed) || errors.Is(err, context.Canceled) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}
