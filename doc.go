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
// Runnable programs live under examples/; the main one is
// examples/quickstart.
package dicombridge
