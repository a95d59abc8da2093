package hmacbench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/dicombridge/dicombridge/hmac"
)

// The same small POST for both signers: Aura's token exchange (TV1 body).
const (
	url  = "https://aura.example.com/api/auth/exchange"
	body = `{"ttl":3600,"scopes":["upload:init","upload:manage"]}`
)

func newRequest(b *testing.B) *http.Request {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// BenchmarkSign signs the same small POST with dicombridge/hmac and with
// the AWS SDK's SigV4 signer. Each iteration builds the request and hashes
// the body, as a caller must: hmac.Sign hashes it itself; SigV4 takes the
// payload hash as an argument, so it is computed in the loop.
func BenchmarkSign(b *testing.B) {
	b.Run("dicombridge-hmac", func(b *testing.B) {
		s := &hmac.Signer{AppID: "aura_pk_testapp123", Secret: "aura_sk_supersecretkey456"}
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if err := s.Sign(newRequest(b)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("aws-sigv4", func(b *testing.B) {
		s := v4.NewSigner()
		creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
		ctx := context.Background()
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			req := newRequest(b)
			sum := sha256.Sum256([]byte(body))
			if err := s.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net-http-NewRequest-only", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			newRequest(b)
		}
	})
}

// reportCPU adds a cpu-ns/op metric: the process's user+system CPU time per
// operation (GC included). On a machine shared with other work, ns/op
// (wall clock) grows with the load; cpu-ns/op mostly does not, so compare
// signers on it when the machine is busy. Use: defer reportCPU(b)().
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestBothSign makes sure both benchmarks measure a real signature.
func TestBothSign(t *testing.T) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	if err := (&hmac.Signer{AppID: "a", Secret: "s"}).Sign(req); err != nil || !strings.HasPrefix(req.Header.Get("Authorization"), hmac.Algorithm+" ") {
		t.Fatalf("hmac: %v %q", err, req.Header.Get("Authorization"))
	}
	req, _ = http.NewRequest("POST", url, strings.NewReader(body))
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s"}, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now())
	if err != nil || !strings.HasPrefix(req.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		t.Fatalf("sigv4: %v %q", err, req.Header.Get("Authorization"))
	}
}
