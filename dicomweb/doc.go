// Package dicomweb is the SDK's DICOMweb client (PS3.18): QIDO-RS searches
// ([Client.SearchStudies], [Client.SearchSeries], [Client.SearchInstances]),
// WADO-RS metadata ([Client.Metadata]) and retrieval streamed one instance
// at a time ([Client.Retrieve]), and STOW-RS storage streamed from readers
// ([Client.Store]).
//
// A [Client] adds no credentials of its own: its HTTPClient carries them.
// kheops.Client.DICOMweb returns one that sends the same token as the
// KHEOPS REST calls, reportprovider.Session.DICOMweb one that sends a
// provider session's token, both only to the KHEOPS origin.
//
// Search and metadata results are DICOM JSON [Dataset]s, read through a
// size limit ([Client.MaxResponseBytes]). UIDs are checked before they are
// put in a URL (digits and dots only, [ErrInvalidUID]). An unexpected
// status comes back as [*HTTPError]; a STOW-RS request that stored not
// everything as [*StoreError], whose [FailedInstance] items carry the
// FailureReason and, when KHEOPS refuses an instance whose attributes
// differ from the study it already holds ([ReasonAttributeMismatch]),
// the mismatched tags. The KHEOPS specifics are described in the
// repository's docs/kheops-api.md, "DICOMweb".
//
// Errors never contain the request's query or credentials, including a
// capability token in a KHEOPS link URL (ROOT/api/link/{token}).
package dicomweb
