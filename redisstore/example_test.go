package redisstore_test

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/redisstore"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// Several instances of a service share HMAC nonces and rate limits
// through one Redis: a verifier refuses a replay sent to another instance,
// and a partner backend's per-user token limit holds for the deployment.
// Two fake Aura servers (auratest) share their tokens, with max_uses
// counted exactly across both. (Not run: it needs a Redis server; the
// tests start one.)
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR")})
	defer rdb.Close()
	store := redisstore.New(rdb, redisstore.Options{Prefix: "aura:"})

	verifier := &hmac.Verifier{
		Secret: func(ctx context.Context, appID string) (string, error) { return os.Getenv("AURA_APP_SECRET"), nil },
		Nonces: store.Nonces(), // a replay to another instance is refused
	}
	mux := http.NewServeMux()
	mux.Handle("POST /signed", hmac.Middleware(verifier, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { /* ... */ })))
	perUser := uploadtoken.Rate{Limit: 5, Window: time.Minute}
	mux.Handle("POST /api/upload-token", uploadtoken.RateLimit(store.Limiter(), perUser,
		func(r *http.Request) string { return r.Header.Get("X-User") /* your session's user */ },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { /* exchange, see uploadtoken */ })))

	shared := auratest.WithSharedState(store.Nonces(), store.Tokens(), store.Limiter())
	a := auratest.NewServer(shared)
	defer a.Close()
	b := auratest.NewServer(shared, auratest.WithCredentials(a.AppID, a.Secret, a.APIKey))
	defer b.Close()
	_ = http.ListenAndServe(":8080", mux)
}
