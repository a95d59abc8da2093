// Package origin is the SDK's one policy for following URLs it did not
// choose itself: redirects, Location headers, URLs from a store or from a
// configuration document. Every package uses it, so there is one redirect
// limit ([MaxRedirects]), one notion of "same origin" (scheme, host and
// port, with the default port made explicit), and one guard against
// connections to non-public addresses (including through DNS rebinding)
// for the callers that ask for it.
package origin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// MaxRedirects is the most redirects any client of the SDK follows for one
// request.
const MaxRedirects = 5

// Errors, checked with errors.Is. Their text has no package prefix: the
// package that returns them wraps them in its own error.
var (
	// ErrCrossOrigin: a URL (a redirect, a Location) is on another origin
	// than the one it must stay on.
	ErrCrossOrigin = errors.New("URL on another origin refused")
	// ErrTooManyRedirects: more than MaxRedirects redirects.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrNonPublic: a host is, resolves to, or connected to a loopback,
	// private, link-local or otherwise non-public address.
	ErrNonPublic = errors.New("non-public address refused")
)

// Of returns u's origin as "scheme://host:port", lower case, with the
// default port of http (80) and https (443) made explicit, so that
// https://Example.org and https://example.org:443/x have the same origin.
func Of(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// Same reports whether a and b have the same origin (see [Of]).
func Same(a, b *url.URL) bool { return Of(a) == Of(b) }

// Check returns nil when u is on base's origin, else an error wrapping
// [ErrCrossOrigin] that names both origins (never a path or query).
func Check(base, u *url.URL) error {
	if Same(base, u) {
		return nil
	}
	return fmt.Errorf("%w: %s is not %s", ErrCrossOrigin, Of(u), Of(base))
}

// Redirects returns an http.Client CheckRedirect function: it stops after
// [MaxRedirects] redirects and then asks allow, with CheckRedirect's own
// arguments (req is the redirect, via[0] the first request). A nil allow
// means the target must be on the origin of the first request
// ([SameOriginRedirects]).
//
// net/http removes only Authorization, WWW-Authenticate and Cookie when a
// redirect leaves the domain; credentials in other headers (X-Api-Key, a
// Tus Bearer set by a hook, an Orthanc token header) would follow a
// redirect anywhere, which is why the default is the origin.
func Redirects(allow func(req *http.Request, via []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= MaxRedirects {
			return fmt.Errorf("%w: stopped after %d", ErrTooManyRedirects, MaxRedirects)
		}
		if allow == nil {
			return Check(via[0].URL, req.URL)
		}
		return allow(req, via)
	}
}

// SameOriginRedirects is Redirects(nil): at most [MaxRedirects] redirects,
// all on the origin of the first request.
func SameOriginRedirects(req *http.Request, via []*http.Request) error {
	return Redirects(nil)(req, via)
}

// Public reports whether a is a public unicast address: not loopback,
// private (RFC 1918, fc00::/7), link-local, multicast, unspecified,
// carrier-grade NAT, benchmarking, IETF protocol assignments, "this
// network", or NAT64 (which can reach private IPv4 addresses).
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// Resolver looks up host names; *net.Resolver implements it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Guard refuses connections to non-public addresses for the hosts it
// protects. It checks twice: [Guard.CheckHost] before a request (the name
// resolves only to public addresses), and [Guard.DialContext] on the
// connection itself, because the dial resolves the name again and a DNS
// answer that changed in between (DNS rebinding) could otherwise point it
// at an internal address. A Guard is safe for concurrent use once built.
type Guard struct {
	// Protect reports whether connections to hostport ("host:port" with an
	// explicit port, host in lower case) must reach a public address. Nil
	// protects every address.
	Protect func(hostport string) bool
	// Resolver resolves names for CheckHost; nil means net.DefaultResolver.
	Resolver Resolver
	// Dial opens connections for DialContext; nil means a net.Dialer with a
	// 10 s timeout and 30 s keep-alive.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// HostPort returns u's host and port as Guard.Protect receives them.
func HostPort(u *url.URL) string {
	o := Of(u)
	return o[strings.Index(o, "://")+3:]
}

// CheckHost resolves host (a name or an address literal) and returns an
// error wrapping [ErrNonPublic] if any of its addresses is not public. A
// resolver failure is returned as is.
func (g *Guard) CheckHost(ctx context.Context, host string) error {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if !Public(a) {
			return fmt.Errorf("%w: %s", ErrNonPublic, host)
		}
		return nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return err
	}
	for _, ia := range addrs {
		a, ok := netip.AddrFromSlice(ia.IP)
		if !ok || !Public(a) {
			return fmt.Errorf("%w: %s resolves to %s", ErrNonPublic, host, ia.IP)
		}
	}
	return nil
}

// DialContext dials addr and, when Protect covers addr, closes the
// connection before anything is written to it unless its remote address
// is public; the error then wraps [ErrNonPublic]. Use it as an
// http.Transport's DialContext. Connections to addresses Protect does not
// cover (an HTTP proxy, which resolves names itself) are left alone.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	dial := g.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	conn, err := dial(ctx, network, addr)
	if err != nil || (g.Protect != nil && !g.Protect(strings.ToLower(addr))) {
		return conn, err
	}
	ap, perr := netip.ParseAddrPort(conn.RemoteAddr().String())
	if perr != nil || !Public(ap.Addr()) {
		_ = conn.Close()
		host, _, _ := net.SplitHostPort(addr)
		return nil, fmt.Errorf("%w: %s connected to %s", ErrNonPublic, host, conn.RemoteAddr())
	}
	return conn, nil
}
