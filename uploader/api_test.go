package uploader_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/internal/auraclient"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newAPI returns an API whose tokens come from the server's exchange.
func newAPI(s *auratest.Server, req uploadtoken.ExchangeRequest) (*uploader.API, *uploadtoken.CachingSource) {
	src := s.Exchanger().Source(req)
	return &uploader.API{BaseURL: s.URL, APIKey: s.APIKey, Tokens: src, HTTPClient: s.Client()}, src
}

// checkHeaders verifies the headers of a recorded API call (docs/aura.md).
func checkHeaders(t *testing.T, c auratest.Call, tok *uploadtoken.Token, post bool) {
	t.Helper()
	want := map[string]string{
		"Accept":        "application/json",
		"Authorization": "Bearer " + tok.Redacted(),
	}
	if post {
		want["Content-Type"] = "application/json"
	}
	for k, v := range want {
		assert.Equal(t, []string{v}, c.Header.Values(k), "%s %s: %s", c.Method, c.Path, k)
	}
	assert.True(t, strings.HasPrefix(c.Header.Get("X-Api-Key"), "aura_au_…#"), "%s: X-Api-Key %q", c.Path, c.Header.Get("X-Api-Key"))
	if !post {
		assert.Empty(t, c.Header.Get("Content-Type"), "GET with Content-Type")
	}
	for k := range c.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-aura-") {
			assert.Fail(t, "unexpected header on a bearer call", "%s: %s", c.Path, k)
		}
	}
}

func TestAPIOverHTTP(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	api, src := newAPI(s, uploadtoken.ExchangeRequest{})
	ctx := context.Background()

	cfg, err := api.Config(ctx)
	require.NoError(t, err)
	assert.Equal(t, s.TusURL, cfg.Lift.Endpoint)
	assert.Equal(t, "uploads", cfg.Lift.Bucket)
	assert.Equal(t, "bulk", cfg.Mode)
	assert.NotEmpty(t, cfg.Lift.Token)
	cases := initCases(t)
	for _, c := range cases {
		resp, err := api.Init(ctx, c.request())
		require.NoError(t, err, "init %s", c.Name)
		assert.Len(t, resp.StudyIDs, len(c.Studies), "init %s", c.Name)
	}
	id := cases[0].UploadID
	lc := map[string]lifecycleCase{}
	for _, c := range lifecycleCases(t) {
		lc[c.Name] = c
	}
	require.NoError(t, api.Start(ctx, id, lc["start"].Value))
	before := len(s.Calls())
	uploadZip(t, s, id) // auratest accepts complete only once the Tus data is in
	after := len(s.Calls())
	require.NoError(t, api.Complete(ctx, id, lc["complete"].Value))
	require.NoError(t, api.Error(ctx, cases[1].UploadID, lc["error"].Value))
	require.NoError(t, api.Cancel(ctx, cases[2].UploadID))

	tok, _ := src.Token(ctx)
	calls := s.Calls()
	calls = append(calls[:before:before], calls[after:]...) // without uploadZip's calls
	var names []string
	for _, c := range calls {
		names = append(names, c.Method+" "+strings.TrimPrefix(c.Path, "/api/"))
	}
	wantOrder := "POST auth/exchange,GET uploader/config,POST uploader/upload/init,POST uploader/upload/init,POST uploader/upload/init," +
		"POST uploader/upload/start,POST uploader/upload/complete,POST uploader/upload/error,POST uploader/upload/cancel"
	require.Equal(t, wantOrder, strings.Join(names, ","))
	for i, c := range calls[1:] {
		assert.Equal(t, 200, c.Status, c.Path)
		checkHeaders(t, c, tok, c.Method == "POST")
		switch {
		case i >= 1 && i <= 3:
			golden(t, "init-"+cases[i-1].Name, c.Body)
		case i >= 4:
			golden(t, []string{"start", "complete", "error", "cancel"}[i-4], c.Body)
		}
	}
	for uid, state := range map[string]string{
		cases[0].UploadID: auratest.StateCompleted, cases[1].UploadID: auratest.StateFailed, cases[2].UploadID: auratest.StateCancelled,
	} {
		ss, _ := s.Session(uid)
		assert.Equal(t, state, ss.State, "session %s", uid)
	}
	ss, _ := s.Session(cases[1].UploadID)
	assert.Equal(t, lc["error"].Value, ss.Message, "error message")
}

func TestAPIErrorMapping(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	initOnly, _ := s.IssueToken(ctx, uploadtoken.ScopeUploadInit)
	api := &uploader.API{BaseURL: s.URL, APIKey: s.APIKey, Tokens: uploadtoken.StaticSource(initOnly), HTTPClient: s.Client(), ConfigRetries: -1}

	_, err := api.Config(ctx)
	var apiErr *uploadtoken.APIError
	assert.ErrorIs(t, err, uploadtoken.ErrUnauthorized)
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "Upload token does not have the integration:read scope.", apiErr.Message)
	assert.Equal(t, s.URL+"/uploader/config", apiErr.URL)
	assert.Equal(t, "GET", apiErr.Method)
	assert.Equal(t, `{"error":{"message":"Upload token does not have the integration:read scope."}}`, apiErr.Body)
	assert.EqualError(t, err, "uploader: aura api: GET "+s.URL+"/uploader/config: 401 Unauthorized: Upload token does not have the integration:read scope.")
	err = api.Start(ctx, "5c0e6c2a-1f3b-4e0a-9d6b-3f2a1b4c5d6e", "a")
	assert.ErrorIs(t, err, uploadtoken.ErrUnauthorized, "init-only token on start")
	full, _ := s.IssueToken(ctx)
	api.Tokens = uploadtoken.StaticSource(full)
	err = api.Start(ctx, "5c0e6c2a-1f3b-4e0a-9d6b-3f2a1b4c5d6e", "a")
	require.ErrorAs(t, err, &apiErr, "unknown upload")
	assert.Equal(t, 422, apiErr.StatusCode)
	assert.Equal(t, map[string][]string{"upload_id": {"The selected upload id is invalid."}}, apiErr.Fields)
	s.Fail(auratest.EndpointInit, auratest.Failure{Status: 429, Header: http.Header{"Retry-After": {"30"}}, Times: 1})
	_, err = api.Init(ctx, initCases(t)[0].request())
	assert.ErrorIs(t, err, uploadtoken.ErrRateLimited)
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 30*time.Second, apiErr.RetryAfter)
	s.Fail(auratest.EndpointCancel, auratest.Failure{Status: 403, Body: `{"error":{"message":"Forbidden realm"}}`, Times: 1})
	err = api.Cancel(ctx, "x")
	assert.ErrorIs(t, err, uploadtoken.ErrForbidden)
	assert.ErrorContains(t, err, "Forbidden realm")
	bad := &uploader.API{BaseURL: s.URL, APIKey: "aura_au_wrong", Tokens: api.Tokens, HTTPClient: s.Client()}
	_, err = bad.Config(ctx)
	assert.ErrorIs(t, err, uploadtoken.ErrUnauthorized, "bad key")
	assert.ErrorContains(t, err, "Invalid API key.")
}

func TestAPIRefusesBeforeSending(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	good := uploadtoken.StaticSource(&uploadtoken.Token{Value: "aubt_x"})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		api  *uploader.API
		want string
	}{
		{"no key", &uploader.API{BaseURL: s.URL, Tokens: good}, "uploader: APIKey is required"},
		{"no base", &uploader.API{APIKey: "k", Tokens: good}, "uploader: BaseURL is required"},
		{"no tokens", &uploader.API{BaseURL: s.URL, APIKey: "k"}, "uploader: Tokens is required"},
		{"bad base", &uploader.API{BaseURL: "aura.example.com/api", APIKey: "k", Tokens: good}, "uploader: BaseURL must be a valid URL"},
		{"not aubt", &uploader.API{BaseURL: s.URL, APIKey: "k", Tokens: uploadtoken.StaticSource(&uploadtoken.Token{Value: "test-token-123"})},
			"uploader: GET /uploader/config: Get \"" + s.URL + "/uploader/config\": uploadtoken: upload token: not an Aura upload token (must start with 'aubt_')"},
		{"source fails", &uploader.API{BaseURL: s.URL, APIKey: "k", Tokens: uploadtoken.SourceFunc(func(context.Context) (*uploadtoken.Token, error) {
			return nil, errors.New("backend down")
		})}, "uploader: GET /uploader/config: Get \"" + s.URL + "/uploader/config\": uploadtoken: upload token: backend down"},
	} {
		tc.api.HTTPClient = s.Client()
		tc.api.ConfigRetries = -1
		_, err := tc.api.Config(ctx)
		if assert.Error(t, err, tc.name) {
			assert.True(t, strings.HasPrefix(err.Error(), tc.want), "%s: %v", tc.name, err)
		}
	}
	assert.Empty(t, s.Calls(), "requests were sent")
	api := &uploader.API{BaseURL: s.URL, APIKey: "k", Tokens: good}
	assert.EqualError(t, api.Start(ctx, "", "a"), "uploader: empty upload id")
	// A token source that fails is not retried: it is not the network.
	calls := 0
	failing := &uploader.API{BaseURL: s.URL, APIKey: "k", HTTPClient: s.Client(), Tokens: uploadtoken.SourceFunc(func(context.Context) (*uploadtoken.Token, error) {
		calls++
		return nil, errors.New("backend down")
	})}
	_, err := failing.Config(ctx)
	assert.ErrorContains(t, err, "backend down")
	assert.Equal(t, 1, calls, "token source calls")
}

func TestConfigRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	api, _ := newAPI(s, uploadtoken.ExchangeRequest{})
	ctx := context.Background()
	s.Fail(auratest.EndpointConfig, auratest.Failure{Status: 503, Times: 1})
	s.Fail(auratest.EndpointConfig, auratest.Failure{Abort: true, Times: 1})
	_, err := api.Config(ctx)
	require.NoError(t, err, "config after a 503 and a dropped connection")
	assert.Len(t, s.CallsTo(auratest.EndpointConfig), 3)
	s.Fail(auratest.EndpointConfig, auratest.Failure{Status: 500})
	_, err = api.Config(ctx)
	assert.Error(t, err, "persistent 500")
	assert.Len(t, s.CallsTo(auratest.EndpointConfig), 7, "the first try and three retries, as for lifecycle calls")
	s.ClearFailures()
	s.Fail(auratest.EndpointConfig, auratest.Failure{Status: 400, Times: 1})
	_, err = api.Config(ctx)
	assert.Error(t, err)
	assert.Len(t, s.CallsTo(auratest.EndpointConfig), 8, "a 400 is not retried")
}

func TestExhaustedTokenIsReplaced(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	api, _ := newAPI(s, uploadtoken.ExchangeRequest{MaxUses: 2})
	ctx := context.Background()
	for range 2 {
		_, err := api.Config(ctx)
		require.NoError(t, err)
	}
	_, err := api.Config(ctx) // third use: 401, and the cached token is dropped
	assert.ErrorIs(t, err, uploadtoken.ErrUnauthorized, "exhausted token")
	_, err = api.Config(ctx)
	assert.NoError(t, err, "after invalidation")
	assert.Len(t, s.CallsTo(auratest.EndpointExchange), 2)
}

func TestParseServerConfig(t *testing.T) {
	t.Parallel()
	https, _ := url.Parse("https://aura.example.com/api")
	for _, tc := range []struct {
		name, body string
		base       *url.URL
		want       string // error text; "" for success
	}{
		{"readme example", `{"lift":{"endpoint":"https://tus-server.com/files/","token":"tus-auth-token","bucket":"uploads"},"mode":"bulk"}`, https, ""},
		{"not json", `nope`, nil, "uploader: Server config missing lift configuration (body is not a JSON object)"},
		{"no lift", `{"mode":"bulk"}`, nil, "uploader: Server config missing lift configuration"},
		{"lift null", `{"lift":null,"mode":"bulk"}`, nil, "uploader: Server config missing lift configuration"},
		{"lift string", `{"lift":"x","mode":"bulk"}`, nil, "uploader: Server config missing lift configuration"},
		{"no endpoint", `{"lift":{"token":"t","bucket":"b"},"mode":"bulk"}`, nil, "uploader: Server config missing or invalid lift.endpoint"},
		{"endpoint number", `{"lift":{"endpoint":5,"token":"t","bucket":"b"},"mode":"bulk"}`, nil, "uploader: Server config missing or invalid lift.endpoint"},
		{"endpoint relative", `{"lift":{"endpoint":"/files/","token":"t","bucket":"b"},"mode":"bulk"}`, nil,
			"uploader: Server config missing or invalid lift.endpoint (not an absolute http or https URL)"},
		{"endpoint downgrade", `{"lift":{"endpoint":"http://tus/files/","token":"t","bucket":"b"},"mode":"bulk"}`, https,
			"uploader: Server config missing or invalid lift.endpoint (plain http endpoint for an https API)"},
		{"endpoint user", `{"lift":{"endpoint":"https://u:p@tus/files/","token":"t","bucket":"b"},"mode":"bulk"}`, https,
			"uploader: Server config missing or invalid lift.endpoint (must not carry user info)"},
		{"empty token", `{"lift":{"endpoint":"https://tus/","token":"","bucket":"b"},"mode":"bulk"}`, nil, "uploader: Server config missing or invalid lift.token"},
		{"token newline", `{"lift":{"endpoint":"https://tus/","token":"a\nb","bucket":"b"},"mode":"bulk"}`, nil, "uploader: Server config missing or invalid lift.token (contains line breaks)"},
		{"no bucket", `{"lift":{"endpoint":"https://tus/","token":"t"},"mode":"bulk"}`, nil, "uploader: Server config missing or invalid lift.bucket"},
		{"no mode", `{"lift":{"endpoint":"https://tus/","token":"t","bucket":"b"}}`, nil, "uploader: Server config missing or invalid mode"},
		{"mode empty", `{"lift":{"endpoint":"https://tus/","token":"t","bucket":"b"},"mode":""}`, nil, "uploader: Server config missing or invalid mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := uploader.ParseServerConfig([]byte(tc.body), tc.base)
			if tc.want == "" {
				require.NoError(t, err)
				assert.Equal(t, "tus-auth-token", cfg.Lift.Token)
				assert.Equal(t, "bulk", cfg.Mode)
				return
			}
			assert.EqualError(t, err, tc.want)
			assert.ErrorIs(t, err, uploader.ErrServerConfig)
		})
	}
}

func TestConfigValidationOverHTTP(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	api, _ := newAPI(s, uploadtoken.ExchangeRequest{})
	s.Fail(auratest.EndpointConfig, auratest.Failure{Status: 200, Body: `{"lift":{"endpoint":"` + s.TusURL + `","token":"t"},"mode":"bulk"}`})
	_, err := api.Config(context.Background())
	var ce *uploader.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "Server config missing or invalid lift.bucket", ce.Message)
}

func TestLiftNeverPrinted(t *testing.T) {
	t.Parallel()
	l := uploader.Lift{Endpoint: "https://tus/files/", Token: "lift-secret-value", Bucket: "b"}
	cfg := &uploader.ServerConfig{Lift: l, Mode: "bulk"}
	for _, s := range []string{l.String(), sprintf("%#v", l), sprintf("%v", l), sprintf("%+v", cfg), sprintf("%#v", cfg), sprintf("%q", l)} {
		assert.NotContains(t, s, "lift-secret")
	}
}

func TestAPINeverPrintsCredentials(t *testing.T) {
	t.Parallel()
	tok := &uploadtoken.Token{Value: "aubt_" + strings.Repeat("S", 64)}
	api := &uploader.API{BaseURL: "https://aura.example.com/api", APIKey: "aura_au_myservice_abc123", Tokens: uploadtoken.StaticSource(tok)}
	type config struct{ Aura *uploader.API }
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		for name, v := range map[string]any{"pointer": api, "nested": config{api}} {
			out := sprintf(verb, v)
			for _, secret := range []string{"myservice_abc123", "6d7973657276696365", "SSSSSSSS"} {
				assert.NotContains(t, out, secret, "Sprintf(%s, %s)", verb, name)
			}
		}
	}
	assert.Equal(t, "uploader.API{BaseURL:https://aura.example.com/api APIKey:"+auraclient.Redact(api.APIKey)+"}", sprintf("%v", api))
}

// TestConfigRetryWaitHonoursContext: a context that ends once Config has a
// retryable answer (before or during the wait for the next attempt) ends
// Config at once, and the error says so (errors.Is context.Canceled)
// besides carrying the last answer.
func TestConfigRetryWaitHonoursContext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		delay time.Duration // from reading the answer to cancelling
	}{{"before the wait", 0}, {"during the wait", 20 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			api, _ := newAPI(s, uploadtoken.ExchangeRequest{})
			s.Fail(auratest.EndpointConfig, auratest.Failure{Status: 429, Header: http.Header{"Retry-After": {"30"}}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The API logs each answer once it has read it: cancel from
			// there, so the context ends after the first answer.
			api.Logger = slog.New(cancelOnLog{cancel, tc.delay})
			start := time.Now()
			_, err := api.Config(ctx)
			assert.ErrorIs(t, err, context.Canceled)
			assert.ErrorIs(t, err, uploadtoken.ErrRateLimited)
			assert.Less(t, time.Since(start), 10*time.Second, "Config after its context ended")
			assert.Len(t, s.CallsTo(auratest.EndpointConfig), 1)
		})
	}
}

// cancelOnLog is a slog.Handler that calls cancel (after delay) for every
// record.
type cancelOnLog struct {
	cancel context.CancelFunc
	delay  time.Duration
}

func (h cancelOnLog) Enabled(context.Context, slog.Level) bool { return true }
func (h cancelOnLog) Handle(context.Context, slog.Record) error {
	if h.delay == 0 {
		h.cancel()
	} else {
		time.AfterFunc(h.delay, h.cancel)
	}
	return nil
}
func (h cancelOnLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h cancelOnLog) WithGroup(string) slog.Handler      { return h }

// TestAPINeverLogsCredentials: the same with slog's JSON handler.
func TestAPINeverLogsCredentials(t *testing.T) {
	t.Parallel()
	a := &uploader.API{BaseURL: "https://aura.example/api", APIKey: "aura_au_svc_topsecretkey"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("configured", "api", a)
	assert.NotContains(t, buf.String(), "topsecret")
	assert.Contains(t, buf.String(), "aura.example")
}
