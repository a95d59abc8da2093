package dicomscan

import (
	"errors"
	"strings"
)

// Sentinel errors classify per-file outcomes. Each reaches the caller
// wrapped in a [*FileError] that names the file; test with [errors.Is].
//
// Files set aside by the walk, reported in [Result.Skipped] (or
// [Result.Rejected]):
var (
	// ErrNotDICOM: the file is not a DICOM Part 10 file (no "DICM" prefix
	// after the 128-byte preamble; see [Scanner.AllowNoPreamble]).
	// Reported in [Result.Skipped].
	ErrNotDICOM = errors.New("dicomscan: not a DICOM file")
	// ErrDICOMDIR: the file is a DICOMDIR (Media Storage SOP Class
	// 1.2.840.10008.1.3.10), an index rather than an image. Skipped.
	ErrDICOMDIR = errors.New("dicomscan: DICOMDIR")
	// ErrDuplicate: another file with the same SOP Instance UID was found
	// first; the instance is counted and zipped once. Skipped.
	ErrDuplicate = errors.New("dicomscan: duplicate SOP Instance UID")
	// ErrNotRegular: a device, pipe, socket or a symbolic link to a
	// directory (links to directories are not followed). Skipped.
	ErrNotRegular = errors.New("dicomscan: not a regular file")
	// ErrRejected: a DICOM file excluded by a rule of the Aura uploader
	// (Raw Data Storage with Protocol Name "ExamCard") or because it has no
	// Study or Series Instance UID. Reported in [Result.Rejected].
	ErrRejected = errors.New("dicomscan: rejected")
)

// Files that could not be read, reported in [Result.Errors]:
var (
	// ErrMalformed: the header breaks the DICOM encoding rules (bad lengths,
	// nesting too deep, a value too long). Reported in [Result.Errors].
	ErrMalformed = errors.New("dicomscan: malformed DICOM header")
	// ErrTruncated: the file ends inside the header. Reported in
	// [Result.Errors].
	ErrTruncated = errors.New("dicomscan: truncated DICOM header")
	// ErrArchive: a .zip input could not be read as a zip archive.
	// Reported in [Result.Errors].
	ErrArchive = errors.New("dicomscan: bad zip archive")
)

// Errors of the zip writer ([Zip]):
var (
	// ErrChanged: a file's size changed between the scan and the zip, so
	// the archive would not match what was scanned. Returned by [Zip.Write].
	ErrChanged = errors.New("dicomscan: file changed since the scan")
	// ErrSizeUnknown: [Zip.Size] cannot know the archive size in advance
	// because some entries are deflated.
	ErrSizeUnknown = errors.New("dicomscan: archive size unknown before compression")
)

// FileError is a problem with one file. Path is the file as found by the
// walk; for a member of a .zip input it is the archive path joined with the
// member name. Err is one of the sentinel errors above (possibly wrapped
// with detail) or an I/O error from the os package.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return "dicomscan: " + e.Path + ": " + e.Reason() }

// Unwrap returns the cause, so errors.Is(err, ErrNotDICOM) and
// errors.Is(err, fs.ErrNotExist) work.
func (e *FileError) Unwrap() error { return e.Err }

// Reason is the cause as text without the package prefix and the path, for
// reports such as the "reason" and "error" fields of examples/scan.
func (e *FileError) Reason() string {
	if e.Err == nil {
		return "unknown error"
	}
	return strings.TrimPrefix(e.Err.Error(), "dicomscan: ")
}
