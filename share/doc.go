// Package share mints Orthanc share links and is a drop-in token service
// for the Orthanc authorization plugin, wire-compatible with orthanc-share
// and orthanc-auth-service but safer.
//
// Tokens are HS256 JWTs. A [Codec] decodes the four payload layouts the
// Python services ever wrote ([V0] to [V3]) and mints any of them,
// byte-identical to PyJWT's output for the same claims, adding a random
// jti, iat, exp and an optional server binding that the Python services
// ignore (never aud, which PyJWT would reject). It accepts HS256 only and
// refuses signing secrets shorter than [MinSecretLen].
//
// [Links] builds the viewer and landing-page URLs of every share type
// (Osimis, Stone, OHIF, VolView, MedDream), with ids percent-encoded and
// without the trailing-slash pitfall of Python's urljoin.
//
// [Service] is an http.Handler serving both the old API (PUT /shares, POST
// /shares/validate) and the new one (PUT /tokens/{type}, POST
// /tokens/validate, POST /tokens/decode), behind HTTP Basic. Its decisions
// ([Service.Check]) follow the Python services (docs/orthanc.md,
// "Decision") with these fixes: share links are read-only (PUT, DELETE and,
// unless [Config.AllowPost], POST are refused: the plugin sends POST
// /studies/{id}/modify, /merge and /anonymize as one study-level check);
// system-level requests are refused; only token types that viewers use
// against Orthanc grant access; tokens are bound to a server id; the ids
// must match one token entry at the requested level; an expiration date
// that is present is range-checked, never read as "no expiry"; tokens can
// be revoked by jti through a [RevocationStore] ([MemoryRevocations], or
// redisstore for several processes); the validity returned to the plugin
// never exceeds the time the token has left; and a bad or missing token is
// always answered 200 {"granted":false,...}, never 5xx. [Service.Landing]
// is the public landing page, with real status codes for expired and
// invalid tokens.
//
// What the service cannot prevent: the authorization plugin (0.11.4 and
// 0.4.1 at least) lets GET /dicom-web/studies through without asking it,
// and Orthanc's DICOMweb plugin then lists every study, with patient
// names, to anyone, and answers a QIDO query for any StudyInstanceUID,
// token or not. A deployment must put a reverse proxy in front of Orthanc
// that answers that route only for a study the token may read;
// docs/orthanc.md ("What the plugin lets through") gives an nginx rule,
// which the tests run against the real plugin.
//
// [OrthancClient] fills in the Orthanc id from a StudyInstanceUID (and
// back) when minting, and [MedDreamClient] asks a MedDream token service
// for instant links. An anonymized share is minted for a copy of the study
// that Orthanc anonymizes with its own Basic Profile, moved to the
// anonymized Orthanc when it has its own database
// ([Config.AnonymizedOrthanc]): the token and the link name the copy only.
//
// Importing share does not compile tusd or Redis. Codec, Links, Service,
// OrthancClient, MedDreamClient and MemoryRevocations are safe for
// concurrent use. Nothing here logs unless given a *slog.Logger, and no
// error, log record or formatted value (any fmt verb) contains a token or
// a secret.
//
// examples/shareservice runs a Service configured by the environment
// variables of the Python services.
package share
