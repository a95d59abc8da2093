package uploader_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/internal/auraclient"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

func newServer(t *testing.T, opts ...auratest.Option) *auratest.Server {
	t.Helper()
	s := auratest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// newAPI returns an API whose tokens come from the server's exchange.
func newAPI(s *auratest.Server, req uploadtoken.ExchangeRequest) (*uploader.API, *uploadtoken.CachingSource) {
	src := s.Exchanger().Source(req)
	return &uploader.API{BaseURL: s.URL, APIKey: s.APIKey, Tokens: src, HTTPClient: s.Client()}, src
}

// checkHeaders verifies the headers of a recorded API call (spec §4.0).
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
		if got := c.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s %s: %s = %q, want %q", c.Method, c.Path, k, got, v)
		}
	}
	if !strings.HasPrefix(c.Header.Get("X-Api-Key"), "aura_au_…#") {
		t.Errorf("%s: X-Api-Key %q", c.Path, c.Header.Get("X-Api-Key"))
	}
	if !post && c.Header.Get("Content-Type") != "" {
		t.Errorf("GET with Content-Type")
	}
	for k := range c.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-aura-") {
			t.Errorf("%s: unexpected %s on a bearer call", c.Path, k)
		}
	}
}

func TestAPIOverHTTP(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	api, src := newAPI(s, uploadtoken.ExchangeRequest{})
	ctx := context.Background()

	cfg, err := api.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Lift.Endpoint != s.TusURL || cfg.Lift.Bucket != "uploads" || cfg.Mode != "bulk" || cfg.Lift.Token == "" {
		t.Fatalf("config %v", cfg)
	}
	cases := initCases(t)
	for _, c := range cases {
		resp, err := api.Init(ctx, c.request())
		if err != nil {
			t.Fatalf("init %s: %v", c.Name, err)
		}
		if len(resp.StudyIDs) != len(c.Studies) {
			t.Fatalf("init %s: study ids %v", c.Name, resp.StudyIDs)
		}
	}
	id := cases[0].UploadID
	lc := map[string]lifecycleCase{}
	for _, c := range lifecycleCases(t) {
		lc[c.Name] = c
	}
	if err := api.Start(ctx, id, lc["start"].Value); err != nil {
		t.Fatal(err)
	}
	before := len(s.Calls())
	uploadZip(t, s, id) // auratest accepts complete only once the Tus data is in
	after := len(s.Calls())
	if err := api.Complete(ctx, id, lc["complete"].Value); err != nil {
		t.Fatal(err)
	}
	if err := api.Error(ctx, cases[1].UploadID, lc["error"].Value); err != nil {
		t.Fatal(err)
	}
	if err := api.Cancel(ctx, cases[2].UploadID); err != nil {
		t.Fatal(err)
	}

	tok, _ := src.Token(ctx)
	calls := s.Calls()
	calls = append(calls[:before:before], calls[after:]...) // without uploadZip's calls
	var names []string
	for _, c := range calls {
		names = append(names, c.Method+" "+strings.TrimPrefix(c.Path, "/api/"))
	}
	wantOrder := "POST auth/exchange,GET uploader/config,POST uploader/upload/init,POST uploader/upload/init,POST uploader/upload/init," +
		"POST uploader/upload/start,POST uploader/upload/complete,POST uploader/upload/error,POST uploader/upload/cancel"
	if strings.Join(names, ",") != wantOrder {
		t.Fatalf("calls:\n%s\nwant\n%s", strings.Join(names, ","), wantOrder)
	}
	for i, c := range calls[1:] {
		if c.Status != 200 {
			t.Errorf("%s answered %d", c.Path, c.Status)
		}
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
		if ss, _ := s.Session(uid); ss.State != state {
			t.Errorf("session %s: %s, want %s", uid, ss.State, state)
		}
	}
	if ss, _ := s.Session(cases[1].UploadID); ss.Message != lc["error"].Value {
		t.Errorf("error message arrived as %q", ss.Message)
	}
}

func TestAPIErrorMapping(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	initOnly, _ := s.IssueToken(ctx, uploadtoken.ScopeUploadInit)
	api := &uploader.API{BaseURL: s.URL, APIKey: s.APIKey, Tokens: uploadtoken.StaticSource(initOnly), HTTPClient: s.Client(), ConfigRetries: -1}

	_, err := api.Config(ctx)
	var apiErr *uploadtoken.APIError
	if !errors.Is(err, uploadtoken.ErrUnauthorized) || !errors.As(err, &apiErr) ||
		apiErr.Message != "Upload token does not have the integration:read scope." || apiErr.URL != s.URL+"/uploader/config" {
		t.Fatalf("missing scope: %v", err)
	}
	if want := "uploader: aura api: GET " + s.URL + "/uploader/config: 401 Unauthorized: Upload token does not have the integration:read scope."; err.Error() != want {
		t.Fatalf("error text %q", err)
	}
	err = api.Start(ctx, "5c0e6c2a-1f3b-4e0a-9d6b-3f2a1b4c5d6e", "a")
	if !errors.Is(err, uploadtoken.ErrUnauthorized) {
		t.Fatalf("init-only token on start: %v", err)
	}
	full, _ := s.IssueToken(ctx)
	api.Tokens = uploadtoken.StaticSource(full)
	err = api.Start(ctx, "5c0e6c2a-1f3b-4e0a-9d6b-3f2a1b4c5d6e", "a")
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 422 ||
		!reflect.DeepEqual(apiErr.Fields, map[string][]string{"upload_id": {"The selected upload id is invalid."}}) {
		t.Fatalf("unknown upload: %v", err)
	}
	s.Fail(auratest.EndpointInit, auratest.Failure{Status: 429, Header: http.Header{"Retry-After": {"30"}}, Times: 1})
	_, err = api.Init(ctx, initCases(t)[0].request())
	if !errors.Is(err, uploadtoken.ErrRateLimited) || !errors.As(err, &apiErr) || apiErr.RetryAfter != 30*time.Second {
		t.Fatalf("429: %v", err)
	}
	s.Fail(auratest.EndpointCancel, auratest.Failure{Status: 403, Body: `{"error":{"message":"Forbidden realm"}}`, Times: 1})
	if err := api.Cancel(ctx, "x"); !errors.Is(err, uploadtoken.ErrForbidden) || !strings.Contains(err.Error(), "Forbidden realm") {
		t.Fatalf("403: %v", err)
	}
	bad := &uploader.API{BaseURL: s.URL, APIKey: "aura_au_wrong", Tokens: api.Tokens, HTTPClient: s.Client()}
	if _, err := bad.Config(ctx); !errors.Is(err, uploadtoken.ErrUnauthorized) || !strings.Contains(err.Error(), "Invalid API key.") {
		t.Fatalf("bad key: %v", err)
	}
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
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if n := len(s.Calls()); n != 0 {
		t.Fatalf("%d requests were sent", n)
	}
	api := &uploader.API{BaseURL: s.URL, APIKey: "k", Tokens: good}
	if err := api.Start(ctx, "", "a"); err == nil {
		t.Fatal("empty upload id accepted")
	}
}

func TestConfigRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	api, _ := newAPI(s, uploadtoken.ExchangeRequest{})
	ctx := context.Background()
	s.Fail(auratest.EndpointConfig, auratest.Failure{Status: 503, Times: 1})
	s.Fail(auratest.EndpointConfig, auratest.Failure{Abort: true, Times: 1})
	if _, err := api.Config(ctx); err != nil {
		t.Fatalf("config after a 503 and a dropped connection: %v", err)
	}
	if n := len(s.CallsTo(auratest.EndpointConfig)); n != 3 {
		t.Fatalf("%d config calls, want 3", n)
	}
	s.Fail(auratest.EndpointConfig, auratest.Failure{Status: 500})
	_, err := api.Config(ctx)
	if n := len(s.CallsTo(auratest.EndpointConfig)); n != 6 || err == nil {
		t.Fatalf("persistent 500: %d calls, err %v", n, err)
	}
	s.ClearFailures()
	s.Fail(auratest.EndpointConfig, auratest.Failure{Status: 400, Times: 1})
	if _, err := api.Config(ctx); err == nil || len(s.CallsTo(auratest.EndpointConfig)) != 7 {
		t.Fatal("a 400 was retried")
	}
}

func TestExhaustedTokenIsReplaced(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	api, _ := newAPI(s, uploadtoken.ExchangeRequest{MaxUses: 2})
	ctx := context.Background()
	if _, err := api.Config(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Config(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := api.Config(ctx) // third use: 401, and the cached token is dropped
	if !errors.Is(err, uploadtoken.ErrUnauthorized) {
		t.Fatalf("exhausted token: %v", err)
	}
	if _, err := api.Config(ctx); err != nil {
		t.Fatalf("after invalidation: %v", err)
	}
	if n := len(s.CallsTo(auratest.EndpointExchange)); n != 2 {
		t.Fatalf("%d exchanges, want 2", n)
	}
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
				if err != nil || cfg.Lift.Token != "tus-auth-token" || cfg.Mode != "bulk" {
					t.Fatalf("%v %v", cfg, err)
				}
				return
			}
			if err == nil || err.Error() != tc.want || !errors.Is(err, uploader.ErrServerConfig) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
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
	if !errors.As(err, &ce) || ce.Message != "Server config missing or invalid lift.bucket" {
		t.Fatalf("err = %v", err)
	}
}

func TestLiftNeverPrinted(t *testing.T) {
	t.Parallel()
	l := uploader.Lift{Endpoint: "https://tus/files/", Token: "lift-secret-value", Bucket: "b"}
	cfg := &uploader.ServerConfig{Lift: l, Mode: "bulk"}
	for _, s := range []string{l.String(), l.GoString(), sprintf("%v", l), sprintf("%+v", cfg), sprintf("%#v", cfg), sprintf("%q", l)} {
		if strings.Contains(s, "lift-secret") {
			t.Fatalf("lift token printed: %s", s)
		}
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
				if strings.Contains(out, secret) {
					t.Errorf("Sprintf(%s, %s) leaks %q: %s", verb, name, secret, out)
				}
			}
		}
	}
	if got, want := sprintf("%v", api), "uploader.API{BaseURL:https://aura.example.com/api APIKey:"+auraclient.Redact(api.APIKey)+"}"; got != want {
		t.Errorf("Sprint = %q, want %q", got, want)
	}
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
			if !errors.Is(err, context.Canceled) || !errors.Is(err, uploadtoken.ErrRateLimited) {
				t.Fatalf("err = %v; want it to match context.Canceled and ErrRateLimited", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("Config took %v after its context ended", d)
			}
			if n := len(s.CallsTo(auratest.EndpointConfig)); n != 1 {
				t.Fatalf("%d config calls, want 1", n)
			}
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
	if out := buf.String(); strings.Contains(out, "topsecret") || !strings.Contains(out, "aura.example") {
		t.Fatalf("JSON log line: %s", out)
	}
}
