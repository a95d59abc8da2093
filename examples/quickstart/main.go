// Command quickstart signs a token-exchange request with AURA-HMAC-SHA256
// and sends it to an in-process server that verifies it, then shows that a
// replayed and a tampered copy are rejected. It needs no network and no
// credentials:
//
//	go run ./examples/quickstart
//
// It exits 0 when all three outcomes are as expected.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/hmac"
)

// Demo credentials. Real ones come from Aura and live in your secret store.
const (
	appID  = "aura_pk_quickstart"
	secret = "aura_sk_quickstart-demo-secret"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The server: POST /api/auth/exchange behind hmac.Middleware, as Aura does.
	verifier := &hmac.Verifier{Secret: func(_ context.Context, id string) (string, error) {
		if id == appID {
			return secret, nil
		}
		return "", hmac.ErrUnknownApp
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/auth/exchange", func(w http.ResponseWriter, r *http.Request) {
		app, _ := hmac.AppIDFromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token":"aubt_demo","app_id":%q}`, app)
	})
	srv := httptest.NewServer(hmac.Middleware(verifier, mux)) // listens on 127.0.0.1
	defer srv.Close()

	// The client: every request through hmac.Transport is signed afresh.
	sent := &lastRequest{base: srv.Client().Transport}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &hmac.Transport{
		Signer: &hmac.Signer{AppID: appID, Secret: secret},
		Base:   sent,
	}}
	body := `{"ttl":3600,"scopes":["upload:init","upload:manage","integration:read"]}`
	req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+"/api/auth/exchange", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Api-Key", "aura_au_quickstart") // sent, not signed

	fmt.Fprintf(out, "1. POST %s/api/auth/exchange, signed by hmac.Transport\n", srv.URL)
	status, reply, err := send(client, req)
	if err != nil {
		return err
	}
	signed, signedBody := sent.get()
	ex, err := hmac.Explain(signed) // the debugging aid: no secret, no signature
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s   server: %d %s\n", indent(ex.String()), status, reply)
	if status != http.StatusOK || !strings.Contains(reply, `"app_id":"`+appID+`"`) {
		return errors.New("the signed request was not accepted")
	}

	fmt.Fprintln(out, "\n2. The same bytes sent again (a replay)")
	status, reply, err = send(srv.Client(), copyOf(ctx, signed, signedBody))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   server: %d %s   (hmac.ErrReplay)\n", status, reply)
	if status != http.StatusForbidden || !strings.Contains(reply, "nonce already used") {
		return errors.New("the replay was not rejected")
	}

	// The signature is checked before the nonce, so this is a mismatch,
	// not a replay.
	fmt.Fprintln(out, "\n3. The same request with its body changed in transit (\"ttl\":3600 -> 86400)")
	tampered := copyOf(ctx, signed, bytes.Replace(signedBody, []byte("3600"), []byte("86400"), 1))
	status, reply, err = send(srv.Client(), tampered)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   server: %d %s   (hmac.ErrBadSignature)\n", status, reply)
	if status != http.StatusForbidden || !strings.Contains(reply, "signature mismatch") {
		return errors.New("the tampered request was not rejected")
	}
	fmt.Fprintln(out, "\nAll three outcomes as expected.")
	return nil
}

// send does req and returns the status and the trimmed body.
func send(c *http.Client, req *http.Request) (int, string, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

// copyOf returns a copy of a signed request with the given body, as an
// attacker who captured it would send it.
func copyOf(ctx context.Context, signed *http.Request, body []byte) *http.Request {
	r := signed.Clone(ctx)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = nil
	return r
}

// lastRequest is a RoundTripper that remembers the last request it sent
// (after signing) and its body.
type lastRequest struct {
	base http.RoundTripper
	mu   sync.Mutex
	req  *http.Request
	body []byte
}

func (l *lastRequest) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	l.mu.Lock()
	l.req, l.body = req.Clone(context.Background()), body
	l.mu.Unlock()
	return l.base.RoundTrip(req)
}

func (l *lastRequest) get() (*http.Request, []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(l.body))
	r.GetBody = nil
	return r, l.body
}

func indent(s string) string {
	return "   " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n   ") + "\n"
}
