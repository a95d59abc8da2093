package hmac_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/hmac"
)

// Sign Aura's test vector TV1 with a fixed clock and nonce: the
// Authorization header is the one Aura's own signers produce.
func ExampleSigner_Sign() {
	body := `{"ttl":3600,"scopes":["upload:init","upload:manage"]}`
	req, _ := http.NewRequest("POST", "https://aura.example.com/api/auth/exchange", strings.NewReader(body))
	req.Header.Set("X-Api-Key", "aura_au_myservice_abc123") // sent, not signed

	s := &hmac.Signer{
		AppID:  "test-app-id",
		Secret: "test-secret-key",
		Now:    func() time.Time { return time.Unix(1706140800, 0) },
		Nonce:  func() string { return "550e8400-e29b-41d4-a716-446655440000" },
	}
	if err := s.Sign(req); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Content-Type:", req.Header.Get("Content-Type"))
	fmt.Println("X-Aura-Timestamp:", req.Header.Get("X-Aura-Timestamp"))
	fmt.Println("X-Aura-Nonce:", req.Header.Get("X-Aura-Nonce"))
	fmt.Println("Authorization:", req.Header.Get("Authorization"))
	// Output:
	// Content-Type: application/json
	// X-Aura-Timestamp: 1706140800
	// X-Aura-Nonce: 550e8400-e29b-41d4-a716-446655440000
	// Authorization: AURA-HMAC-SHA256 Credential=test-app-id,SignedHeaders=content-type;host;x-aura-nonce;x-aura-timestamp,Signature=4e865169c280c238e93ea51681fdf9e5977ecbf0dc60fbbf0b6b7ccba2005093
}

// Explain a signed request to compare it with what the server computed.
func ExampleExplain() {
	req, _ := http.NewRequest("GET", "https://aura.example.com/api/./uploader//config?b=2&a=1", nil)
	s := &hmac.Signer{
		AppID:  "test-app-id",
		Secret: "test-secret-key",
		Now:    func() time.Time { return time.Unix(1706140800, 0) },
		Nonce:  func() string { return "550e8400-e29b-41d4-a716-446655440000" },
	}
	if err := s.Sign(req); err != nil {
		fmt.Println(err)
		return
	}
	ex, err := hmac.Explain(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n---\n%s\n", ex.CanonicalRequest, ex.StringToSign)
	// Output:
	// GET
	// /api/uploader/config
	// a=1&b=2
	// host:aura.example.com
	// x-aura-nonce:550e8400-e29b-41d4-a716-446655440000
	// x-aura-timestamp:1706140800
	//
	// host;x-aura-nonce;x-aura-timestamp
	// e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
	// ---
	// AURA-HMAC-SHA256
	// 1706140800
	// test-app-id/20240125/aura_request
	// 7fad1e8630b73e34172bd37d7dabec43bc8fd4861fb15a95622ef4076d7c407e
}

// Protect a handler with Middleware and call it through a Transport.
func ExampleMiddleware() {
	secrets := map[string]string{"aura_pk_demo": "aura_sk_demo"}
	v := &hmac.Verifier{Secret: func(_ context.Context, appID string) (string, error) {
		if s, ok := secrets[appID]; ok {
			return s, nil
		}
		return "", hmac.ErrUnknownApp
	}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appID, _ := hmac.AppIDFromContext(r.Context())
		body, _ := io.ReadAll(r.Body) // the body is still there
		fmt.Fprintf(w, "hello %s, you sent %s", appID, body)
	})
	srv := httptest.NewServer(hmac.Middleware(v, handler))
	defer srv.Close()

	client := &http.Client{Transport: &hmac.Transport{
		Signer: &hmac.Signer{AppID: "aura_pk_demo", Secret: "aura_sk_demo"},
		Base:   srv.Client().Transport,
	}}
	resp, err := client.Post(srv.URL+"/api/auth/exchange", "application/json", strings.NewReader(`{"ttl":3600}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(b))

	// Unsigned: Aura's error shape.
	resp2, err := http.Post(srv.URL+"/api/auth/exchange", "application/json", strings.NewReader(`{}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp2.Body.Close()
	b, _ = io.ReadAll(resp2.Body)
	fmt.Print(resp2.StatusCode, " ", string(b))
	// Output:
	// 200 hello aura_pk_demo, you sent {"ttl":3600}
	// 401 {"error":{"message":"missing signature"}}
}

// Verify rejects a second delivery of the same signed request.
func ExampleVerifier_Verify() {
	now := time.Unix(1706140800, 0)
	s := &hmac.Signer{AppID: "aura_pk_demo", Secret: "aura_sk_demo", Now: func() time.Time { return now }}
	v := &hmac.Verifier{
		Secret: func(context.Context, string) (string, error) { return "aura_sk_demo", nil },
		Now:    func() time.Time { return now.Add(2 * time.Second) },
	}
	req := httptest.NewRequest("POST", "https://aura.example.com/api/auth/exchange", strings.NewReader(`{"ttl":3600}`))
	if err := s.Sign(req); err != nil {
		fmt.Println(err)
		return
	}
	appID, err := v.Verify(req)
	fmt.Println(appID, err)
	_, err = v.Verify(req)
	fmt.Println(errors.Is(err, hmac.ErrReplay), err)
	// Output:
	// aura_pk_demo <nil>
	// true hmac: nonce already used
}

// Build a query the way every AURA-HMAC-SHA256 signer encodes it.
func ExampleEscapeComponent() {
	q := "patient=" + hmac.EscapeComponent("Smith, John") + "&note=" + hmac.EscapeComponent("a+b (c)")
	fmt.Println(q)
	// Output:
	// patient=Smith%2C%20John&note=a%2Bb%20(c)
}

// A signature covers the canonical path, so "/api//auth/exchange" carries
// a valid signature for "/api/auth/exchange". Verify refuses that spelling
// unless AllowNonCanonicalPath says every router in front of it treats
// both alike.
func ExampleVerifier_AllowNonCanonicalPath() {
	now := time.Unix(1706140800, 0)
	s := &hmac.Signer{AppID: "aura_pk_demo", Secret: "aura_sk_demo", Now: func() time.Time { return now }}
	secret := func(context.Context, string) (string, error) { return "aura_sk_demo", nil }
	clock := func() time.Time { return now }

	for _, allow := range []bool{false, true} {
		// httptest.NewRequest parses the target as net/http's server does.
		req := httptest.NewRequest("POST", "https://aura.example.com/api//auth/exchange", strings.NewReader(`{"ttl":3600}`))
		if err := s.Sign(req); err != nil {
			fmt.Println(err)
			return
		}
		v := &hmac.Verifier{Secret: secret, Now: clock, AllowNonCanonicalPath: allow}
		_, err := v.Verify(req)
		fmt.Printf("allow=%v: %v (ErrNonCanonicalPath: %v)\n", allow, err, errors.Is(err, hmac.ErrNonCanonicalPath))
	}
	// Output:
	// allow=false: hmac: request path is not in canonical form: "/api//auth/exchange" is signed as "/api/auth/exchange"; send it spelled that way (ErrNonCanonicalPath: true)
	// allow=true: <nil> (ErrNonCanonicalPath: false)
}
