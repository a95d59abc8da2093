// Package deid de-identifies DICOM Part 10 files before they leave the
// site, applying the Basic Application Level Confidentiality Profile of
// DICOM PS3.15 Annex E, with keyed, deterministic pseudonyms.
//
// A [Profile] is built once from a [Config] by [New], which refuses keys
// shorter than [MinKeySize]. [Profile.Apply] then reads one Part 10 stream
// and writes its de-identified copy, element by element:
//
//	p, err := deid.New(deid.Config{Key: key})
//	res, err := p.Apply(ctx, dst, src)
//	// res.SOPInstanceUID, res.StudyInstanceUID... are the new UIDs.
//
// What Apply does, on every attribute at every depth of sequences:
//
//   - The action of the standard's table for the attribute, generated from
//     the published table into this package (go generate; the edition is
//     [Edition]): remove (X), empty (Z), replace by a dummy value (D),
//     keep (K), clean (C) or replace a UID (U). Combined actions such as
//     X/Z or X/Z/D, which depend on the attribute's type in the file's IOD,
//     resolve to the choice that is valid whatever that type is (X/Z to
//     empty, X/D, Z/D and X/Z/D to a dummy), so no original value survives
//     and the output stays valid for every IOD. Attributes the table does
//     not list are kept.
//   - Every UID the table marks U becomes a "2.25." UID derived from the
//     original and the key with HMAC-SHA256 ([Profile.UID]): the same UID
//     and key give the same new UID on every machine and in every run, so
//     the files of a study stay together, references between instances
//     stay consistent, and an interrupted run can resume; another key
//     gives unrelated UIDs. The file meta group follows the dataset.
//   - Patient ID and Patient's Name become one keyed pseudonym of the
//     original Patient ID.
//   - Private attributes are removed, except those the caller lists as
//     safe ([Config.SafePrivate], the Retain Safe Private Option).
//   - Patient Identity Removed is set to YES, and De-identification Method
//     and its code sequence name the profile and the options applied.
//   - Pixel data and every other bulk value are copied byte for byte, never
//     decoded. An image that declares burned-in annotation is refused with
//     [ErrBurnedIn] unless [Config.AcceptBurnedIn] is set.
//
// The options of the standard ([Config]): Retain Longitudinal Temporal
// Information with Modified Dates (dates shifted by a keyed number of days
// per patient), Retain Patient Characteristics, Retain Device Identity,
// Clean Descriptors and Retain Safe Private. All are off by default.
//
// Transfer syntaxes: the output keeps the input's: explicit VR little
// endian, implicit VR little endian, explicit VR big endian, deflated
// explicit VR little endian (deflated again) and every encapsulated
// syntax. A dataset labelled explicit VR that is really implicit is written
// as implicit VR little endian, as it is read. Apply streams: memory stays
// bounded (a few MiB) whatever the file size, and implicit VR is read
// with a dictionary generated with the table.
//
// Errors are per file, wrapping a sentinel for [errors.Is]: [ErrNotDICOM],
// [ErrBurnedIn], [ErrSyntax], [ErrTooDeep], [ErrMalformed], [ErrTooLarge],
// [ErrDICOMDIR].
// On error the bytes already written to dst are not a usable file: write
// to a temporary file and rename it on success.
//
// A Profile holds no mutable state and is safe for concurrent use.
//
// What the Basic Profile does not cover (text burned into pixels,
// identifying content in images such as faces in 3D reconstructions, and
// identifying free text in attributes it keeps) is written down in
// docs/deid.md, with the options and the choices this package makes.
package deid
