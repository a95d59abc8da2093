// Package kheopstest is a fake KHEOPS for tests, shaped like
// net/http/httptest: [NewServer] starts it on 127.0.0.1, [Server.URL] is
// its root (ROOT, optionally with a base path such as /kheops to catch
// URL-joining bugs), [Server.Client] talks to it and [Server.Close] stops
// it.
//
// By default it behaves like the KHEOPS authorization server code, quirks
// included:
//
//   - provider registration per album, validating the provider's
//     configuration with KHEOPS's exact-text same-origin rule and fetching it
//     again on every launch (twice), code redemption and introspection;
//   - the launch (POST ROOT/api/report) answers with a meta-refresh page, not
//     a redirect, with the parameters in KHEOPS's order and encoding;
//   - authorization codes are HS256 JWTs valid 600 s (plus 60 s leeway)
//     that can be redeemed any number of times; client assertion jti values
//     are required but never remembered;
//   - the token endpoint classifies client authentication and reports
//     errors exactly as KHEOPS does (always HTTP 400; invalid_request for an
//     expired code or a code of another client), including the viewer and
//     pep token exchange;
//   - introspection (unauthenticated for provider tokens; studyUID and aud a
//     string when single), userinfo, and the configuration document;
//   - a DICOMweb store (QIDO-RS, WADO-RS metadata, STOW-RS) limited to the
//     token's studies in the provider's album, with writes needing the write
//     scope and refused instances reported with FailureReason 0x0124.
//
// [Config] switches on stricter behaviour ([Config.StrictSingleUseCodes],
// [Config.RejectJTIReplay],
// [Config.StandardPortsOnly]) or a plain redirect for launches. Tests seed
// users, albums and instances ([Server.AddUser], [Server.AddAlbum],
// [Server.AddInstance], [NewInstance]), drive KHEOPS's UI actions
// ([Server.Register], [Server.Launch], [Server.RemoveProvider]), inspect
// what happened ([Server.Calls], [Server.Fetches], [Server.Instances]) and
// inject failures ([Server.Fail]: a [Failure] with Times N fails the next N
// matching requests, Times 0 every one until [Server.ClearFailures]).
//
// STOW-RS uploads are parsed for real, with the SDK's bounded DICOM
// element reader, up to the pixel data.
//
// docs/kheops.md in the repository describes the KHEOPS behaviour modelled
// here, and lists what is not modelled yet.
package kheopstest
