package dicomnet

import (
	"errors"
	"fmt"
)

// Status is a DIMSE status code (PS3.7 annex C): 0x0000 success, 0x0001
// and 0xB000-0xBFFF warnings, 0xFF00 and 0xFF01 pending, everything else a
// failure. A [StoreHandler] returns one for each C-STORE it receives.
type Status uint16

// Statuses a C-STORE provider commonly returns (PS3.4 B.2.3).
const (
	// StatusSuccess: the instance is stored.
	StatusSuccess Status = 0x0000
	// StatusCoercion (warning): stored with some elements changed.
	StatusCoercion Status = 0xB000
	// StatusOutOfResources (failure): no room to store the instance.
	StatusOutOfResources Status = 0xA700
	// StatusDataSetMismatch (failure): the dataset does not match the SOP
	// class.
	StatusDataSetMismatch Status = 0xA900
	// StatusCannotUnderstand (failure): the dataset cannot be parsed.
	StatusCannotUnderstand Status = 0xC000
	// StatusProcessingFailure (failure): any other failure, for example an
	// interrupted dataset.
	StatusProcessingFailure Status = 0x0110
)

// Failure reports whether s is neither success, warning nor pending.
func (s Status) Failure() bool {
	switch {
	case s == 0x0000, s == 0x0001, s >= 0xB000 && s <= 0xBFFF, s == 0xFF00, s == 0xFF01:
		return false
	}
	return true
}

// String returns the status as 0x%04X with its meaning when known.
func (s Status) String() string {
	name := map[Status]string{
		StatusSuccess:           "success",
		StatusCoercion:          "warning: coercion of data elements",
		StatusOutOfResources:    "out of resources",
		StatusDataSetMismatch:   "data set does not match SOP class",
		StatusCannotUnderstand:  "cannot understand",
		StatusProcessingFailure: "processing failure",
		0x0122:                  "SOP class not supported",
		0x0211:                  "unrecognized operation",
	}[s]
	if name == "" {
		switch {
		case s == 0xFF00 || s == 0xFF01:
			name = "pending"
		case !s.Failure():
			name = "warning"
		default:
			name = "failure"
		}
	}
	return fmt.Sprintf("0x%04X (%s)", uint16(s), name)
}

// Errors about the association as a whole.
var (
	// ErrAborted means the association ended with an A-ABORT, or its
	// connection closed, before the operation completed, or that the
	// association is no longer open (aborted or released) when an
	// operation starts. A dataset being received when this happens is
	// incomplete.
	ErrAborted = errors.New("dicomnet: association aborted")
	// ErrProtocol means the peer sent something the protocol does not
	// allow (a malformed or unexpected PDU or command); the association
	// is aborted.
	ErrProtocol = errors.New("dicomnet: protocol error")
	// ErrNoContext means no accepted presentation context has the SOP
	// class and transfer syntax an operation needs.
	ErrNoContext = errors.New("dicomnet: no accepted presentation context")
	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("dicomnet: server closed")
)

// RejectError is returned by [Dial] when the peer answers the association
// request with an A-ASSOCIATE-RJ (PS3.8 9.3.4).
type RejectError struct {
	// Permanent is true for "rejected-permanent", false for
	// "rejected-transient" (retrying later may succeed).
	Permanent bool
	// Source is who rejected: 1 the service user, 2 the ACSE provider, 3
	// the presentation provider.
	Source int
	// Reason is the reason code of that source; for the service user 3
	// means calling AE title not recognized, 7 called AE title not
	// recognized.
	Reason int
}

// Error describes the rejection.
func (e *RejectError) Error() string {
	kind := "transient"
	if e.Permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("dicomnet: association rejected (%s): %s", kind, rejectReason(e.Source, e.Reason))
}

func rejectReason(source, reason int) string {
	switch {
	case source == 1 && reason == 1, source == 2 && reason == 1:
		return "no reason given"
	case source == 1 && reason == 2:
		return "application context name not supported"
	case source == 1 && reason == 3:
		return "calling AE title not recognized"
	case source == 1 && reason == 7:
		return "called AE title not recognized"
	case source == 2 && reason == 2:
		return "protocol version not supported"
	case source == 3 && reason == 1:
		return "temporary congestion"
	case source == 3 && reason == 2:
		return "local limit exceeded"
	}
	return fmt.Sprintf("source %d reason %d", source, reason)
}

// StatusError is returned by [Association.Store] and [Association.Echo]
// when the peer answers with a failure status.
type StatusError struct {
	Status Status
	// Comment is the peer's Error Comment (0000,0902), if any.
	Comment string
}

// Error gives the status and the peer's comment.
func (e *StatusError) Error() string {
	if e.Comment != "" {
		return fmt.Sprintf("dicomnet: peer answered %v: %q", e.Status, e.Comment)
	}
	return fmt.Sprintf("dicomnet: peer answered %v", e.Status)
}
