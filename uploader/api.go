package uploader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/internal/httpx"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// API calls the Aura uploader endpoints (spec §4.2-4.7) with an upload
// token: every request carries "Authorization: Bearer aubt_…", "X-Api-Key"
// and "Accept: application/json"; POSTs add "Content-Type:
// application/json" and a body built byte for byte as the reference client
// builds it. Non-2xx answers are an [*uploadtoken.APIError] (errors.As),
// classified by errors.Is with uploadtoken.ErrUnauthorized, ErrForbidden
// and ErrRateLimited.
//
// The zero value is not usable: set BaseURL, APIKey and Tokens. An API is
// safe for concurrent use; it must not be copied after first use (it keeps
// its default HTTP client), so share an *API.
type API struct {
	// BaseURL is the API root including /api, e.g.
	// "https://aura.example.com/api".
	BaseURL string
	// APIKey is the service API key (aura_au_…) sent as X-Api-Key.
	APIKey string
	// Tokens supplies the upload token for each call: an
	// uploadtoken.CachingSource on a backend, uploadtoken.StaticSource for
	// a token handed over by one. A 401 invalidates a cached token.
	Tokens uploadtoken.Source
	// HTTPClient sends the requests; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Logger receives one debug line per call (method, path, status,
	// duration; never a token or key); nil means silence.
	Logger *slog.Logger
	// MaxBody bounds each response read; 0 means 1 MiB.
	MaxBody int64
	// ConfigRetries is how many times Config retries after a network error,
	// a 429 or a 5xx (GET is safe to repeat; the reference client never
	// retries, spec §8 item 11). 0 means 2; negative means none. Other calls
	// are not retried: the engine decides.
	ConfigRetries int

	defaultOnce sync.Once    // guards defaultHTTP
	defaultHTTP *http.Client // used when HTTPClient is nil
}

// Format prints the API for every fmt verb without its credentials:
// uploader.API{BaseURL:<url> APIKey:aura_au_…#<fingerprint>}, so an API
// logged with a configuration, or wrapped into an error, does not leak the
// key.
func (a *API) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "uploader.API{BaseURL:%s APIKey:%s}", a.BaseURL, uploadtoken.Redact(a.APIKey))
}

// LogValue makes slog print the API as Format does, with any handler (the
// JSON handler would otherwise marshal APIKey).
func (a *API) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(a)) }

// Config fetches and validates the upload configuration (GET
// /uploader/config, scope integration:read). Once is enough: the reference
// client's second call adds nothing (spec §8 item 12).
func (a *API) Config(ctx context.Context) (*ServerConfig, error) {
	base, err := a.check()
	if err != nil {
		return nil, err
	}
	retries := a.ConfigRetries
	if retries == 0 {
		retries = 2
	}
	backoff := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		data, err := a.do(ctx, http.MethodGet, pathConfig, nil, true)
		if err == nil {
			cfg, perr := ParseServerConfig(data, base)
			if perr != nil {
				return nil, perr
			}
			return cfg, nil
		}
		if attempt >= retries || !retryable(ctx, err) {
			return nil, withContextErr(ctx, err)
		}
		wait := backoff
		var apiErr *uploadtoken.APIError
		if errors.As(err, &apiErr) && apiErr.RetryAfter > wait {
			wait = min(apiErr.RetryAfter, 30*time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, withContextErr(ctx, err)
		case <-t.C:
		}
		backoff *= 2
	}
}

// withContextErr returns err, the last failure of a call that gave up, also
// wrapping ctx.Err() when ctx has ended: a caller that cancelled sees
// errors.Is(err, context.Canceled) even when the last answer was an API
// error.
func withContextErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("%w (gave up: %w)", err, cerr)
}

// retryable reports whether a failed config fetch may succeed if repeated.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var apiErr *uploadtoken.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Temporary()
	}
	var cfgErr *ConfigError
	var urlErr *url.Error
	return !errors.As(err, &cfgErr) && errors.As(err, &urlErr)
}

// Init announces the upload and its studies (POST /uploader/upload/init,
// scope upload:init).
func (a *API) Init(ctx context.Context, req InitRequest) (*InitResponse, error) {
	if _, err := a.check(); err != nil {
		return nil, err
	}
	body, err := req.Body()
	if err != nil {
		return nil, err
	}
	data, err := a.do(ctx, http.MethodPost, pathInit, body, true)
	if err != nil {
		return nil, err
	}
	return ParseInitResponse(data), nil
}

// Start marks the upload as started (POST /uploader/upload/start, scope
// upload:manage): {"upload_id","assembly_id","mode":"uploader"}. The
// assembly id is any opaque id, the same for Start and Complete (spec
// §4.4).
func (a *API) Start(ctx context.Context, uploadID, assemblyID string) error {
	return a.lifecycle(ctx, pathStart, uploadID, "assembly_id", assemblyID)
}

// Complete marks the upload as finished (POST /uploader/upload/complete,
// scope upload:manage), with the same body as Start. Call it only after the
// Tus upload really finished (spec §8 item 10).
func (a *API) Complete(ctx context.Context, uploadID, assemblyID string) error {
	return a.lifecycle(ctx, pathComplete, uploadID, "assembly_id", assemblyID)
}

// Error reports a failed upload (POST /uploader/upload/error, scope
// upload:manage): {"upload_id","message","mode":"uploader"}. Send the real
// cause, not the reference client's generic "Failed to upload …"; it must
// not contain secrets.
func (a *API) Error(ctx context.Context, uploadID, message string) error {
	return a.lifecycle(ctx, pathError, uploadID, "message", message)
}

// Cancel reports a cancelled upload (POST /uploader/upload/cancel, scope
// upload:manage): {"upload_id","mode":"uploader"}.
func (a *API) Cancel(ctx context.Context, uploadID string) error {
	return a.lifecycle(ctx, pathCancel, uploadID, "", "")
}

func (a *API) lifecycle(ctx context.Context, path, uploadID, key, value string) error {
	if _, err := a.check(); err != nil {
		return err
	}
	if uploadID == "" {
		return errors.New("uploader: empty upload id")
	}
	_, err := a.do(ctx, http.MethodPost, path, lifecycleBody(uploadID, key, value), true)
	return err
}

// Submit hands a completed upload over to Aura for processing (POST
// /uploader/manage/submit, scope upload:manage) with
// {"upload_id":…,"metadata":{…}}; metadata is omitted when empty and is
// encoded as Init encodes its context (Go maps with sorted keys). See
// docs/aura.md, "Manage".
//
// Like Aura's .NET and Python clients, which are the only clients of the
// manage endpoints, Submit and Withdraw authenticate with the bearer token
// alone and send no X-Api-Key: the service key identifies the browser
// integration, the manage calls are made by a backend, and a credential
// that is not needed is not sent.
func (a *API) Submit(ctx context.Context, uploadID string, metadata map[string]any) (*ManageResult, error) {
	var meta []byte
	if len(metadata) > 0 {
		var err error
		if meta, err = marshalJSValue(metadata); err != nil {
			return nil, fmt.Errorf("uploader: submit: metadata: %w", err)
		}
	}
	return a.manage(ctx, pathSubmit, uploadID, manageBody(uploadID, "metadata", meta))
}

// Withdraw takes a submitted upload back (POST /uploader/manage/withdraw,
// scope upload:manage) with {"upload_id":…,"reason":…}; reason is omitted
// when empty. Like Submit, it sends no X-Api-Key.
func (a *API) Withdraw(ctx context.Context, uploadID, reason string) (*ManageResult, error) {
	var r []byte
	if reason != "" {
		var buf bytes.Buffer
		writeJSString(&buf, reason)
		r = buf.Bytes()
	}
	return a.manage(ctx, pathWithdraw, uploadID, manageBody(uploadID, "reason", r))
}

func (a *API) manage(ctx context.Context, path, uploadID string, body []byte) (*ManageResult, error) {
	if _, err := a.check(); err != nil {
		return nil, err
	}
	if uploadID == "" {
		return nil, errors.New("uploader: empty upload id")
	}
	data, err := a.do(ctx, http.MethodPost, path, body, false)
	if err != nil {
		return nil, err
	}
	return parseManageResult(path, data)
}

// check validates the API's own fields, with the reference client's
// constructor messages (spec §4.9) in Go terms.
func (a *API) check() (*url.URL, error) {
	switch {
	case a.APIKey == "":
		return nil, errors.New("uploader: APIKey is required")
	case a.BaseURL == "":
		return nil, errors.New("uploader: BaseURL is required")
	case a.Tokens == nil:
		return nil, errors.New("uploader: Tokens is required")
	}
	u, err := uploadtoken.ParseBaseURL(a.BaseURL)
	if err != nil {
		return nil, errors.New("uploader: BaseURL must be a valid URL: " + strings.TrimPrefix(err.Error(), "uploadtoken: "))
	}
	return u, nil
}

// do sends one call and returns the 2xx body.
// With apiKey false the X-Api-Key header is left out (the manage calls).
func (a *API) do(ctx context.Context, method, path string, body []byte, apiKey bool) ([]byte, error) {
	op := method + " " + path
	endpoint, err := uploadtoken.JoinURL(a.BaseURL, path)
	if err != nil {
		return nil, fmt.Errorf("uploader: %s: %w", op, err)
	}
	tok, err := a.Tokens.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("uploader: %s: upload token: %w", op, err)
	}
	if tok == nil || !strings.HasPrefix(tok.Value, uploadtoken.Prefix) {
		return nil, fmt.Errorf("uploader: %s: upload token must start with '%s'", op, uploadtoken.Prefix)
	}
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := newRequest(ctx, method, endpoint, rd)
	if err != nil {
		return nil, fmt.Errorf("uploader: %s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+tok.Value)
	if apiKey {
		req.Header.Set("X-Api-Key", a.APIKey)
	}

	start := time.Now()
	resp, err := a.httpClient().Do(req)
	if err != nil {
		a.log(ctx, op, 0, start)
		return nil, fmt.Errorf("uploader: %s: %w", op, err)
	}
	defer httpx.DrainAndClose(resp.Body)
	data, rerr := httpx.ReadLimited(resp.Body, a.MaxBody)
	a.log(ctx, op, resp.StatusCode, start)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if resp.StatusCode == http.StatusUnauthorized {
			if inv, ok := a.Tokens.(interface{ Invalidate(*uploadtoken.Token) }); ok {
				inv.Invalidate(tok)
			}
		}
		return nil, fmt.Errorf("uploader: %w", uploadtoken.NewAPIError(resp, data))
	}
	if rerr != nil {
		return nil, fmt.Errorf("uploader: %s: read response: %w", op, rerr)
	}
	return data, nil
}

func newRequest(ctx context.Context, method, endpoint string, body *bytes.Reader) (*http.Request, error) {
	if body == nil {
		return http.NewRequestWithContext(ctx, method, endpoint, nil)
	}
	return http.NewRequestWithContext(ctx, method, endpoint, body)
}

func (a *API) log(ctx context.Context, op string, status int, start time.Time) {
	if a.Logger == nil {
		return
	}
	a.Logger.LogAttrs(ctx, slog.LevelDebug, "uploader: api call",
		slog.String("op", op), slog.Int("status", status), slog.Duration("elapsed", time.Since(start)))
}

func (a *API) httpClient() *http.Client {
	if a.HTTPClient != nil {
		return a.HTTPClient
	}
	a.defaultOnce.Do(func() { a.defaultHTTP = httpx.NewClient(0) })
	return a.defaultHTTP
}
