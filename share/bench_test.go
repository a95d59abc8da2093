package share

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Micro-benchmarks of the validation path. The loopback HTTP comparison
// with a trivial handler (throughput, p99, open loop) is in
// bench/share; run: cd bench && go run ./share.

func BenchmarkDecode(b *testing.B) {
	c := newTestCodec(b, nil)
	tok, _, _ := c.Mint(Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: dA, OrthancID: oA}}, ExpiresAt: time.Now().Add(time.Hour), ServerID: "srv"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMint(b *testing.B) {
	c, _ := NewCodec(CodecConfig{Secret: []byte(testSecret)})
	cl := Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: dA, OrthancID: oA}}, ExpiresAt: time.Now().Add(time.Hour), ServerID: "srv"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Mint(cl); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	c := newTestCodec(b, nil)
	svc, _ := NewService(Config{Codec: c, AllowAnonymous: true, ServerID: "srv"})
	tok, _, _ := c.Mint(Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: dA, OrthancID: oA}}, ExpiresAt: time.Now().Add(time.Hour), ServerID: "srv"})
	a := Access{Method: "get", Level: LevelStudy, DicomUID: dA, OrthancID: oA, ServerID: "srv", Token: tok}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d := svc.Check(ctx, a); !d.Granted {
			b.Fatal(d.Reason)
		}
	}
}

// BenchmarkServeValidate is the whole handler (Basic auth, body, JSON,
// decision, answer) without the network.
func BenchmarkServeValidate(b *testing.B) {
	c := newTestCodec(b, nil)
	svc, _ := NewService(Config{Codec: c, Users: map[string]string{testUser: testPass}, ServerID: "srv"})
	tok, _, _ := c.Mint(Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: dA, OrthancID: oA}}, ExpiresAt: time.Now().Add(time.Hour), ServerID: "srv"})
	body := access{method: "get", level: "study", dicomUID: dA, orthancID: oA, server: str("srv"), tokenKey: "token", tokenValue: tok}.body(plugin0114)
	req := httptest.NewRequest("POST", "/tokens/validate", nil)
	req.SetBasicAuth(testUser, testPass)
	req.Header.Set("token", tok)
	rd := bytes.NewReader(body)
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		req.Body = http.NoBody
		req.Body = readCloser{rd}
		req.ContentLength = int64(len(body))
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, req)
		if w.Code != 200 || w.Body.Len() < 20 || w.Body.Bytes()[11] != 't' {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
