package dicomnet

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Server accepts DICOM associations: it answers C-ECHO (the Verification
// SOP class) and hands every C-STORE to Handler. Configure it before
// Serve; the zero value rejects everyone (it needs AETitle, and
// CallingAETitles or AnyCallingAETitle). Its methods are safe for
// concurrent use.
type Server struct {
	// AETitle is the called AE title this server answers to (1 to 16
	// characters). An association request naming another one is rejected
	// (A-ASSOCIATE-RJ, "called AE title not recognized").
	AETitle string
	// CallingAETitles lists the peers allowed to associate; a request
	// from any other calling AE title is rejected ("calling AE title not
	// recognized"). Empty: nobody, unless AnyCallingAETitle.
	CallingAETitles []string
	// AnyCallingAETitle accepts every calling AE title. An AE title is
	// not authentication, but with this set anyone who can reach the port
	// and knows AETitle can store data (through Handler) and learn that
	// the server exists; use it on trusted networks or with TLSConfig
	// requiring client certificates.
	AnyCallingAETitle bool
	// Handler receives the C-STOREs. Nil: only the Verification SOP
	// class (C-ECHO) is accepted, and storage contexts are rejected.
	Handler StoreHandler
	// SOPClasses lists the storage SOP classes (abstract syntaxes)
	// accepted. Nil: every storage SOP class, that is every UID under
	// 1.2.840.10008.5.1.4.1.1. Other abstract syntaxes get their
	// presentation context rejected ("abstract syntax not supported").
	SOPClasses []string
	// TransferSyntaxes lists the transfer syntaxes accepted, in the
	// server's order of preference. Nil: every standard transfer syntax
	// (UIDs under 1.2.840.10008.1.2), in the requestor's order of
	// preference. Datasets are never converted, so any syntax can be
	// stored as received.
	TransferSyntaxes []string
	// MaxAssociations bounds the associations served at once; a request
	// beyond it is rejected as transient ("local limit exceeded") [32].
	MaxAssociations int
	// ARTIMTimeout bounds the wait for the A-ASSOCIATE-RQ after a
	// connection opens, and for the peer to close after a release or an
	// abort [30s].
	ARTIMTimeout time.Duration
	// IdleTimeout aborts an association when no PDU arrives for this
	// long, mid-dataset included [5m].
	IdleTimeout time.Duration
	// TLSConfig, when set, makes the server speak TLS on every
	// connection (DICOM secure transport, PS3.15 B.1). Set ClientAuth to
	// tls.RequireAndVerifyClientCert to admit only known peers.
	TLSConfig *tls.Config
	// Logger, when set, receives one record per association event
	// (accepted, rejected, stored, released, aborted) carrying the remote
	// address and the AE titles. Nil: silent.
	Logger *slog.Logger

	mu       sync.Mutex // guards the fields below
	lns      map[net.Listener]struct{}
	assocs   map[*serverAssoc]struct{}
	closing  bool
	inflight sync.WaitGroup
}

// StoreHandler stores the instances a [Server] receives.
type StoreHandler interface {
	// Store reads req.Data to its end and stores the instance, returning
	// the status to send back: StatusSuccess only once the instance is
	// safely kept, and only if req.Data returned io.EOF (an error from
	// req.Data means the dataset is incomplete: the peer aborted, the
	// connection dropped or timed out). ctx ends when the server cuts the
	// association (Close, or Shutdown's deadline). Calls for different
	// associations run concurrently; one association's calls run in turn.
	Store(ctx context.Context, req *StoreRequest) Status
}

// StoreFunc adapts a function to a [StoreHandler].
type StoreFunc func(ctx context.Context, req *StoreRequest) Status

// Store calls f.
func (f StoreFunc) Store(ctx context.Context, req *StoreRequest) Status { return f(ctx, req) }

// StoreRequest is one C-STORE received by a [Server].
type StoreRequest struct {
	// SOPClassUID and SOPInstanceUID are the Affected SOP Class and
	// Instance UIDs of the C-STORE command.
	SOPClassUID, SOPInstanceUID string
	// TransferSyntaxUID is the transfer syntax negotiated for the
	// presentation context, in which Data is encoded.
	TransferSyntaxUID string
	// CallingAETitle is the peer's AE title, CalledAETitle the server's.
	CallingAETitle, CalledAETitle string
	// RemoteAddr is the peer's network address.
	RemoteAddr net.Addr
	// Data streams the dataset as sent, without a File Meta group. It
	// returns io.EOF after the last byte of a complete dataset, and an
	// error wrapping ErrAborted if the association ends before. It is
	// valid until Store returns; what Store leaves unread is discarded.
	Data io.Reader
}

// WritePart10 writes the instance as a Part 10 file to w: the preamble,
// "DICM", a File Meta group (media storage SOP class and instance from the
// command, the negotiated transfer syntax, this package's implementation
// class UID and version name, the calling AE title as source), then Data
// copied byte for byte. It returns the bytes written and, if Data ended
// early, its error (wrapping ErrAborted): the file must then be discarded.
func (r *StoreRequest) WritePart10(w io.Writer) (int64, error) {
	return writePart10(w, r)
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln and serves each association in its own
// goroutine until Shutdown or Close, then returns ErrServerClosed; ln is
// closed on return. Like http.Server.Serve it takes no context: Shutdown
// is the way to stop it.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.check(); err != nil {
		ln.Close()
		return err
	}
	if !s.track(ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.track(ln, false)
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if s.TLSConfig != nil {
			c = tls.Server(c, s.TLSConfig)
		}
		s.serveConn(c)
	}
}

// Shutdown stops accepting connections and waits for the open
// associations to end (their peers release them), until ctx ends: then it
// aborts those left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.abortAll()
		<-done
		return ctx.Err()
	}
}

// Close stops accepting connections and aborts every open association at
// once; handlers see their context end and their Data fail.
func (s *Server) Close() error {
	s.closeListeners()
	s.abortAll()
	s.inflight.Wait()
	return nil
}
