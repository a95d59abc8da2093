package reportprovider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Response types: the flow KHEOPS uses to launch a provider.
const (
	ResponseTypeCode  = "code"  // Authorization Code flow: ?code=... redeemed at the token endpoint
	ResponseTypeToken = "token" // Implicit flow: #access_token=... in the URL fragment
)

// The only client authentication KHEOPS supports for the code flow; [New]
// fills them in when a code-flow Configuration leaves them empty.
const (
	authMethodPrivateKeyJWT = "private_key_jwt"
	signingAlgRS256         = "RS256"
)

// Configuration is the provider configuration document: the JSON a KHEOPS
// album admin registers by its URL. KHEOPS fetches it on every launch, code
// redemption and introspection and never caches it.
//
// For the code flow, JWKSURI must be set; TokenEndpointAuthMethod and
// TokenEndpointAuthSigningAlg may be left empty (they mean
// "private_key_jwt" and "RS256", the only values KHEOPS accepts, and [New]
// publishes them). RedirectURI and
// JWKSURI must start with the same scheme and authority, as text, as the
// configuration URL: KHEOPS compares the strings, so "https://rp.example"
// and "https://rp.example:443" do not match.
type Configuration struct {
	RedirectURI                 string `json:"redirect_uri"`
	ResponseType                string `json:"response_type"`
	TokenEndpointAuthMethod     string `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg,omitempty"`
	JWKSURI                     string `json:"jwks_uri,omitempty"`
	ClientName                  string `json:"client_name,omitempty"`
	// SupportedModalities limits the studies KHEOPS offers the provider for
	// (its UI hides the launch button for other modalities). The wiki calls
	// it modalities_supported; KHEOPS reads supported_modalities.
	SupportedModalities []string `json:"supported_modalities,omitempty"`
}

// parseConfiguration decodes a provider configuration document and checks
// it as KHEOPS does against the URL it was served from.
func parseConfiguration(data []byte, configURL string) (*Configuration, error) {
	var c Configuration
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %v", ErrInvalidConfiguration, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidConfiguration)
	}
	if err := c.validate(configURL, true); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate applies the checks KHEOPS makes when the document is registered
// (see docs/kheops.md, "The provider configuration document")
// (same order, same exact-text origin rule), plus a few of this package's
// own: http or https only, no user info, no fragment in redirect_uri, and
// no unknown response_type. A document that passes is accepted by KHEOPS.
func (c *Configuration) Validate(configURL string) error { return c.validate(configURL, false) }

// validate is Validate; published means c is a document as served, where
// KHEOPS requires the code flow's auth method and algorithm to be written
// out rather than left for New to fill in.
func (c *Configuration) validate(configURL string, published bool) error {
	cs, ca, err := originText(configURL)
	if err != nil {
		return fmt.Errorf("%w: configuration URL: %v", ErrInvalidConfiguration, err)
	}
	if c.RedirectURI == "" {
		return fmt.Errorf("%w: redirect_uri is required", ErrInvalidConfiguration)
	}
	if err := sameOriginText("redirect_uri", c.RedirectURI, cs, ca); err != nil {
		return err
	}
	if strings.Contains(c.RedirectURI, "#") {
		return fmt.Errorf("%w: redirect_uri must not have a fragment", ErrInvalidConfiguration)
	}
	switch c.ResponseType {
	case ResponseTypeCode:
		if m := c.TokenEndpointAuthMethod; (m != "" || published) && m != authMethodPrivateKeyJWT {
			return fmt.Errorf("%w: token_endpoint_auth_method must be %q for the code flow", ErrInvalidConfiguration, authMethodPrivateKeyJWT)
		}
		if c.JWKSURI == "" {
			return fmt.Errorf("%w: jwks_uri is required for the code flow", ErrInvalidConfiguration)
		}
		if err := sameOriginText("jwks_uri", c.JWKSURI, cs, ca); err != nil {
			return err
		}
		if a := c.TokenEndpointAuthSigningAlg; (a != "" || published) && a != signingAlgRS256 {
			return fmt.Errorf("%w: token_endpoint_auth_signing_alg must be %q", ErrInvalidConfiguration, signingAlgRS256)
		}
	case ResponseTypeToken:
	case "":
		return fmt.Errorf("%w: response_type is required", ErrInvalidConfiguration)
	default:
		return fmt.Errorf("%w: response_type must be %q or %q", ErrInvalidConfiguration, ResponseTypeCode, ResponseTypeToken)
	}
	return nil
}

func sameOriginText(field, raw, scheme, authority string) error {
	s, a, err := originText(raw)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidConfiguration, field, err)
	}
	if s != scheme || a != authority {
		return fmt.Errorf("%w: %s must start with exactly %s://%s, like the configuration URL", ErrInvalidConfiguration, field, scheme, authority)
	}
	return nil
}

// originText returns the scheme and the authority of an absolute http(s)
// URL exactly as they are written (no case folding, no default-port
// removal), which is how KHEOPS compares them.
func originText(raw string) (scheme, authority string, err error) {
	// Characters java.net.URI refuses anywhere: KHEOPS could not parse the URL.
	if i := strings.IndexFunc(raw, func(r rune) bool {
		return r < 0x21 || r == 0x7f || strings.ContainsRune("\"<>\\^`{|}", r)
	}); i >= 0 {
		return "", "", fmt.Errorf("character %q is not allowed in a URI", raw[i])
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", fmt.Errorf("scheme must be http or https")
	}
	if u.User != nil {
		return "", "", fmt.Errorf("user info is not allowed")
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("host is required")
	}
	i := strings.IndexByte(raw, ':')
	rest, ok := strings.CutPrefix(raw[i+1:], "//")
	if !ok {
		return "", "", fmt.Errorf("authority is required")
	}
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	return raw[:i], rest, nil
}

// serveJSON answers GET and HEAD with body as application/json.
func serveJSON(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}
