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
	"time"

	"github.com/dicombridge/dicombridge/internal/auraclient"
	"github.com/dicombridge/dicombridge/internal/retry"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// API calls the Aura uploader endpoints (docs/aura.md, "Uploader
// endpoints" and "Manage endpoints") with an upload token. Every request
// goes through an [uploadtoken.Transport], which sets "Authorization:
// Bearer aubt_…" and "X-Api-Key" (not on Submit and Withdraw, see
// there), and carries "Accept: application/json";
// POSTs add "Content-Type: application/json" and a body built byte for
// byte as the reference client builds it. Non-2xx answers are an
// [*uploadtoken.APIError] (errors.As), classified by errors.Is with
// uploadtoken.ErrUnauthorized, ErrForbidden and ErrRateLimited.
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
	// HTTPClient sends the requests (its Transport wrapped by an
	// uploadtoken.Transport); nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Logger receives one debug line per call (method, path, status,
	// duration; never a token or key); nil means silence.
	Logger *slog.Logger
	// MaxBody bounds each response read; 0 means 1 MiB.
	MaxBody int64
	// ConfigRetries is how many times Config retries after a network error,
	// a 429 or a 5xx (GET is safe to repeat; the reference client never
	// retries), as the engine's LifecycleRetries does for the other calls:
	// 0 means 3; negative means none. The other API methods are not
	// retried: the engine decides.
	ConfigRetries int

	def auraclient.DefaultClient // used when HTTPClient is nil
}

// Format prints the API for every fmt verb without its credentials:
// uploader.API{BaseURL:<url> APIKey:aura_au_…#<fingerprint>}, so an API
// logged with a configuration, or wrapped into an error, does not leak the
// key.
func (a *API) Format(f fmt.State, _ rune) {
	fmt.Fprint(f, auraclient.Describe("uploader.API", a.BaseURL, a.APIKey, ""))
}

// LogValue makes slog print the API as Format does, with any handler (the
// JSON handler would otherwise marshal APIKey).
func (a *API) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(a)) }

// Config fetches and validates the upload configuration (GET
// /uploader/config, scope integration:read). Once is enough: the reference
// client's second call adds nothing. Network errors, 429 and 5xx are
// retried ConfigRetries times with jittered exponential back-off from
// 500 ms, honouring Retry-After up to 30 s.
func (a *API) Config(ctx context.Context) (*ServerConfig, error) {
	base, err := a.check()
	if err != nil {
		return nil, err
	}
	var data []byte
	err = retry.Do(ctx, auraRetry(ctx, a.ConfigRetries), func(ctx context.Context) error {
		var err error
		data, err = a.do(ctx, http.MethodGet, pathConfig, nil, true)
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	return parseServerConfig(data, base)
}

// retryable reports whether a failed call may succeed if repeated: ctx
// has not ended, and err is a temporary API error or a transport failure
// that is not about the token.
func retryable(ctx context.Context, err error) bool {
	return ctx.Err() == nil && transient(err)
}

// defaultRetries is what a retry count of 0 means, for the config request
// and the lifecycle calls alike.
const defaultRetries = 3

// auraRetry is how every retried Aura call is retried: after a network
// error, a 429 or a 5xx, up to n times (0 means defaultRetries, negative
// none), waiting 500 ms, 1 s, 2 s, ... (at most 30 s, or longer when
// Aura's Retry-After asks for it, capped at 30 s), each wait spread by
// ±20% so that a fleet of uploaders does not retry in lockstep.
func auraRetry(ctx context.Context, n int) retry.Policy {
	if n == 0 {
		n = defaultRetries
	}
	return retry.Policy{
		Base: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2,
		Attempts:    max(n, 0),
		ShouldRetry: func(err error, _ int) bool { return retryable(ctx, err) },
		RetryAfter: func(err error) time.Duration {
			var apiErr *uploadtoken.APIError
			if errors.As(err, &apiErr) {
				return apiErr.RetryAfter
			}
			return 0
		},
	}
}

// transient reports whether err is a temporary API error or a transport
// failure that is not about the token.
func transient(err error) bool {
	var apiErr *uploadtoken.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Temporary()
	}
	var urlErr *url.Error
	var tokErr *tokenError
	return errors.As(err, &urlErr) && !errors.As(err, &tokErr)
}

// tokens wraps the API's Source so that its failures are recognisable
// (they are not retried) and Invalidate still reaches it.
type tokens struct{ src uploadtoken.Source }

// tokenError is a failure of the token source.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

func (t tokens) Token(ctx context.Context) (*uploadtoken.Token, error) {
	tok, err := t.src.Token(ctx)
	if err != nil {
		return nil, &tokenError{err}
	}
	if tok == nil || !strings.HasPrefix(tok.Value, uploadtoken.Prefix) {
		return nil, &tokenError{errors.New("not an Aura upload token (must start with '" + uploadtoken.Prefix + "')")}
	}
	return tok, nil
}

func (t tokens) Invalidate(tok *uploadtoken.Token) {
	if inv, ok := t.src.(interface{ Invalidate(*uploadtoken.Token) }); ok {
		inv.Invalidate(tok)
	}
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
	return parseInitResponse(data), nil
}

// Start marks the upload as started (POST /uploader/upload/start, scope
// upload:manage): {"upload_id","assembly_id","mode":"uploader"}. The
// assembly id is any opaque id, the same for Start and Complete (docs/aura.md,
// "Uploader endpoints").
func (a *API) Start(ctx context.Context, uploadID, assemblyID string) error {
	return a.lifecycle(ctx, pathStart, uploadID, "assembly_id", assemblyID)
}

// Complete marks the upload as finished (POST /uploader/upload/complete,
// scope upload:manage), with the same body as Start. Call it only after the
// Tus upload really finished (docs/aura.md, "Uploader endpoints").
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
// docs/aura.md, "Manage endpoints".
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
// constructor messages in Go terms.
func (a *API) check() (*url.URL, error) {
	base, err := a.conn(false).Check()
	if err == nil && a.Tokens == nil {
		err = errors.New("uploader: Tokens is required")
	}
	return base, err
}

// conn is the API's connection; apiKey false leaves X-Api-Key out (the
// manage calls).
func (a *API) conn(apiKey bool) *auraclient.Conn {
	hc := *a.def.Or(a.HTTPClient)
	t := &uploadtoken.Transport{Source: tokens{a.Tokens}, Base: hc.Transport}
	if apiKey {
		t.APIKey = a.APIKey
	}
	hc.Transport = t
	return &auraclient.Conn{Pkg: "uploader", BaseURL: a.BaseURL, APIKey: a.APIKey, HTTPClient: &hc,
		Logger: a.Logger, MaxBody: a.MaxBody, Wrap: func(e *auraclient.Error) error { return (*uploadtoken.APIError)(e) }}
}

// do sends one call and returns the 2xx body.
func (a *API) do(ctx context.Context, method, path string, body []byte, apiKey bool) ([]byte, error) {
	return a.conn(apiKey).Do(ctx, auraclient.Request{Method: method, Path: path, Body: body})
}

// apiPath is the path of the call an Aura API error answered, for reports.
func apiPath(e *uploadtoken.APIError) string {
	if u, err := url.Parse(e.URL); err == nil {
		return u.Path
	}
	return ""
}
