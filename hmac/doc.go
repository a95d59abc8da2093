// Package hmac signs and verifies HTTP requests with AURA-HMAC-SHA256, the
// scheme Aura (Aurabox) uses for POST /api/auth/exchange, byte-identical to
// Aura's reference signer.
//
// A partner backend signs with a [Signer], directly or through a
// [Transport] that signs every attempt anew:
//
//	client := &http.Client{Transport: &hmac.Transport{
//		Signer: &hmac.Signer{AppID: appID, Secret: secret},
//	}}
//
// A server (or a test fake of Aura) verifies with a [Verifier], directly
// or through [Middleware], which answers failures as Aura does and hands
// the app id to the handler ([AppIDFromContext]). The Verifier checks the
// clock skew, compares the MAC in constant time, and only then claims the
// nonce in a [NonceStore]: a bounded in-memory [MemoryNonceStore] by
// default, Redis (package redisstore) when several processes verify.
//
// # The scheme
//
// The canonical request is
//
//	METHOD \n PATH \n QUERY \n CANONICAL_HEADERS \n SIGNED_HEADERS \n hex(SHA-256(body))
//
// where CANONICAL_HEADERS holds "name:value\n" for content-type (when
// present), host, x-aura-nonce and x-aura-timestamp. The string to sign is
// "AURA-HMAC-SHA256\n<ts>\n<appId>/<YYYYMMDD>/aura_request\n" followed by
// hex(SHA-256(canonical request)); the signing key is
// HMAC(HMAC("AURA"+secret, YYYYMMDD), "aura_request") for the UTC date of
// the timestamp; the header is
//
//	Authorization: AURA-HMAC-SHA256 Credential=<appId>,SignedHeaders=<list>,Signature=<hex>
//
// Paths, queries and header values are canonicalized exactly as the
// reference TypeScript signer does (see [Signer.Sign] for the rules and for
// where this package deliberately does better: absolute URLs, byte bodies,
// a missing Host). [Explain] shows the canonical request and string to sign
// of any signed request, for debugging a 401 or 403. The whole scheme, in
// our words, is in docs/aura-hmac.md in this repository; the tests use
// the corrected test vectors that Aura's TypeScript, C# and Python signers
// agree on (Aura's published ones are stale).
//
// # Path spelling
//
// Canonicalization maps several spellings of a path to one:
// "/api//auth/exchange", "/api/auth/./exchange", "/api/x/../auth/exchange"
// and "/api/auth/%65xchange" all sign as "/api/auth/exchange". A signature
// therefore does not say which spelling was sent, and a router in front of
// the handler that routes those spellings apart (one that does not clean
// paths, or routes on the raw path) could deliver a request signed for one
// endpoint to another. So a [Verifier] refuses, by default, a request whose
// path, as received (URL.EscapedPath), is not already spelled in its
// canonical form, with [ErrNonCanonicalPath] (403 from [Middleware]). The
// only freedom left is the one HTTP clients need: reserved characters such
// as ':' or '+' may be sent literally or escaped. Signing is unchanged, so
// a client must send canonical paths, as Go clients do for Aura's.
// [Verifier.AllowNonCanonicalPath] restores the reference behaviour; its
// doc says what that exposes. Details: docs/aura-hmac.md, "Path spelling".
//
// # Secrets
//
// Secrets, derived keys and signatures never appear in errors, logs or
// [Explanation] output. Signer and Verifier hold no package-level state:
// each caches the derived daily key itself.
package hmac
