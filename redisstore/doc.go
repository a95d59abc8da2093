// Package redisstore keeps the shared state of a service that runs as
// several instances in Redis (github.com/redis/go-redis/v9), so that every
// instance sees the same HMAC nonces, rate-limit windows, share
// revocations and (for the fake Aura of package auratest,
// auratest.WithSharedState) issued tokens and their uses.
// It is the only package of the SDK that imports go-redis.
//
// One [Store] wraps a client and a key prefix and hands out:
//
//   - [Store.Nonces]: an hmac.NonceStore (SET NX PX), so a signed request
//     replayed to another instance is refused;
//   - [Store.Tokens]: an uploadtoken.Store (records keyed by the token's
//     SHA-256, uses counted by a Lua script), so max_uses is exact across
//     instances;
//   - [Store.Limiter]: an uploadtoken.Limiter with Laravel's fixed windows
//     (a Lua script), so a per-user limit of a token endpoint, or Aura's
//     published limits in auratest, hold for the whole deployment (see
//     docs/aura.md, "Rate limits");
//   - [Store.Revocations]: revoked JWT ids for package share;
//   - [Store.KheopsDeliveries]: a kheops.DeliveryStore (SET NX PX), so a
//     KHEOPS webhook delivery retried to another instance is handed to
//     OnEvent once.
//
// Every key is written with a TTL, so Redis never accumulates dead state;
// every check-and-update is one atomic command or script.
//
// All types are safe for concurrent use.
package redisstore
