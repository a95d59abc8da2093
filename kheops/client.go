package kheops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dicombridge/dicombridge/dicomweb"
	"github.com/dicombridge/dicombridge/internal/httpx"
	"github.com/dicombridge/dicombridge/internal/origin"
)

// Config configures a [Client]. URL and Token are required; the zero value
// of every other field is a safe default.
type Config struct {
	// URL is the KHEOPS root, e.g. "https://demo.kheops.online"; the API
	// is at URL + "/api". A trailing slash is ignored.
	URL string
	// Token supplies the token sent with every call: the user's own
	// access token (from KHEOPS's OpenID provider) or a capability token.
	// See [Client] for which calls each kind may make.
	Token TokenSource
	// HTTPClient sends the requests. nil means a client with timeouts.
	// The client adds the token itself (a copy of HTTPClient with a
	// [Transport] is made) and sends it only to the origin of URL.
	HTTPClient *http.Client
	// MaxResponseBytes bounds each JSON response read into memory. 0
	// means 8 MiB.
	MaxResponseBytes int64
	// Basic sends the token as the password of HTTP Basic authentication
	// (with the user name "token") instead of as a Bearer token. KHEOPS
	// accepts both; some proxies only pass Basic through.
	Basic bool
}

// Client calls the KHEOPS REST API (see docs/kheops-api.md). Every method
// takes a context; list methods return a [Pager]. Each method's doc says
// which tokens KHEOPS accepts for it:
//
//   - "user token": the user's own access token or a user capability
//     token (one created without an album);
//   - "user's own token": the access token from KHEOPS's OpenID
//     provider only; the client refuses a capability token locally
//     ([ErrUserTokenRequired]) since KHEOPS always would;
//   - "any token": also an album capability token, within its album and
//     permissions.
//
// A Client is safe for concurrent use.
type Client struct {
	api     string       // root + "/api", no trailing slash
	hc      *http.Client // adds the token with tr
	tr      *Transport   // a pointer, so that printing a Client shows no token
	maxBody int64
}

// defaultMaxResponse bounds a JSON response: album and capability lists
// are paged, so 8 MiB is far above a page of any of them.
const defaultMaxResponse = 8 << 20

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: Config.URL must be an http(s) URL without user info, query or fragment", ErrInvalid)
	}
	if cfg.Token == nil {
		return nil, fmt.Errorf("%w: Config.Token is nil", ErrInvalid)
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc = *httpx.NewClient(0)
	}
	tr := &Transport{Source: cfg.Token, Base: hc.Transport, Basic: cfg.Basic, Origin: origin.Of(u)}
	hc.Transport = tr
	hc.CheckRedirect = origin.SameOriginRedirects
	maxBody := cfg.MaxResponseBytes
	if maxBody <= 0 {
		maxBody = defaultMaxResponse
	}
	return &Client{api: u.String() + "/api", hc: &hc, tr: tr, maxBody: maxBody}, nil
}

// DICOMweb returns a DICOMweb client for KHEOPS (endpoint ROOT/api) that
// sends the same token as c, only to KHEOPS: QIDO-RS with KHEOPS's extra
// query keys (album, inbox=true, favorite), WADO-RS and STOW-RS.
func (c *Client) DICOMweb() *dicomweb.Client {
	return &dicomweb.Client{Endpoint: c.api, HTTPClient: c.hc}
}

// LinkEndpoint returns ROOT/api/link/{capability}, the DICOMweb endpoint
// with a capability token in the path, for DICOMweb clients and viewers
// that cannot set an Authorization header. The URL is itself the
// credential: whoever sees it (in a log, a browser history, a Referer)
// holds the token. Errors of package dicomweb redact it.
func LinkEndpoint(root string, capability Token) (string, error) {
	if !IsCapabilityToken(capability) {
		return "", fmt.Errorf("%w: not a capability token", ErrInvalid)
	}
	u, err := url.Parse(strings.TrimRight(root, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: root must be an http(s) URL", ErrInvalid)
	}
	return u.String() + "/api/link/" + string(capability), nil
}

// request is one REST call.
type request struct {
	method string
	path   []string   // segments after /api, each escaped
	query  url.Values // may be nil
	form   url.Values // nil: no body
	want   []int      // accepted statuses; the first is the usual one
}

// send runs r and returns the response with its body read (bounded). A
// status outside r.want is an *Error.
func (c *Client) send(ctx context.Context, r request) (*http.Response, []byte, error) {
	var sb strings.Builder
	sb.WriteString(c.api)
	for _, p := range r.path {
		sb.WriteByte('/')
		sb.WriteString(url.PathEscape(p))
	}
	if len(r.query) > 0 {
		sb.WriteByte('?')
		sb.WriteString(r.query.Encode())
	}
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, r.method, sb.String(), body)
	if err != nil {
		return nil, nil, fmt.Errorf("kheops: %s: %w", r.method, err)
	}
	req.Header.Set("Accept", "application/json")
	if r.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("kheops: %s %s: %w", r.method, httpx.RedactURL(req.URL), unwrapURLError(err))
	}
	defer httpx.DrainAndClose(resp.Body)
	data, err := httpx.ReadLimited(resp.Body, c.maxBody)
	if err != nil {
		return nil, nil, fmt.Errorf("kheops: %s %s: %w", r.method, httpx.RedactURL(req.URL), err)
	}
	for _, s := range r.want {
		if resp.StatusCode == s {
			return resp, data, nil
		}
	}
	e := newError(resp, data)
	if tok, err := c.tr.Source.Token(ctx); err == nil && len(tok) >= 8 {
		// A server that echoes the request's token must not put it in an error.
		for _, f := range []*string{&e.Body, &e.Message, &e.Detail, &e.Help, &e.Code, &e.Description} {
			*f = strings.ReplaceAll(*f, string(tok), redacted)
		}
	}
	return nil, nil, e
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the
// full URL (with its query).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// call runs r and decodes a JSON answer into out (nil: the body is
// ignored).
func (c *Client) call(ctx context.Context, r request, out any) error {
	resp, data, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return decode(resp, data, out)
}

func decode(resp *http.Response, data []byte, out any) error {
	if err := json.Unmarshal(data, out); err != nil {
		r := httpx.DescribeResponse(resp, data)
		return fmt.Errorf("kheops: %s %s: %w: %v", r.Method, r.URL, ErrMalformedResponse, err)
	}
	return nil
}

// Page is one page of a list: its items and the total KHEOPS reports in
// the X-Total-Count header (-1 when it sent none).
type Page[T any] struct {
	Items []T
	Total int
}

// Pager lists one KHEOPS collection with limit/offset paging. Get one
// from a list method such as [Client.Albums]; it does no I/O until
// [Pager.Page] or [Pager.All] is called.
type Pager[T any] struct {
	c      *Client
	r      request
	unwrap func([]byte) ([]T, error)   // nil: a JSON array of T
	bad    error                       // a local refusal every page returns
	check  func(context.Context) error // run before each page; nil: none
}

// pageSize is the limit [Pager.All] asks for.
const pageSize = 100

// Page fetches the items from offset on, at most limit of them (limit <= 0
// means no limit: KHEOPS then returns everything). An empty result (KHEOPS
// answers 204 to some empty searches) is a page without items.
func (p *Pager[T]) Page(ctx context.Context, limit, offset int) (*Page[T], error) {
	if p.bad != nil {
		return nil, p.bad
	}
	if p.check != nil {
		if err := p.check(ctx); err != nil {
			return nil, err
		}
	}
	r := p.r
	r.query = url.Values{}
	for k, v := range p.r.query {
		r.query[k] = v
	}
	if limit > 0 {
		r.query.Set("limit", strconv.Itoa(limit))
	}
	if offset > 0 {
		r.query.Set("offset", strconv.Itoa(offset))
	}
	resp, data, err := p.c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	pg := &Page[T]{Total: -1}
	if v := resp.Header.Get("X-Total-Count"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			pg.Total = n
		}
	}
	if resp.StatusCode == http.StatusNoContent || len(bytes.TrimSpace(data)) == 0 {
		return pg, nil
	}
	if p.unwrap != nil {
		pg.Items, err = p.unwrap(data)
		if err != nil {
			r := httpx.DescribeResponse(resp, data)
			return nil, fmt.Errorf("kheops: %s %s: %w: %v", r.Method, r.URL, ErrMalformedResponse, err)
		}
		return pg, nil
	}
	if err := decode(resp, data, &pg.Items); err != nil {
		return nil, err
	}
	return pg, nil
}

// All iterates over every item, fetching pages of 100 as it goes; it
// stops at the first error, which it yields. Breaking out of the loop
// stops the fetching.
func (p *Pager[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		offset := 0
		for {
			pg, err := p.Page(ctx, pageSize, offset)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range pg.Items {
				if !yield(it, nil) {
					return
				}
			}
			offset += len(pg.Items)
			if len(pg.Items) < pageSize || (pg.Total >= 0 && offset >= pg.Total) {
				return
			}
		}
	}
}

func newPager[T any](c *Client, r request) *Pager[T] {
	r.want = []int{http.StatusOK, http.StatusNoContent}
	return &Pager[T]{c: c, r: r}
}

// form builds url.Values from name/value pairs, skipping empty values.
func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

// setBool sets name to "true"/"false" when b is not nil.
func setBool(v url.Values, name string, b *bool) {
	if b != nil {
		v.Set(name, strconv.FormatBool(*b))
	}
}
