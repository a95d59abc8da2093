package dicomnet

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"sync"
)

// DialOptions configures the association [Dial] requests.
type DialOptions struct {
	// CallingAETitle is this application's AE title, CalledAETitle the
	// peer's (1 to 16 characters each).
	CallingAETitle, CalledAETitle string
	// Contexts are the presentation contexts to propose, at most 127
	// (the Verification SOP class is added when absent). An instance can
	// be stored only through an accepted context with its SOP class and
	// its transfer syntax.
	Contexts []PresentationContext
	// TLSConfig, when set, makes the association run over TLS.
	TLSConfig *tls.Config
	// Logger, when set, receives a record per association event. Nil:
	// silent.
	Logger *slog.Logger
}

// PresentationContext proposes one abstract syntax (a SOP class UID) with
// the transfer syntaxes this side can send it in.
type PresentationContext struct {
	AbstractSyntax   string
	TransferSyntaxes []string
}

// Association is an open association requested by [Dial]. Its methods are
// safe for concurrent use; operations run one at a time.
type Association struct {
	mu sync.Mutex // serializes operations and guards the fields below
	c  *conn
	// accepted maps a presentation context ID to its abstract and
	// negotiated transfer syntax.
	accepted map[byte]PresentationContext
	msgID    uint16
	closed   error // non-nil once released or aborted
	log      *slog.Logger
}

// Dial connects to the DICOM peer at addr (host:port), requests an
// association with the options given and returns it once accepted. A
// rejection is a *RejectError. ctx bounds the connection and the
// negotiation only.
func Dial(ctx context.Context, addr string, o DialOptions) (*Association, error) {
	return dial(ctx, addr, o)
}

// Echo sends a C-ECHO and waits for its answer (nil for success).
func (a *Association) Echo(ctx context.Context) error {
	return a.echo(ctx)
}

// Store sends a C-STORE of one dataset: data is the encoded dataset
// without a File Meta group, in transferSyntax, streamed in fragments as
// it is read. It returns the peer's status: the error is a *StatusError
// for a failure status, ErrNoContext when no accepted context has the
// SOP class with the transfer syntax, ErrAborted when the association
// ends. A failed read of data aborts the association. A deflated dataset
// of odd length gets the one NUL byte of padding its syntax prescribes.
func (a *Association) Store(ctx context.Context, sopClass, sopInstance, transferSyntax string, data io.Reader) (Status, error) {
	return a.store(ctx, sopClass, sopInstance, transferSyntax, data)
}

// StoreFile sends a C-STORE of a Part 10 file read from r: the SOP class,
// instance and transfer syntax come from its File Meta group, and the
// dataset after it is sent as it is, byte for byte. See Store.
func (a *Association) StoreFile(ctx context.Context, r io.Reader) (Status, error) {
	return a.storeFile(ctx, r)
}

// Release ends the association in order (A-RELEASE-RQ, then the peer's
// A-RELEASE-RP) and closes the connection; if ctx ends first the
// association is aborted.
func (a *Association) Release(ctx context.Context) error {
	return a.release(ctx)
}

// Abort ends the association at once (A-ABORT) and closes the
// connection; an operation running in another goroutine fails with
// ErrAborted. Aborting a closed association does nothing.
//
// Abort does not wait for a running operation: one waiting on the network
// fails at once; a Store blocked in a Read of the caller's data fails with
// ErrAborted when that Read returns (the connection is already closed, so
// the peer sees the association end at once).
func (a *Association) Abort() error {
	return a.abort()
}
