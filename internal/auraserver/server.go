package auraserver

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/auraapi"
	"github.com/dicombridge/dicombridge/internal/auraclient"
	"github.com/dicombridge/dicombridge/internal/httpx"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

type grantKey struct{}

// GrantFromContext returns the grant [RequireScope] stored in ctx.
func GrantFromContext(ctx context.Context) (*Grant, bool) {
	g, ok := ctx.Value(grantKey{}).(*Grant)
	return g, ok
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header, or "".
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
		return strings.TrimSpace(h[len(p):])
	}
	return ""
}

// RequireScope lets a request through only if it carries "Authorization:
// Bearer aubt_…" for a token iss issued with scope, counting one use. It
// answers 401 with {"error":{"message":...}} otherwise, as Aura does
// (docs/aura.md, "Errors"), and stores the [Grant] in the request context.
func RequireScope(iss *Issuer, scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := BearerToken(r)
		if tok == "" {
			auraapi.AuthError(w, http.StatusUnauthorized, "Missing upload token.")
			return
		}
		g, err := iss.Authorize(r.Context(), tok, scope)
		switch {
		case err == nil:
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), grantKey{}, g)))
		case errors.Is(err, uploadtoken.ErrUnknownToken):
			auraapi.AuthError(w, http.StatusUnauthorized, "Invalid upload token.")
		case errors.Is(err, ErrExpired):
			auraapi.AuthError(w, http.StatusUnauthorized, "Upload token has expired.")
		case errors.Is(err, ErrScope):
			auraapi.AuthError(w, http.StatusUnauthorized, "Upload token does not have the "+scope+" scope.")
		case errors.Is(err, ErrExhausted):
			auraapi.AuthError(w, http.StatusUnauthorized, "Upload token has reached its usage limit.")
		default:
			auraapi.Message(w, http.StatusInternalServerError, "Server Error")
		}
	})
}

// ExchangeHandler serves POST /auth/exchange for an [Issuer]. It expects to
// sit behind hmac.Middleware (and an API-key check and [RateLimit]): it
// takes the app id from hmac.AppIDFromContext, validates the body as
// Laravel would (422 with field errors), and answers 200 with
// {"token","expires_at","scopes","max_uses"} or, with OAuthShape, with
// {"access_token","token_type","expires_in","scopes"}.
type ExchangeHandler struct {
	Issuer     *Issuer
	OAuthShape bool         // answer in the C#/Python client's shape
	Logger     *slog.Logger // nil: silent; never receives the token
	MaxBody    int64        // 0: 64 KiB
}

func (h *ExchangeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		auraapi.Message(w, http.StatusMethodNotAllowed, "The "+r.Method+" method is not supported for this route. Supported methods: POST.")
		return
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = 64 << 10
	}
	body, err := httpx.ReadLimited(r.Body, limit)
	if err != nil {
		auraapi.Message(w, http.StatusRequestEntityTooLarge, "Request body too large.")
		return
	}
	req, fields := ParseExchangeRequest(body)
	if len(fields) > 0 {
		auraapi.Validation(w, fields)
		return
	}
	appID, _ := hmac.AppIDFromContext(r.Context())
	tok, err := h.Issuer.Issue(r.Context(), appID, req)
	if err != nil {
		if errors.Is(err, uploadtoken.ErrInvalidRequest) {
			auraapi.Validation(w, []auraapi.Field{{Name: "ttl", Messages: []string{strings.TrimPrefix(err.Error(), uploadtoken.ErrInvalidRequest.Error()+": ")}}})
			return
		}
		auraapi.Message(w, http.StatusInternalServerError, "Server Error")
		return
	}
	if h.Logger != nil {
		h.Logger.LogAttrs(r.Context(), slog.LevelInfo, "uploadtoken: issued",
			slog.String("app_id", appID), slog.Any("token", tok))
	}
	if h.OAuthShape {
		auraapi.WriteJSON(w, http.StatusOK, struct {
			AccessToken string   `json:"access_token"`
			TokenType   string   `json:"token_type"`
			ExpiresIn   int64    `json:"expires_in"`
			Scopes      []string `json:"scopes"`
		}{tok.Value, "Bearer", int64(tok.ExpiresAt.Sub(h.Issuer.now()).Round(time.Second) / time.Second), tok.Scopes})
		return
	}
	auraapi.WriteJSON(w, http.StatusOK, struct {
		Token     string   `json:"token"`
		ExpiresAt string   `json:"expires_at"`
		Scopes    []string `json:"scopes"`
		MaxUses   int      `json:"max_uses,omitempty"`
	}{tok.Value, tok.ExpiresAt.UTC().Format(time.RFC3339), tok.Scopes, tok.MaxUses})
}

// The Aura API's published rate limits (docs/aura.md, "Rate limits").
var (
	ExchangeRate  = uploadtoken.Rate{Limit: 10, Window: time.Minute} // POST /auth/exchange, per API key
	ConfigRate    = uploadtoken.Rate{Limit: 30, Window: time.Minute} // GET /uploader/config
	LifecycleRate = uploadtoken.Rate{Limit: 60, Window: time.Minute} // POST /uploader/upload/* and manage/*, shared
)

// ParseExchangeRequest decodes and validates an exchange body the way the
// Laravel server does: ttl an integer from 1 to 86400 (optional), scopes an
// array of known scopes (optional), max_uses a positive integer (optional).
// Problems come back as fields, in body order ttl, scopes, max_uses.
func ParseExchangeRequest(body []byte) (uploadtoken.ExchangeRequest, []auraapi.Field) {
	var raw struct {
		TTL     json.RawMessage `json:"ttl"`
		Scopes  json.RawMessage `json:"scopes"`
		MaxUses json.RawMessage `json:"max_uses"`
	}
	var req uploadtoken.ExchangeRequest
	if err := json.Unmarshal(body, &raw); err != nil {
		return req, []auraapi.Field{{Name: "body", Messages: []string{"The request body must be a JSON object."}}}
	}
	var fields []auraapi.Field
	if present(raw.TTL) {
		n, err := auraclient.ParseInt(raw.TTL)
		switch {
		case err != nil:
			fields = append(fields, auraapi.Field{Name: "ttl", Messages: []string{"The ttl field must be an integer."}})
		case n < 1 || n > int64(uploadtoken.MaxTTL/time.Second):
			fields = append(fields, auraapi.Field{Name: "ttl", Messages: []string{"The ttl field must be between 1 and 86400."}})
		default:
			req.TTL = time.Duration(n) * time.Second
		}
	}
	if present(raw.Scopes) {
		var scopes []string
		if err := json.Unmarshal(raw.Scopes, &scopes); err != nil {
			fields = append(fields, auraapi.Field{Name: "scopes", Messages: []string{"The scopes field must be an array."}})
		} else {
			var bad []string
			for i, s := range scopes {
				if !KnownScope(s) {
					bad = append(bad, "The selected scopes."+strconv.Itoa(i)+" is invalid.")
				}
			}
			if len(bad) > 0 {
				fields = append(fields, auraapi.Field{Name: "scopes", Messages: bad})
			}
			req.Scopes = scopes
		}
	}
	if present(raw.MaxUses) {
		n, err := auraclient.ParseInt(raw.MaxUses)
		switch {
		case err != nil:
			fields = append(fields, auraapi.Field{Name: "max_uses", Messages: []string{"The max uses field must be an integer."}})
		case n < 1 || n > math.MaxInt32:
			fields = append(fields, auraapi.Field{Name: "max_uses", Messages: []string{"The max uses field must be at least 1."}})
		default:
			req.MaxUses = int(n)
		}
	}
	return req, fields
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }
