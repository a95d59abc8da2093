// Package auraclient is the one implementation of the Aura API's HTTP
// plumbing, behind uploadtoken.Client (the token exchange) and
// uploader.API (the uploader and manage endpoints): the base URL and how
// paths join onto it, the API key, JSON in and out through a size limit,
// one debug log line per call, the remote error ([Error], which both
// packages expose as *uploadtoken.APIError), and the redaction of
// credentials in everything printed. See docs/aura.md.
//
// It is internal so that no caller depends on it; the public packages
// expose their own configuration fields and convert [Error] to their
// error type.
package auraclient

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
)

// Conn is one use of the Aura API: what the public clients' fields say.
type Conn struct {
	Pkg        string       // "uploadtoken" or "uploader": error and log prefix
	BaseURL    string       // the API root including /api
	APIKey     string       // the service key (aura_au_…); required by Check
	HTTPClient *http.Client // sends the requests
	Logger     *slog.Logger // one debug line per call; nil: silent
	MaxBody    int64        // bound on each response read; 0: 1 MiB
	// Wrap turns a non-2xx answer into the public package's error type
	// (see [Error]); nil returns the *Error itself.
	Wrap func(*Error) error
}

// Request is one call.
type Request struct {
	Method string
	Path   string // relative to BaseURL, starting with "/"
	Body   []byte // JSON, nil for none
	// Prepare runs on the request after the standard headers are set
	// (Accept, and Content-Type with a body), before it is sent: the HMAC
	// signature of the exchange, the X-Api-Key header.
	Prepare func(*http.Request) error
}

// Check validates the connection's fields and returns the parsed base
// URL, with messages in the reference client's words (docs/aura.md,
// "Base URL").
func (c *Conn) Check() (*url.URL, error) {
	switch {
	case c.APIKey == "":
		return nil, errors.New(c.Pkg + ": APIKey is required")
	case c.BaseURL == "":
		return nil, errors.New(c.Pkg + ": BaseURL is required")
	}
	u, err := parseBaseURL(c.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("%s: BaseURL must be a valid URL: %v", c.Pkg, err)
	}
	return u, nil
}

// Do sends r and returns the 2xx body. Transport failures are returned
// wrapped ("pkg: METHOD /path: …", with the *url.Error inside); a non-2xx
// answer is an [*Error] passed through Wrap.
func (c *Conn) Do(ctx context.Context, r Request) ([]byte, error) {
	op := r.Method + " " + r.Path
	base, err := c.Check()
	if err != nil {
		return nil, err
	}
	endpoint := joinURL(base, r.Path)
	var body *bytes.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	var req *http.Request
	if body != nil {
		req, err = http.NewRequestWithContext(ctx, r.Method, endpoint, body)
	} else {
		req, err = http.NewRequestWithContext(ctx, r.Method, endpoint, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", c.Pkg, op, err)
	}
	req.Header.Set("Accept", "application/json")
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Prepare != nil {
		if err := r.Prepare(req); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", c.Pkg, op, err)
		}
	}
	start := time.Now()
	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		c.log(ctx, op, 0, start)
		return nil, fmt.Errorf("%s: %s: %w", c.Pkg, op, err)
	}
	defer httpx.DrainAndClose(resp.Body)
	data, rerr := httpx.ReadLimited(resp.Body, c.MaxBody)
	c.log(ctx, op, resp.StatusCode, start)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := NewError(resp, data)
		if c.Wrap != nil {
			return nil, fmt.Errorf("%s: %w", c.Pkg, c.Wrap(e))
		}
		return nil, fmt.Errorf("%s: %w", c.Pkg, e)
	}
	if rerr != nil {
		return nil, fmt.Errorf("%s: %s: read response: %w", c.Pkg, op, rerr)
	}
	return data, nil
}

func (c *Conn) log(ctx context.Context, op string, status int, start time.Time) {
	if c.Logger == nil {
		return
	}
	c.Logger.LogAttrs(ctx, slog.LevelDebug, c.Pkg+": api call",
		slog.String("op", op), slog.Int("status", status), slog.Duration("elapsed", time.Since(start)))
}

// DefaultClient holds the HTTP client a public client uses when its
// HTTPClient field is nil: created once, on first use. Embed it (by
// value) in the public type; the zero value is ready.
type DefaultClient struct {
	once sync.Once // guards hc
	hc   *http.Client
}

// Or returns hc, or the default client (30 s timeout) when hc is nil.
func (d *DefaultClient) Or(hc *http.Client) *http.Client {
	if hc != nil {
		return hc
	}
	d.once.Do(func() { d.hc = httpx.NewClient(0) })
	return d.hc
}

// Describe is the printed form of a public client, without credentials:
// "name{BaseURL:<url> APIKey:aura_au_…#<fingerprint><extra>}".
func Describe(name, baseURL, apiKey, extra string) string {
	return name + "{BaseURL:" + baseURL + " APIKey:" + Redact(apiKey) + extra + "}"
}

// joinURL appends path to base as Aura's client does (docs/aura.md, "Base
// URL"): one trailing "/" of the base path is dropped and path, which
// starts with "/", is appended.
func joinURL(base *url.URL, path string) string {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	return u.String()
}

// parseBaseURL checks that base is an absolute http(s) URL with a host and
// no query, fragment or user info.
func parseBaseURL(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("not an absolute http or https URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("must not have a query, fragment or user info")
	}
	return u, nil
}
