package hmac

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testApp    = "test-app-id"
	testSecret = "test-secret-key"
	otherApp   = "aura_pk_other"
	tv1Body    = `{"ttl":3600,"scopes":["upload:init","upload:manage"]}`
)

var t0 = time.Unix(1706140800, 0) // TV1's timestamp

func testSecrets(_ context.Context, id string) (string, error) {
	switch id {
	case testApp:
		return testSecret, nil
	case otherApp:
		return "aura_sk_other", nil
	}
	return "", fmt.Errorf("lookup %q: %w", id, ErrUnknownApp)
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func testSigner(app string) *Signer {
	secret, _ := testSecrets(context.Background(), app)
	return &Signer{AppID: app, Secret: secret, Now: fixedClock(t0)}
}

func testVerifier() *Verifier {
	return &Verifier{Secret: testSecrets, Now: fixedClock(t0)}
}

// exchangeRequest is the token-exchange POST a partner backend sends.
func exchangeRequest(t testing.TB) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", "https://aura.example.com/api/auth/exchange?x=1", strings.NewReader(tv1Body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", "aura_au_myservice_abc123")
	return req
}

// wire signs req with s and returns the bytes net/http puts on the wire.
func wire(t testing.TB, s *Signer, req *http.Request) []byte {
	t.Helper()
	require.NoError(t, s.Sign(req))
	var b bytes.Buffer
	require.NoError(t, req.Write(&b))
	return b.Bytes()
}

// received parses wire bytes as net/http's server does.
func received(t testing.TB, w []byte) *http.Request {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(w)))
	require.NoError(t, err)
	return req
}

func TestVerifyAcceptsAndLeavesBodyReadable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		req  func(testing.TB) *http.Request
		body string
	}{
		{"POST with JSON", exchangeRequest, tv1Body},
		{"GET without body", func(t testing.TB) *http.Request {
			r, _ := http.NewRequest("GET", "https://aura.example.com/api/uploader/config", nil)
			return r
		}, ""},
		{"odd path and port", func(t testing.TB) *http.Request {
			r, _ := http.NewRequest("PUT", "http://127.0.0.1:8080/api/files/a b/é/A/?b=2&a=1&c="+EscapeComponent("x y"), strings.NewReader("raw \x00\xff bytes"))
			r.Header.Set("Content-Type", " text/plain ;\t charset=latin1 ")
			return r
		}, "raw \x00\xff bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := received(t, wire(t, testSigner(testApp), tt.req(t)))
			app, err := testVerifier().Verify(r)
			require.NoError(t, err)
			require.Equal(t, testApp, app)
			got, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.body, string(got), "the handler reads the body")
		})
	}
}

// TestVerifyTamper changes one thing of a signed request at a time: every
// signed part breaks the signature; unsigned or equivalent changes do not.
func TestVerifyTamper(t *testing.T) {
	t.Parallel()
	w := wire(t, testSigner(testApp), exchangeRequest(t))
	tests := []struct {
		name   string
		tamper func(r *http.Request)
		want   error // nil = still accepted
	}{
		{"nothing", func(r *http.Request) {}, nil},
		{"method", func(r *http.Request) { r.Method = "PUT" }, ErrBadSignature},
		{"method case only", func(r *http.Request) { r.Method = "post" }, nil},
		{"path", func(r *http.Request) { r.URL.Path = "/api/auth/exchangE" }, ErrBadSignature},
		{"path prefix", func(r *http.Request) { r.URL.Path = "/auth/exchange" }, ErrBadSignature},
		{"path equivalent", func(r *http.Request) { r.URL.Path = "/api//x/../auth/./exchange" }, ErrNonCanonicalPath},
		{"query value", func(r *http.Request) { r.URL.RawQuery = "x=2" }, ErrBadSignature},
		{"query added", func(r *http.Request) { r.URL.RawQuery = "x=1&admin=1" }, ErrBadSignature},
		{"query removed", func(r *http.Request) { r.URL.RawQuery = "" }, ErrBadSignature},
		{"host", func(r *http.Request) { r.Host = "evil.example.com" }, ErrBadSignature},
		{"host port", func(r *http.Request) { r.Host = "aura.example.com:443" }, ErrBadSignature},
		{"content-type", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, ErrBadSignature},
		{"content-type dropped", func(r *http.Request) { r.Header.Del("Content-Type") }, ErrBadSignature},
		{"content-type whitespace", func(r *http.Request) { r.Header.Set("Content-Type", " application/json\t") }, nil},
		{"body byte", func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(tv1Body, "3600", "3601", 1)))
		}, ErrBadSignature},
		{"body appended", func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(tv1Body+" ")), int64(len(tv1Body)+1)
		}, ErrBadSignature},
		{"body removed", func(r *http.Request) { r.Body, r.ContentLength = http.NoBody, 0 }, ErrBadSignature},
		{"timestamp", func(r *http.Request) { r.Header.Set("X-Aura-Timestamp", strconv.FormatInt(t0.Unix()+1, 10)) }, ErrBadSignature},
		{"nonce", func(r *http.Request) {
			r.Header.Set("X-Aura-Nonce", "00000000-0000-4000-8000-000000000000")
		}, ErrBadSignature},
		{"credential to another app", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Credential="+testApp, "Credential="+otherApp, 1))
		}, ErrBadSignature},
		{"signature digit", func(r *http.Request) {
			a := r.Header.Get("Authorization")
			last := a[len(a)-1]
			swap := byte('0')
			if last == '0' {
				swap = '1'
			}
			r.Header.Set("Authorization", a[:len(a)-1]+string(swap))
		}, ErrBadSignature},
		{"SignedHeaders without host", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "content-type;host;", "content-type;", 1))
		}, ErrBadSignature},
		{"unsigned X-Api-Key", func(r *http.Request) { r.Header.Set("X-Api-Key", "other") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := received(t, w)
			tt.tamper(r)
			app, err := testVerifier().Verify(r) // fresh nonce store: only the signature decides
			if tt.want == nil {
				require.NoError(t, err)
				assert.Equal(t, testApp, app)
				return
			}
			require.ErrorIs(t, err, tt.want)
			assert.Empty(t, app)
		})
	}
}

// TestVerifyContentTypeAddedToGET: a GET signed without Content-Type must
// not verify once a Content-Type is added.
func TestVerifyContentTypeAddedToGET(t *testing.T) {
	t.Parallel()
	get, err := http.NewRequest("GET", "https://aura.example.com/api/uploader/config", nil)
	require.NoError(t, err)
	r := received(t, wire(t, testSigner(testApp), get))
	r.Header.Set("Content-Type", "application/json")
	_, err = testVerifier().Verify(r)
	assert.ErrorIs(t, err, ErrBadSignature)
}

func TestVerifyReplay(t *testing.T) {
	t.Parallel()
	w := wire(t, testSigner(testApp), exchangeRequest(t))
	v := testVerifier()
	_, err := v.Verify(received(t, w))
	require.NoError(t, err)
	app, err := v.Verify(received(t, w))
	require.ErrorIs(t, err, ErrReplay)
	assert.Empty(t, app)
	// Re-signing gives a new nonce, so a retry is accepted.
	_, err = v.Verify(received(t, wire(t, testSigner(testApp), exchangeRequest(t))))
	assert.NoError(t, err, "re-signed retry")
}

// TestVerifyForgeryDoesNotBurnNonce: a request with a valid nonce but a bad
// signature is rejected before its nonce is claimed.
func TestVerifyForgeryDoesNotBurnNonce(t *testing.T) {
	t.Parallel()
	genuine := received(t, wire(t, testSigner(testApp), exchangeRequest(t)))
	forged := received(t, wire(t, testSigner(testApp), exchangeRequest(t)))
	forged.Header.Set("X-Aura-Nonce", genuine.Header.Get("X-Aura-Nonce"))
	v := testVerifier()
	_, err := v.Verify(forged)
	require.ErrorIs(t, err, ErrBadSignature, "forged")
	_, err = v.Verify(genuine)
	assert.NoError(t, err, "genuine after forgery")
}

// TestVerifyNonceScopedByApp: two apps may use the same nonce.
func TestVerifyNonceScopedByApp(t *testing.T) {
	t.Parallel()
	v := testVerifier()
	for _, app := range []string{testApp, otherApp} {
		s := testSigner(app)
		s.Nonce = func() string { return "550e8400-e29b-41d4-a716-446655440000" }
		got, err := v.Verify(received(t, wire(t, s, exchangeRequest(t))))
		require.NoError(t, err, "app %s", app)
		assert.Equal(t, app, got)
	}
}

func TestVerifySkew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		maxSkew time.Duration
		offset  time.Duration // verifier clock minus signing time
		want    error
	}{
		{"exact", 0, 0, nil},
		{"5 min late", 0, 5 * time.Minute, nil},
		{"5 min early", 0, -5 * time.Minute, nil},
		{"late by a second more", 0, 5*time.Minute + time.Second, ErrStale},
		{"early by a second more", 0, -5*time.Minute - time.Second, ErrStale},
		{"a day late", 0, 24 * time.Hour, ErrStale},
		{"custom 30s late", 30 * time.Second, 31 * time.Second, ErrStale},
		{"custom 30s early", 30 * time.Second, -31 * time.Second, ErrStale},
		{"custom 30s inside", 30 * time.Second, 29 * time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &Verifier{Secret: testSecrets, MaxSkew: tt.maxSkew, Now: fixedClock(t0.Add(tt.offset))}
			_, err := v.Verify(received(t, wire(t, testSigner(testApp), exchangeRequest(t))))
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

// TestVerifyConcurrentReplays: of 64 concurrent copies of one signed
// request, exactly one is accepted and 63 are replays.
func TestVerifyConcurrentReplays(t *testing.T) {
	t.Parallel()
	w := wire(t, testSigner(testApp), exchangeRequest(t))
	v := testVerifier()
	reqs := make([]*http.Request, 64)
	for i := range reqs {
		reqs[i] = received(t, w)
	}
	var accepted, replays atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, r := range reqs {
		wg.Go(func() {
			<-start
			_, err := v.Verify(r)
			switch {
			case err == nil:
				accepted.Add(1)
			case errors.Is(err, ErrReplay):
				replays.Add(1)
			default:
				assert.Fail(t, "unexpected error", "%v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int32(1), accepted.Load(), "accepted")
	assert.Equal(t, int32(63), replays.Load(), "replays")
}

type failingNonces struct{}

func (failingNonces) Claim(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("redis: connection refused")
}

func TestVerifyErrors(t *testing.T) {
	t.Parallel()
	signed := func(t testing.TB) *http.Request {
		return received(t, wire(t, testSigner(testApp), exchangeRequest(t)))
	}
	// del, set and add return a signed request with one header changed.
	edit := func(change func(http.Header)) func(testing.TB) *http.Request {
		return func(t testing.TB) *http.Request {
			r := signed(t)
			change(r.Header)
			return r
		}
	}
	del := func(k string) func(testing.TB) *http.Request { return edit(func(h http.Header) { h.Del(k) }) }
	set := func(k, v string) func(testing.TB) *http.Request { return edit(func(h http.Header) { h.Set(k, v) }) }
	add := func(k, v string) func(testing.TB) *http.Request { return edit(func(h http.Header) { h.Add(k, v) }) }
	tests := []struct {
		name    string
		v       *Verifier
		req     func(testing.TB) *http.Request
		want    error
		notWant error
	}{
		{"no Authorization", testVerifier(), del("Authorization"), ErrMissingSignature, nil},
		{"Bearer token", testVerifier(), set("Authorization", "Bearer aubt_x"), ErrMalformed, nil},
		{"two Authorization headers", testVerifier(), edit(func(h http.Header) { h.Add("Authorization", h.Get("Authorization")) }), ErrMalformed, nil},
		{"no nonce", testVerifier(), del("X-Aura-Nonce"), ErrMalformed, nil},
		{"bad nonce", testVerifier(), set("X-Aura-Nonce", "a/b"), ErrMalformed, nil},
		{"no timestamp", testVerifier(), del("X-Aura-Timestamp"), ErrMalformed, nil},
		{"timestamp in ms", testVerifier(), set("X-Aura-Timestamp", "1706140800000"), ErrMalformed, nil},
		{"negative timestamp", testVerifier(), set("X-Aura-Timestamp", "-1706140800"), ErrMalformed, nil},
		{"two timestamps", testVerifier(), add("X-Aura-Timestamp", "1706140800"), ErrMalformed, nil},
		{"two content types", testVerifier(), add("Content-Type", "text/plain"), ErrMalformed, nil},
		{"unknown app", testVerifier(), func(t testing.TB) *http.Request {
			return received(t, wire(t, &Signer{AppID: "nobody", Secret: "x", Now: fixedClock(t0)}, exchangeRequest(t)))
		}, ErrUnknownApp, ErrInternal},
		{"empty secret is unknown", &Verifier{Secret: func(context.Context, string) (string, error) { return "", nil }, Now: fixedClock(t0)},
			signed, ErrUnknownApp, ErrInternal},
		{"secret lookup fails", &Verifier{Secret: func(context.Context, string) (string, error) {
			return "", errors.New("database is down")
		}, Now: fixedClock(t0)}, signed, ErrInternal, ErrUnknownApp},
		{"nonce store fails", &Verifier{Secret: testSecrets, Now: fixedClock(t0), Nonces: failingNonces{}},
			signed, ErrInternal, ErrReplay},
		{"no Secret func", &Verifier{Now: fixedClock(t0)}, signed, ErrInternal, nil},
		{"nil Verifier", nil, signed, ErrInternal, nil},
		{"body over MaxBody", &Verifier{Secret: testSecrets, Now: fixedClock(t0), MaxBody: 10}, signed, ErrBodyTooLarge, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app, err := tt.v.Verify(tt.req(t))
			require.ErrorIs(t, err, tt.want)
			assert.Empty(t, app)
			if tt.notWant != nil {
				assert.NotErrorIs(t, err, tt.notWant)
			}
			assert.True(t, strings.HasPrefix(err.Error(), "hmac: "), "error %q does not start with the package name", err)
			for _, secret := range []string{testSecret, "aura_sk_other"} {
				assert.NotContains(t, err.Error(), secret, "the error contains a secret")
			}
		})
	}
}

// TestVerifyBodyTooLargeLosesNothing: the whole body is still readable
// after ErrBodyTooLarge, for known and unknown (chunked) lengths.
func TestVerifyBodyTooLargeLosesNothing(t *testing.T) {
	t.Parallel()
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			t.Parallel()
			body := strings.Repeat("x", 5000)
			req, err := http.NewRequest("POST", "https://aura.example.com/api/auth/exchange", strings.NewReader(body))
			require.NoError(t, err)
			if chunked {
				req.GetBody = nil
				req.Body = io.NopCloser(strings.NewReader(body))
			}
			s := testSigner(testApp)
			require.NoError(t, s.Sign(req))
			if chunked {
				// Sign buffered it; send it chunked anyway.
				req.ContentLength = -1
				req.TransferEncoding = []string{"chunked"}
			}
			var b bytes.Buffer
			require.NoError(t, req.Write(&b))
			r := received(t, b.Bytes())
			require.Equal(t, chunked, r.ContentLength == -1, "ContentLength = %d", r.ContentLength)
			v := &Verifier{Secret: testSecrets, Now: fixedClock(t0), MaxBody: 1000}
			_, err = v.Verify(r)
			require.ErrorIs(t, err, ErrBodyTooLarge)
			got, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			require.Equal(t, body, string(got), "body after rejection")
			// The same request fits a larger limit.
			v.MaxBody = 5000
			_, err = v.Verify(received(t, b.Bytes()))
			assert.NoError(t, err, "MaxBody 5000")
		})
	}
}

// TestVerifyMidnight: a request signed one second before UTC midnight and
// verified after it still derives the key from its own timestamp's date.
func TestVerifyMidnight(t *testing.T) {
	t.Parallel()
	before := time.Unix(1706140799, 0) // 2024-01-24T23:59:59Z
	s := &Signer{AppID: testApp, Secret: testSecret, Now: fixedClock(before)}
	v := &Verifier{Secret: testSecrets, Now: fixedClock(before.Add(2 * time.Second))}
	_, err := v.Verify(received(t, wire(t, s, exchangeRequest(t))))
	require.NoError(t, err)
	// And the key cache serves both days in turn.
	s.Now = fixedClock(before.Add(2 * time.Second))
	_, err = v.Verify(received(t, wire(t, s, exchangeRequest(t))))
	assert.NoError(t, err)
}

// TestSignerKeyCacheFollowsSecret: changing Secret on a used Signer takes
// effect at once.
func TestSignerKeyCacheFollowsSecret(t *testing.T) {
	t.Parallel()
	s := testSigner(testApp)
	v := testVerifier()
	_, err := v.Verify(received(t, wire(t, s, exchangeRequest(t))))
	require.NoError(t, err)
	s.Secret = "rotated"
	_, err = v.Verify(received(t, wire(t, s, exchangeRequest(t))))
	assert.ErrorIs(t, err, ErrBadSignature, "after rotation")
}

// TestSignBodyWithoutGetBody: a body that cannot be re-read is buffered,
// signed, and left readable with the same bytes.
func TestSignBodyWithoutGetBody(t *testing.T) {
	t.Parallel()
	req := exchangeRequest(t)
	req.GetBody = nil
	req.ContentLength = 0
	req.Body = io.NopCloser(strings.NewReader(tv1Body))
	r := received(t, wire(t, testSigner(testApp), req))
	assert.Equal(t, int64(len(tv1Body)), r.ContentLength)
	_, err := testVerifier().Verify(r)
	assert.NoError(t, err)
}

func TestSignTwiceReplacesHeaders(t *testing.T) {
	t.Parallel()
	req := exchangeRequest(t)
	s := testSigner(testApp)
	require.NoError(t, s.Sign(req))
	first := req.Header.Get("X-Aura-Nonce")
	r := received(t, wire(t, s, req))
	require.Len(t, r.Header.Values("Authorization"), 1, "re-signing kept the old Authorization")
	require.NotEqual(t, first, r.Header.Get("X-Aura-Nonce"), "re-signing kept the old nonce")
	_, err := testVerifier().Verify(r)
	assert.NoError(t, err)
}

func TestDefaultNonceIsUUIDv4(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		n := string(appendNonce(nil))
		require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, n, "not a lower-case UUID v4")
		require.False(t, seen[n], "nonce %q repeated", n)
		seen[n] = true
	}
}

// TestExplainMatchesBothSides: Explain gives the same canonical request on
// the client (after Sign) and on the server (as received).
func TestExplainMatchesBothSides(t *testing.T) {
	t.Parallel()
	req := exchangeRequest(t)
	w := wire(t, testSigner(testApp), req)
	client, err := Explain(req)
	require.NoError(t, err)
	r := received(t, w)
	server, err := Explain(r)
	require.NoError(t, err)
	require.Equal(t, *client, *server)
	_, err = testVerifier().Verify(r)
	assert.NoError(t, err, "Verify after Explain")
	for _, s := range []string{testSecret, req.Header.Get("Authorization")[len(req.Header.Get("Authorization"))-64:]} {
		assert.NotContains(t, client.String(), s, "Explanation.String contains a secret or the signature")
	}
	assert.Equal(t, "test-app-id/20240125/aura_request", client.CredentialScope)
	assert.Equal(t, "20240125", client.Date)
}

// TestSignerNeverPrintsSecret: a Signer printed with any verb, directly,
// through a pointer or inside a struct (a config logged at start-up, an
// error wrapping it), shows its app id but never its secret.
func TestSignerNeverPrintsSecret(t *testing.T) {
	t.Parallel()
	s := &Signer{AppID: "aura_pk_app", Secret: "aura_sk_supersecretkey456"}
	require.NoError(t, s.Sign(exchangeRequest(t))) // fills the key cache too
	type config struct {
		Signer  *Signer
		Value   Signer
		Signers []*Signer
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for name, v := range map[string]any{"pointer": s, "value": s.clone(), "nested": config{s, s.clone(), []*Signer{s}}} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, "supersecret", "Sprintf(%s, %s) leaks the secret", verb, name)
			assert.NotContains(t, out, hex.EncodeToString([]byte("supersecret")), "Sprintf(%s, %s) leaks the secret", verb, name)
		}
	}
	assert.Equal(t, "hmac.Signer{AppID:aura_pk_app Secret:[redacted]}", fmt.Sprint(s))
	assert.Equal(t, "hmac.Signer{AppID:a Secret:}", fmt.Sprint(&Signer{AppID: "a"}), "without a secret")
}

// clone copies the exported fields (a test must not copy the key cache).
func (s *Signer) clone() Signer {
	return Signer{AppID: s.AppID, Secret: s.Secret, Now: s.Now, Nonce: s.Nonce}
}

// TestSignerNeverLogsSecret: slog's JSON handler would marshal the fields;
// LogValue keeps the Secret out with any handler.
func TestSignerNeverLogsSecret(t *testing.T) {
	t.Parallel()
	s := &Signer{AppID: "aura_pk_app", Secret: "aura_sk_supersecretkey456"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("configured", "signer", s)
	assert.NotContains(t, buf.String(), "supersecret")
	assert.Contains(t, buf.String(), "aura_pk_app")
}
