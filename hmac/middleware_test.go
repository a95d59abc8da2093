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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		req, err := http.NewRequest("POST", srv.URL+"/api/auth/exchange", strings.NewReader(body))
		require.NoError(t, err)
		if s != nil {
			require.NoError(t, s.Sign(req))
		}
		if edit != nil {
			edit(req)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b), resp.Header
	}
	live := func(app, secret string) *Signer { return &Signer{AppID: app, Secret: secret} }

	t.Run("accepted", func(t *testing.T) {
		code, body, _ := post(t, live(testApp, testSecret), tv1Body, nil)
		assert.Equal(t, 200, code)
		assert.Equal(t, testApp+" "+tv1Body, body)
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
			require.Equal(t, tt.status, code, body)
			if code == 200 {
				return
			}
			checkErrorBody(t, body, h, tt.message)
			assert.Equal(t, code == 401, h.Get("WWW-Authenticate") == Algorithm, "WWW-Authenticate = %q on %d", h.Get("WWW-Authenticate"), code)
		})
	}
	t.Run("replayed", func(t *testing.T) {
		resp, err := srv.Client().Do(replayed)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 403, resp.StatusCode, "replay: %s", b)
		checkErrorBody(t, string(b), resp.Header, "nonce already used")
	})
	t.Run("log has reasons, no secrets", func(t *testing.T) {
		logMu.Lock()
		defer logMu.Unlock()
		out := logs.String()
		for _, want := range []string{"status=401", "status=403", "status=413", "status=500", "level=ERROR", "app_id=nobody", "db down"} {
			assert.Contains(t, out, want, "log lacks it")
		}
		assert.NotContains(t, out, testSecret, "log leaks the secret")
		assert.NotContains(t, out, "Signature=", "log leaks a signature")
	})
}

// checkErrorBody checks Aura's error shape and that nothing is echoed.
func checkErrorBody(t *testing.T, body string, h http.Header, message string) {
	t.Helper()
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if assert.NoError(t, dec.Decode(&e), "body %q", body) {
		assert.Equal(t, message, e.Error.Message)
	}
	assert.NotContains(t, body, testSecret)
	assert.NotContains(t, body, "Signature")
	if message != "unknown app" {
		assert.NotContains(t, body, "app", "body echoes request data")
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
	assert.Equal(t, 500, rec.Code, "nil verifier")
	_, ok := AppIDFromContext(req.Context())
	assert.False(t, ok, "AppIDFromContext on a plain context reported an app id")
}

func TestTransport(t *testing.T) {
	t.Parallel()
	v := &Verifier{Secret: testSecrets}
	srv := httptest.NewServer(Middleware(v, echoHandler))
	t.Cleanup(srv.Close)
	rec := &recordingTransport{}
	client := &http.Client{Transport: &Transport{Signer: &Signer{AppID: testApp, Secret: testSecret}, Base: rec}}

	req, err := http.NewRequest("POST", srv.URL+"/api/auth/exchange", strings.NewReader(tv1Body))
	require.NoError(t, err)
	for attempt := range 2 { // the same *http.Request sent twice, as a retry would
		if attempt > 0 {
			req.Body, _ = req.GetBody()
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "attempt %d: %q", attempt, b)
		require.Equal(t, testApp+" "+tv1Body, string(b), "attempt %d", attempt)
	}
	assert.Empty(t, req.Header, "Transport modified the caller's request")
	require.Len(t, rec.sent, 2)
	assert.NotEqual(t, rec.sent[0].Header.Get("X-Aura-Nonce"), rec.sent[1].Header.Get("X-Aura-Nonce"), "retries must be signed anew with new nonces")

	t.Run("body without GetBody", func(t *testing.T) {
		req, err := http.NewRequest("POST", srv.URL+"/x", io.NopCloser(strings.NewReader("streamed")))
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, testApp+" streamed", string(b))
	})
	t.Run("signing error closes the body and sends nothing", func(t *testing.T) {
		body := &closeRecorder{Reader: strings.NewReader("x")}
		req, err := http.NewRequest("POST", srv.URL+"/x", body)
		require.NoError(t, err)
		n := len(rec.sent)
		_, err = (&http.Client{Transport: &Transport{Signer: &Signer{AppID: testApp}, Base: rec}}).Do(req)
		assert.ErrorContains(t, err, "Secret is empty")
		assert.True(t, body.closed, "the body was not closed")
		assert.Len(t, rec.sent, n, "a request was sent")
		_, err = (&Transport{}).RoundTrip(req)
		assert.Error(t, err, "nil Signer accepted")
	})
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }
