package deid

import "errors"

// Errors of one file, wrapped with details; check them with errors.Is.
var (
	// ErrNotDICOM means the input is not a Part 10 stream (no preamble and
	// "DICM", or no usable file meta group).
	ErrNotDICOM = errors.New("deid: not a DICOM Part 10 file")
	// ErrBurnedIn means the image declares Burned In Annotation (0028,0301)
	// YES: its pixels may show identifying text, which the profile does
	// not remove. Set Config.AcceptBurnedIn to de-identify it anyway.
	ErrBurnedIn = errors.New("deid: refused: the image declares burned-in annotation (0028,0301) YES, which the profile does not remove; set Config.AcceptBurnedIn to accept it")
	// ErrSyntax means the transfer syntax is not one deid reads: not a
	// standard DICOM transfer syntax (a private one such as GE's implicit
	// big endian).
	ErrSyntax = errors.New("deid: unsupported transfer syntax")
	// ErrTooDeep means sequences are nested deeper than deid follows (64).
	ErrTooDeep = errors.New("deid: sequences nested too deep")
	// ErrMalformed means the data cannot be parsed as DICOM elements, or a
	// value deid must change is not valid for its VR.
	ErrMalformed = errors.New("deid: malformed DICOM data")
	// ErrTooLarge means the input is longer than Config.MaxFileSize.
	ErrTooLarge = errors.New("deid: file too large")
	// ErrDICOMDIR means the input is a DICOMDIR (Media Storage Directory),
	// an index that points at records by byte offset: de-identify the
	// files it lists instead.
	ErrDICOMDIR = errors.New("deid: a DICOMDIR is not de-identified")
)

// ErrKey is returned by New for a key shorter than MinKeySize.
var ErrKey = errors.New("deid: the key must be at least 32 bytes")
