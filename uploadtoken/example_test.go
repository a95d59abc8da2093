package uploadtoken_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// The partner backend's token endpoint (Phase 1 of Aura's authentication
// flow): the browser asks POST /api/upload-token; the backend checks its
// own session, exchanges its HMAC credentials for an upload token, and
// returns {token, expires_at, scopes}. The HMAC secret never leaves the
// backend. auratest stands in for Aura; in production BaseURL, APIKey,
// AppID and Secret come from the environment (AURA_API_URL,
// SERVICE_API_KEY, AURA_APP_ID, AURA_APP_SECRET).
func Example_backendTokenEndpoint() {
	aura := auratest.NewServer()
	defer aura.Close()

	exchanger := &uploadtoken.Client{
		BaseURL: aura.URL,    // "https://aura-instance.com/api"
		APIKey:  aura.APIKey, // the service API key, aura_au_…
		Signer:  &hmac.Signer{AppID: aura.AppID, Secret: aura.Secret},
	}
	// One token serves every user while half its hour is left: Aura allows
	// 10 exchanges a minute per API key, so exchanging per page load fails
	// on a busy site. The token belongs to the app, not to a user.
	tokens := exchanger.Source(uploadtoken.ExchangeRequest{
		TTL:    time.Hour,
		Scopes: []string{"upload:init", "upload:manage", "integration:read"},
	})
	tokens.Margin = 30 * time.Minute
	// Placeholder session check: use your real authentication here.
	sessionUser := func(r *http.Request) string {
		c, err := r.Cookie("session")
		if err != nil {
			return ""
		}
		return c.Value
	}
	issue := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sessionUser(r) == "" {
			http.Error(w, `{"error":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		tok, err := tokens.Token(r.Context()) // an exchange only when the cached token is half used
		if err != nil {
			status := http.StatusBadGateway
			if errors.Is(err, uploadtoken.ErrRateLimited) {
				status = http.StatusTooManyRequests
			}
			log.Print(err) // safe: errors never contain the secret or a token
			http.Error(w, `{"error":"upload token unavailable"}`, status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
			Scopes    []string  `json:"scopes"`
		}{tok.Value, tok.ExpiresAt, tok.Scopes})
	})
	mux := http.NewServeMux()
	// Rate-limit the endpoint per user.
	mux.Handle("POST /api/upload-token", uploadtoken.RateLimit(&uploadtoken.MemoryLimiter{},
		uploadtoken.Rate{Limit: 5, Window: time.Minute}, sessionUser, issue))
	backend := httptest.NewServer(mux)
	defer backend.Close()

	// What the browser does: fetch("/api/upload-token", {method: "POST"}).
	req, _ := http.NewRequest("POST", backend.URL+"/api/upload-token", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: "alice"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
		Scopes    []string  `json:"scopes"`
	}
	json.NewDecoder(resp.Body).Decode(&got)
	fmt.Println(resp.StatusCode, strings.HasPrefix(got.Token, "aubt_"), len(got.Token))
	fmt.Println(got.Scopes, time.Until(got.ExpiresAt).Round(time.Hour))
	// Output:
	// 200 true 69
	// [upload:init upload:manage integration:read] 1h0m0s
}

func ExampleClient_Exchange() {
	aura := auratest.NewServer()
	defer aura.Close()

	c := &uploadtoken.Client{
		BaseURL: aura.URL,
		APIKey:  aura.APIKey,
		Signer:  &hmac.Signer{AppID: aura.AppID, Secret: aura.Secret},
	}
	tok, err := c.Exchange(context.Background(), uploadtoken.ExchangeRequest{TTL: 30 * time.Minute, MaxUses: 100})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(tok.Value, uploadtoken.Prefix), len(tok.Value), tok.Scopes, tok.MaxUses)
	// Output: true 69 [upload:init upload:manage integration:read] 100
}

// A CachingSource exchanges once and reuses the token until a minute
// before it expires; concurrent callers share one exchange.
func ExampleClient_Source() {
	aura := auratest.NewServer()
	defer aura.Close()
	c := aura.Exchanger()

	src := c.Source(uploadtoken.ExchangeRequest{})
	for i := 0; i < 3; i++ {
		if _, err := src.Token(context.Background()); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("exchanges:", len(aura.CallsTo(auratest.EndpointExchange)))
	// Output: exchanges: 1
}

// A Token prints, logs and marshals without its value.
func ExampleToken_String() {
	tok := &uploadtoken.Token{
		Value:     "aubt_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		ExpiresAt: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		Scopes:    []string{"upload:init"},
	}
	fmt.Println(tok)
	fmt.Printf("%#v\n", tok)
	// Output:
	// uploadtoken.Token{aubt_…#5f311f68 expires 2026-05-01T12:00:00Z scopes upload:init}
	// uploadtoken.Token{aubt_…#5f311f68 expires 2026-05-01T12:00:00Z scopes upload:init}
}

// A Transport lets any http.Client call the Aura API with an upload token,
// as Aura's browser widget does: Bearer token and X-Api-Key on every
// request, and a new token after a 401.
func ExampleTransport() {
	aura := auratest.NewServer()
	defer aura.Close()
	exchanger := &uploadtoken.Client{BaseURL: aura.URL, APIKey: aura.APIKey,
		Signer: &hmac.Signer{AppID: aura.AppID, Secret: aura.Secret}}
	hc := &http.Client{Transport: &uploadtoken.Transport{
		Source: exchanger.Source(uploadtoken.ExchangeRequest{}), // cached, refreshed before expiry
		APIKey: aura.APIKey,
	}}
	resp, err := hc.Get(aura.URL + "/uploader/config")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 200 OK
}

// Errors from Aura are *APIError values, classified with errors.Is.
func ExampleAPIError() {
	aura := auratest.NewServer()
	defer aura.Close()
	c := &uploadtoken.Client{
		BaseURL: aura.URL,
		APIKey:  aura.APIKey,
		Signer:  &hmac.Signer{AppID: aura.AppID, Secret: "aura_sk_wrong"},
	}
	_, err := c.Exchange(context.Background(), uploadtoken.ExchangeRequest{})
	var apiErr *uploadtoken.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Method, apiErr.StatusCode, apiErr.Message, errors.Is(err, uploadtoken.ErrForbidden))
	}
	// Output:
	// POST 403 signature mismatch true
}
