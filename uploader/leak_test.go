package uploader_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// wireSecrets is a RoundTripper that remembers every credential that goes
// over the wire in either direction: Authorization values (the HMAC
// signature, bearer tokens), X-Api-Key, and tokens in response bodies.
type wireSecrets struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen map[string]bool
}

func (w *wireSecrets) add(s string) {
	if len(s) >= 8 {
		w.mu.Lock()
		w.seen[s] = true
		w.mu.Unlock()
	}
}

func (w *wireSecrets) RoundTrip(req *http.Request) (*http.Response, error) {
	if a := req.Header.Get("Authorization"); a != "" {
		_, cred, _ := strings.Cut(a, " ")
		if i := strings.Index(cred, "Signature="); i >= 0 {
			cred = cred[i+len("Signature="):]
		}
		w.add(cred)
	}
	w.add(req.Header.Get("X-Api-Key"))
	resp, err := w.base.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var m struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		Lift        struct {
			Token string `json:"token"`
		} `json:"lift"`
	}
	if json.Unmarshal(body, &m) == nil {
		w.add(m.Token)
		w.add(m.AccessToken)
		w.add(m.Lift.Token)
	}
	return resp, nil
}

// TestNoSecretInErrorsOrLogs drives the exchange and every API call through
// successes and failures, with every component logging at debug level into
// one capturing handler, and checks that no credential that crossed the
// wire appears in any error text or log line.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var logMu sync.Mutex
	h := slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug})
	logger := slog.New(h)

	s := newServer(t, auratest.WithLogger(logger))
	wire := &wireSecrets{base: s.Client().Transport, seen: map[string]bool{}}
	hc := &http.Client{Transport: wire}
	ctx := context.Background()
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	ex := s.Exchanger()
	ex.HTTPClient, ex.Logger = hc, logger
	src := ex.Source(uploadtoken.ExchangeRequest{MaxUses: 6})
	api := &uploader.API{BaseURL: s.URL, APIKey: s.APIKey, Tokens: src, HTTPClient: hc, Logger: logger, ConfigRetries: -1}

	// Failing exchanges.
	bad := &uploadtoken.Client{BaseURL: s.URL, APIKey: s.APIKey, Signer: &hmac.Signer{AppID: s.AppID, Secret: s.Secret + "x"}, HTTPClient: hc, Logger: logger}
	_, err := bad.Exchange(ctx, uploadtoken.ExchangeRequest{})
	keep(err)
	badKey := &uploadtoken.Client{BaseURL: s.URL, APIKey: s.APIKey + "x", Signer: &hmac.Signer{AppID: s.AppID, Secret: s.Secret}, HTTPClient: hc, Logger: logger}
	_, err = badKey.Exchange(ctx, uploadtoken.ExchangeRequest{})
	keep(err)

	// A full lifecycle, then failures of every kind.
	cfg, err := api.Config(ctx)
	keep(err)
	c := initCases(t)[0]
	_, err = api.Init(ctx, c.request())
	keep(err)
	keep(api.Start(ctx, c.UploadID, "asm"))
	keep(api.Complete(ctx, c.UploadID, "asm"))
	keep(api.Cancel(ctx, c.UploadID))                 // 422: already finished
	keep(api.Error(ctx, "unknown", "tus failed"))     // 422: unknown upload
	keep(api.Start(ctx, c.UploadID, "asm"))           // 401: max_uses exhausted, token invalidated
	tok, _ := src.Token(ctx)                          // a fresh token
	s.Fail(auratest.EndpointConfig, auratest.Failure{ // a server that echoes the token back
		Status: 401, Times: 1, Body: `{"error":{"message":"token ` + tok.Value + ` rejected"}}`})
	_, err = api.Config(ctx)
	keep(err)
	s.Fail(auratest.EndpointInit, auratest.Failure{Status: 500, Times: 1})
	_, err = api.Init(ctx, initCases(t)[1].request())
	keep(err)
	s.Fail(auratest.EndpointStart, auratest.Failure{Abort: true, Times: 1})
	keep(api.Start(ctx, "x", "y"))
	wrong := &uploader.API{BaseURL: s.URL, APIKey: "aura_au_not_the_key", Tokens: uploadtoken.StaticSource(tok), HTTPClient: hc, Logger: logger}
	_, err = wrong.Config(ctx)
	keep(err)

	if len(errs) < 9 {
		t.Fatalf("only %d errors were produced; the scenario did not run as intended: %v", len(errs), errs)
	}
	var text strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&text, "%v\n%+v\n%#v\n", e, e, e)
	}
	fmt.Fprintf(&text, "%v %+v %#v\n", cfg, cfg, tok)
	logMu.Lock()
	text.Write(logs.Bytes())
	logMu.Unlock()

	secrets := map[string]bool{s.Secret: true, s.APIKey: true, tok.Value: true}
	wire.mu.Lock()
	for k := range wire.seen {
		secrets[k] = true
	}
	wire.mu.Unlock()
	if len(secrets) < 8 {
		t.Fatalf("only %d secrets seen on the wire", len(secrets))
	}
	out := text.String()
	if !strings.Contains(out, "auratest: call") || !strings.Contains(out, "uploader: api call") || !strings.Contains(out, "hmac: request rejected") {
		t.Fatalf("the components did not log:\n%s", out)
	}
	for secret := range secrets {
		for _, p := range []string{"aubt_", "aura_sk_", "aura_au_", "lift_"} {
			secret = strings.TrimPrefix(secret, p)
		}
		probe := secret[:min(len(secret), 12)]
		if strings.Contains(out, probe) {
			i := strings.Index(out, probe)
			t.Errorf("secret %q… leaked: …%s…", probe, out[max(0, i-80):min(len(out), i+40)])
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
