// Package dicomgen writes realistic synthetic DICOM studies, for tests,
// benchmarks and demos of software that reads or moves DICOM files: a
// scanner, an uploader, a PACS gateway. Nothing in the output comes from
// a real patient.
//
// [Write] lays out Studies × SeriesPerStudy × InstancesPerSeries Part 10
// files under a directory, as study01/series01/IM00001.dcm and so on, and
// returns a [File] for each with the UIDs, modality, patient and transfer
// syntax it wrote, so a test can compare what it reads with what was
// written:
//
//	files, err := dicomgen.Write(ctx, dir, dicomgen.Options{Studies: 2, SeriesPerStudy: 3, InstancesPerSeries: 50})
//
// What the files hold:
//
//   - CT, MR and NM instances ([Options.Modalities], one modality per
//     study), with the headers a viewer or an archive expects: patient,
//     study, series, equipment, geometry, window and, for CT, rescale.
//   - Patients whose names and institutions are written in several
//     character sets, with the matching Specific Character Set (0008,0005):
//     ASCII, ISO_IR 100 (Latin-1), ISO_IR 144 (Cyrillic), ISO_IR 126
//     (Greek), ISO_IR 192 (UTF-8), GB18030, and ISO 2022 IR 87 (Japanese
//     with escape sequences). [File.PatientName] is the decoded text.
//   - Native 16-bit pixel data in implicit or explicit VR little endian or
//     explicit VR big endian (a phantom plus noise, so it compresses like a
//     real image), or encapsulated pixel data that decoders accept: a real
//     baseline JPEG of 8-bit pixels, or RLE Lossless ([Options.TransferSyntaxes],
//     one syntax per series, so one study can mix them).
//
// Everything derives from [Options.Seed]: the same Options give the same
// bytes, and [UID] gives the same UIDs, so golden files and expected
// values stay put. Tests in this package have pydicom and DCMTK read every
// kind of file it writes, and DCMTK decode the encapsulated pixels.
//
// Write reports a modality or transfer syntax it cannot produce as
// [ErrUnsupported], before writing anything.
package dicomgen
