package ohifbridge

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// oauthError is an OAuth 2.0 error for the client: a code from RFC 6749
// and a description that never holds a secret.
type oauthError struct {
	code  string
	desc  string
	cause error // for the log only: a store or internal failure
}

func (e *oauthError) Error() string { return "ohifbridge: " + e.code + ": " + e.desc }

func oerr(code, format string, a ...any) *oauthError {
	return &oauthError{code: code, desc: fmt.Sprintf(format, a...)}
}

// single returns the one value of name in v: "" if absent, an
// invalid_request if repeated (parameter pollution) or too long.
func single(v url.Values, name string, max int) (string, *oauthError) {
	vals := v[name]
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", oerr("invalid_request", "%s is repeated", name)
	case len(vals[0]) > max:
		return "", oerr("invalid_request", "%s is too long", name)
	}
	return vals[0], nil
}

// pkceChars reports whether s is 43 to 128 characters of the RFC 7636
// unreserved set, the shape of both a verifier and an S256 challenge.
func pkceChars(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// s256 is the S256 code challenge of a verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// verifierMatches compares in constant time.
func verifierMatches(verifier, challenge string) bool {
	return subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(challenge)) == 1
}

// Scope words the bridge grants; others are ignored (RFC 6749 §3.3).
var knownScopes = []string{"openid", "profile", "email"}

// grantScope keeps the known words of a requested scope, in a fixed
// order. ok is false without openid.
func grantScope(requested string) (string, bool) {
	words := strings.Fields(requested)
	var out []string
	for _, k := range knownScopes {
		if slices.Contains(words, k) {
			out = append(out, k)
		}
	}
	return strings.Join(out, " "), slices.Contains(out, "openid")
}

// authRequest is a checked authorization request.
type authRequest struct {
	ClientID    string
	RedirectURI string
	State       string
	Nonce       string
	Challenge   string
	Scope       string
	LoginHint   string
	Prompt      string
}

// Parameter limits of the authorization endpoint.
const (
	maxState = 2048
	maxNonce = 512
	maxParam = 4096
)

// parseClient reads client_id and redirect_uri, which must be checked
// before anything is sent to the redirect_uri.
func (b *Bridge) parseClient(v url.Values) (clientID, redirectURI string, err *oauthError) {
	if clientID, err = single(v, "client_id", maxParam); err != nil {
		return "", "", err
	}
	if redirectURI, err = single(v, "redirect_uri", maxParam); err != nil {
		return "", "", err
	}
	if clientID != b.client.ID {
		return "", "", oerr("invalid_client", "unknown client_id")
	}
	if !slices.Contains(b.client.RedirectURIs, redirectURI) {
		return "", "", oerr("invalid_request", "redirect_uri is not registered for this client")
	}
	return clientID, redirectURI, nil
}

// parseAuthorize checks an authorization request whose client and
// redirect_uri parseClient accepted (see docs/ohif-bridge.md,
// "Authorization endpoint"). The returned request carries state even with
// an error, so that the error can be sent back with it.
func parseAuthorize(v url.Values, clientID, redirectURI string) (*authRequest, *oauthError) {
	ar := &authRequest{ClientID: clientID, RedirectURI: redirectURI}
	state, err := single(v, "state", maxState)
	if err != nil {
		return ar, err
	}
	ar.State = state
	for name, vals := range v {
		if len(vals) > 1 {
			return ar, oerr("invalid_request", "%s is repeated", name)
		}
	}
	get := func(name string, max int) string {
		s, e := single(v, name, max)
		if e != nil && err == nil {
			err = e
		}
		return s
	}
	rt := get("response_type", maxParam)
	mode := get("response_mode", maxParam)
	scope := get("scope", maxParam)
	ar.Nonce = get("nonce", maxNonce)
	ar.Challenge = get("code_challenge", maxParam)
	method := get("code_challenge_method", maxParam)
	ar.LoginHint = get("login_hint", maxParam)
	ar.Prompt = get("prompt", maxParam)
	if err != nil {
		return ar, err
	}
	switch {
	case rt != "code":
		return ar, oerr("unsupported_response_type", "response_type must be code")
	case mode != "" && mode != "query":
		return ar, oerr("invalid_request", "response_mode must be query")
	}
	granted, ok := grantScope(scope)
	if !ok {
		return ar, oerr("invalid_scope", "scope must contain openid")
	}
	ar.Scope = granted
	switch {
	case ar.Challenge == "":
		return ar, oerr("invalid_request", "code_challenge is required (PKCE)")
	case method != "S256":
		return ar, oerr("invalid_request", "code_challenge_method must be S256")
	case !pkceChars(ar.Challenge):
		return ar, oerr("invalid_request", "code_challenge is malformed")
	}
	return ar, nil
}

// tokenRequest is a parsed token request.
type tokenRequest struct {
	GrantType    string
	ClientID     string
	Code         string
	RedirectURI  string
	Verifier     string
	RefreshToken string
	Scope        string
}

// parseToken reads a token request form: every parameter at most once,
// the ones the grant needs present, no client secret (see
// docs/ohif-bridge.md, "Token endpoint").
func parseToken(v url.Values) (*tokenRequest, *oauthError) {
	for name, vals := range v {
		if len(vals) > 1 {
			return nil, oerr("invalid_request", "%s is repeated", name)
		}
	}
	var err *oauthError
	get := func(name string) string {
		s, e := single(v, name, maxTokenLen)
		if e != nil && err == nil {
			err = e
		}
		return s
	}
	tr := &tokenRequest{
		GrantType:    get("grant_type"),
		ClientID:     get("client_id"),
		Code:         get("code"),
		RedirectURI:  get("redirect_uri"),
		Verifier:     get("code_verifier"),
		RefreshToken: get("refresh_token"),
		Scope:        get("scope"),
	}
	if err != nil {
		return nil, err
	}
	if _, ok := v["client_secret"]; ok {
		return nil, oerr("invalid_client", "this client is public: send no client_secret")
	}
	if _, ok := v["client_assertion"]; ok {
		return nil, oerr("invalid_client", "this client is public: send no client_assertion")
	}
	var need []string
	switch tr.GrantType {
	case "authorization_code":
		need = []string{"code", "redirect_uri", "client_id", "code_verifier"}
	case "refresh_token":
		need = []string{"refresh_token", "client_id"}
	case "":
		return nil, oerr("invalid_request", "grant_type is required")
	default:
		return nil, oerr("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
	}
	for _, n := range need {
		if v.Get(n) == "" {
			return nil, oerr("invalid_request", "%s is required", n)
		}
	}
	if tr.GrantType == "authorization_code" && !pkceChars(tr.Verifier) {
		return nil, oerr("invalid_request", "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")
	}
	return tr, nil
}
