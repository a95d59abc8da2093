package dicomscan

import (
	"errors"
	"fmt"
	"io"
)

// bufSize is the read buffer of one worker. Most CT and MR headers end
// (with the last tag the scan needs) well inside the first 8 KiB.
const bufSize = 8 << 10

// readSize is the size of the first read of a file.
const readSize = 4 << 10

// breader is a small buffered reader for the header parser. It never
// allocates after construction, skips by seeking when the source can seek,
// refuses to skip or read past the known size of the source, and stops at a
// consumption limit for sources it cannot seek (inflated streams, whose
// size is unknown or only declared, as a compressed .zip member's), so
// that a hostile file can cost neither memory nor unbounded work.
type breader struct {
	src   io.Reader
	sk    io.Seeker // nil: skip by reading
	buf   []byte    // len(buf) == bufSize
	r, w  int       // unread bytes are buf[r:w]
	base  int64     // source offset of buf[0]
	size  int64     // total size of the source, or -1 if unknown
	limit int64     // if sk is nil, the parser may not consume past this offset
	eof   bool      // src returned io.EOF
	err   error     // sticky read error other than EOF
}

func (b *breader) reset(src io.Reader, sk io.Seeker, size, limit int64) {
	b.src, b.sk = src, sk
	b.r, b.w, b.base = 0, 0, 0
	b.size, b.limit = size, limit
	b.eof, b.err = false, nil
}

// pos is the source offset of the next unread byte.
func (b *breader) pos() int64 { return b.base + int64(b.r) }

// remaining is the number of source bytes after pos, or -1 if unknown.
func (b *breader) remaining() int64 {
	if b.size < 0 {
		return -1
	}
	return b.size - b.pos()
}

// fill makes at least n bytes (n <= bufSize) available in buf[r:w]. It
// returns io.EOF if the source ended exactly at pos and errTrunc if it ended
// after fewer than n bytes.
func (b *breader) fill(n int) error {
	if b.w-b.r >= n {
		return nil
	}
	if b.sk == nil && b.pos()+int64(n) > b.limit {
		return fmt.Errorf("%w: header larger than %d bytes", ErrMalformed, b.limit)
	}
	if b.r > 0 {
		copy(b.buf, b.buf[b.r:b.w])
		b.w -= b.r
		b.base += int64(b.r)
		b.r = 0
	}
	// Read in steps of readSize: a header usually ends within the first
	// one, and a page-sized read is the cheapest.
	end := min(len(b.buf), max(n, readSize))
	for b.w < n && !b.eof && b.err == nil {
		if b.w >= end {
			end = len(b.buf)
		}
		m, err := b.src.Read(b.buf[b.w:end])
		b.w += m
		if err == io.EOF {
			b.eof = true
		} else if err != nil {
			b.err = err
		}
	}
	if b.w-b.r >= n {
		return nil
	}
	if b.err != nil {
		return b.err
	}
	if b.w == b.r {
		return io.EOF
	}
	return errTrunc
}

// peek returns the next n bytes without consuming them.
func (b *breader) peek(n int) ([]byte, error) {
	if err := b.fill(n); err != nil {
		return nil, err
	}
	return b.buf[b.r : b.r+n], nil
}

// next consumes and returns the next n bytes (n <= bufSize). The slice is
// valid until the next call.
func (b *breader) next(n int) ([]byte, error) {
	p, err := b.peek(n)
	if err != nil {
		if err == io.EOF {
			err = errTrunc
		}
		return nil, err
	}
	b.r += n
	return p, nil
}

// skip consumes n bytes without returning them.
func (b *breader) skip(n int64) error {
	if avail := int64(b.w - b.r); n <= avail {
		b.r += int(n)
		return nil
	}
	if rem := b.remaining(); rem >= 0 && n > rem {
		return errTrunc
	}
	n -= int64(b.w - b.r)
	b.base += int64(b.w)
	b.r, b.w = 0, 0
	if b.sk != nil {
		if _, err := b.sk.Seek(b.base+n, io.SeekStart); err != nil {
			return err
		}
		b.base += n
		return nil
	}
	for n > 0 {
		if b.eof {
			return errTrunc
		}
		if b.err != nil {
			return b.err
		}
		if b.base >= b.limit {
			return fmt.Errorf("%w: header larger than %d bytes", ErrMalformed, b.limit)
		}
		m, err := b.src.Read(b.buf[:min(int64(len(b.buf)), n)])
		n -= int64(m)
		b.base += int64(m)
		if err == io.EOF {
			b.eof = true
		} else if err != nil {
			b.err = err
		}
	}
	return nil
}

// appendN appends the next n bytes to dst. The caller bounds n (the parser
// checks it against maxValue and remaining first), so dst grows by at most
// what the source really holds plus one buffer.
func (b *breader) appendN(dst []byte, n int) ([]byte, error) {
	for n > 0 {
		k := min(n, bufSize)
		p, err := b.next(k)
		if err != nil {
			return dst, err
		}
		dst = append(dst, p...)
		n -= k
	}
	return dst, nil
}

// buffered returns the bytes read from src but not consumed yet, and
// marks them consumed. The deflate path uses it to hand the rest of the
// buffer to the inflater.
func (b *breader) buffered() []byte {
	p := b.buf[b.r:b.w]
	b.base += int64(b.w)
	b.r, b.w = 0, 0
	return p
}

// errTrunc is returned by breader when the source ends inside something the
// parser must read; the parser maps it to ErrTruncated with detail.
var errTrunc = errors.New("unexpected end of file")
