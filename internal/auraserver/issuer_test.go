package auraserver

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/uploadtoken"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var tokenRE = regexp.MustCompile(`^aubt_[A-Za-z0-9]{64}$`)

func TestIssuerMintsWellFormedUniqueTokens(t *testing.T) {
	t.Parallel()
	iss := &Issuer{}
	seen := map[string]bool{}
	counts := map[byte]int{}
	for i := 0; i < 200; i++ {
		tok, err := iss.Issue(context.Background(), "app", uploadtoken.ExchangeRequest{})
		require.NoError(t, err)
		require.Regexp(t, tokenRE, tok.Value)
		require.True(t, WellFormed(tok.Value), tok.Value)
		require.False(t, seen[tok.Value], "duplicate token")
		seen[tok.Value] = true
		for j := 5; j < len(tok.Value); j++ {
			counts[tok.Value[j]]++
		}
	}
	// 12,800 characters over 62 symbols: every symbol appears (expected ~206).
	assert.Len(t, counts, 62, "distinct characters")
}

func TestIssuerTTLAndScopes(t *testing.T) {
	t.Parallel()
	clk := newClock()
	iss := &Issuer{Now: clk.Now}
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		req     uploadtoken.ExchangeRequest
		ttl     time.Duration
		scopes  []string
		invalid bool
	}{
		{"default", uploadtoken.ExchangeRequest{}, time.Hour, uploadtoken.DefaultScopes, false},
		{"24h", uploadtoken.ExchangeRequest{TTL: 24 * time.Hour, Scopes: []string{uploadtoken.ScopeUploadInit}}, 24 * time.Hour, []string{uploadtoken.ScopeUploadInit}, false},
		{"dedup", uploadtoken.ExchangeRequest{TTL: time.Minute, Scopes: []string{uploadtoken.ScopeUploadInit, uploadtoken.ScopeUploadInit}}, time.Minute, []string{uploadtoken.ScopeUploadInit}, false},
		{"over 24h", uploadtoken.ExchangeRequest{TTL: 24*time.Hour + time.Second}, 0, nil, true},
		{"negative", uploadtoken.ExchangeRequest{TTL: -time.Minute}, 0, nil, true},
		{"unknown scope", uploadtoken.ExchangeRequest{Scopes: []string{"upload:delete"}}, 0, nil, true},
		{"negative uses", uploadtoken.ExchangeRequest{MaxUses: -1}, 0, nil, true},
	} {
		tok, err := iss.Issue(ctx, "app", tc.req)
		if tc.invalid {
			assert.ErrorIs(t, err, uploadtoken.ErrInvalidRequest, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.True(t, tok.ExpiresAt.Equal(clk.Now().Add(tc.ttl)), "%s: expires %v", tc.name, tok.ExpiresAt)
		assert.Equal(t, tc.scopes, tok.Scopes, tc.name)
	}
}

func TestIssuerAuthorize(t *testing.T) {
	t.Parallel()
	clk := newClock()
	iss := &Issuer{Now: clk.Now}
	ctx := context.Background()
	tok, _ := iss.Issue(ctx, "aura_pk_app", uploadtoken.ExchangeRequest{TTL: time.Minute, Scopes: []string{uploadtoken.ScopeUploadInit}, MaxUses: 2})
	_, err := iss.Authorize(ctx, tok.Value, uploadtoken.ScopeUploadManage)
	require.ErrorIs(t, err, ErrScope, "wrong scope")
	g, err := iss.Authorize(ctx, tok.Value, uploadtoken.ScopeUploadInit)
	require.NoError(t, err)
	assert.Equal(t, 1, g.Uses, "the wrong-scope call must not count")
	assert.Equal(t, "aura_pk_app", g.AppID)
	assert.Equal(t, 2, g.MaxUses)
	assert.Equal(t, HashToken(tok.Value)[:16], g.ID)
	g, err = iss.Authorize(ctx, tok.Value, "")
	require.NoError(t, err, "second use")
	assert.Equal(t, 2, g.Uses)
	_, err = iss.Authorize(ctx, tok.Value, uploadtoken.ScopeUploadInit)
	assert.ErrorIs(t, err, ErrExhausted, "third use")
	for _, bad := range []string{"", "aubt_", "Bearer x", tok.Value[:68], tok.Value + "x", "aubt_" + strings.Repeat("!", 64),
		"aubt_" + strings.Repeat("A", 64)} {
		_, err := iss.Authorize(ctx, bad, "")
		assert.ErrorIs(t, err, uploadtoken.ErrUnknownToken, "Authorize(%q)", bad)
	}
	tok2, _ := iss.Issue(ctx, "a", uploadtoken.ExchangeRequest{TTL: time.Minute})
	clk.Add(time.Minute)
	_, err = iss.Authorize(ctx, tok2.Value, "")
	assert.ErrorIs(t, err, ErrExpired, "at expiry")
	clk.Add(ExpiredGrace + time.Second)
	_, err = iss.Authorize(ctx, tok2.Value, "")
	assert.ErrorIs(t, err, uploadtoken.ErrUnknownToken, "long expired")
}

func TestIssuerMaxUsesExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	iss := &Issuer{}
	ctx := context.Background()
	tok, _ := iss.Issue(ctx, "a", uploadtoken.ExchangeRequest{MaxUses: 10})
	var granted, exhausted atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := iss.Authorize(ctx, tok.Value, uploadtoken.ScopeUploadInit)
			switch {
			case err == nil:
				granted.Add(1)
			case errors.Is(err, ErrExhausted):
				exhausted.Add(1)
			default:
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 10, granted.Load(), "granted")
	assert.EqualValues(t, 90, exhausted.Load(), "exhausted")
}

func TestIssuerStoresOnlyHashes(t *testing.T) {
	t.Parallel()
	store := &MemoryStore{}
	iss := &Issuer{Store: store}
	tok, _ := iss.Issue(context.Background(), "app", uploadtoken.ExchangeRequest{})
	store.mu.Lock()
	defer store.mu.Unlock()
	for id, e := range store.entries {
		b, _ := json.Marshal(e.rec)
		assert.NotContains(t, id, tok.Value[5:], "store holds the token in clear")
		assert.NotContains(t, string(b), tok.Value[5:20], "store holds the token in clear")
		assert.Equal(t, HashToken(tok.Value), id, "key is the SHA-256 of the token")
	}
}

// failingReader makes crypto randomness fail.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestIssuerRandomFailure(t *testing.T) {
	t.Parallel()
	_, err := (&Issuer{Rand: failingReader{}}).Issue(context.Background(), "a", uploadtoken.ExchangeRequest{})
	assert.ErrorContains(t, err, "no entropy")
}

// clock is a settable time source for tests.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// TestZeroExpiryIsExpired: a stored record whose expiry is present but
// Go's zero time (a year-1 date, as a store or a hand-written record may
// hold) is an expired token, never one that does not expire.
func TestZeroExpiryIsExpired(t *testing.T) {
	t.Parallel()
	store := &MemoryStore{}
	iss := &Issuer{Store: store}
	ctx := context.Background()
	tok, err := iss.Issue(ctx, "app", uploadtoken.ExchangeRequest{})
	require.NoError(t, err)
	for _, exp := range []time.Time{{}, time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("", 2*3600))} {
		require.NoError(t, store.Save(ctx, HashToken(tok.Value), uploadtoken.Record{AppID: "app", Scopes: uploadtoken.DefaultScopes, ExpiresAt: exp}))
		_, err = iss.Authorize(ctx, tok.Value, "")
		assert.ErrorIs(t, err, uploadtoken.ErrUnknownToken, "expiry %v: the store drops it, grace included", exp)
	}
}

// zeroStore holds every token with a zero expiry, as a shared store
// holding a year-1 record would.
type zeroStore struct{}

func (zeroStore) Save(context.Context, string, uploadtoken.Record) error { return nil }
func (zeroStore) Load(context.Context, string) (*uploadtoken.Record, error) {
	return &uploadtoken.Record{AppID: "app", Scopes: uploadtoken.DefaultScopes}, nil
}
func (zeroStore) Use(context.Context, string, int, time.Time) (int, bool, error) { return 1, true, nil }

func TestZeroExpiryRecordIsExpired(t *testing.T) {
	t.Parallel()
	iss := &Issuer{Store: zeroStore{}}
	tok, err := iss.Issue(context.Background(), "app", uploadtoken.ExchangeRequest{})
	require.NoError(t, err)
	_, err = iss.Authorize(context.Background(), tok.Value, uploadtoken.ScopeUploadInit)
	assert.ErrorIs(t, err, ErrExpired)
}
