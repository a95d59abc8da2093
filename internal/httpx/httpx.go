// Package httpx holds the small HTTP helpers the SDK's packages share:
// bounded body reads, a default client with timeouts, and the one shape of
// a remote failure ([Remote], built by [DescribeResponse], with its body
// cleaned by [CleanBody]). It is internal so that callers never depend on
// it.
package httpx

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/dicombridge/dicombridge/internal/origin"
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
// follows at most origin.MaxRedirects redirects, all within the origin of
// the request (origin.SameOriginRedirects). Each call returns a new client and transport;
// nothing is global.
func NewClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{Timeout: timeout, Transport: NewTransport(), CheckRedirect: origin.SameOriginRedirects}
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
