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

// stream produces the archive into a pipe from its own goroutine, and
// checks it from a second one. Close stops both and waits for them.
//
// It hands the archive out one 4 MiB block at a time, and only once the
// block's checksum was compared with the known one or saved: whatever the
// Tus server holds when the process stops, a resume can check all of it,
// so a source that changed without changing its size and time cannot
// leave a mixed archive.
//
// The checker works up to two blocks ahead of the reader, so that the
// compression goes on while a Tus request is in flight instead of waiting
// for it: three blocks (12 MiB) are the memory this costs.
type stream struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
	done   chan error       // the producer's result
	ready  chan streamBlock // checked blocks, in order; closed when the checker ends
	free   chan []byte      // blocks the reader is done with
	stop   chan struct{}    // closed by Close
	cur    streamBlock      // the block being handed out
	next   int              // its first byte not handed out yet
}

// streamBlock is a checked block; err (io.EOF or a failure) is returned
// once b is handed out.
type streamBlock struct {
	b   []byte
	err error
}

// streamBlocks is the number of blocks in flight between the checker and
// the reader.
const streamBlocks = 3

// errStreamClosed ends the producer when the reader stops early.
var errStreamClosed = errors.New("uploader: archive stream closed")

func newStream(ctx context.Context, z dicomscan.Zip, studies []*dicomscan.Study, sums *blockSums) *stream {
	return newStreamFrom(ctx, func(ctx context.Context, w io.Writer) error {
		_, err := z.Write(ctx, w, studies)
		return err
	}, sums)
}

// newStreamFrom is newStream with the archive written by produce.
func newStreamFrom(ctx context.Context, produce func(context.Context, io.Writer) error, sums *blockSums) *stream {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	s := &stream{pr: pr, cancel: cancel, done: make(chan error, 1),
		ready: make(chan streamBlock, streamBlocks-2), free: make(chan []byte, streamBlocks), stop: make(chan struct{})}
	for range streamBlocks {
		s.free <- nil
	}
	go func() {
		err := produce(ctx, pw)
		pw.CloseWithError(err) // nil: EOF
		s.done <- err
	}()
	go s.check(sums)
	return s
}

// check reads the archive block by block, checksums each block and hands
// it to the reader.
func (s *stream) check(sums *blockSums) {
	defer close(s.ready)
	for {
		var buf []byte
		select {
		case buf = <-s.free:
		case <-s.stop:
			return
		}
		if buf == nil {
			buf = make([]byte, blockSize)
		}
		n, err := io.ReadFull(s.pr, buf[:blockSize])
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			// The archive stopped short (the producer failed, or Close):
			// the bytes read are not a whole block, so they are neither
			// checksummed nor handed out.
			n = 0
		}
		blk := streamBlock{b: buf[:n]}
		if n > 0 {
			if _, serr := sums.Write(blk.b); serr != nil {
				blk = streamBlock{b: buf[:0], err: serr}
			}
		}
		switch {
		case blk.err != nil:
		case err == nil:
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			blk.err = io.EOF
			if serr := sums.finish(); serr != nil {
				blk = streamBlock{b: buf[:0], err: serr}
			}
		default:
			blk = streamBlock{b: buf[:0], err: err}
		}
		select {
		case s.ready <- blk:
		case <-s.stop:
			return
		}
		if blk.err != nil {
			return
		}
	}
}

// Read reads the archive, checked block by block.
func (s *stream) Read(p []byte) (int, error) {
	for s.next == len(s.cur.b) {
		if s.cur.err != nil {
			return 0, s.cur.err
		}
		if s.cur.b != nil {
			s.free <- s.cur.b[:0] // never blocks: there are streamBlocks slots
		}
		blk, ok := <-s.ready
		if !ok {
			return 0, errStreamClosed
		}
		s.cur, s.next = blk, 0
	}
	n := copy(p, s.cur.b[s.next:])
	s.next += n
	return n, nil
}

// end is called once Tus has what it needs: it reads the rest of the
// archive, so that its last block is checked (or saved) whole, then closes
// the stream. Tus stops before the end when the server already held the
// bytes, on a resume; closing there would cut the checker in the middle
// of a block, whose checksum could then only be compared against a
// fraction of it. Producing the rest costs no more than the bytes Tus
// skipped on the way.
func (s *stream) end() error {
	_, err := io.Copy(io.Discard, s)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close stops the producer and the checker and returns the producer's
// error, if it failed for a reason other than being stopped.
func (s *stream) Close() error {
	close(s.stop)
	s.pr.CloseWithError(errStreamClosed)
	s.cancel()
	err := <-s.done
	for range s.ready { // the checker has ended once ready is closed
	}
	if errors.Is(err, errStreamClosed) || errors.Is(err, context.Canceled) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}
