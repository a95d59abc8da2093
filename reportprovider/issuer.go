package reportprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// configurationPath is where KHEOPS serves its configuration document,
// relative to its root URL. It is the conf_uri of every launch.
const configurationPath = "/api/.well-known/report-provider-configuration"

// Issuer is one trusted KHEOPS instance. A provider completes launches only
// from allowlisted instances: conf_uri must equal the instance's
// configuration URL exactly, and is compared before any network I/O.
type Issuer struct {
	// URL is the KHEOPS root, as KHEOPS reports it in the "issuer" member
	// of its configuration document: for example https://demo.kheops.online
	// (no /api, no trailing slash). It may have a path.
	URL string

	// ConfigurationURL overrides the expected conf_uri; empty means
	// URL + configurationPath.
	ConfigurationURL string

	// ClientIDs, if set, lists the only client_ids accepted from this
	// instance. KHEOPS gives every album registration a new client_id.
	ClientIDs []string

	// AllowHTTP permits an http:// instance. Codes and tokens then travel
	// in clear text: use it for tests and local development only.
	AllowHTTP bool

	// AllowPrivateNetwork permits the instance's host to resolve to a
	// loopback, private, link-local or otherwise non-public address. Off by
	// default so that a DNS change cannot turn the provider into a probe of
	// its own network; turn it on for an on-premises KHEOPS. The address
	// is checked when the name is resolved and again on the connection
	// itself when Options.HTTPClient is nil or uses an *http.Transport.
	AllowPrivateNetwork bool
}

// issuer is a normalised, checked Issuer.
type issuer struct {
	Issuer
	confURL string
	origin  string
	path    string // URL path without trailing slash
}

func newIssuer(in Issuer) (*issuer, error) {
	raw := strings.TrimRight(in.URL, "/")
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("reportprovider: issuer %q is not an absolute URL", in.URL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && in.AllowHTTP:
	case u.Scheme == "http":
		return nil, fmt.Errorf("reportprovider: issuer %q uses http; set AllowHTTP for tests only", in.URL)
	default:
		return nil, fmt.Errorf("reportprovider: issuer %q must be https", in.URL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("reportprovider: issuer %q must not have user info, query or fragment", in.URL)
	}
	is := &issuer{Issuer: in, origin: originOf(u), path: strings.TrimRight(u.Path, "/")}
	is.URL = raw
	is.confURL = in.ConfigurationURL
	if is.confURL == "" {
		is.confURL = raw + configurationPath
	}
	cu, err := url.Parse(is.confURL)
	if err != nil || originOf(cu) != is.origin {
		return nil, fmt.Errorf("reportprovider: configuration URL of issuer %q must be on its origin", in.URL)
	}
	return is, nil
}

func (is *issuer) acceptsClient(id string) bool {
	if len(is.ClientIDs) == 0 {
		return true
	}
	for _, c := range is.ClientIDs {
		if c == id {
			return true
		}
	}
	return false
}

// originOf returns scheme://host[:port] with the scheme and host in lower
// case and the default port removed: the browser's notion of an origin.
func originOf(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host
}

// instanceConfiguration is the KHEOPS configuration document served at
// conf_uri. Only fields this package uses are checked; unknown members are
// ignored.
type instanceConfiguration struct {
	Issuer                string   `json:"issuer"`
	DICOMwebEndpoint      string   `json:"dicomweb_endpoint"`
	DICOMwebURIEndpoint   string   `json:"dicomweb_uri_endpoint,omitempty"`
	TokenEndpoint         string   `json:"token_endpoint"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	AuthorizationEndpoint string   `json:"authorization_endpoint,omitempty"`
	JWKSURI               string   `json:"jwks_uri,omitempty"`
	GrantTypesSupported   []string `json:"grant_types_supported,omitempty"`
	ResponseTypes         []string `json:"response_types_supported,omitempty"`
}

// parseInstanceConfiguration decodes a KHEOPS configuration document and
// checks it against the expected issuer: "issuer" must equal it exactly,
// the DICOMweb, token, introspection and userinfo endpoints are required,
// and every endpoint present must be an http(s) URL on the issuer's origin
// (the same scheme, host and port), without user info or fragment. This
// stops a mix-up where a document keeps the genuine token endpoint but
// sends the token it yields to another host.
func parseInstanceConfiguration(data []byte, issuerURL string) (*instanceConfiguration, error) {
	iu, err := url.Parse(issuerURL)
	if err != nil || iu.Host == "" {
		return nil, fmt.Errorf("%w: issuer is not an absolute URL", ErrInvalidInstanceConfiguration)
	}
	var c instanceConfiguration
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %v", ErrInvalidInstanceConfiguration, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidInstanceConfiguration)
	}
	if c.Issuer != issuerURL {
		return nil, fmt.Errorf("%w: issuer does not match the allowlisted instance", ErrInvalidInstanceConfiguration)
	}
	want := originOf(iu)
	endpoints := []struct {
		name     string
		value    string
		required bool
	}{
		{"dicomweb_endpoint", c.DICOMwebEndpoint, true},
		{"token_endpoint", c.TokenEndpoint, true},
		{"introspection_endpoint", c.IntrospectionEndpoint, true},
		{"userinfo_endpoint", c.UserinfoEndpoint, true},
		{"dicomweb_uri_endpoint", c.DICOMwebURIEndpoint, false},
		{"authorization_endpoint", c.AuthorizationEndpoint, false},
		{"jwks_uri", c.JWKSURI, false},
	}
	for _, e := range endpoints {
		if e.value == "" {
			if e.required {
				return nil, fmt.Errorf("%w: %s is missing", ErrInvalidInstanceConfiguration, e.name)
			}
			continue
		}
		u, err := url.Parse(e.value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: %s is not an absolute http(s) URL", ErrInvalidInstanceConfiguration, e.name)
		}
		if u.User != nil || u.Fragment != "" || strings.Contains(e.value, "#") {
			return nil, fmt.Errorf("%w: %s must not have user info or a fragment", ErrInvalidInstanceConfiguration, e.name)
		}
		if originOf(u) != want {
			return nil, fmt.Errorf("%w: %s is not on the issuer's origin", ErrInvalidInstanceConfiguration, e.name)
		}
	}
	return &c, nil
}

// resolver looks up host names; *net.Resolver implements it.
type resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// guard is the RoundTripper under every request the provider makes to
// KHEOPS (configuration, token, introspection, userinfo). It refuses any
// origin that is not an allowlisted issuer, and non-public addresses
// unless that issuer permits them.
type guard struct {
	base     http.RoundTripper
	issuers  map[string]*issuer // by origin
	resolver resolver
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.check(req); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return g.base.RoundTrip(req)
}

func (g *guard) check(req *http.Request) error {
	o := originOf(req.URL)
	is, ok := g.issuers[o]
	if !ok {
		return fmt.Errorf("%w: %s is not an allowlisted KHEOPS origin", ErrForbiddenDestination, o)
	}
	if is.AllowPrivateNetwork {
		return nil
	}
	host := req.URL.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if !publicAddr(a) {
			return fmt.Errorf("%w: %s is not a public address (set Issuer.AllowPrivateNetwork)", ErrForbiddenDestination, host)
		}
		return nil
	}
	addrs, err := g.resolver.LookupIPAddr(req.Context(), host)
	if err != nil {
		return fmt.Errorf("reportprovider: resolve %s: %w", host, err)
	}
	for _, ia := range addrs {
		a, ok := netip.AddrFromSlice(ia.IP)
		if !ok || !publicAddr(a) {
			return fmt.Errorf("%w: %s resolves to a non-public address (set Issuer.AllowPrivateNetwork)", ErrForbiddenDestination, host)
		}
	}
	return nil
}

// dialGuard wraps a transport's dial function. The guard checks the
// addresses a KHEOPS host name resolves to before each request, but the
// dial resolves the name again, and a DNS answer that changes in between
// (DNS rebinding) could point the connection at an internal address. So for
// every issuer that does not allow private networks, the address actually
// connected to is checked too, and the connection is closed before anything
// is written to it if that address is not public. Connections to other
// addresses (an HTTP proxy, which resolves names itself) are left alone; the
// guard has already refused requests to any origin that is not an issuer.
func dialGuard(dial func(ctx context.Context, network, addr string) (net.Conn, error), issuers []*issuer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	checked := make(map[string]bool) // host:port -> must be public
	for _, is := range issuers {
		u, err := url.Parse(is.origin)
		if err != nil {
			continue
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		hp := net.JoinHostPort(u.Hostname(), port)
		if !is.AllowPrivateNetwork {
			checked[hp] = true
		} else if _, seen := checked[hp]; !seen {
			checked[hp] = false
		}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil || !checked[strings.ToLower(addr)] {
			return conn, err
		}
		ap, perr := netip.ParseAddrPort(conn.RemoteAddr().String())
		if perr != nil || !publicAddr(ap.Addr()) {
			_ = conn.Close()
			host, _, _ := net.SplitHostPort(addr)
			return nil, fmt.Errorf("%w: %s connected to a non-public address (set Issuer.AllowPrivateNetwork)", ErrForbiddenDestination, host)
		}
		return conn, nil
	}
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64 can reach private IPv4
}

func publicAddr(a netip.Addr) bool {
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

// sameOriginRedirect follows at most 3 redirects, all on the origin of the
// first request.
func sameOriginRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return fmt.Errorf("%w: too many redirects", ErrForbiddenDestination)
	}
	if originOf(req.URL) != originOf(via[0].URL) {
		return fmt.Errorf("%w: redirect to another origin refused", ErrForbiddenDestination)
	}
	return nil
}

// confCache holds fetched KHEOPS configuration documents per issuer and
// collapses concurrent fetches of one document into a single request.
type confCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex // guards entries
	entries map[string]*confEntry
}

type confEntry struct {
	done    chan struct{} // closed when conf, err and abandoned are set
	conf    *instanceConfiguration
	err     error
	fetched time.Time
	// abandoned: the fetch failed because the context of the caller that
	// started it ended; the callers waiting for it fetch again under their
	// own contexts rather than fail with someone else's cancellation.
	abandoned bool
}

func (c *confCache) get(ctx context.Context, key string, fetch func(context.Context) (*instanceConfiguration, error)) (*instanceConfiguration, error) {
	for {
		c.mu.Lock()
		e := c.entries[key]
		if e != nil {
			select {
			case <-e.done:
				if e.err != nil || c.now().Sub(e.fetched) >= c.ttl {
					e = nil
				}
			default: // in flight: wait for it
			}
		}
		if e == nil {
			e = &confEntry{done: make(chan struct{})}
			c.entries[key] = e
			c.mu.Unlock()
			e.conf, e.err = fetch(ctx)
			e.fetched = c.now()
			e.abandoned = e.err != nil && ctx.Err() != nil
			close(e.done)
			return e.conf, e.err
		}
		c.mu.Unlock()
		select {
		case <-e.done:
			if e.abandoned && ctx.Err() == nil {
				continue
			}
			return e.conf, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// fetchInstanceConfiguration GETs the issuer's configuration document
// through the guarded client and checks it.
func (p *Provider) fetchInstanceConfiguration(ctx context.Context, is *issuer) (*instanceConfiguration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, is.confURL, nil)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: configuration request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: fetch KHEOPS configuration: %w", err)
	}
	defer httpx.DrainAndClose(resp.Body)
	body, err := httpx.ReadLimited(resp.Body, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: read KHEOPS configuration: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{Op: "KHEOPS configuration", StatusCode: resp.StatusCode, Body: printable(string(body), 512)}
	}
	return parseInstanceConfiguration(body, is.URL)
}
