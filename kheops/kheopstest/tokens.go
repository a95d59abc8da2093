package kheopstest

import (
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token "type" claims, as KHEOPS names them.
const (
	typeUser      = "oidc" // stands in for the user's Keycloak token
	typeCode      = "report_provider_code"
	typeRPToken   = "report_generator"
	typePEP       = "pep"
	codeLifetime  = 600 * time.Second
	rpLifetime    = 3600 * time.Second
	viewerSeconds = 18000
	leeway        = 60 * time.Second
)

type viewerToken struct {
	sub      string
	studyUID string
	source   string // album id; "" for the inbox
	scope    string // "read", "read write", ...
	exp      time.Time
}

func (s *Server) sign(claims jwt.MapClaims) string {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	str, err := t.SignedString(s.secret)
	if err != nil {
		panic("kheopstest: HS256 signing failed: " + err.Error())
	}
	return str
}

var errBadToken = errors.New("kheopstest: token does not verify")

// parseToken verifies a token the server issued: HS256 with its secret,
// iss and aud = ROOT, 60 s leeway. Viewer tokens are looked up instead.
func (s *Server) parseToken(raw string) (jwt.MapClaims, error) {
	if strings.Count(raw, ".") == 4 {
		s.mu.Lock()
		v, ok := s.viewers[raw]
		s.mu.Unlock()
		if !ok || !s.now().Before(v.exp.Add(leeway)) {
			return nil, errBadToken
		}
		return jwt.MapClaims{"type": "viewer", "sub": v.sub, "studyUID": []any{v.studyUID}, "source": v.source, "scope": v.scope}, nil
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithIssuer(s.root),
		jwt.WithAudience(s.root),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired(),
	)
	if err != nil {
		return nil, errBadToken
	}
	return claims, nil
}

func claimString(c jwt.MapClaims, name string) string {
	s, _ := c[name].(string)
	return s
}

func claimStrings(c jwt.MapClaims, name string) []string {
	switch v := c[name].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// rpToken mints a report provider access token (3600 s).
func (s *Server) rpToken(sub, clientID, scope string, studies []string, capID string) string {
	now := s.now()
	c := jwt.MapClaims{
		"iss": s.root, "aud": s.root, "sub": sub,
		"exp": now.Add(rpLifetime).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"azp": clientID, "scope": scope, "type": typeRPToken, "studyUID": studies,
	}
	if capID != "" {
		c["cap_token"] = capID
	}
	return s.sign(c)
}

// code mints an authorization code (600 s): no jti, no iat, not bound to a
// redirect_uri, exactly as KHEOPS.
func (s *Server) code(sub, clientID string, studies []string, capID string) string {
	now := s.now()
	c := jwt.MapClaims{
		"iss": s.root, "aud": s.root, "sub": sub, "azp": clientID,
		"type": typeCode, "study_uids": studies,
		"nbf": now.Unix(), "exp": now.Add(codeLifetime).Unix(),
	}
	if capID != "" {
		c["cap_token"] = capID
	}
	return s.sign(c)
}

// viewerJWE returns an opaque five-part token shaped like the encrypted
// viewer token KHEOPS issues (A128KW + A128CBC-HS256), and remembers it.
func (s *Server) viewerJWE(v viewerToken) string {
	hdr := "eyJhbGciOiJBMTI4S1ciLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0" // {"alg":"A128KW","enc":"A128CBC-HS256"}
	tok := strings.Join([]string{hdr, randomB64(24), randomB64(16), randomB64(48), randomB64(16)}, ".")
	v.exp = s.now().Add(viewerSeconds * time.Second)
	s.mu.Lock()
	s.viewers[tok] = v
	s.mu.Unlock()
	return tok
}
