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
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("key %s has TTL %v (%v)", k, ttl, err)
		}
	}
	return len(keys)
}

func TestNonces(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	store, rdb := instance(t, srv.Addr, "t:")
	ctx := context.Background()
	n := store.Nonces()
	if fresh, err := n.Claim(ctx, "app/abc", 5*time.Minute); !fresh || err != nil {
		t.Fatalf("first claim: %v %v", fresh, err)
	}
	if fresh, err := n.Claim(ctx, "app/abc", 5*time.Minute); fresh || err != nil {
		t.Fatalf("replay: %v %v", fresh, err)
	}
	if ttl := rdb.PTTL(ctx, "t:nonce:app/abc").Val(); ttl < 4*time.Minute || ttl > 5*time.Minute {
		t.Fatalf("TTL %v", ttl)
	}
	if fresh, _ := n.Claim(ctx, "app/zero-ttl", 0); !fresh {
		t.Fatal("zero TTL claim")
	}
	// Another prefix is another namespace.
	other, _ := instance(t, srv.Addr, "u:")
	if fresh, _ := other.Nonces().Claim(ctx, "app/abc", time.Minute); !fresh {
		t.Fatal("prefixes are not isolated")
	}
	var winners atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := instance(t, srv.Addr, "t:")
			if fresh, err := s.Nonces().Claim(ctx, "app/race", time.Minute); err == nil && fresh {
				winners.Add(1)
			}
		}()
	}
	wg.Wait()
	if winners.Load() != 1 {
		t.Fatalf("%d winners of one nonce", winners.Load())
	}
	requireTTLs(t, rdb, "t:")
}

// signedRequest returns an exchange request signed for host.
func signedRequest(t *testing.T, signer *hmac.Signer, url, host string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(`{"ttl":60}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	if err := signer.Sign(req); err != nil {
		t.Fatal(err)
	}
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
	if _, err := va.Verify(req); err != nil {
		t.Fatalf("instance A: %v", err)
	}
	if _, err := vb.Verify(replay); !errors.Is(err, hmac.ErrReplay) {
		t.Fatalf("replay on instance B: %v, want ErrReplay", err)
	}

	// Control: with per-process nonce stores the same replay gets through,
	// which is why the shared store matters.
	req2 := signedRequest(t, signer, "http://aura.example.com/api/auth/exchange", "aura.example.com")
	replay2 := req2.Clone(context.Background())
	replay2.Body, _ = req2.GetBody()
	if _, err := (&hmac.Verifier{Secret: secret}).Verify(req2); err != nil {
		t.Fatal(err)
	}
	if _, err := (&hmac.Verifier{Secret: secret}).Verify(replay2); err != nil {
		t.Fatalf("control replay was refused without a shared store: %v", err)
	}
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
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("instance A: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = sb.Client().Do(replay)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || strings.TrimSpace(string(body)) != `{"error":{"message":"nonce already used"}}` {
		t.Fatalf("replay to instance B answered %d %s, want 403 nonce already used", resp.StatusCode, body)
	}
	// A token issued by A is honoured by B (shared token store).
	tok, err := sa.Exchanger().Exchange(context.Background(), uploadtoken.ExchangeRequest{})
	if err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
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
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if granted.Load() != 10 || exhausted.Load() != 90 {
		t.Fatalf("granted %d, exhausted %d; want exactly 10 and 90", granted.Load(), exhausted.Load())
	}
	// The record is stored under the hash only.
	keys := rdb.Keys(ctx, "m:*").Val()
	for _, k := range keys {
		v := rdb.Get(ctx, k).Val()
		if strings.Contains(k, tok.Value[5:]) || strings.Contains(v, tok.Value[5:]) {
			t.Fatalf("token stored in clear under %s", k)
		}
	}
	if n := requireTTLs(t, rdb, "m:"); n != 2 {
		t.Fatalf("%d keys, want the record and the counter", n)
	}
	if _, err := ib.Authorize(ctx, "aubt_"+strings.Repeat("Z", 64), ""); !errors.Is(err, uploadtoken.ErrUnknownToken) {
		t.Fatalf("unknown token: %v", err)
	}
}

func TestTokenRecordsExpire(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, rdb := instance(t, srv.Addr, "e:")
	ctx := context.Background()
	now := time.Now()
	rec := uploadtoken.Record{AppID: "x", Scopes: []string{"upload:init"}, IssuedAt: now, ExpiresAt: now.Add(time.Minute), MaxUses: 3}
	if err := a.Tokens().Save(ctx, "abc", rec); err != nil {
		t.Fatal(err)
	}
	got, err := a.Tokens().Load(ctx, "abc")
	if err != nil || got.AppID != "x" || got.MaxUses != 3 || !got.ExpiresAt.Equal(rec.ExpiresAt) {
		t.Fatalf("load: %+v %v", got, err)
	}
	ttl := rdb.PTTL(ctx, "e:token:abc").Val()
	if want := time.Minute + auraserver.ExpiredGrace; ttl > want || ttl < want-5*time.Second {
		t.Fatalf("record TTL %v, want about %v", ttl, want)
	}
	// A record whose expiry is long past still gets a (short) TTL.
	old := rec
	old.ExpiresAt = now.Add(-48 * time.Hour)
	a.Tokens().Save(ctx, "old", old)
	if ttl := rdb.PTTL(ctx, "e:token:old").Val(); ttl <= 0 || ttl > time.Second {
		t.Fatalf("expired record TTL %v", ttl)
	}
	rdb.Set(ctx, "e:token:bad", "{", time.Minute)
	if _, err := a.Tokens().Load(ctx, "bad"); err == nil || !strings.HasPrefix(err.Error(), "redisstore: ") {
		t.Fatalf("corrupt record: %v", err)
	}
	if _, err := a.Tokens().Load(ctx, "none"); !errors.Is(err, uploadtoken.ErrUnknownToken) {
		t.Fatalf("missing record: %v", err)
	}
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
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			} else if d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
				t.Errorf("RetryAfter %v", d.RetryAfter)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 10 {
		t.Fatalf("%d allowed across two instances, want 10", allowed.Load())
	}
	if d, _ := b.Limiter().Allow(ctx, "other", rate); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("independent key: %+v", d)
	}
	// The window closes on Redis's clock.
	short := uploadtoken.Rate{Limit: 1, Window: 300 * time.Millisecond}
	t0 := time.Now()
	a.Limiter().Allow(ctx, "short", short)
	d, _ := b.Limiter().Allow(ctx, "short", short)
	if d.Allowed && time.Since(t0) < short.Window {
		t.Fatal("second request in a 1-request window allowed")
	}
	time.Sleep(time.Until(t0.Add(short.Window + 50*time.Millisecond)))
	if d, _ := b.Limiter().Allow(ctx, "short", short); !d.Allowed {
		t.Fatal("window did not close")
	}
	if _, err := a.Limiter().Allow(ctx, "k", uploadtoken.Rate{}); err == nil {
		t.Fatal("zero rate accepted")
	}
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
			t.Fatal(err)
		}
	}
	if ok != 10 || limited != 6 {
		t.Fatalf("%d exchanges succeeded and %d were limited, want 10 and 6", ok, limited)
	}
}

func TestRevocations(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, rdb := instance(t, srv.Addr, "j:")
	b, _ := instance(t, srv.Addr, "j:")
	ctx := context.Background()
	exp := time.Now().Add(10 * time.Minute)
	if err := a.Revocations().Revoke(ctx, "jti-1", exp); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Revocations().Revoked(ctx, "jti-1"); !r || err != nil {
		t.Fatalf("revoked on the other instance: %v %v", r, err)
	}
	if r, err := b.Revocations().Revoked(ctx, "jti-2"); r || err != nil {
		t.Fatalf("unknown jti: %v %v", r, err)
	}
	ttl := rdb.PTTL(ctx, "j:revoked:jti-1").Val()
	if want := 10*time.Minute + redisstore.RevocationSkew; ttl > want || ttl < want-5*time.Second {
		t.Fatalf("TTL %v, want about %v", ttl, want)
	}
	if err := a.Revocations().Revoke(ctx, "", exp); err == nil {
		t.Fatal("empty jti accepted")
	}
	if err := a.Revocations().Revoke(ctx, "past", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
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
		if err == nil || !strings.HasPrefix(err.Error(), "redisstore: ") || errors.Is(err, uploadtoken.ErrUnknownToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	v := &hmac.Verifier{Secret: func(context.Context, string) (string, error) { return "s", nil }, Nonces: s.Nonces()}
	req := signedRequest(t, &hmac.Signer{AppID: "a", Secret: "s"}, "http://h/api/auth/exchange", "h")
	if _, err := v.Verify(req); !errors.Is(err, hmac.ErrInternal) {
		t.Fatalf("verifier with Redis down: %v", err)
	}
}
