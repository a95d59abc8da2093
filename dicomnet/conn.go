package dicomnet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"
)

// conn is the upper layer over one connection, shared by both roles: it
// reads PDUs and hands out PDVs, sends DIMSE messages in P-DATA fragments,
// and sends the short PDUs. It is used by one goroutine at a time.
type conn struct {
	nc      net.Conn
	rbuf    []byte
	wbuf    []byte
	pdvs    []pdv // the unread PDVs of the last P-DATA-TF
	maxRecv uint32
	maxSend uint32
	idle    time.Duration // per-PDU read and write timeout (0: none)
	log     *slog.Logger
	err     error // sticky: the association is over
}

// errReleaseRQ is what next returns when the peer asks for a release.
var errReleaseRQ = errors.New("dicomnet: release requested")

// errReleaseRP is what next returns when the peer confirms a release.
var errReleaseRP = errors.New("dicomnet: release confirmed")

// deadline sets the timeout for the next read or write.
func (c *conn) deadline() {
	if c.idle > 0 {
		_ = c.nc.SetDeadline(time.Now().Add(c.idle))
	}
}

// watch makes the connection's I/O fail when ctx ends; call the returned
// stop when the operation is over.
func (c *conn) watch(ctx context.Context) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		_ = c.nc.SetDeadline(d)
	} else {
		_ = c.nc.SetDeadline(time.Time{})
	}
	return context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
}

// fail records the first fatal error, mapping connection failures to
// ErrAborted.
func (c *conn) fail(err error) error {
	if c.err != nil {
		return c.err
	}
	switch {
	case errors.Is(err, ErrProtocol), errors.Is(err, ErrAborted), errors.Is(err, errReleaseRQ), errors.Is(err, errReleaseRP):
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: timed out: %v", ErrAborted, err)
	default:
		err = fmt.Errorf("%w: %v", ErrAborted, err)
	}
	c.err = err
	return err
}

// next returns the next PDV, reading a PDU when the last one is used up.
// A-ABORT, A-RELEASE-RQ/RP and a closed connection come back as errors.
func (c *conn) next() (pdv, error) {
	if c.err != nil {
		return pdv{}, c.err
	}
	for len(c.pdvs) == 0 {
		c.deadline()
		typ, body, err := readPDU(c.nc, c.rbuf, c.maxRecv)
		c.rbuf = body[:0]
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				c.sendAbort(2, 6)
			}
			return pdv{}, c.fail(err)
		}
		switch typ {
		case pduPData:
			if c.pdvs, err = decodePData(body, c.pdvs); err != nil {
				c.sendAbort(2, 6)
				return pdv{}, c.fail(err)
			}
		case pduAbort:
			src, reason := -1, -1
			if len(body) == 4 {
				src, reason = int(body[2]), int(body[3])
			}
			return pdv{}, c.fail(fmt.Errorf("%w by the peer (source %d, reason %d)", ErrAborted, src, reason))
		case pduReleaseRQ:
			return pdv{}, errReleaseRQ
		case pduReleaseRP:
			return pdv{}, c.fail(errReleaseRP)
		default:
			c.sendAbort(2, 2) // unexpected PDU
			return pdv{}, c.fail(fmt.Errorf("%w: unexpected PDU type %#02x", ErrProtocol, typ))
		}
	}
	p := c.pdvs[0]
	c.pdvs = c.pdvs[1:]
	return p, nil
}

// readCommand reads the fragments of the next command set and decodes it.
func (c *conn) readCommand() (id byte, cmd *command, err error) {
	var b []byte
	for {
		p, err := c.next()
		if err != nil {
			if errors.Is(err, errReleaseRQ) && len(b) > 0 {
				c.sendAbort(2, 2)
				return 0, nil, c.fail(fmt.Errorf("%w: release requested inside a command", ErrProtocol))
			}
			return 0, nil, err
		}
		if !p.command || (len(b) > 0 && p.id != id) {
			c.sendAbort(2, 6)
			return 0, nil, c.fail(fmt.Errorf("%w: expected a command fragment", ErrProtocol))
		}
		id = p.id
		if len(b)+len(p.data) > maxCommand {
			c.sendAbort(2, 6)
			return 0, nil, c.fail(fmt.Errorf("%w: command set over %d bytes", ErrProtocol, maxCommand))
		}
		b = append(b, p.data...)
		if p.last {
			break
		}
	}
	cmd, err = decodeCommand(b)
	if err != nil {
		c.sendAbort(2, 6)
		return 0, nil, c.fail(err)
	}
	return id, cmd, nil
}

// dataReader streams the dataset fragments of one message.
type dataReader struct {
	c    *conn
	id   byte
	cur  []byte
	last bool // the last fragment has been taken
}

func (d *dataReader) Read(p []byte) (int, error) {
	for len(d.cur) == 0 {
		if d.last {
			return 0, io.EOF
		}
		f, err := d.c.next()
		if errors.Is(err, errReleaseRQ) {
			d.c.sendAbort(2, 2)
			err = d.c.fail(fmt.Errorf("%w: release requested inside a dataset", ErrProtocol))
		}
		if err != nil {
			return 0, fmt.Errorf("dicomnet: dataset incomplete: %w", err)
		}
		if f.command || f.id != d.id {
			d.c.sendAbort(2, 6)
			return 0, d.c.fail(fmt.Errorf("%w: expected a data fragment of context %d", ErrProtocol, d.id))
		}
		d.cur, d.last = f.data, f.last
	}
	n := copy(p, d.cur)
	d.cur = d.cur[n:]
	return n, nil
}

// drain reads the rest of the dataset.
func (d *dataReader) drain() error {
	for !d.last {
		d.cur = nil
		if _, err := d.Read(nil); err != nil && err != io.EOF {
			return err
		}
	}
	d.cur = nil
	return nil
}

// send writes one DIMSE message: the command set, then, if data is not
// nil, the dataset read from it, each in P-DATA-TF PDUs of one PDV no
// longer than the peer accepts. An error reading data is returned as is
// (the caller aborts); write errors abort the association.
func (c *conn) send(id byte, cmd []byte, data io.Reader) error {
	if c.err != nil {
		return c.err
	}
	if err := c.sendFragments(id, true, cmd, nil); err != nil {
		return err
	}
	if data == nil {
		return nil
	}
	return c.sendFragments(id, false, nil, data)
}

// sendFragments sends b, or what r yields, as fragments. With r it reads
// one byte ahead so that the last fragment carries the last-fragment bit.
func (c *conn) sendFragments(id byte, command bool, b []byte, r io.Reader) error {
	const head = pduHeaderLen + 6 // PDU header, PDV length, context ID, control header
	// Fragments have an even length (DCMTK refuses odd ones), except the
	// last one of an odd-length dataset.
	chunk := (int(c.maxSend) - 6) &^ 1
	if len(c.wbuf) < head+chunk {
		c.wbuf = make([]byte, head+chunk)
	}
	carry, hasCarry := byte(0), false
	for {
		data := c.wbuf[head:head]
		last := false
		if r == nil {
			n := min(len(b), chunk)
			data = append(data, b[:n]...)
			b = b[n:]
			last = len(b) == 0
		} else {
			if hasCarry {
				data = append(data, carry)
			}
			n, err := io.ReadFull(r, c.wbuf[head+len(data):head+chunk])
			data = c.wbuf[head : head+len(data)+n]
			switch {
			case err == io.EOF || err == io.ErrUnexpectedEOF:
				last = true
			case err != nil:
				return &readError{err}
			default:
				var one [1]byte
				_, err := io.ReadFull(r, one[:])
				switch {
				case err == io.EOF:
					last = true
				case err != nil:
					return &readError{err}
				}
				carry, hasCarry = one[0], true
			}
		}
		h := appendPData(c.wbuf[:0], id, command, last, nil)
		binary.BigEndian.PutUint32(h[2:], uint32(6+len(data)))
		binary.BigEndian.PutUint32(h[6:], uint32(2+len(data)))
		c.deadline()
		if _, err := c.nc.Write(c.wbuf[:head+len(data)]); err != nil {
			return c.fail(err)
		}
		if last {
			return nil
		}
	}
}

// readError wraps a failure of the caller's dataset reader.
type readError struct{ err error }

func (e *readError) Error() string { return "dicomnet: reading the dataset: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// sendShort writes one of the 4-byte-body PDUs.
func (c *conn) sendShort(typ, b1, b2, b3 byte) error {
	c.deadline()
	_, err := c.nc.Write(encodeShort(typ, b1, b2, b3))
	return err
}

// sendAbort sends an A-ABORT (source 0 service user, 2 service provider)
// unless the association is already over.
func (c *conn) sendAbort(source, reason byte) {
	if c.err == nil {
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.nc.Write(encodeShort(pduAbort, 0, source, reason))
	}
}
