// Package uploadtoken handles Aura upload tokens ("aubt_…"; see
// docs/aura.md, "Upload tokens") for a partner backend and for the code
// that calls Aura with them.
//
// On a partner backend, [Client.Exchange] trades the app's HMAC
// credentials for a token (POST {base}/auth/exchange, signed with
// hmac.Signer; the X-Api-Key header is sent but not signed) and accepts
// both documented response shapes; an expiry that is present is always
// range-checked, never read as "no expiry". [Client.Source] returns a
// [CachingSource] that reuses the token until a margin before it expires
// and collapses concurrent refreshes into one exchange; [StaticSource]
// wraps a token obtained elsewhere. Both are a [Source], what package
// uploader consumes. A token endpoint limits each user with [RateLimit]
// and a [Limiter] ([MemoryLimiter], or redisstore for several instances).
//
// [Transport] gives any http.Client the authentication of Aura's browser
// widget: the Bearer token and X-Api-Key on a copy of each request, and a
// new token after a 401.
//
// A [Token] never prints its value: String, Format, LogValue and
// MarshalJSON show a redacted form such as "aubt_…#3f2a9c1b".
//
// Failures from Aura are an [*APIError] (method, URL, status, a bounded
// body, Aura's message and field errors, Retry-After), matching
// [ErrUnauthorized], [ErrForbidden] and [ErrRateLimited] with errors.Is;
// package uploader returns the same type.
//
// [Store] and [Record] describe how issued tokens are kept, for stores
// shared by several instances of the fake Aura API of package auratest
// (redisstore implements it).
//
// Every type is safe for concurrent use unless its documentation says
// otherwise.
package uploadtoken
