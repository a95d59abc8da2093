// Package uploadtoken handles Aura upload tokens ("aubt_…"; see docs/aura.md, "Upload tokens") on
// both sides of the token exchange.
//
// On a partner backend, [Client.Exchange] trades the app's HMAC
// credentials for a token (POST {base}/auth/exchange, signed with
// hmac.Signer; the X-Api-Key header is sent but not signed) and accepts
// both documented response shapes. [Client.Source] returns a
// [CachingSource] that reuses the token until 60 s before it expires and
// collapses concurrent refreshes into one exchange; [StaticSource] wraps a
// token obtained elsewhere. Both are a [Source], what package uploader
// consumes.
//
// A [Token] never prints its value: String, Format, GoString, LogValue and
// MarshalJSON show a redacted form such as "aubt_…#3f2a9c1b".
//
// Failures from Aura are an [*APIError] (status, message, Laravel field
// errors, Retry-After), matching [ErrUnauthorized], [ErrForbidden] and
// [ErrRateLimited] with errors.Is.
//
// On the server side, an [Issuer] mints tokens (64 characters from
// crypto/rand, TTL 1 h by default and 24 h at most, known scopes only) and
// [Issuer.Authorize] checks them, counting max_uses exactly; tokens are
// stored only as SHA-256 hashes in a [Store] ([MemoryStore], or redisstore
// for several instances). [RequireScope] guards an endpoint with a scope,
// [RateLimit] applies a [Limiter] ([MemoryLimiter], or redisstore) with
// the published limits [ExchangeRate], [ConfigRate] and [LifecycleRate],
// and [ExchangeHandler] serves the exchange behind hmac.Middleware.
// Package auratest assembles all of these into a fake Aura API.
//
// Every type is safe for concurrent use unless its documentation says
// otherwise.
package uploadtoken
