// Package dicomscan finds DICOM studies in files, directory trees and .zip
// archives, quickly and safely, and writes them as the zip archive the
// Aura uploader sends.
//
// A [Scanner] walks its inputs and reads the header of each file with
// several workers. It returns a [Result]: [Study] values, each holding
// [Series], each holding [Instance] values. Studies and series carry the
// values the Aura uploader sends for them, read from their first file;
// every instance carries its path, size, transfer syntax and SOP Instance
// UID. Text is decoded to UTF-8 by Specific Character Set: ISO_IR 100 and
// the other ISO 8859 sets, ISO_IR 192, GB18030, GBK, and the ISO 2022
// code extensions for Japanese, Korean and Chinese.
//
// The scanner applies the uploader's rules, and fixes where the uploader
// loses data silently:
//
//   - A file needs the 128-byte preamble and "DICM" prefix
//     ([Scanner.AllowNoPreamble] relaxes this).
//   - A DICOMDIR is recognised by its Media Storage SOP Class, not by its
//     name, and is skipped.
//   - Raw Data Storage files whose Protocol Name is "ExamCard" are
//     rejected with a reason.
//   - A file without a Study or Series Instance UID is rejected with a
//     reason. (The uploader zips it under "null/".)
//   - A second file with the same SOP Instance UID is skipped and
//     reported, so each instance counts and uploads once.
//   - Files that are not DICOM are reported as skipped rather than
//     dropped silently.
//
// A problem with one file never stops a scan. It becomes a [*FileError]
// carrying the path and a sentinel cause such as [ErrNotDICOM],
// [ErrTruncated] or [ErrRejected], which [errors.Is] recognises.
//
// The header reader is this package's own. It reads explicit and implicit
// VR little endian, explicit VR big endian, deflated datasets, and
// undefined-length sequences and items. It stops at the first element
// after (0020,0011), the last attribute it needs, so it never reads pixel
// data. It never allocates more than a file holds, whatever lengths the
// file declares. It keeps no value longer than 64 KiB, and limits nesting
// to 64 levels. The fuzz tests check that no input panics it or makes it
// allocate more than 16 MiB. github.com/suyashkumar/dicom v1.1.0 does
// panic and allocate gigabytes on crafted files, so this package uses it
// only in tests, to write and cross-check data.
//
// [Zip] writes the instances as "<StudyInstanceUID>/<name>" entries, where
// name is the relative path with '/' replaced by '-'. Folder and file
// names are made portable (no drive letters such as "C:", no characters or
// device names Windows reserves) and unique, ignoring case
// ([Zip.Entries]). Encapsulated transfer syntaxes are stored; native
// pixel data is deflated with github.com/klauspost/compress, several
// entries at a time. Each source file is read once. Memory stays bounded
// whatever the study size, and zip64 records are written when needed. The
// same files and settings always give the same bytes, so an interrupted
// upload can rebuild the archive and resume. When every entry is stored,
// [Zip.Size] gives the archive size before it is written.
//
// A [Scanner] or [Zip] is safe for concurrent use once configured.
//
// What the package relies on (the Part 10 structure, the transfer
// syntaxes and character sets it reads, the rules, the archive layout and
// naming) is written down in docs/dicom.md in this repository.
package dicomscan
