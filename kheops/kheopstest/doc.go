// Package kheopstest is a fake KHEOPS for tests, shaped like
// net/http/httptest and like the SDK's other fakes: [NewServer] starts it
// on 127.0.0.1 (it panics if it cannot listen, as httptest.NewServer
// does), [Server.URL] is its root (ROOT, optionally with a base path such
// as /kheops, set by [WithBasePath], to catch URL-joining bugs),
// [Server.Client] talks to it and [Server.Close] stops it (in a test,
// t.Cleanup(s.Close)). Every API is under ROOT/api, as in KHEOPS.
//
// It serves the KHEOPS REST API a partner calls, with KHEOPS's semantics
// (form-encoded requests, snake_case JSON answers, limit/offset paging
// with X-Total-Count, 204 for an empty study search, KHEOPS's error
// bodies): albums and their users, admins, favorites, comments and
// events; studies and series shared with users, added to and removed from
// albums and the inbox, favorites and comments; the user lookup and inbox
// summary; capability tokens; webhooks; report providers; and the token
// endpoint. Who may do what follows KHEOPS's permission table: album
// admins may do everything, other members what the album's [Permissions]
// allow, capability tokens what their scope and flags allow (a capability
// cannot manage capabilities; an album capability has no user access).
// Tokens are accepted as KHEOPS accepts them: Bearer (any case), the
// password of Basic, or ROOT/api/link/{token}/ for DICOMweb.
//
// Webhooks are delivered for real to the registered URL, signed, retried
// up to five times with the same delivery id, new_series debounced;
// [WithWebhookRetryUnit] and [WithNewSeriesDelay] make that take
// milliseconds in tests.
//
// Report providers behave like the KHEOPS authorization server, quirks
// included: the configuration is validated with KHEOPS's exact-text
// same-origin rule and fetched again on every launch (twice), redemption
// and introspection; the launch answers with a meta-refresh page; codes
// are HS256 JWTs valid 600 s that can be redeemed any number of times;
// token errors are always HTTP 400 with KHEOPS's codes. Options switch
// on stricter behaviour ([WithStrictSingleUseCodes],
// [WithJTIReplayRejected], [WithStandardPortsOnly]) or a plain redirect
// for launches ([WithLaunchAsRedirect]).
//
// The DICOMweb store (QIDO-RS, WADO-RS metadata, STOW-RS) parses uploads
// for real with the SDK's bounded DICOM element reader and applies the
// checks of KHEOPS's DICOMweb proxy: series the caller may not add fail
// with FailureReason 0x0124, and instances whose study or series
// attributes differ from those stored fail with 0x0106 and the list of
// differing tags.
//
// Tests seed users, albums and instances with four calls
// ([Server.AddUser], [Server.AddAlbum], [Server.AddMember],
// [Server.AddInstance], with [NewInstance] or files from package dicomgen),
// drive KHEOPS's UI actions ([Server.Register], [Server.Launch],
// [Server.RemoveProvider]), inspect what happened ([Server.Calls],
// [Server.Fetches], [Server.Instances]) and inject failures
// ([Server.Fail]: a [Failure] with Times N fails the next N matching
// requests, Times 0 every one until [Server.ClearFailures]). Everything
// else goes through the HTTP API, as a client would.
//
// docs/kheops.md in the repository describes the KHEOPS behaviour modelled
// here, and lists what is not modelled.
package kheopstest
