package uploadtoken

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRequireScope(t *testing.T) {
	t.Parallel()
	iss := &Issuer{}
	ctx := context.Background()
	tok, _ := iss.Issue(ctx, "app", ExchangeRequest{Scopes: []string{ScopeUploadInit}, MaxUses: 1})
	h := RequireScope(iss, ScopeUploadInit, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, ok := GrantFromContext(r.Context())
		if !ok || g.AppID != "app" {
			t.Error("no grant in context")
		}
		w.WriteHeader(204)
	}))
	for _, tc := range []struct {
		name, auth string
		status     int
		body       string
	}{
		{"missing", "", 401, `{"error":{"message":"Missing upload token."}}`},
		{"basic", "Basic eDp5", 401, `{"error":{"message":"Missing upload token."}}`},
		{"unknown", "Bearer aubt_" + strings.Repeat("a", 64), 401, `{"error":{"message":"Invalid upload token."}}`},
		{"ok", "Bearer " + tok.Value, 204, ""},
		{"lowercase scheme, used up", "bearer " + tok.Value, 401, `{"error":{"message":"Upload token has reached its usage limit."}}`},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/x", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || strings.TrimSpace(rec.Body.String()) != tc.body {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
	}
	tok2, _ := iss.Issue(ctx, "app", ExchangeRequest{Scopes: []string{ScopeIntegrationRead}})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/x", nil)
	req.Header.Set("Authorization", "Bearer "+tok2.Value)
	h.ServeHTTP(rec, req)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), "upload:init scope") {
		t.Errorf("wrong scope: %d %s", rec.Code, rec.Body)
	}
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
	if r := do("a"); r.Code != 200 || r.Header().Get("X-RateLimit-Remaining") != "1" || r.Header().Get("X-RateLimit-Limit") != "2" {
		t.Fatalf("first: %d %v", r.Code, r.Header())
	}
	do("a")
	clk.Add(500 * time.Millisecond)
	r := do("a")
	if r.Code != 429 || r.Header().Get("Retry-After") != "60" || strings.TrimSpace(r.Body.String()) != `{"message":"Too Many Attempts."}` {
		t.Fatalf("third: %d %v %s", r.Code, r.Header(), r.Body)
	}
	if do("b").Code != 200 {
		t.Fatal("other key throttled")
	}
}

func TestExchangeHandlerValidation(t *testing.T) {
	t.Parallel()
	h := &ExchangeHandler{Issuer: &Issuer{}}
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"not json", `x`, 422, `{"message":"The request body must be a JSON object.","errors":{"body":["The request body must be a JSON object."]}}`},
		{"ttl string", `{"ttl":"abc"}`, 422, `{"message":"The ttl field must be an integer.","errors":{"ttl":["The ttl field must be an integer."]}}`},
		{"ttl too big and scopes", `{"ttl":86401,"scopes":["upload:init","nope","worse"]}`, 422,
			`{"message":"The ttl field must be between 1 and 86400. (and 2 more errors)","errors":{"ttl":["The ttl field must be between 1 and 86400."],"scopes":["The selected scopes.1 is invalid.","The selected scopes.2 is invalid."]}}`},
		{"max uses zero", `{"max_uses":0}`, 422, `{"message":"The max uses field must be at least 1.","errors":{"max_uses":["The max uses field must be at least 1."]}}`},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/auth/exchange", strings.NewReader(tc.body)))
		if rec.Code != tc.status || strings.TrimSpace(rec.Body.String()) != tc.want {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/auth/exchange", strings.NewReader(`{"ttl":"120","scopes":["upload:init"],"max_uses":5}`)))
	var out map[string]any
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || !WellFormed(out["token"].(string)) || out["max_uses"].(float64) != 5 {
		t.Fatalf("ok: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/auth/exchange", nil))
	if rec.Code != 405 {
		t.Fatalf("GET: %d", rec.Code)
	}
}

func FuzzParseExchangeRequest(f *testing.F) {
	for _, s := range []string{`{"ttl":3600,"scopes":["upload:init"],"max_uses":3}`, `{"ttl":"60"}`, `{}`, `[]`, `{"scopes":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, fields := ParseExchangeRequest(body)
		if len(fields) > 0 {
			return
		}
		if _, _, err := ValidateRequest(req); err != nil {
			t.Fatalf("accepted body %q fails validation: %v", body, err)
		}
	})
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
	if len(rec.keys) != 3 || rec.keys[0] != rec.keys[1] || rec.keys[0] == rec.keys[2] {
		t.Fatalf("keys %q: want one stable digest per credential", rec.keys)
	}
	for _, k := range rec.keys {
		if strings.Contains(k, "secret") || strings.Contains(k, "aura_au") {
			t.Fatalf("the limiter was given the credential: %q", k)
		}
	}
}
