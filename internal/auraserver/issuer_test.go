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
)

var tokenRE = regexp.MustCompile(`^aubt_[A-Za-z0-9]{64}$`)

func TestIssuerMintsWellFormedUniqueTokens(t *testing.T) {
	t.Parallel()
	iss := &Issuer{}
	seen := map[string]bool{}
	counts := map[byte]int{}
	for i := 0; i < 200; i++ {
		tok, err := iss.Issue(context.Background(), "app", uploadtoken.ExchangeRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if !tokenRE.MatchString(tok.Value) || !WellFormed(tok.Value) {
			t.Fatalf("malformed token %q", tok.Value)
		}
		if seen[tok.Value] {
			t.Fatal("duplicate token")
		}
		seen[tok.Value] = true
		for j := 5; j < len(tok.Value); j++ {
			counts[tok.Value[j]]++
		}
	}
	// 12,800 characters over 62 symbols: every symbol appears (expected ~206).
	if len(counts) != 62 {
		t.Fatalf("only %d distinct characters", len(counts))
	}
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
			if !errors.Is(err, uploadtoken.ErrInvalidRequest) {
				t.Errorf("%s: err = %v", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !tok.ExpiresAt.Equal(clk.Now().Add(tc.ttl)) || strings.Join(tok.Scopes, " ") != strings.Join(tc.scopes, " ") {
			t.Errorf("%s: got %v", tc.name, tok)
		}
	}
}

func TestIssuerAuthorize(t *testing.T) {
	t.Parallel()
	clk := newClock()
	iss := &Issuer{Now: clk.Now}
	ctx := context.Background()
	tok, _ := iss.Issue(ctx, "aura_pk_app", uploadtoken.ExchangeRequest{TTL: time.Minute, Scopes: []string{uploadtoken.ScopeUploadInit}, MaxUses: 2})
	if _, err := iss.Authorize(ctx, tok.Value, uploadtoken.ScopeUploadManage); !errors.Is(err, ErrScope) {
		t.Fatalf("wrong scope: %v", err)
	}
	g, err := iss.Authorize(ctx, tok.Value, uploadtoken.ScopeUploadInit)
	if err != nil || g.Uses != 1 || g.AppID != "aura_pk_app" || g.MaxUses != 2 || g.ID != HashToken(tok.Value)[:16] {
		t.Fatalf("first use: %+v %v (the wrong-scope call must not count)", g, err)
	}
	if g, err := iss.Authorize(ctx, tok.Value, ""); err != nil || g.Uses != 2 {
		t.Fatalf("second use: %+v %v", g, err)
	}
	if _, err := iss.Authorize(ctx, tok.Value, uploadtoken.ScopeUploadInit); !errors.Is(err, ErrExhausted) {
		t.Fatalf("third use: %v", err)
	}
	for _, bad := range []string{"", "aubt_", "Bearer x", tok.Value[:68], tok.Value + "x", "aubt_" + strings.Repeat("!", 64),
		"aubt_" + strings.Repeat("A", 64)} {
		if _, err := iss.Authorize(ctx, bad, ""); !errors.Is(err, uploadtoken.ErrUnknownToken) {
			t.Errorf("Authorize(%q) = %v", bad, err)
		}
	}
	tok2, _ := iss.Issue(ctx, "a", uploadtoken.ExchangeRequest{TTL: time.Minute})
	clk.Add(time.Minute)
	if _, err := iss.Authorize(ctx, tok2.Value, ""); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	clk.Add(ExpiredGrace + time.Second)
	if _, err := iss.Authorize(ctx, tok2.Value, ""); !errors.Is(err, uploadtoken.ErrUnknownToken) {
		t.Fatalf("long expired: %v", err)
	}
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
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if granted.Load() != 10 || exhausted.Load() != 90 {
		t.Fatalf("granted %d, exhausted %d; want 10 and 90", granted.Load(), exhausted.Load())
	}
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
		if strings.Contains(id, tok.Value[5:]) || strings.Contains(string(b), tok.Value[5:20]) {
			t.Fatal("store holds the token in clear")
		}
		if id != HashToken(tok.Value) {
			t.Fatalf("key %s is not the SHA-256 of the token", id)
		}
	}
}

// failingReader makes crypto randomness fail.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestIssuerRandomFailure(t *testing.T) {
	t.Parallel()
	if _, err := (&Issuer{Rand: failingReader{}}).Issue(context.Background(), "a", uploadtoken.ExchangeRequest{}); err == nil {
		t.Fatal("no error when randomness fails")
	}
}

// clock is a settable time source for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
