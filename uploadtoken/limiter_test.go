package uploadtoken

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryLimiterFixedWindow(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := &MemoryLimiter{Now: clk.Now}
	ctx := context.Background()
	rate := Rate{Limit: 3, Window: time.Minute}
	for i := 0; i < 3; i++ {
		d, err := l.Allow(ctx, "k", rate)
		require.NoError(t, err)
		assert.Equal(t, Decision{Allowed: true, Remaining: 2 - i}, d, "request %d", i)
	}
	clk.Add(20 * time.Second)
	d, _ := l.Allow(ctx, "k", rate)
	assert.Equal(t, Decision{RetryAfter: 40 * time.Second}, d, "4th request")
	d, _ = l.Allow(ctx, "other", rate)
	assert.True(t, d.Allowed, "keys are independent")
	clk.Add(40 * time.Second)
	d, _ = l.Allow(ctx, "k", rate)
	assert.Equal(t, Decision{Allowed: true, Remaining: 2}, d, "new window")
}

func TestRateLimitMiddleware(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := &MemoryLimiter{Now: clk.Now}
	h := RateLimit(l, Rate{Limit: 2, Window: time.Minute}, func(r *http.Request) string { return r.Header.Get("X-Api-Key") },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	do := func(key string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Api-Key", key)
		h.ServeHTTP(rec, req)
		return rec
	}
	r := do("a")
	assert.Equal(t, 200, r.Code)
	assert.Equal(t, "1", r.Header().Get("X-RateLimit-Remaining"))
	assert.Equal(t, "2", r.Header().Get("X-RateLimit-Limit"))
	do("a")
	clk.Add(500 * time.Millisecond)
	r = do("a")
	assert.Equal(t, 429, r.Code)
	assert.Equal(t, "60", r.Header().Get("Retry-After"))
	assert.Equal(t, `{"message":"Too Many Attempts."}`, strings.TrimSpace(r.Body.String()))
	assert.Equal(t, 200, do("b").Code, "other key throttled")
}

// keyRecorder is a Limiter that records the keys it is asked about.
type keyRecorder struct {
	mu   sync.Mutex
	keys []string
}

func (k *keyRecorder) Allow(_ context.Context, key string, rate Rate) (Decision, error) {
	k.mu.Lock()
	k.keys = append(k.keys, key)
	k.mu.Unlock()
	return Decision{Allowed: true, Remaining: rate.Limit - 1}, nil
}

// TestRateLimitNeverStoresTheKey: the limiter sees a digest of the key
// (often a credential), the same for the same key and different for
// different keys, never the key itself.
func TestRateLimitNeverStoresTheKey(t *testing.T) {
	t.Parallel()
	rec := &keyRecorder{}
	h := RateLimit(rec, Rate{Limit: 5, Window: time.Minute}, func(r *http.Request) string { return r.Header.Get("X-Api-Key") },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, key := range []string{"aura_au_svc_topsecretkey", "aura_au_svc_topsecretkey", "aura_au_other_key"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Api-Key", key)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	require.Len(t, rec.keys, 3)
	assert.Equal(t, rec.keys[0], rec.keys[1], "one stable digest per credential")
	assert.NotEqual(t, rec.keys[0], rec.keys[2])
	for _, k := range rec.keys {
		assert.NotContains(t, k, "secret")
		assert.NotContains(t, k, "aura_au")
	}
}

// TestTransport checks that the Transport authenticates a clone of the
// request, leaves the caller's request alone, omits X-Api-Key when unset,
// drops the cached token on 401 and sends nothing when the token is bad.
func TestTransport(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []http.Header
	status := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		code := status
		mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	n := 0
	cs := &CachingSource{Source: SourceFunc(func(context.Context) (*Token, error) {
		n++
		return &Token{Value: "aubt_" + strings.Repeat(string(rune('a'+n)), 64), ExpiresAt: time.Now().Add(time.Hour)}, nil
	})}
	hc := &http.Client{Transport: &Transport{Source: cs, APIKey: "aura_au_key", Base: srv.Client().Transport}}
	req, err := http.NewRequest("GET", srv.URL+"/api/uploader/config", nil)
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Empty(t, req.Header, "the caller's request is not modified")
	require.Len(t, seen, 1)
	assert.Equal(t, "Bearer aubt_"+strings.Repeat("b", 64), seen[0].Get("Authorization"))
	assert.Equal(t, "aura_au_key", seen[0].Get("X-Api-Key"))

	mu.Lock()
	status = 401
	mu.Unlock()
	resp, err = hc.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	mu.Lock()
	status = 200
	mu.Unlock()
	resp, err = (&http.Client{Transport: &Transport{Source: cs, Base: srv.Client().Transport}}).Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Len(t, seen, 3)
	assert.Equal(t, "Bearer aubt_"+strings.Repeat("c", 64), seen[2].Get("Authorization"), "a 401 drops the cached token")
	assert.Empty(t, seen[2].Values("X-Api-Key"), "no APIKey, no header")

	for name, src := range map[string]Source{
		"not aubt": StaticSource(&Token{Value: "test-token"}),
		"fails":    SourceFunc(func(context.Context) (*Token, error) { return nil, context.DeadlineExceeded }),
	} {
		_, err := (&http.Client{Transport: &Transport{Source: src, Base: srv.Client().Transport}}).Get(srv.URL)
		assert.ErrorContains(t, err, "uploadtoken: upload token", name)
	}
	_, err = (&http.Client{Transport: &Transport{}}).Get(srv.URL)
	assert.ErrorContains(t, err, "uploadtoken: Transport.Source is nil")
	assert.Len(t, seen, 3, "nothing sent without a usable token")
}
