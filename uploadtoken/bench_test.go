package uploadtoken

import (
	"context"
	"testing"
	"time"
)

// Run: go test ./uploadtoken -run '^$' -bench . -benchmem

func BenchmarkCachingSourceHit(b *testing.B) {
	cs := &CachingSource{Source: SourceFunc(func(ctx context.Context) (*Token, error) {
		return &Token{Value: "aubt_x", ExpiresAt: time.Now().Add(time.Hour)}, nil
	})}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cs.Token(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
