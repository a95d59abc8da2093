package redisstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/auraserver"
	"github.com/dicombridge/dicombridge/internal/redistest"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// Run: go test ./redisstore -run '^$' -bench . -benchmem
// Each operation is one round trip to a local redis-server.

func BenchmarkNonceClaim(b *testing.B) {
	srv := redistest.Start(b)
	s, _ := instance(b, srv.Addr, "b:")
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if fresh, err := s.Nonces().Claim(ctx, "app/"+strconv.Itoa(i), time.Minute); err != nil || !fresh {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthorizeRedis(b *testing.B) {
	srv := redistest.Start(b)
	s, _ := instance(b, srv.Addr, "b:")
	iss := &auraserver.Issuer{Store: s.Tokens()}
	ctx := context.Background()
	tok, _ := iss.Issue(ctx, "app", uploadtoken.ExchangeRequest{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Authorize(ctx, tok.Value, uploadtoken.ScopeUploadInit); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	srv := redistest.Start(b)
	s, _ := instance(b, srv.Addr, "b:")
	ctx := context.Background()
	rate := uploadtoken.Rate{Limit: 1 << 30, Window: time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Limiter().Allow(ctx, "k", rate); err != nil {
			b.Fatal(err)
		}
	}
}
