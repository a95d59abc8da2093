package tusclient

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"io"

	"github.com/dicombridge/dicombridge/internal/retry"
)

// chunk is the data the next request carries: bytes [off, off+n) of the
// source.
type chunk struct {
	open  func() io.Reader // a fresh reader over the n bytes
	n     int64
	final bool   // no data follows; total is then the source's length
	total int64  // valid when final
	mem   []byte // the bytes themselves, when the source buffers them
}

// source gives an upload its data.
type source interface {
	// chunk returns at most max bytes starting at off. off is always an
	// offset the server has confirmed.
	chunk(off, max int64) (chunk, error)
	// length is the data length, or -1 while unknown.
	length() int64
	// canRestart reports whether the data can be sent again from 0.
	canRestart() bool
}

// readerAtSource reads [base, base+size) of an io.ReaderAt. It holds no
// buffer: every request opens an io.SectionReader.
type readerAtSource struct {
	ra   io.ReaderAt
	base int64
	size int64
}

func (s *readerAtSource) chunk(off, max int64) (chunk, error) {
	n := min(max, s.size-off)
	if off > s.size || n < 0 {
		return chunk{}, permanentf(ErrProtocol, "server offset %d beyond upload length %d", off, s.size)
	}
	ra, at := s.ra, s.base+off
	return chunk{
		open:  func() io.Reader { return io.NewSectionReader(ra, at, n) },
		n:     n,
		final: off+n == s.size,
		total: s.size,
	}, nil
}

func (s *readerAtSource) length() int64    { return s.size }
func (s *readerAtSource) canRestart() bool { return true }

// streamSource reads a one-way io.Reader through one buffer of chunk+1
// bytes, allocated once. The buffer holds data[start : start+len(buf)]; the
// extra byte tells whether the stream ends with the current chunk, so the
// last PATCH can carry Upload-Length.
type streamSource struct {
	r        io.Reader
	declared int64 // the size the caller gave, or -1
	buf      []byte
	start    int64
	eof      bool
}

func newStreamSource(r io.Reader, declared, chunkSize int64) *streamSource {
	return &streamSource{r: r, declared: declared, buf: make([]byte, 0, chunkSize+1)}
}

func (s *streamSource) length() int64 {
	if s.declared >= 0 {
		return s.declared
	}
	if s.eof {
		return s.start + int64(len(s.buf))
	}
	return -1
}

func (s *streamSource) canRestart() bool { return s.start == 0 }

// advance drops the bytes before off, reading and discarding from the
// stream if off lies beyond the buffer (resuming a stream after a restart).
func (s *streamSource) advance(off int64) error {
	if off < s.start {
		return retry.Permanent(fmt.Errorf("%w: server wants offset %d, the oldest byte still held is %d", ErrStreamRewind, off, s.start))
	}
	k := off - s.start
	if k <= int64(len(s.buf)) {
		n := copy(s.buf, s.buf[k:])
		s.buf = s.buf[:n]
		s.start = off
		return nil
	}
	skip := k - int64(len(s.buf))
	s.buf = s.buf[:0]
	if s.eof {
		return retry.Permanent(fmt.Errorf("%w: stream ended at %d, server holds %d bytes", ErrSourceChanged, s.start+k-skip, off))
	}
	m, err := io.CopyN(io.Discard, s.r, skip)
	if err == io.EOF {
		return retry.Permanent(fmt.Errorf("%w: stream ended at %d, server holds %d bytes", ErrSourceChanged, off-skip+m, off))
	}
	if err != nil {
		return &sourceError{err}
	}
	s.start = off
	return nil
}

// fill reads until the buffer is full or the stream ends.
func (s *streamSource) fill() error {
	for !s.eof && len(s.buf) < cap(s.buf) {
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			return &sourceError{err}
		}
	}
	have := s.start + int64(len(s.buf))
	if s.declared >= 0 && (have > s.declared || (s.eof && have != s.declared)) {
		return retry.Permanent(fmt.Errorf("%w: stream declared %d bytes, has at least %d", ErrSourceChanged, s.declared, have))
	}
	return nil
}

func (s *streamSource) chunk(off, max int64) (chunk, error) {
	if err := s.advance(off); err != nil {
		return chunk{}, err
	}
	if err := s.fill(); err != nil {
		return chunk{}, err
	}
	n := min(max, int64(len(s.buf)))
	mem := s.buf[:n]
	c := chunk{
		open: func() io.Reader { return bytes.NewReader(mem) },
		n:    n,
		mem:  mem,
	}
	if s.eof && n == int64(len(s.buf)) {
		c.final = true
		c.total = s.start + n
	}
	return c, nil
}

// newHash returns the hash for a Tus checksum algorithm name, or nil.
func newHash(algo string) hash.Hash {
	switch algo {
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	case "sha512":
		return sha512.New()
	case "md5":
		return md5.New()
	}
	return nil
}

// checksum returns the Upload-Checksum value for c: "algo base64digest".
// buf is scratch space for reading sources that do not hold the bytes.
func checksum(algo string, c chunk, buf []byte) (string, error) {
	h := newHash(algo)
	if c.mem != nil {
		h.Write(c.mem)
	} else {
		n, err := io.CopyBuffer(h, c.open(), buf)
		if err != nil {
			return "", &sourceError{err}
		}
		if n != c.n {
			return "", retry.Permanent(fmt.Errorf("%w: read %d of %d bytes", ErrSourceChanged, n, c.n))
		}
	}
	return algo + " " + base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}
