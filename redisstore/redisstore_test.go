package redisstore_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/auraserver"
	"github.com/dicombridge/dicombridge/internal/redistest"
	"github.com/dicombridge/dicombridge/redisstore"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// instance is one "process": its own Redis client and Store.
func instance(t testing.TB, addr, prefix string) (*redisstore.Store, *redis.Client) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return redisstore.New(rdb, redisstore.Options{Prefix: prefix}), rdb
}

// requireTTLs fails if any key under prefix has no TTL.
func requireTTLs(t testing.TB, rdb *redis.Client, prefix string) int {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		ttl, err := rdb.PTTL(ctx, k).Result()
		assert.NoError(t, err, k)
		assert.Positive(t, ttl, "key %s has no TTL", k)
	}
	return len(keys)
}

func TestNonces(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	store, rdb := instance(t, srv.Addr, "t:")
	ctx := context.Background()
	n := store.Nonces()
	claimOnce(t, rdb, n.Claim, "app/abc", "t:nonce:app/abc", 5*time.Minute)
	fresh, _ := n.Claim(ctx, "app/zero-ttl", 0)
	assert.True(t, fresh, "zero TTL claim")
	// Another prefix is another namespace.
	other, _ := instance(t, srv.Addr, "u:")
	fresh, _ = other.Nonces().Claim(ctx, "app/abc", time.Minute)
	assert.True(t, fresh, "prefixes are not isolated")
	assert.EqualValues(t, 1, concurrentWins(t, srv.Addr, "t:", func(s *redisstore.Store) claimFunc { return s.Nonces().Claim }),
		"winners of one nonce")
	requireTTLs(t, rdb, "t:")
}

// claimOnce checks the claim semantics every store shares: the first
// claim of key wins, the second loses, and the Redis key (redisKey) expires
// after ttl.
func claimOnce(t *testing.T, rdb *redis.Client, claim claimFunc, key, redisKey string, ttl time.Duration) {
	t.Helper()
	ctx := context.Background()
	fresh, err := claim(ctx, key, ttl)
	require.NoError(t, err)
	assert.True(t, fresh, "first claim")
	fresh, err = claim(ctx, key, ttl)
	require.NoError(t, err)
	assert.False(t, fresh, "second claim")
	got := rdb.PTTL(ctx, redisKey).Val()
	assert.True(t, got > ttl-time.Minute && got <= ttl, "TTL %v", got)
}

type claimFunc func(context.Context, string, time.Duration) (bool, error)

// concurrentWins claims one key from 64 clients at once and returns how
// many won: exactly one must.
func concurrentWins(t *testing.T, addr, prefix string, claim func(*redisstore.Store) claimFunc) int32 {
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := instance(t, addr, prefix)
			if ok, err := claim(s)(context.Background(), "race", time.Minute); err == nil && ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	return wins.Load()
}

// signedRequest returns an exchange request signed for host.
func signedRequest(t *testing.T, signer *hmac.Signer, url, host string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(`{"ttl":60}`))
	require.NoError(t, err)
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	require.NoError(t, signer.Sign(req))
	return req
}

func TestVerifiersShareNonces(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	secret := func(context.Context, string) (string, error) { return "aura_sk_shared", nil }
	signer := &hmac.Signer{AppID: "aura_pk_app", Secret: "aura_sk_shared"}
	a, _ := instance(t, srv.Addr, "v:")
	b, _ := instance(t, srv.Addr, "v:")
	va := &hmac.Verifier{Secret: secret, Nonces: a.Nonces()}
	vb := &hmac.Verifier{Secret: secret, Nonces: b.Nonces()}

	req := signedRequest(t, signer, "http://aura.example.com/api/auth/exchange", "aura.example.com")
	replay := req.Clone(context.Background())
	replay.Body, _ = req.GetBody()
	_, err := va.Verify(req)
	require.NoError(t, err, "instance A")
	_, err = vb.Verify(replay)
	assert.ErrorIs(t, err, hmac.ErrReplay, "replay on instance B")

	// Control: with per-process nonce stores the same replay gets through,
	// which is why the shared store matters.
	req2 := signedRequest(t, signer, "http://aura.example.com/api/auth/exchange", "aura.example.com")
	replay2 := req2.Clone(context.Background())
	replay2.Body, _ = req2.GetBody()
	_, err = (&hmac.Verifier{Secret: secret}).Verify(req2)
	require.NoError(t, err)
	_, err = (&hmac.Verifier{Secret: secret}).Verify(replay2)
	assert.NoError(t, err, "control replay was refused without a shared store")
}

// Two fake Aura instances behind one host name, sharing Redis: a request
// captured on its way to one is replayed to the other over HTTP.
func TestReplayAcrossServersOverHTTP(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, _ := instance(t, srv.Addr, "h:")
	b, _ := instance(t, srv.Addr, "h:")
	creds := auratest.WithCredentials("aura_pk_lb", "aura_sk_lb_secret", "aura_au_lb_key")
	sa := auratest.NewServer(creds, auratest.WithSharedState(a.Nonces(), a.Tokens(), nil))
	sb := auratest.NewServer(creds, auratest.WithSharedState(b.Nonces(), b.Tokens(), nil))
	t.Cleanup(sa.Close)
	t.Cleanup(sb.Close)
	const host = "aura.example.com"
	req := signedRequest(t, &hmac.Signer{AppID: sa.AppID, Secret: sa.Secret}, sa.URL+"/auth/exchange", host)
	req.Header.Set("X-Api-Key", sa.APIKey)
	replay, _ := http.NewRequest("POST", sb.URL+"/auth/exchange", nil)
	replay.Host, replay.Header = host, req.Header.Clone()
	replay.Body, _ = req.GetBody()
	replay.ContentLength = req.ContentLength

	resp, err := sa.Client().Do(req)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, "instance A")
	resp.Body.Close()
	resp, err = sb.Client().Do(replay)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 403, resp.StatusCode, "replay to instance B")
	assert.Equal(t, `{"error":{"message":"nonce already used"}}`, strings.TrimSpace(string(body)))
	// A token issued by A is honoured by B (shared token store).
	tok, err := sa.Exchanger().Exchange(context.Background(), uploadtoken.ExchangeRequest{})
	require.NoError(t, err)
	hc := &http.Client{Transport: &uploadtoken.Transport{Source: uploadtoken.StaticSource(tok), APIKey: sb.APIKey, Base: sb.Client().Transport}}
	resp, err = hc.Get(sb.URL + "/uploader/config")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "instance B knows A's token")
}

func TestMaxUsesExactAcrossIssuers(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, rdb := instance(t, srv.Addr, "m:")
	b, _ := instance(t, srv.Addr, "m:")
	ia := &auraserver.Issuer{Store: a.Tokens()}
	ib := &auraserver.Issuer{Store: b.Tokens()}
	ctx := context.Background()
	tok, err := ia.Issue(ctx, "aura_pk_app", uploadtoken.ExchangeRequest{MaxUses: 10, Scopes: []string{uploadtoken.ScopeUploadManage}})
	require.NoError(t, err)
	var granted, exhausted atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			iss := ia
			if i%2 == 1 {
				iss = ib
			}
			_, err := iss.Authorize(ctx, tok.Value, uploadtoken.ScopeUploadManage)
			switch {
			case err == nil:
				granted.Add(1)
			case errors.Is(err, auraserver.ErrExhausted):
				exhausted.Add(1)
			default:
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 10, granted.Load(), "granted")
	assert.EqualValues(t, 90, exhausted.Load(), "exhausted")
	// The record is stored under the hash only.
	keys := rdb.Keys(ctx, "m:*").Val()
	for _, k := range keys {
		v := rdb.Get(ctx, k).Val()
		assert.NotContains(t, k, tok.Value[5:], "token stored in clear")
		assert.NotContains(t, v, tok.Value[5:], "token stored in clear under %s", k)
	}
	assert.Equal(t, 2, requireTTLs(t, rdb, "m:"), "keys: the record and the counter")
	_, err = ib.Authorize(ctx, "aubt_"+strings.Repeat("Z", 64), "")
	assert.ErrorIs(t, err, uploadtoken.ErrUnknownToken)
}

func TestTokenRecordsExpire(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, rdb := instance(t, srv.Addr, "e:")
	ctx := context.Background()
	now := time.Now()
	rec := uploadtoken.Record{AppID: "x", Scopes: []string{"upload:init"}, IssuedAt: now, ExpiresAt: now.Add(time.Minute), MaxUses: 3}
	require.NoError(t, a.Tokens().Save(ctx, "abc", rec))
	got, err := a.Tokens().Load(ctx, "abc")
	require.NoError(t, err)
	assert.Equal(t, "x", got.AppID)
	assert.Equal(t, 3, got.MaxUses)
	assert.True(t, got.ExpiresAt.Equal(rec.ExpiresAt), "expires %v", got.ExpiresAt)
	ttl := rdb.PTTL(ctx, "e:token:abc").Val()
	want := time.Minute + auraserver.ExpiredGrace
	assert.True(t, ttl <= want && ttl >= want-5*time.Second, "record TTL %v, want about %v", ttl, want)
	// A record whose expiry is long past still gets a (short) TTL.
	old := rec
	old.ExpiresAt = now.Add(-48 * time.Hour)
	a.Tokens().Save(ctx, "old", old)
	ttl = rdb.PTTL(ctx, "e:token:old").Val()
	assert.True(t, ttl > 0 && ttl <= time.Second, "expired record TTL %v", ttl)
	rdb.Set(ctx, "e:token:bad", "{", time.Minute)
	_, err = a.Tokens().Load(ctx, "bad")
	require.Error(t, err, "corrupt record")
	assert.True(t, strings.HasPrefix(err.Error(), "redisstore: "), err.Error())
	_, err = a.Tokens().Load(ctx, "none")
	assert.ErrorIs(t, err, uploadtoken.ErrUnknownToken, "missing record")
}

func TestLimiterAcrossInstances(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, rdb := instance(t, srv.Addr, "r:")
	b, _ := instance(t, srv.Addr, "r:")
	ctx := context.Background()
	rate := uploadtoken.Rate{Limit: 10, Window: time.Minute}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a.Limiter()
			if i%2 == 1 {
				l = b.Limiter()
			}
			d, err := l.Allow(ctx, "exchange:key", rate)
			if !assert.NoError(t, err) {
				return
			}
			if d.Allowed {
				allowed.Add(1)
			} else {
				assert.True(t, d.RetryAfter > 0 && d.RetryAfter <= time.Minute, "RetryAfter %v", d.RetryAfter)
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 10, allowed.Load(), "allowed across two instances")
	d, _ := b.Limiter().Allow(ctx, "other", rate)
	assert.Equal(t, uploadtoken.Decision{Allowed: true, Remaining: 9}, d, "independent key")
	// The window closes on Redis's clock.
	short := uploadtoken.Rate{Limit: 1, Window: 300 * time.Millisecond}
	t0 := time.Now()
	a.Limiter().Allow(ctx, "short", short)
	d, _ = b.Limiter().Allow(ctx, "short", short)
	assert.False(t, d.Allowed && time.Since(t0) < short.Window, "second request in a 1-request window allowed")
	time.Sleep(time.Until(t0.Add(short.Window + 50*time.Millisecond)))
	d, _ = b.Limiter().Allow(ctx, "short", short)
	assert.True(t, d.Allowed, "window did not close")
	_, err := a.Limiter().Allow(ctx, "k", uploadtoken.Rate{})
	assert.Error(t, err, "zero rate accepted")
	requireTTLs(t, rdb, "r:")
}

// The published exchange limit holds for a deployment of two fake Aura
// instances sharing Redis: 10 per minute in total, not 10 each.
func TestExchangeLimitAcrossServers(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, _ := instance(t, srv.Addr, "x:")
	b, _ := instance(t, srv.Addr, "x:")
	creds := auratest.WithCredentials("aura_pk_lb", "aura_sk_lb_secret", "aura_au_lb_key")
	sa := auratest.NewServer(creds, auratest.WithSharedState(a.Nonces(), nil, a.Limiter()))
	sb := auratest.NewServer(creds, auratest.WithSharedState(b.Nonces(), nil, b.Limiter()))
	t.Cleanup(sa.Close)
	t.Cleanup(sb.Close)
	ctx := context.Background()
	ok, limited := 0, 0
	for i := 0; i < 16; i++ {
		s := sa
		if i%2 == 1 {
			s = sb
		}
		_, err := s.Exchanger().Exchange(ctx, uploadtoken.ExchangeRequest{})
		switch {
		case err == nil:
			ok++
		case errors.Is(err, uploadtoken.ErrRateLimited):
			limited++
		default:
			require.NoError(t, err)
		}
	}
	assert.Equal(t, 10, ok, "exchanges that succeeded")
	assert.Equal(t, 6, limited, "exchanges that were limited")
}

func TestRevocations(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, rdb := instance(t, srv.Addr, "j:")
	b, _ := instance(t, srv.Addr, "j:")
	ctx := context.Background()
	exp := time.Now().Add(10 * time.Minute)
	require.NoError(t, a.Revocations().Revoke(ctx, "jti-1", exp))
	r, err := b.Revocations().Revoked(ctx, "jti-1")
	require.NoError(t, err)
	assert.True(t, r, "revoked on the other instance")
	r, err = b.Revocations().Revoked(ctx, "jti-2")
	require.NoError(t, err)
	assert.False(t, r, "unknown jti")
	ttl := rdb.PTTL(ctx, "j:revoked:jti-1").Val()
	want := 10*time.Minute + redisstore.RevocationSkew
	assert.True(t, ttl <= want && ttl >= want-5*time.Second, "TTL %v, want about %v", ttl, want)
	assert.Error(t, a.Revocations().Revoke(ctx, "", exp), "empty jti accepted")
	require.NoError(t, a.Revocations().Revoke(ctx, "past", time.Now().Add(-time.Hour)))
	requireTTLs(t, rdb, "j:")
}

// revocationStore is the method set package share expects.
type revocationStore interface {
	Revoke(ctx context.Context, jti string, expiresAt time.Time) error
	Revoked(ctx context.Context, jti string) (bool, error)
}

var _ revocationStore = (*redisstore.Revocations)(nil)

func TestRedisDown(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: every call fails fast with a wrapped error,
	// and a Verifier turns it into a 500, never into acceptance.
	l := httptest.NewServer(http.NotFoundHandler())
	addr := l.Listener.Addr().String()
	l.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	s := redisstore.New(rdb, redisstore.Options{})
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["claim"] = s.Nonces().Claim(ctx, "n", time.Minute)
	checks["save"] = s.Tokens().Save(ctx, "id", uploadtoken.Record{ExpiresAt: time.Now().Add(time.Minute)})
	_, checks["load"] = s.Tokens().Load(ctx, "id")
	_, _, checks["use"] = s.Tokens().Use(ctx, "id", 1, time.Now().Add(time.Minute))
	_, checks["allow"] = s.Limiter().Allow(ctx, "k", auraserver.ExchangeRate)
	checks["revoke"] = s.Revocations().Revoke(ctx, "j", time.Now())
	_, checks["revoked"] = s.Revocations().Revoked(ctx, "j")
	for name, err := range checks {
		if assert.Error(t, err, name) {
			assert.True(t, strings.HasPrefix(err.Error(), "redisstore: "), "%s: %v", name, err)
			assert.NotErrorIs(t, err, uploadtoken.ErrUnknownToken, name)
		}
	}
	v := &hmac.Verifier{Secret: func(context.Context, string) (string, error) { return "s", nil }, Nonces: s.Nonces()}
	req := signedRequest(t, &hmac.Signer{AppID: "a", Secret: "s"}, "http://h/api/auth/exchange", "h")
	_, err := v.Verify(req)
	assert.ErrorIs(t, err, hmac.ErrInternal, "verifier with Redis down")
}
