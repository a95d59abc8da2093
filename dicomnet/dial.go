package dicomnet

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// maxContexts is the most presentation contexts an association can
// propose: their IDs are the odd numbers 1 to 255.
const maxContexts = 128

func dial(ctx context.Context, addr string, o DialOptions) (*Association, error) {
	if err := checkAE(o.CallingAETitle); err != nil {
		return nil, fmt.Errorf("dicomnet: DialOptions.CallingAETitle: %w", err)
	}
	if err := checkAE(o.CalledAETitle); err != nil {
		return nil, fmt.Errorf("dicomnet: DialOptions.CalledAETitle: %w", err)
	}
	pcs := o.Contexts
	if !slices.ContainsFunc(pcs, func(p PresentationContext) bool { return p.AbstractSyntax == verificationSOPClass }) {
		pcs = append(slices.Clip(pcs), PresentationContext{AbstractSyntax: verificationSOPClass, TransferSyntaxes: []string{implicitVRLittleEndian}})
	}
	if len(pcs) > maxContexts {
		return nil, fmt.Errorf("dicomnet: %d presentation contexts proposed (Verification included), at most %d", len(pcs), maxContexts)
	}
	rq := &assocRQ{
		called: o.CalledAETitle, calling: o.CallingAETitle,
		appContext:   applicationContextName,
		maxLength:    defaultMaxPDU,
		implClassUID: implementationClassUID,
		implVersion:  implementationVersion,
	}
	for i, p := range pcs {
		if p.AbstractSyntax == "" || len(p.TransferSyntaxes) == 0 {
			return nil, fmt.Errorf("dicomnet: presentation context %d needs an abstract syntax and transfer syntaxes", i)
		}
		rq.contexts = append(rq.contexts, pcItem{id: byte(2*i + 1), abstract: p.AbstractSyntax, syntaxes: p.TransferSyntaxes})
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dicomnet: %w", err)
	}
	if o.TLSConfig != nil {
		cfg := o.TLSConfig.Clone()
		if cfg.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				cfg.ServerName = host
			}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("dicomnet: TLS: %w", err)
		}
		nc = tc
	}
	a := &Association{c: &conn{nc: nc, maxRecv: defaultMaxPDU, maxSend: defaultMaxPDU}, accepted: map[byte]PresentationContext{}}
	if o.Logger != nil {
		a.log = o.Logger.With("remote", addr, "calling", o.CallingAETitle, "called", o.CalledAETitle)
	}
	if err := a.negotiate(ctx, rq); err != nil {
		nc.Close()
		return nil, err
	}
	return a, nil
}

func (a *Association) logf(level slog.Level, msg string, args ...any) {
	if a.log != nil {
		a.log.Log(context.Background(), level, msg, args...)
	}
}

// negotiate sends the A-ASSOCIATE-RQ and reads the answer.
func (a *Association) negotiate(ctx context.Context, rq *assocRQ) error {
	c := a.c
	stop := c.watch(ctx)
	defer stop()
	if _, err := c.nc.Write(encodeAssoc(pduAssociateRQ, rq)); err != nil {
		return fmt.Errorf("dicomnet: sending A-ASSOCIATE-RQ: %w", err)
	}
	typ, body, err := readPDU(c.nc, nil, maxAssociatePDU)
	if err != nil {
		return fmt.Errorf("dicomnet: reading the association answer: %w", err)
	}
	switch typ {
	case pduAssociateAC:
	case pduAssociateRJ:
		if len(body) != 4 {
			return fmt.Errorf("%w: A-ASSOCIATE-RJ of %d bytes", ErrProtocol, len(body))
		}
		err := &RejectError{Permanent: body[1] == 1, Source: int(body[2]), Reason: int(body[3])}
		a.logf(slog.LevelWarn, "dicomnet: association rejected", "err", err)
		return err
	case pduAbort:
		return fmt.Errorf("%w by the peer during negotiation", ErrAborted)
	default:
		c.sendAbort(2, 2)
		return fmt.Errorf("%w: PDU type %#02x in answer to A-ASSOCIATE-RQ", ErrProtocol, typ)
	}
	ac, err := decodeAssoc(pduAssociateAC, body)
	if err != nil {
		c.sendAbort(2, 6)
		return err
	}
	for _, pc := range ac.contexts {
		i := int(pc.id-1) / 2
		if pc.result != pcAccepted || pc.id%2 == 0 || i >= len(rq.contexts) || len(pc.syntaxes) != 1 ||
			!slices.Contains(rq.contexts[i].syntaxes, pc.syntaxes[0]) {
			continue
		}
		a.accepted[pc.id] = PresentationContext{AbstractSyntax: rq.contexts[i].abstract, TransferSyntaxes: pc.syntaxes}
	}
	if ac.maxLength != 0 {
		c.maxSend = min(max(ac.maxLength, minPeerPDU), defaultMaxPDU)
	}
	a.logf(slog.LevelInfo, "dicomnet: association accepted", "contexts", len(a.accepted), "proposed", len(rq.contexts), "peer_implementation", ac.implClassUID)
	return nil
}

// begin starts an operation: it checks the association is open and ties
// the connection's I/O to ctx.
func (a *Association) begin(ctx context.Context) (stop func() bool, err error) {
	if a.closed != nil {
		return nil, a.closed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return a.c.watch(ctx), nil
}

// end finishes an operation; a failure that leaves the association in an
// unknown state aborts it.
func (a *Association) end(ctx context.Context, stop func() bool, err error) error {
	stop()
	if err == nil {
		return nil
	}
	var se *StatusError
	if errors.As(err, &se) || errors.Is(err, ErrNoContext) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		err = fmt.Errorf("dicomnet: %w (association aborted)", cerr)
	}
	a.abortLocked()
	a.logf(slog.LevelWarn, "dicomnet: association aborted", "err", err)
	return err
}

// roundTrip sends a request on context id and reads its response.
func (a *Association) roundTrip(id byte, rq *command, data io.Reader) (*command, error) {
	a.msgID++
	rq.messageID = a.msgID
	if err := a.c.send(id, encodeCommand(rq), data); err != nil {
		return nil, err
	}
	rid, rsp, err := a.c.readCommand()
	if errors.Is(err, errReleaseRQ) {
		a.c.sendAbort(2, 2)
		return nil, a.c.fail(fmt.Errorf("%w: release requested by the acceptor", ErrProtocol))
	}
	if err != nil {
		return nil, err
	}
	if rid != id || rsp.field != rq.field|0x8000 || rsp.respondingTo != rq.messageID || !rsp.hasStatus || rsp.hasDataSet {
		a.c.sendAbort(2, 6)
		return nil, a.c.fail(fmt.Errorf("%w: unexpected response (command %#04x to message %d)", ErrProtocol, rsp.field, rsp.respondingTo))
	}
	if rsp.status.Failure() {
		return rsp, &StatusError{Status: rsp.status, Comment: rsp.errorComment}
	}
	return rsp, nil
}

// contextFor finds an accepted context for an abstract syntax and, if
// not empty, a transfer syntax.
func (a *Association) contextFor(abstract, ts string) (byte, bool) {
	ids := make([]byte, 0, len(a.accepted))
	for id := range a.accepted {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		pc := a.accepted[id]
		if pc.AbstractSyntax == abstract && (ts == "" || pc.TransferSyntaxes[0] == ts) {
			return id, true
		}
	}
	return 0, false
}

func (a *Association) echo(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	stop, err := a.begin(ctx)
	if err != nil {
		return err
	}
	id, ok := a.contextFor(verificationSOPClass, "")
	if !ok {
		return a.end(ctx, stop, fmt.Errorf("%w: the peer refused the Verification SOP class", ErrNoContext))
	}
	_, err = a.roundTrip(id, &command{field: cmdCEchoRQ, sopClass: verificationSOPClass}, nil)
	return a.end(ctx, stop, err)
}

func (a *Association) store(ctx context.Context, sopClass, sopInstance, ts string, data io.Reader) (Status, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	stop, err := a.begin(ctx)
	if err != nil {
		return 0, err
	}
	id, ok := a.contextFor(sopClass, ts)
	if !ok {
		return 0, a.end(ctx, stop, fmt.Errorf("%w: SOP class %s in transfer syntax %s", ErrNoContext, sopClass, ts))
	}
	if sopInstance == "" {
		return 0, a.end(ctx, stop, errors.New("dicomnet: Store needs a SOP instance UID"))
	}
	if ts == dicomio.DeflatedExplicitVRLE {
		data = &evenReader{r: data}
	}
	rsp, err := a.roundTrip(id, &command{field: cmdCStoreRQ, sopClass: sopClass, sopInstance: sopInstance, hasDataSet: true}, data)
	if err = a.end(ctx, stop, err); rsp == nil {
		return 0, err
	}
	a.logf(slog.LevelInfo, "dicomnet: C-STORE", "sop_instance", sopInstance, "status", rsp.status)
	return rsp.status, err
}

func (a *Association) storeFile(ctx context.Context, r io.Reader) (Status, error) {
	br := bufio.NewReaderSize(r, 32<<10)
	m, err := readFileMeta(br)
	if err != nil {
		return 0, err
	}
	return a.store(ctx, m.MediaStorageSOPClassUID, m.MediaStorageSOPInstanceUID, m.TransferSyntaxUID, br)
}

func (a *Association) release(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	stop, err := a.begin(ctx)
	if err != nil {
		return err
	}
	c := a.c
	if err := c.sendShort(pduReleaseRQ, 0, 0, 0); err != nil {
		return a.end(ctx, stop, c.fail(err))
	}
	for {
		_, err := c.next()
		if errors.Is(err, errReleaseRP) {
			stop()
			a.closed = fmt.Errorf("%w: the association was released", ErrAborted)
			a.logf(slog.LevelInfo, "dicomnet: association released")
			return c.nc.Close()
		}
		if err != nil {
			return a.end(ctx, stop, err)
		}
		// A P-DATA-TF here answers nothing of ours: ignore it.
	}
}

func (a *Association) abort() error {
	// Interrupt a running operation first: it holds mu until its I/O
	// fails, then aborts the association itself.
	_ = a.c.nc.SetDeadline(time.Unix(1, 0))
	if !a.mu.TryLock() {
		// An operation is running. Blocked on the network, the deadline
		// has already cut it; blocked reading the caller's data, nothing
		// can, so close the connection rather than wait: the peer sees
		// the association end now, and the operation's next write fails
		// and aborts it (an A-ABORT cannot be sent in the middle of its
		// P-DATA, as when the deadline cuts it).
		a.c.nc.Close()
		return nil
	}
	defer a.mu.Unlock()
	a.abortLocked()
	return nil
}

func (a *Association) abortLocked() {
	if a.closed != nil {
		return
	}
	a.c.sendAbort(0, 0)
	a.c.fail(errors.New("aborted by this side"))
	a.closed = fmt.Errorf("%w: association aborted by this side", ErrAborted)
	_ = a.c.nc.SetDeadline(time.Time{})
	a.c.nc.Close()
}

// readFileMeta reads a Part 10 preamble and File Meta group from br,
// leaving br at the first byte of the dataset.
func readFileMeta(br *bufio.Reader) (dicomio.Meta, error) {
	var m dicomio.Meta
	pre := make([]byte, 132)
	if _, err := io.ReadFull(br, pre); err != nil || string(pre[128:]) != "DICM" {
		return m, fmt.Errorf("dicomnet: %w", dicomio.ErrNotPart10)
	}
	for {
		b, _ := br.Peek(dicomio.HeaderSize)
		if len(b) < 2 || b[0] != 0x02 || b[1] != 0x00 {
			break
		}
		h, n, err := dicomio.DecodeHeader(b, dicomio.ExplicitLittle)
		if err != nil || n == 0 || h.Length > 1<<16 {
			return m, fmt.Errorf("dicomnet: file meta information: %w", dicomio.ErrMalformed)
		}
		v := make([]byte, n+int(h.Length))
		if _, err := io.ReadFull(br, v); err != nil {
			return m, fmt.Errorf("dicomnet: file meta information: %w", err)
		}
		v = v[n:]
		switch h.Tag {
		case dicomio.TagMediaStorageSOPClassUID:
			m.MediaStorageSOPClassUID = trimUID(v)
		case dicomio.TagMediaStorageSOPInstanceUID:
			m.MediaStorageSOPInstanceUID = trimUID(v)
		case dicomio.TagTransferSyntaxUID:
			m.TransferSyntaxUID = trimUID(v)
		}
	}
	if m.MediaStorageSOPClassUID == "" || m.MediaStorageSOPInstanceUID == "" || m.TransferSyntaxUID == "" {
		return m, fmt.Errorf("dicomnet: file meta information lacks the SOP class, instance or transfer syntax UID")
	}
	return m, nil
}

// evenReader pads a stream of odd length with one NUL byte: a deflated
// dataset must have an even length, and the padding is what the deflated
// transfer syntax prescribes (see docs/dicom-network.md, "Streaming and
// storage").
type evenReader struct {
	r io.Reader
	n int64
}

func (e *evenReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if err == io.EOF && e.n%2 == 1 {
		if n == len(p) {
			return n, nil // no room: pad on the next call
		}
		p[n] = 0
		e.n++
		n++
	}
	return n, err
}
