package reportprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/internal/origin"
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
	// (no /api). It may have a path. A trailing slash makes no difference:
	// a KHEOPS whose root is configured with one (and so sends conf_uri
	// ROOT//api/...) is accepted under either spelling.
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

// sameIssuer compares KHEOPS roots tolerantly of one trailing slash:
// KHEOPS uses its configured root verbatim, and a root configured as
// "https://kheops.example/" is the same instance as "https://kheops.example"
// (see docs/kheops.md, "The KHEOPS configuration document").
func sameIssuer(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// issuer is a normalised, checked Issuer.
type issuer struct {
	Issuer
	confURL string
	// confURLs are the conf_uri spellings accepted: confURL and, without a
	// ConfigurationURL override, the one KHEOPS sends when its root is
	// configured with a trailing slash (ROOT + "/" + "/api/...").
	confURLs []string
	origin   string
	path     string // URL path without trailing slash
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
	is := &issuer{Issuer: in, origin: origin.Of(u), path: strings.TrimRight(u.Path, "/")}
	is.URL = raw
	is.confURL = in.ConfigurationURL
	if is.confURL == "" {
		is.confURL = raw + configurationPath
	}
	is.confURLs = []string{is.confURL}
	if in.ConfigurationURL == "" {
		is.confURLs = append(is.confURLs, raw+"/"+configurationPath)
	}
	cu, err := url.Parse(is.confURL)
	if err != nil || origin.Of(cu) != is.origin {
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
	if !sameIssuer(c.Issuer, issuerURL) {
		return nil, fmt.Errorf("%w: issuer does not match the allowlisted instance", ErrInvalidInstanceConfiguration)
	}
	want := origin.Of(iu)
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
		if origin.Of(u) != want {
			return nil, fmt.Errorf("%w: %s is not on the issuer's origin", ErrInvalidInstanceConfiguration, e.name)
		}
	}
	return &c, nil
}

// resolver looks up host names; *net.Resolver implements it.
type resolver = origin.Resolver

// guard is the RoundTripper under every request the provider makes to
// KHEOPS (configuration, token, introspection, userinfo). It refuses any
// origin that is not an allowlisted issuer, and non-public addresses
// unless that issuer permits them: the SDK's one address guard
// (internal/origin), which checks the name before the request and, on the
// transport's dial, the address actually connected to (DNS rebinding).
type guard struct {
	base    http.RoundTripper
	issuers map[string]*issuer // by origin.Of
	addrs   *origin.Guard
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
	o := origin.Of(req.URL)
	is, ok := g.issuers[o]
	if !ok {
		return fmt.Errorf("%w: %s is not an allowlisted KHEOPS origin", ErrForbiddenDestination, o)
	}
	if is.AllowPrivateNetwork {
		return nil
	}
	if err := g.addrs.CheckHost(req.Context(), req.URL.Hostname()); err != nil {
		if errors.Is(err, origin.ErrNonPublic) {
			return fmt.Errorf("%w: %w (set Issuer.AllowPrivateNetwork)", ErrForbiddenDestination, err)
		}
		return fmt.Errorf("reportprovider: resolve %s: %w", req.URL.Hostname(), err)
	}
	return nil
}

// newAddrGuard returns the address guard for the issuers: connections to
// the host and port of an issuer that does not allow private networks
// must reach a public address. Connections to other addresses (an HTTP
// proxy, which resolves names itself) are left alone; the guard has
// already refused requests to any origin that is not an issuer.
func newAddrGuard(issuers []*issuer, res resolver, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *origin.Guard {
	protect := make(map[string]bool) // host:port -> must be public
	for _, is := range issuers {
		u, err := url.Parse(is.origin)
		if err != nil {
			continue
		}
		hp := origin.HostPort(u)
		if !is.AllowPrivateNetwork {
			protect[hp] = true
		} else if _, seen := protect[hp]; !seen {
			protect[hp] = false
		}
	}
	return &origin.Guard{Protect: func(hp string) bool { return protect[hp] }, Resolver: res, Dial: dial}
}

// guardedDial wraps the address guard's DialContext so that its refusal
// wraps ErrForbiddenDestination.
func guardedDial(g *origin.Guard) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := g.DialContext(ctx, network, addr)
		if errors.Is(err, origin.ErrNonPublic) {
			return nil, fmt.Errorf("%w: %w (set Issuer.AllowPrivateNetwork)", ErrForbiddenDestination, err)
		}
		return conn, err
	}
}

// sameOriginRedirect is the SDK's redirect policy (at most
// origin.MaxRedirects, all on the origin of the first request), with its
// refusals wrapping ErrForbiddenDestination.
func sameOriginRedirect(req *http.Request, via []*http.Request) error {
	if err := origin.SameOriginRedirects(req, via); err != nil {
		return fmt.Errorf("%w: %w", ErrForbiddenDestination, err)
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
func (p *Provider) fetchInstanceConfiguration(ctx context.Context, is *issuer, confURL string) (*instanceConfiguration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, confURL, nil)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: configuration request: %w", err)
	}
	body, err := p.fetch(req, "KHEOPS configuration", 64<<10)
	if err != nil {
		return nil, err
	}
	return parseInstanceConfiguration(body, is.URL)
}
