package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/auraserver"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// DefaultPrefix starts every key when Options.Prefix is empty.
const DefaultPrefix = "dicombridge:"

// Options configures a [Store].
type Options struct {
	// Prefix starts every key, so that several applications (or tests) can
	// share one Redis database. Empty means DefaultPrefix.
	Prefix string
	// Now is the clock used to turn expiry times into TTLs; nil means
	// time.Now. Redis expires the keys on its own clock.
	Now func() time.Time
}

// Store hands out the Redis-backed stores. It holds no state besides the
// client and options and is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

// New returns a Store that keeps its keys in rdb.
func New(rdb redis.UniversalClient, opts Options) *Store {
	s := &Store{rdb: rdb, prefix: opts.Prefix, now: opts.Now}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Key layout, under the prefix. Every key gets a TTL when written.
const (
	nonceSpace   = "nonce:"   // SET NX PX ttl
	tokenSpace   = "token:"   // JSON record, PX until expiry + grace
	usesSpace    = "uses:"    // integer, PX until expiry + grace
	rateSpace    = "rate:"    // integer, PX window
	revokedSpace = "revoked:" // "1", PX until the JWT expiry + skew
)

// minTTL is the shortest TTL a key is given, so that no key is written
// without one even when its expiry is already past.
const minTTL = time.Second

func ttlUntil(now, t time.Time) time.Duration {
	if d := t.Sub(now); d > minTTL {
		return d
	}
	return minTTL
}

// Nonces returns an hmac.NonceStore: a claim is SET NX PX, so of any number
// of concurrent claims of one nonce, on any number of processes, exactly
// one wins.
func (s *Store) Nonces() *Nonces { return &Nonces{s} }

// Nonces implements hmac.NonceStore in Redis.
type Nonces struct{ s *Store }

var _ hmac.NonceStore = (*Nonces)(nil)

// DefaultNonceTTL is used when Claim is given no TTL.
const DefaultNonceTTL = 10 * time.Minute

// Claim implements hmac.NonceStore.
func (n *Nonces) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		ttl = DefaultNonceTTL
	}
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	err := n.s.rdb.SetArgs(ctx, n.s.prefix+nonceSpace+key, 1, redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	}
	return false, fmt.Errorf("redisstore: claim nonce: %w", err)
}

// Tokens returns an uploadtoken.Store: records are JSON strings keyed by
// the token hash, and uses are counted by a Lua script, so max_uses holds
// exactly across every Issuer sharing the database.
func (s *Store) Tokens() *Tokens { return &Tokens{s} }

// Tokens implements uploadtoken.Store in Redis.
type Tokens struct{ s *Store }

var _ uploadtoken.Store = (*Tokens)(nil)

// Save implements uploadtoken.Store.
func (t *Tokens) Save(ctx context.Context, id string, rec uploadtoken.Record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("redisstore: save token: %w", err)
	}
	ttl := ttlUntil(t.s.now(), rec.ExpiresAt.Add(auraserver.ExpiredGrace))
	if err := t.s.rdb.Set(ctx, t.s.prefix+tokenSpace+id, data, ttl).Err(); err != nil {
		return fmt.Errorf("redisstore: save token: %w", err)
	}
	return nil
}

// Load implements uploadtoken.Store.
func (t *Tokens) Load(ctx context.Context, id string) (*uploadtoken.Record, error) {
	data, err := t.s.rdb.Get(ctx, t.s.prefix+tokenSpace+id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, uploadtoken.ErrUnknownToken
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: load token: %w", err)
	}
	var rec uploadtoken.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("redisstore: load token: corrupt record: %w", err)
	}
	return &rec, nil
}

// useScript counts one use unless max (ARGV[1], 0 = unlimited) is reached,
// and keeps the counter's TTL (ARGV[2] ms). It returns {count, ok}.
var useScript = redis.NewScript(`
local max = tonumber(ARGV[1])
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if max > 0 and n >= max then
  return {n, 0}
end
n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {n, 1}
`)

// Use implements uploadtoken.Store.
func (t *Tokens) Use(ctx context.Context, id string, max int, expiresAt time.Time) (int, bool, error) {
	ttl := ttlUntil(t.s.now(), expiresAt.Add(auraserver.ExpiredGrace))
	res, err := useScript.Run(ctx, t.s.rdb, []string{t.s.prefix + usesSpace + id}, max, ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("redisstore: count use: %w", err)
	}
	if len(res) != 2 {
		return 0, false, errors.New("redisstore: count use: unexpected script reply")
	}
	return int(res[0]), res[1] == 1, nil
}

// Limiter returns an uploadtoken.Limiter with Laravel's fixed windows,
// shared by every process using the database.
func (s *Store) Limiter() *Limiter { return &Limiter{s} }

// Limiter implements uploadtoken.Limiter in Redis.
type Limiter struct{ s *Store }

var _ uploadtoken.Limiter = (*Limiter)(nil)

// allowScript: ARGV[1] limit, ARGV[2] window ms. Returns {allowed, count,
// pttl}. Refused requests are not counted (Laravel checks before it hits).
var allowScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= limit then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
  return {0, n, ttl}
end
n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {1, n, ttl}
`)

// Allow implements uploadtoken.Limiter.
func (l *Limiter) Allow(ctx context.Context, key string, rate uploadtoken.Rate) (uploadtoken.Decision, error) {
	if rate.Limit <= 0 || rate.Window <= 0 {
		return uploadtoken.Decision{}, errors.New("redisstore: rate limit and window must be positive")
	}
	window := rate.Window
	if window < time.Millisecond {
		window = time.Millisecond
	}
	res, err := allowScript.Run(ctx, l.s.rdb, []string{l.s.prefix + rateSpace + key}, rate.Limit, window.Milliseconds()).Int64Slice()
	if err != nil {
		return uploadtoken.Decision{}, fmt.Errorf("redisstore: rate limit: %w", err)
	}
	if len(res) != 3 {
		return uploadtoken.Decision{}, errors.New("redisstore: rate limit: unexpected script reply")
	}
	if res[0] == 1 {
		return uploadtoken.Decision{Allowed: true, Remaining: rate.Limit - int(res[1])}, nil
	}
	return uploadtoken.Decision{RetryAfter: time.Duration(res[2]) * time.Millisecond}, nil
}

// Revocations returns a store of revoked JWT ids for package share. It has
// the method set share expects (Revoke, Revoked) without importing share.
func (s *Store) Revocations() *Revocations { return &Revocations{s} }

// Revocations keeps revoked token ids (JWT "jti") until the token would
// have expired anyway.
type Revocations struct{ s *Store }

// RevocationSkew is added to a revoked token's expiry, to cover verifiers
// that accept tokens slightly past exp (clock leeway).
const RevocationSkew = 5 * time.Minute

// Revoke marks jti as revoked until expiresAt (plus RevocationSkew).
func (r *Revocations) Revoke(ctx context.Context, jti string, expiresAt time.Time) error {
	if jti == "" {
		return errors.New("redisstore: revoke: empty jti")
	}
	ttl := ttlUntil(r.s.now(), expiresAt.Add(RevocationSkew))
	if err := r.s.rdb.Set(ctx, r.s.prefix+revokedSpace+jti, 1, ttl).Err(); err != nil {
		return fmt.Errorf("redisstore: revoke: %w", err)
	}
	return nil
}

// Revoked reports whether jti was revoked.
func (r *Revocations) Revoked(ctx context.Context, jti string) (bool, error) {
	if jti == "" {
		return false, nil
	}
	n, err := r.s.rdb.Exists(ctx, r.s.prefix+revokedSpace+jti).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: revoked: %w", err)
	}
	return n > 0, nil
}
