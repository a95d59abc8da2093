// Package auratest is a fake Aura API for tests and example programs,
// shaped like net/http/httptest and like the SDK's other fakes:
// [NewServer] starts it on 127.0.0.1, [Server.URL] is its API base URL,
// which ends in "/api" as Aura's does (so URL-joining bugs show),
// [Server.Client] an HTTP client for it, and [Server.Close] stops it.
//
// It is built from the SDK's real server-side parts, not mocks: the
// exchange is checked by an hmac.Verifier and answered by the SDK's token
// issuer; every other endpoint requires the service API key (except the
// manage endpoints, which Aura's clients call with the bearer token alone)
// and an upload token with the right scope; the published rate limits
// apply (see docs/aura.md, "Rate limits"). GET /uploader/config returns a
// lift whose endpoint ([Server.TusURL]) is a real tusd (a
// tusclient/tustest server) behind a second listener, a different origin
// as in production, which checks the lift token.
//
// For assertions the server records every call, CORS preflights included
// ([Server.Calls], [Server.CallsTo], and live with [WithOnCall]), with its
// body and redacted headers; it tracks each upload_id through init, start,
// complete, error and cancel, then the manage calls submit and withdraw
// ([Server.Session]; complete is refused until the Tus upload of that
// upload_id has all its bytes, submit until the upload is completed,
// withdraw until it is submitted); and it shows what Tus received
// ([Server.Uploads], [Upload.Metadata] in header order, [Upload.Open],
// [Upload.ZipEntries]). [Server.Fail] injects failures per endpoint, Tus
// included: a status, a delay, a dropped connection, or a PATCH cut after
// some bytes (to test resumption), for the next Times matching requests or,
// with Times 0, for every one until [Server.ClearFailures].
//
// CORS follows what Aura's browser widget needs (docs/aura.md, "CORS"):
// preflights allowed for authorization, x-api-key and content-type on the
// API and for the Tus headers on Tus, Location and Upload-Offset exposed,
// for the origins of [WithAllowedOrigins] (any by default). A browser page
// can therefore run the real widget against it.
//
// Several servers can act as one deployment with [WithSharedState]
// (redisstore provides the stores).
//
// A Server is safe for concurrent use.
package auratest
