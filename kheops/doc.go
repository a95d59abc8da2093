// Package kheops talks to KHEOPS, the open-source DICOM sharing platform
// built around albums: a REST client for its management API, and the
// receiver of its webhooks.
//
// # REST client
//
// [New] returns a [Client] for a KHEOPS root URL and a [TokenSource]: the
// user's own access token, or a capability token (sent as a Bearer token,
// or with [Config.Basic] as an HTTP Basic password). The client covers
// albums ([Client.CreateAlbum], [Client.Albums], members, admins,
// favorites, comments and events), studies and series (sharing with a
// user, adding to and removing from an album or the inbox, favorites,
// comments), capability tokens ([Client.CreateCapability] and the calls
// that list, read and revoke them), webhooks ([Client.CreateWebhook],
// edits, manual triggers), users ([Client.LookupUser],
// [Client.SearchUsers]), the inbox summary, report-provider
// administration and the viewer-token exchange ([Client.ViewerToken]).
// [Client.DICOMweb] returns a client of package dicomweb that sends the
// same token; [LinkEndpoint] builds the URL form of a capability token
// for viewers that cannot send a header.
//
// The client does what KHEOPS expects and users often get wrong: every
// body is form-encoded with KHEOPS's camelCase or snake_case names, JSON
// answers are decoded with their two zone-less time formats, lists are
// paged with limit and offset and read through a [Pager] (an iterator,
// [Pager.All], or one [Page] with X-Total-Count), an empty search (204)
// is an empty list, and the three shapes of KHEOPS errors all come back
// as one [*Error]. Each method's doc says which tokens KHEOPS accepts;
// what KHEOPS would refuse for certain (a capability token managing
// capability tokens, an invalid UID or id, contradictory options) is
// refused locally with [ErrUserTokenRequired] or [ErrInvalid]. Tokens
// ([Token]) never appear in errors, logs or fmt output, and are sent only
// to the KHEOPS origin. The wire facts are described in the repository's
// docs/kheops-api.md.
//
// # Webhooks
//
// An album admin registers a webhook URL (and optionally a secret) in
// KHEOPS; KHEOPS then POSTs an event to that URL when series are added to
// or removed from the album, a user joins it, or it is deleted.
// [WebhookHandler] is the http.Handler that receives those deliveries:
//
//   - it bounds the body ([WebhookHandler.MaxBodyBytes], 1 MiB by default);
//   - it verifies the X-Kheops-Signature header, an HMAC-SHA256 of the
//     exact body, in constant time ([Verify]), and refuses unsigned
//     deliveries unless explicitly allowed ([WebhookHandler.AllowUnsigned]);
//   - it decodes the body into a [WebhookEvent] ([ParseEvent]) with the
//     typed [Study], [Series] and [User] of each event kind;
//   - it hands each delivery to [WebhookHandler.OnEvent] once, although
//     KHEOPS retries a delivery up to five times with the same delivery id:
//     a [DeliveryStore] remembers which deliveries were claimed (in memory
//     by default, see [NewMemoryStore]; in Redis for several instances, see
//     package redisstore).
//
// Each reason for refusing a delivery has a sentinel error, usable with
// errors.Is: [ErrMissingSignature], [ErrBadSignature] and [ErrNoSecret]
// from [Verify], [ErrMalformed] from [ParseEvent], [ErrTooLarge] from the
// handler's body limit. The handler logs them (given a Logger) and maps
// each to its HTTP status, listed on [WebhookHandler].
//
// The wire format, the retry schedule and the choices made here are
// described in docs/kheops.md, section "Webhooks".
//
// [Client], [WebhookHandler] and the stores of [NewMemoryStore] are safe
// for concurrent use.
package kheops
