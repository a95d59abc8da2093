package auraserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/uploadtoken"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequireScope(t *testing.T) {
	t.Parallel()
	iss := &Issuer{}
	ctx := context.Background()
	tok, _ := iss.Issue(ctx, "app", uploadtoken.ExchangeRequest{Scopes: []string{uploadtoken.ScopeUploadInit}, MaxUses: 1})
	h := RequireScope(iss, uploadtoken.ScopeUploadInit, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, ok := GrantFromContext(r.Context())
		if assert.True(t, ok, "no grant in context") {
			assert.Equal(t, "app", g.AppID)
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
		assert.Equal(t, tc.status, rec.Code, tc.name)
		assert.Equal(t, tc.body, strings.TrimSpace(rec.Body.String()), tc.name)
	}
	tok2, _ := iss.Issue(ctx, "app", uploadtoken.ExchangeRequest{Scopes: []string{uploadtoken.ScopeIntegrationRead}})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/x", nil)
	req.Header.Set("Authorization", "Bearer "+tok2.Value)
	h.ServeHTTP(rec, req)
	assert.Equal(t, 401, rec.Code, "wrong scope")
	assert.Contains(t, rec.Body.String(), "upload:init scope")
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
		assert.Equal(t, tc.status, rec.Code, tc.name)
		assert.Equal(t, tc.want, strings.TrimSpace(rec.Body.String()), tc.name)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/auth/exchange", strings.NewReader(`{"ttl":"120","scopes":["upload:init"],"max_uses":5}`)))
	var out struct {
		Token   string `json:"token"`
		MaxUses int    `json:"max_uses"`
	}
	require.Equal(t, 200, rec.Code, rec.Body.String())
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	assert.True(t, WellFormed(out.Token))
	assert.Equal(t, 5, out.MaxUses)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/auth/exchange", nil))
	assert.Equal(t, 405, rec.Code, "GET")
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
		_, _, err := ValidateRequest(req)
		require.NoError(t, err, "accepted body %q fails validation", body)
	})
}
