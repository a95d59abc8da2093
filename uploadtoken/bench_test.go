package uploadtoken

import (
	"context"
	"net/http"
	"testing"
)

// Run: go test ./uploadtoken -run '^$' -bench . -benchmem

func BenchmarkIssue(b *testing.B) {
	iss := &Issuer{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Issue(ctx, "app", ExchangeRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthorize(b *testing.B) {
	iss := &Issuer{}
	ctx := context.Background()
	tok, _ := iss.Issue(ctx, "app", ExchangeRequest{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := iss.Authorize(ctx, tok.Value, ScopeUploadInit); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCachingSourceHit(b *testing.B) {
	iss := &Issuer{}
	cs := &CachingSource{Source: SourceFunc(func(ctx context.Context) (*Token, error) {
		return iss.Issue(ctx, "app", ExchangeRequest{})
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

func BenchmarkNewAPIError(b *testing.B) {
	body := []byte(`{"message":"The ttl field must be an integer. (and 1 more error)","errors":{"ttl":["The ttl field must be an integer."],"scopes":["The selected scopes.0 is invalid."]}}`)
	resp := &http.Response{StatusCode: 422, Header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		_ = NewAPIError(resp, body)
	}
}
