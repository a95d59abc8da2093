package hmac

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Run: go test -run NONE -bench . -benchmem ./hmac
// The peer comparison with the AWS SigV4 signer is in bench/hmac.

// BenchmarkSign signs the token-exchange POST (Aura's TV1 request) again
// and again: the cost of Sign alone, body hashed through GetBody.
func BenchmarkSign(b *testing.B) {
	req, _ := http.NewRequest("POST", "https://aura.example.com/api/auth/exchange", strings.NewReader(tv1Body))
	req.Header.Set("Content-Type", "application/json")
	s := &Signer{AppID: testApp, Secret: testSecret}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Sign(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignParallel is BenchmarkSign from all cores on one Signer,
// to show that the shared key cache does not contend.
func BenchmarkSignParallel(b *testing.B) {
	s := &Signer{AppID: testApp, Secret: testSecret}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("POST", "https://aura.example.com/api/auth/exchange", strings.NewReader(tv1Body))
		for pb.Next() {
			if err := s.Sign(req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

type alwaysFresh struct{}

func (alwaysFresh) Claim(context.Context, string, time.Duration) (bool, error) { return true, nil }

// BenchmarkVerify verifies the signed TV1 request as received by a server,
// with a nonce store that always says fresh (see BenchmarkMemoryNonceStore
// for the store).
func BenchmarkVerify(b *testing.B) {
	r := received(b, wire(b, testSigner(testApp), exchangeRequest(b)))
	v := &Verifier{Secret: testSecrets, Now: fixedClock(t0), Nonces: alwaysFresh{}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryNonceStore claims fresh nonces in a store that holds
// about 100,000 live ones, expiring as many as it adds.
func BenchmarkMemoryNonceStore(b *testing.B) {
	clock := &fakeClock{now: t0}
	m := &MemoryNonceStore{now: clock.Now}
	ctx := context.Background()
	keys := make([]string, 1<<17)
	for i := range keys {
		keys[i] = testApp + "/" + strconv.Itoa(i) + "-550e8400-e29b-41d4-a716-446655440000"
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		clock.Advance(time.Millisecond)
		if _, err := m.Claim(ctx, keys[i&(len(keys)-1)], 100*time.Second); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
