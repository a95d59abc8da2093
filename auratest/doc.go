// Package auratest is a fake Aura API for tests and example programs,
// shaped like net/http/httptest: [NewServer] starts it on 127.0.0.1,
// [Server.Close] stops it, and [Server.URL] is its API base URL, which ends
// in "/api" as Aura's does (so URL-joining bugs show).
//
// It is built from the SDK's real server-side parts, not mocks: the
// exchange is checked by hmac.Verifier and answered by an
// uploadtoken.Issuer; every other endpoint requires the service API key
// and an upload token with the right scope (uploadtoken.RequireScope); the
// published rate limits apply (uploadtoken.RateLimit); GET
// /uploader/config returns a lift whose endpoint is an in-process tusd v2
// server (filestore in a temporary directory) on a second listener, which
// checks the lift token.
//
// For assertions the server records every call ([Server.Calls],
// [Server.CallsTo]) with its body and redacted headers, tracks each
// upload_id through init, start, complete, error and cancel, then the
// manage calls submit and withdraw ([Server.Session]; complete is refused
// until the Tus upload of that upload_id has all its bytes, submit until
// the upload is completed, withdraw until it is submitted), and exposes what Tus received ([Server.Uploads],
// [Upload.Metadata] in header order, [Upload.Open], [Upload.ZipEntries]).
// [Server.Fail] injects failures per endpoint, Tus included: a status, a
// delay, a dropped connection, or a PATCH cut after some bytes (to test
// resumption).
//
// CORS follows what the real browser widget needs (spec §9): preflights
// allowed for authorization, x-api-key and content-type on the API and for
// the Tus headers on Tus, Location and Upload-Offset exposed, with
// configurable origins ([WithAllowedOrigins]). A browser page can
// therefore run the real widget against it.
//
// A Server is safe for concurrent use.
package auratest
