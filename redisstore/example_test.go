package redisstore_test

import (
	"context"
	"net/http"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/redisstore"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// Several instances of an Aura-style server share nonces, tokens and rate
// limits through one Redis. (Not run: it needs a Redis server; the tests
// start one.)
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR")})
	defer rdb.Close()
	store := redisstore.New(rdb, redisstore.Options{Prefix: "aura:"})

	verifier := &hmac.Verifier{
		Secret: func(ctx context.Context, appID string) (string, error) { return os.Getenv("AURA_APP_SECRET"), nil },
		Nonces: store.Nonces(), // a replay to another instance is refused
	}
	issuer := &uploadtoken.Issuer{Store: store.Tokens()} // max_uses exact across instances
	limiter := store.Limiter()                           // 10 exchanges a minute for the deployment

	exchange := &uploadtoken.ExchangeHandler{Issuer: issuer}
	mux := http.NewServeMux()
	mux.Handle("POST /api/auth/exchange", uploadtoken.RateLimit(limiter, uploadtoken.ExchangeRate,
		func(r *http.Request) string { return r.Header.Get("X-Api-Key") },
		hmac.Middleware(verifier, exchange)))
	mux.Handle("GET /api/uploader/config", uploadtoken.RequireScope(issuer, uploadtoken.ScopeIntegrationRead,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { /* ... */ })))
	_ = http.ListenAndServe(":8080", mux)
}
