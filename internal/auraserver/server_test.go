package auraserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/uploadtoken"
)

func TestRequireScope(t *testing.T) {
	t.Parallel()
	iss := &Issuer{}
	ctx := context.Background()
	tok, _ := iss.Issue(ctx, "app", uploadtoken.ExchangeRequest{Scopes: []string{uploadtoken.ScopeUploadInit}, MaxUses: 1})
	h := RequireScope(iss, uploadtoken.ScopeUploadInit, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	tok2, _ := iss.Issue(ctx, "app", uploadtoken.ExchangeRequest{Scopes: []string{uploadtoken.ScopeIntegrationRead}})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/x", nil)
	req.Header.Set("Authorization", "Bearer "+tok2.Value)
	h.ServeHTTP(rec, req)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), "upload:init scope") {
		t.Errorf("wrong scope: %d %s", rec.Code, rec.Body)
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
