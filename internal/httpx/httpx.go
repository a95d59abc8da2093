// Package httpx holds the small HTTP helpers the SDK's packages share:
// bounded body reads and a default client with timeouts. It is internal so
// that callers never depend on it.
package httpx

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrTooLarge is returned by [ReadLimited] when the body holds more than the
// limit allows.
var ErrTooLarge = errors.New("httpx: body exceeds size limit")

// DefaultMaxBody is the size limit used for API responses when a caller has
// not chosen one: 1 MiB is far above any JSON document these protocols send.
const DefaultMaxBody = 1 << 20

// ReadLimited reads all of r but at most limit bytes. If r holds more, it
// returns the first limit bytes and an error wrapping [ErrTooLarge]. A limit
// of zero or less means [DefaultMaxBody].
func ReadLimited(r io.Reader, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
	}
	return b, nil
}

// DrainAndClose discards up to 64 KiB of what is left of body and closes it,
// so that the connection can be reused without reading an unbounded body.
func DrainAndClose(body io.ReadCloser) {
	if body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	_ = body.Close()
}

// NewClient returns an *http.Client with the timeouts a library should have
// when the caller did not supply a client: a 30 s overall timeout for API
// calls, and dial, TLS and response-header timeouts on the transport. It
// follows redirects only within the origin of the request
// ([SameOriginRedirects]). Each call returns a new client and transport;
// nothing is global.
func NewClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{Timeout: timeout, Transport: NewTransport(), CheckRedirect: SameOriginRedirects}
}

// ErrCrossOriginRedirect is returned (inside a *url.Error) when a server
// redirects a request of a client from [NewClient] to another origin.
var ErrCrossOriginRedirect = errors.New("httpx: redirect to another origin refused")

// SameOriginRedirects is an http.Client CheckRedirect policy that follows at
// most 10 redirects, all on the scheme, host and port of the first request.
// net/http removes only Authorization, WWW-Authenticate and Cookie when a
// redirect leaves the domain; credentials in other headers (X-Api-Key, the
// Orthanc token header) would follow a redirect anywhere.
func SameOriginRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("httpx: stopped after 10 redirects")
	}
	if origin(req.URL) != origin(via[0].URL) {
		return fmt.Errorf("%w: %s", ErrCrossOriginRedirect, origin(req.URL))
	}
	return nil
}

// origin is scheme://host:port, with the default port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// NewTransport returns an *http.Transport with bounded dial, TLS handshake,
// and response-header waits but no overall deadline, for long transfers
// (uploads) whose duration depends on their size.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
}
