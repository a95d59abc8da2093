package hmac

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoHandler answers with the app id from the context and the body it read.
var echoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	app, ok := AppIDFromContext(r.Context())
	if !ok {
		http.Error(w, "no app id", 500)
		return
	}
	b, _ := io.ReadAll(r.Body)
	w.Write([]byte(app + " " + string(b)))
})

// recordingTransport keeps a copy of every request it sends, as signed.
type recordingTransport struct {
	mu   sync.Mutex
	sent []*http.Request
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.sent = append(rt.sent, req.Clone(context.Background()))
	rt.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var logMu sync.Mutex
	v := &Verifier{Secret: func(ctx context.Context, id string) (string, error) {
		if id == "broken" {
			return "", errors.New("db down")
		}
		return testSecrets(ctx, id)
	}, MaxBody: 1000, Logger: slog.New(slog.NewTextHandler(syncWriter{&logs, &logMu}, nil))}
	srv := httptest.NewServer(Middleware(v, echoHandler))
	t.Cleanup(srv.Close)

	post := func(t *testing.T, s *Signer, body string, edit func(*http.Request)) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/api/auth/exchange", strings.NewReader(body))
		if s != nil {
			if err := s.Sign(req); err != nil {
				t.Fatal(err)
			}
		}
		if edit != nil {
			edit(req)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	live := func(app, secret string) *Signer { return &Signer{AppID: app, Secret: secret} }

	t.Run("accepted", func(t *testing.T) {
		code, body, _ := post(t, live(testApp, testSecret), tv1Body, nil)
		if code != 200 || body != testApp+" "+tv1Body {
			t.Fatalf("%d %q", code, body)
		}
	})

	var replayed *http.Request
	tests := []struct {
		name    string
		signer  *Signer
		body    string
		edit    func(*http.Request)
		status  int
		message string
	}{
		{"unsigned", nil, tv1Body, nil, 401, "missing signature"},
		{"malformed", live(testApp, testSecret), tv1Body, func(r *http.Request) {
			r.Header.Set("Authorization", "AURA-HMAC-SHA256 Credential=x")
		}, 401, "malformed signature"},
		{"unknown app", live("nobody", "x"), tv1Body, nil, 401, "unknown app"},
		{"wrong secret", live(testApp, "wrong"), tv1Body, nil, 403, "signature mismatch"},
		{"tampered body", live(testApp, testSecret), tv1Body, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(tv1Body, "3600", "9999", 1)))
		}, 403, "signature mismatch"},
		{"stale", &Signer{AppID: testApp, Secret: testSecret, Now: fixedClock(time.Now().Add(-6 * time.Minute))}, tv1Body, nil, 403, "timestamp outside allowed skew"},
		{"from the future", &Signer{AppID: testApp, Secret: testSecret, Now: fixedClock(time.Now().Add(6 * time.Minute))}, tv1Body, nil, 403, "timestamp outside allowed skew"},
		{"replay", live(testApp, testSecret), tv1Body, func(r *http.Request) {
			replayed = r.Clone(context.Background())
			replayed.Body, _ = r.GetBody()
		}, 200, ""},
		{"too large", live(testApp, testSecret), strings.Repeat(" ", 1001), nil, 413, "request body too large"},
		{"internal", live("broken", "x"), tv1Body, nil, 500, "verification failed on the server side"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, h := post(t, tt.signer, tt.body, tt.edit)
			if code != tt.status {
				t.Fatalf("status %d %q, want %d", code, body, tt.status)
			}
			if code == 200 {
				return
			}
			checkErrorBody(t, body, h, tt.message)
			if (code == 401) != (h.Get("WWW-Authenticate") == Algorithm) {
				t.Errorf("WWW-Authenticate = %q on %d", h.Get("WWW-Authenticate"), code)
			}
		})
	}
	t.Run("replayed", func(t *testing.T) {
		resp, err := srv.Client().Do(replayed)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("replay: %d %s", resp.StatusCode, b)
		}
		checkErrorBody(t, string(b), resp.Header, "nonce already used")
	})
	t.Run("log has reasons, no secrets", func(t *testing.T) {
		logMu.Lock()
		defer logMu.Unlock()
		out := logs.String()
		for _, want := range []string{"status=401", "status=403", "status=413", "status=500", "level=ERROR", "app_id=nobody", "db down"} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, testSecret) || strings.Contains(out, "Signature=") {
			t.Errorf("log leaks a secret or signature:\n%s", out)
		}
	})
}

// checkErrorBody checks Aura's error shape and that nothing is echoed.
func checkErrorBody(t *testing.T, body string, h http.Header, message string) {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Message != message {
		t.Errorf("body %q, want message %q (%v)", body, message, err)
	}
	if strings.Contains(body, testSecret) || strings.Contains(body, "Signature") || strings.Contains(body, "app") && message != "unknown app" {
		t.Errorf("body %q echoes request data", body)
	}
}

type syncWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestMiddlewareNilVerifier(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	Middleware(nil, echoHandler).ServeHTTP(rec, req)
	if rec.Code != 500 {
		t.Fatalf("nil verifier: %d", rec.Code)
	}
	if _, ok := AppIDFromContext(req.Context()); ok {
		t.Error("AppIDFromContext on a plain context reported an app id")
	}
}

func TestTransport(t *testing.T) {
	t.Parallel()
	v := &Verifier{Secret: testSecrets}
	srv := httptest.NewServer(Middleware(v, echoHandler))
	t.Cleanup(srv.Close)
	rec := &recordingTransport{}
	client := &http.Client{Transport: &Transport{Signer: &Signer{AppID: testApp, Secret: testSecret}, Base: rec}}

	req, _ := http.NewRequest("POST", srv.URL+"/api/auth/exchange", strings.NewReader(tv1Body))
	for attempt := range 2 { // the same *http.Request sent twice, as a retry would
		if attempt > 0 {
			req.Body, _ = req.GetBody()
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != testApp+" "+tv1Body {
			t.Fatalf("attempt %d: %d %q", attempt, resp.StatusCode, b)
		}
	}
	if len(req.Header) != 0 {
		t.Errorf("Transport modified the caller's request: %v", req.Header)
	}
	if len(rec.sent) != 2 || rec.sent[0].Header.Get("X-Aura-Nonce") == rec.sent[1].Header.Get("X-Aura-Nonce") {
		t.Fatalf("retries must be signed anew with new nonces")
	}

	t.Run("body without GetBody", func(t *testing.T) {
		req, _ := http.NewRequest("POST", srv.URL+"/x", io.NopCloser(strings.NewReader("streamed")))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != testApp+" streamed" {
			t.Fatalf("%d %q", resp.StatusCode, b)
		}
	})
	t.Run("signing error closes the body and sends nothing", func(t *testing.T) {
		body := &closeRecorder{Reader: strings.NewReader("x")}
		req, _ := http.NewRequest("POST", srv.URL+"/x", body)
		n := len(rec.sent)
		_, err := (&http.Client{Transport: &Transport{Signer: &Signer{AppID: testApp}, Base: rec}}).Do(req)
		if err == nil || !strings.Contains(err.Error(), "Secret is empty") || !body.closed || len(rec.sent) != n {
			t.Fatalf("err %v closed %v sent %d", err, body.closed, len(rec.sent)-n)
		}
		if _, err := (&Transport{}).RoundTrip(req); err == nil {
			t.Fatal("nil Signer accepted")
		}
	})
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }
