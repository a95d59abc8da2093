// Package dicombridge is the root of a Go SDK that moves medical images
// (DICOM) between partner systems and imaging platforms, byte-exact on the
// wire with the systems it talks to. This package holds no code; the SDK is
// a set of independent packages, so importing one never compiles the others'
// dependencies (importing share does not build tusd or Redis).
//
// Aura uploader (Aurabox):
//
//   - [github.com/dicombridge/dicombridge/hmac] signs and verifies
//     AURA-HMAC-SHA256 requests, byte-identical to Aura's signer.
//   - [github.com/dicombridge/dicombridge/uploadtoken] exchanges HMAC
//     credentials for ephemeral aubt_ upload tokens, and issues and checks
//     them on the server side.
//   - [github.com/dicombridge/dicombridge/dicomscan] finds DICOM studies on
//     disk with a bounded header-only reader and zips them for upload.
//   - [github.com/dicombridge/dicombridge/tusclient] uploads resumably over
//     the Tus 1.0 protocol.
//   - [github.com/dicombridge/dicombridge/uploader] runs the whole Aura
//     upload lifecycle in one call.
//   - [github.com/dicombridge/dicombridge/auratest] is a fake Aura API,
//     shaped like net/http/httptest, for other services' tests.
//   - [github.com/dicombridge/dicombridge/redisstore] keeps nonces, token
//     uses, rate limits and revocations in Redis for multi-instance servers.
//
// Test data:
//
//   - [github.com/dicombridge/dicombridge/dicomgen] writes realistic
//     synthetic DICOM studies (CT, MR, NM; names in several character sets;
//     native and encapsulated pixel data), the same bytes for the same
//     seed, for your own tests and demos.
//
// Orthanc sharing:
//
//   - [github.com/dicombridge/dicombridge/share] mints share JWTs and viewer
//     links, and is a drop-in token service for the Orthanc authorization
//     plugin.
//
// KHEOPS report providers:
//
//   - [github.com/dicombridge/dicombridge/reportprovider] implements the
//     provider side of the KHEOPS Report Provider API, with a fake KHEOPS
//     server for tests.
//
// Runnable programs live under examples/, each with a README giving its
// usage and exit codes. examples/quickstart runs the whole Aura upload
// in-process; examples/fakeaura runs a fake Aura until Ctrl-C and
// examples/gendicom writes sample studies, so that examples/upload can be
// tried end to end without an Aura account.
//
// What the packages know about the systems they talk to (Aura's HMAC
// scheme, token exchange, uploader endpoints and Tus metadata; Orthanc's
// token layouts and authorization plugin; KHEOPS report providers; the
// DICOM header rules the scanner applies) is written down in the
// repository's docs/ folder, and the code's comments point there.
package dicombridge
