// Package kheops talks to KHEOPS, the open-source DICOM sharing platform
// built around albums; today it provides the webhook receiver.
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
// [WebhookHandler] and the stores of [NewMemoryStore] are safe for
// concurrent use.
package kheops
