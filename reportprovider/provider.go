package reportprovider

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// Options configures a [Provider]. Zero values are documented per field.
type Options struct {
	// ConfigurationURL is the URL the KHEOPS album admin registers, exactly
	// as registered; Configuration is served there. Required.
	ConfigurationURL string

	// Configuration is the provider configuration document. It must pass
	// [Configuration.Validate] for ConfigurationURL. Required.
	Configuration Configuration

	// Keys sign client assertions (Keys[0]) and are all published by
	// [Provider.JWKSHandler], so that a new key can be added before the
	// old one is retired. Required for the code flow.
	Keys []*Key

	// Issuers lists the KHEOPS instances this provider accepts launches
	// from. Required: there is no "any instance" mode.
	Issuers []Issuer

	// HTTPClient sends every request to KHEOPS. nil: a client with
	// timeouts. The provider uses a copy whose transport refuses
	// non-allowlisted origins and non-public addresses, and whose redirect
	// policy stays on the original origin.
	HTTPClient *http.Client

	// Codes remembers used codes. nil: an in-memory store of
	// 2^18 keys (about 400 launches a second); use a shared store when several
	// processes serve the same provider.
	Codes CodeStore

	// Now is the clock. nil: time.Now.
	Now func() time.Time

	// AssertionLifetime is how long client assertions are valid. 0: 2
	// minutes; at most 5 (KHEOPS refuses more than 10).
	AssertionLifetime time.Duration

	// ConfigurationTTL is how long a fetched KHEOPS configuration document
	// is reused. 0: 5 minutes; negative: fetched on every launch.
	ConfigurationTTL time.Duration

	// Logger receives launch failures at Info level. nil: silent. Tokens,
	// codes and assertions are never logged.
	Logger *slog.Logger
}

// Provider is a KHEOPS report provider. It serves its configuration and
// JWKS, receives launches, and turns a checked launch into a [Session].
// Safe for concurrent use.
type Provider struct {
	cfg               Configuration
	cfgJSON           []byte
	jwks              keySet
	keys              []*Key
	issuers           []*issuer
	hc                *http.Client
	codes             CodeStore
	now               func() time.Time
	rand              io.Reader
	assertionLifetime time.Duration
	confs             *confCache
	log               *slog.Logger
}

// New checks o and returns a Provider.
func New(o Options) (*Provider, error) { return newProvider(o, nil) }

// newProvider is New with the resolver of the non-public address check
// (nil: net.DefaultResolver); tests replace it to simulate DNS answers.
func newProvider(o Options, res resolver) (*Provider, error) {
	if err := o.Configuration.Validate(o.ConfigurationURL); err != nil {
		return nil, err
	}
	p := &Provider{cfg: o.Configuration, keys: o.Keys, codes: o.Codes, now: o.Now, log: o.Logger}
	p.cfg.SupportedModalities = append([]string(nil), o.Configuration.SupportedModalities...)
	if p.cfg.ResponseType == ResponseTypeCode {
		p.cfg.TokenEndpointAuthMethod = authMethodPrivateKeyJWT
		p.cfg.TokenEndpointAuthSigningAlg = signingAlgRS256
	}
	var err error
	if p.cfgJSON, err = json.Marshal(p.cfg); err != nil {
		return nil, fmt.Errorf("reportprovider: marshal configuration: %w", err)
	}
	if p.cfg.ResponseType == ResponseTypeCode && len(o.Keys) == 0 {
		return nil, errors.New("reportprovider: the code flow needs at least one signing key")
	}
	if p.jwks, err = newJWKS(o.Keys...); err != nil {
		return nil, err
	}
	if len(o.Issuers) == 0 {
		return nil, errors.New("reportprovider: at least one allowlisted KHEOPS issuer is required")
	}
	byOrigin := make(map[string]*issuer)
	for _, in := range o.Issuers {
		is, err := newIssuer(in)
		if err != nil {
			return nil, err
		}
		if prev, ok := byOrigin[is.origin]; ok && prev.AllowPrivateNetwork != is.AllowPrivateNetwork {
			return nil, fmt.Errorf("reportprovider: issuers on %s disagree on AllowPrivateNetwork", is.origin)
		}
		byOrigin[is.origin] = is
		p.issuers = append(p.issuers, is)
	}
	switch {
	case o.AssertionLifetime == 0:
		p.assertionLifetime = 2 * time.Minute
	case o.AssertionLifetime < 0 || o.AssertionLifetime > maxAssertionLifetime:
		return nil, fmt.Errorf("reportprovider: AssertionLifetime must be at most %v", maxAssertionLifetime)
	default:
		p.assertionLifetime = o.AssertionLifetime
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.codes == nil {
		p.codes = newMemoryCodeStore(0, p.now)
	}
	var hc http.Client
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
	} else {
		hc = *httpx.NewClient(30 * time.Second)
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	if res == nil {
		res = net.DefaultResolver
	}
	var dial func(ctx context.Context, network, addr string) (net.Conn, error)
	t, isTransport := base.(*http.Transport)
	if isTransport {
		t = t.Clone()
		dial = t.DialContext
	}
	addrs := newAddrGuard(p.issuers, res, dial)
	if isTransport {
		t.DialContext = guardedDial(addrs)
		base = t
	}
	hc.Transport = &guard{base: base, issuers: byOrigin, addrs: addrs}
	hc.CheckRedirect = sameOriginRedirect
	p.hc = &hc
	ttl := o.ConfigurationTTL
	if ttl == 0 {
		ttl = 5 * time.Minute
	}
	p.confs = &confCache{ttl: ttl, now: p.now, entries: make(map[string]*confEntry)}
	return p, nil
}

// ConfigurationHandler serves the configuration document as JSON; mount it
// at the registered configuration URL.
func (p *Provider) ConfigurationHandler() http.Handler { return serveJSON(p.cfgJSON) }

// JWKSHandler serves the public keys; mount it at the jwks_uri.
func (p *Provider) JWKSHandler() http.Handler { return p.jwks.handler() }

// issuerFor returns the allowlisted issuer whose configuration URL is
// exactly confURI. No network I/O happens before this check.
func (p *Provider) issuerFor(confURI string) (*issuer, error) {
	for _, is := range p.issuers {
		for _, u := range is.confURLs {
			if u == confURI {
				return is, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: conf_uri is not an allowlisted KHEOPS configuration URL", ErrUntrustedIssuer)
}

// Complete checks a launch and returns its session. In order: the flow must
// be the configured one; conf_uri must be allowlisted; the KHEOPS
// configuration document must name that issuer and keep every endpoint on
// its origin; the code (or implicit token) must not have been used before;
// the code is redeemed with a private_key_jwt assertion; introspection must
// show an active token for this client_id, redirect_uri, issuer and exactly
// the launch's studies; userinfo must name the same subject.
func (p *Provider) Complete(ctx context.Context, l *Launch) (*Session, error) {
	if l == nil {
		return nil, fmt.Errorf("%w: nil launch", ErrInvalidLaunch)
	}
	if l.Flow != p.cfg.ResponseType {
		return nil, fmt.Errorf("%w: this provider is configured for response_type %q", ErrInvalidLaunch, p.cfg.ResponseType)
	}
	is, err := p.issuerFor(l.ConfURI)
	if err != nil {
		return nil, err
	}
	if !is.acceptsClient(l.ClientID) {
		return nil, fmt.Errorf("%w: client_id is not accepted for this instance", ErrUntrustedIssuer)
	}
	conf, err := p.instanceConfiguration(ctx, is, l.ConfURI)
	if err != nil {
		return nil, err
	}
	tok := l.AccessToken
	if l.Flow == ResponseTypeCode {
		// Claim the code before it leaves: it is never sent twice, even
		// if this exchange fails half-way.
		if err := p.claim(ctx, launchKey("code", is.URL, l.Code), codeTTL); err != nil {
			return nil, err
		}
		if tok, _, err = p.exchange(ctx, conf, l); err != nil {
			return nil, err
		}
	}
	in, err := p.introspect(ctx, conf, tok)
	if err != nil {
		return nil, err
	}
	expiry, scope, err := p.checkIntrospection(in, is, l)
	if err != nil {
		return nil, err
	}
	if l.Flow == ResponseTypeToken {
		// Claimed only once the token proved genuine for this launch, so a
		// forged fragment cannot burn a real one.
		if err := p.claim(ctx, launchKey("token", is.URL, tok), expiry.Sub(p.now())+time.Minute); err != nil {
			return nil, err
		}
	}
	ui, err := p.userinfo(ctx, conf, tok)
	if err != nil {
		return nil, err
	}
	if ui.Subject != in.Subject {
		return nil, fmt.Errorf("%w: userinfo subject differs from the token subject", ErrTokenRejected)
	}
	return &Session{
		Issuer:           is.URL,
		ClientID:         l.ClientID,
		Flow:             l.Flow,
		AccessToken:      tok,
		Expiry:           expiry,
		Scope:            scope,
		StudyUIDs:        append([]string(nil), in.StudyUIDs...),
		AlbumID:          in.AlbumID,
		User:             *ui,
		DICOMwebEndpoint: conf.DICOMwebEndpoint,
		ReturnURI:        safeReturnURI(is, in.AlbumID, l.ReturnURI),
	}, nil
}

func (p *Provider) claim(ctx context.Context, key string, ttl time.Duration) error {
	fresh, err := p.codes.Claim(ctx, key, ttl)
	if err != nil {
		return fmt.Errorf("reportprovider: code store: %w", err)
	}
	if !fresh {
		return ErrReplayedLaunch
	}
	return nil
}

// instanceConfiguration returns the KHEOPS configuration document at
// confURL, one of the issuer's accepted conf_uri spellings.
func (p *Provider) instanceConfiguration(ctx context.Context, is *issuer, confURL string) (*instanceConfiguration, error) {
	return p.confs.get(ctx, confURL, func(ctx context.Context) (*instanceConfiguration, error) {
		return p.fetchInstanceConfiguration(ctx, is, confURL)
	})
}
