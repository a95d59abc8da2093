package dicomnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"
)

const (
	defaultMaxAssociations = 32
	defaultARTIM           = 30 * time.Second
	defaultIdle            = 5 * time.Minute
	// storageRoot prefixes the storage SOP classes accepted by default.
	storageRoot = "1.2.840.10008.5.1.4.1.1."
	// transferRoot prefixes the standard transfer syntaxes.
	transferRoot = "1.2.840.10008.1.2"
)

// serverAssoc is one connection served by a Server.
type serverAssoc struct {
	s       *Server
	c       *conn
	cancel  context.CancelFunc
	counted bool // holds one of the MaxAssociations slots
}

// check validates the configuration before serving.
func (s *Server) check() error {
	if err := checkAE(s.AETitle); err != nil {
		return fmt.Errorf("dicomnet: Server.AETitle: %w", err)
	}
	for _, ae := range s.CallingAETitles {
		if err := checkAE(ae); err != nil {
			return fmt.Errorf("dicomnet: Server.CallingAETitles: %w", err)
		}
	}
	return nil
}

// checkAE validates an AE title: 1 to 16 characters of the default
// repertoire without backslash or control characters, not all spaces.
func checkAE(ae string) error {
	if strings.TrimSpace(ae) == "" || len(ae) > 16 {
		return fmt.Errorf("AE title %q must have 1 to 16 characters", ae)
	}
	for i := 0; i < len(ae); i++ {
		if ae[i] < 0x20 || ae[i] > 0x7E || ae[i] == '\\' {
			return fmt.Errorf("AE title %q has a forbidden character", ae)
		}
	}
	return nil
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// track adds or removes a listener; adding fails once closing.
func (s *Server) track(ln net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.lns, ln)
		return true
	}
	if s.closing {
		return false
	}
	if s.lns == nil {
		s.lns = map[net.Listener]struct{}{}
	}
	s.lns[ln] = struct{}{}
	return true
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for ln := range s.lns {
		ln.Close()
	}
}

// abortAll aborts every open association.
func (s *Server) abortAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a := range s.assocs {
		a.cancel()
		_ = a.c.nc.SetDeadline(time.Unix(1, 0))
	}
}

// admit registers a new connection; it fails (and the connection is
// closed at once) when twice MaxAssociations connections are open, so
// that a flood of idle connections costs bounded resources.
func (s *Server) admit(a *serverAssoc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || len(s.assocs) >= 2*s.maxAssociations() {
		return false
	}
	if s.assocs == nil {
		s.assocs = map[*serverAssoc]struct{}{}
	}
	s.assocs[a] = struct{}{}
	s.inflight.Add(1)
	return true
}

func (s *Server) maxAssociations() int {
	if s.MaxAssociations > 0 {
		return s.MaxAssociations
	}
	return defaultMaxAssociations
}

// slot takes one of the MaxAssociations slots.
func (s *Server) slot(a *serverAssoc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for o := range s.assocs {
		if o.counted {
			n++
		}
	}
	if n >= s.maxAssociations() {
		return false
	}
	a.counted = true
	return true
}

func (s *Server) forget(a *serverAssoc) {
	s.mu.Lock()
	delete(s.assocs, a)
	s.mu.Unlock()
	s.inflight.Done()
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (s *Server) serveConn(nc net.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	a := &serverAssoc{s: s, cancel: cancel, c: &conn{
		nc:      nc,
		maxRecv: defaultMaxPDU,
		maxSend: defaultMaxPDU,
		idle:    durationOr(s.IdleTimeout, defaultIdle),
		log:     s.Logger,
	}}
	if !s.admit(a) {
		cancel()
		nc.Close()
		return
	}
	go func() {
		defer s.forget(a)
		defer cancel()
		defer nc.Close()
		a.serve(ctx)
	}()
}

func (a *serverAssoc) logf(level slog.Level, msg string, args ...any) {
	if a.c.log != nil {
		a.c.log.Log(context.Background(), level, msg, args...)
	}
}

// serve runs the association: negotiation, then messages until release
// or abort.
func (a *serverAssoc) serve(ctx context.Context) {
	c, s := a.c, a.s
	if c.log != nil {
		c.log = c.log.With("remote", c.nc.RemoteAddr().String())
	}
	artim := durationOr(s.ARTIMTimeout, defaultARTIM)
	_ = c.nc.SetDeadline(time.Now().Add(artim))
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			a.logf(slog.LevelWarn, "dicomnet: TLS handshake failed", "err", err)
			return
		}
	}
	typ, body, err := readPDU(c.nc, nil, maxAssociatePDU)
	if err != nil || typ != pduAssociateRQ {
		if err == nil {
			c.sendAbort(2, 2)
			err = fmt.Errorf("%w: PDU type %#02x before the association request", ErrProtocol, typ)
		}
		a.logf(slog.LevelWarn, "dicomnet: no association request", "err", err)
		return
	}
	rq, err := decodeAssoc(pduAssociateRQ, body)
	if err != nil {
		if errors.Is(err, errVersion) {
			a.reject(rq, true, 2, 2)
		} else {
			c.sendAbort(2, 6)
		}
		a.logf(slog.LevelWarn, "dicomnet: bad association request", "err", err)
		return
	}
	if c.log != nil {
		c.log = c.log.With("calling", rq.calling, "called", rq.called)
	}
	switch {
	case rq.appContext != applicationContextName:
		a.reject(rq, true, 1, 2)
		return
	case rq.called != strings.TrimSpace(s.AETitle):
		a.reject(rq, true, 1, 7)
		return
	case !s.AnyCallingAETitle && !slices.ContainsFunc(s.CallingAETitles, func(ae string) bool { return strings.TrimSpace(ae) == rq.calling }):
		a.reject(rq, true, 1, 3)
		return
	case !s.slot(a):
		a.reject(rq, false, 3, 2)
		return
	}
	ac, accepted := s.negotiate(rq)
	if rq.maxLength != 0 {
		c.maxSend = min(max(rq.maxLength, minPeerPDU), defaultMaxPDU)
	}
	if _, err := c.nc.Write(encodeAssoc(pduAssociateAC, ac)); err != nil {
		a.logf(slog.LevelWarn, "dicomnet: sending A-ASSOCIATE-AC", "err", err)
		return
	}
	a.logf(slog.LevelInfo, "dicomnet: association accepted", "contexts", len(accepted), "proposed", len(rq.contexts))
	for {
		if err := a.message(ctx, rq, accepted); err != nil {
			if errors.Is(err, errReleaseRQ) {
				_ = c.sendShort(pduReleaseRP, 0, 0, 0)
				a.logf(slog.LevelInfo, "dicomnet: association released")
				a.linger(artim)
				return
			}
			if ctx.Err() != nil {
				// Close or Shutdown cut the association: tell the peer
				// (A-ABORT from the service user) rather than just
				// closing the connection.
				_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = c.nc.Write(encodeShort(pduAbort, 0, 0, 0))
			}
			a.logf(slog.LevelWarn, "dicomnet: association aborted", "err", err)
			return
		}
	}
}

// linger waits (ARTIM) for the peer to close after a release.
func (a *serverAssoc) linger(artim time.Duration) {
	_ = a.c.nc.SetReadDeadline(time.Now().Add(artim))
	_, _ = io.Copy(io.Discard, io.LimitReader(a.c.nc, 1<<16))
}

// reject sends an A-ASSOCIATE-RJ.
func (a *serverAssoc) reject(rq *assocRQ, permanent bool, source, reason byte) {
	result := byte(2)
	if permanent {
		result = 1
	}
	_ = a.c.sendShort(pduAssociateRJ, result, source, reason)
	a.logf(slog.LevelWarn, "dicomnet: association rejected", "reason", rejectReason(int(source), int(reason)))
	// The requestor closes the connection on receiving the rejection;
	// ARTIM bounds the wait.
	a.linger(durationOr(a.s.ARTIMTimeout, defaultARTIM))
}

// negotiate answers each proposed presentation context.
func (s *Server) negotiate(rq *assocRQ) (*assocRQ, map[byte]PresentationContext) {
	ac := &assocRQ{
		called: rq.called, calling: rq.calling,
		appContext:   applicationContextName,
		maxLength:    defaultMaxPDU,
		implClassUID: implementationClassUID,
		implVersion:  implementationVersion,
	}
	accepted := map[byte]PresentationContext{}
	roles := map[string]roleItem{}
	for _, r := range rq.roles {
		roles[r.uid] = r
	}
	answered := map[string]bool{}
	for _, pc := range rq.contexts {
		res := pcItem{id: pc.id, result: pcAbstractNotSupport, syntaxes: []string{implicitVRLittleEndian}}
		if pc.abstract != "" && s.acceptsAbstract(pc.abstract) {
			res.result = pcTransferNotSupport
			if ts := s.pickSyntax(pc.abstract, pc.syntaxes); ts != "" {
				res.result, res.syntaxes = pcAccepted, []string{ts}
			}
			// Role selection: this server is the SCP; a requestor that
			// does not offer to be the SCU cannot use the context.
			if r, ok := roles[pc.abstract]; ok && res.result == pcAccepted {
				if r.scu == 0 {
					res.result = pcUserRejection
				} else if !answered[pc.abstract] {
					answered[pc.abstract] = true
					ac.roles = append(ac.roles, roleItem{uid: pc.abstract, scu: 1, scp: 0})
				}
			}
		}
		if res.result == pcAccepted {
			accepted[pc.id] = PresentationContext{AbstractSyntax: pc.abstract, TransferSyntaxes: res.syntaxes}
		}
		ac.contexts = append(ac.contexts, res)
	}
	return ac, accepted
}

func (s *Server) acceptsAbstract(uid string) bool {
	if uid == verificationSOPClass {
		return true
	}
	if s.Handler == nil {
		return false
	}
	if s.SOPClasses == nil {
		return strings.HasPrefix(uid, storageRoot)
	}
	return slices.Contains(s.SOPClasses, uid)
}

// pickSyntax chooses the transfer syntax of a context: the server's
// preference first when it has a list, else the requestor's first
// standard syntax. Verification takes any.
func (s *Server) pickSyntax(abstract string, proposed []string) string {
	if s.TransferSyntaxes != nil && abstract != verificationSOPClass {
		for _, ts := range s.TransferSyntaxes {
			if slices.Contains(proposed, ts) {
				return ts
			}
		}
		return ""
	}
	for _, ts := range proposed {
		if ts == transferRoot || strings.HasPrefix(ts, transferRoot+".") {
			return ts
		}
	}
	return ""
}

// message serves one DIMSE message.
func (a *serverAssoc) message(ctx context.Context, rq *assocRQ, accepted map[byte]PresentationContext) error {
	c := a.c
	id, cmd, err := c.readCommand()
	if err != nil {
		return err
	}
	pc, ok := accepted[id]
	if !ok {
		c.sendAbort(2, 6)
		return c.fail(fmt.Errorf("%w: message on presentation context %d, not accepted", ErrProtocol, id))
	}
	if !cmd.hasMessageID {
		c.sendAbort(2, 6)
		return c.fail(fmt.Errorf("%w: command without Message ID", ErrProtocol))
	}
	var data *dataReader
	if cmd.hasDataSet {
		data = &dataReader{c: c, id: id}
	}
	rsp := &command{field: cmd.field | 0x8000, respondingTo: cmd.messageID, sopClass: cmd.sopClass, sopInstance: cmd.sopInstance}
	switch {
	case cmd.field == cmdCEchoRQ:
		rsp.status = StatusSuccess
	case cmd.field == cmdCStoreRQ && data != nil && cmd.sopClass == pc.AbstractSyntax && cmd.sopInstance != "":
		req := &StoreRequest{
			SOPClassUID: cmd.sopClass, SOPInstanceUID: cmd.sopInstance,
			TransferSyntaxUID: pc.TransferSyntaxes[0],
			CallingAETitle:    rq.calling, CalledAETitle: rq.called,
			RemoteAddr: c.nc.RemoteAddr(),
			Data:       data,
		}
		rsp.status = a.s.Handler.Store(ctx, req)
		level := slog.LevelInfo
		if rsp.status.Failure() {
			level = slog.LevelWarn
		}
		if err := data.drain(); err != nil {
			return err
		}
		a.logf(level, "dicomnet: C-STORE", "sop_class", cmd.sopClass, "sop_instance", cmd.sopInstance, "status", rsp.status)
	case cmd.field == cmdCStoreRQ:
		rsp.status = StatusCannotUnderstand
		if cmd.sopClass != pc.AbstractSyntax {
			rsp.status = 0x0122 // SOP class not supported
		}
	default:
		rsp.status = 0x0211 // unrecognized operation
	}
	if data != nil {
		if err := data.drain(); err != nil {
			return err
		}
	}
	return c.send(id, encodeCommand(rsp), nil)
}
