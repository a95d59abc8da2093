package kheopstest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token "type" claims, as KHEOPS names them.
const (
	typeUser      = "oidc" // stands in for the user's Keycloak token
	typeAlbumCap  = "album_capability"
	typeCode      = "report_provider_code"
	typeRPToken   = "report_generator"
	typePEP       = "pep"
	codeLifetime  = 600 * time.Second
	rpLifetime    = 3600 * time.Second
	viewerSeconds = 18000
	leeway        = 60 * time.Second
)

// User is a KHEOPS user.
type User struct {
	Sub   string
	Name  string
	Email string
}

// Permissions are a user's rights in an album.
type Permissions struct {
	AddSeries             bool // ADD_SERIES: the implicit flow grants "write"
	ManageReportProviders bool // MANAGE_DICOM_SR: may register providers
}

type album struct {
	id      string
	members map[string]Permissions
	series  map[string]bool // series UIDs in the album
}

type viewerToken struct {
	sub      string
	studyUID string
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

// AddUser creates (or replaces) a user and returns an access token for it
// (standing in for the Keycloak token the KHEOPS UI holds), valid 24 h.
func (s *Server) AddUser(u User) string {
	s.mu.Lock()
	cp := u
	s.users[u.Sub] = &cp
	s.mu.Unlock()
	return s.userToken(u.Sub)
}

// userToken returns a fresh 24 h access token for a user.
func (s *Server) userToken(sub string) string {
	now := s.now()
	return s.sign(jwt.MapClaims{
		"iss": s.root, "aud": s.root, "sub": sub, "type": typeUser,
		"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
	})
}

// albumCapabilityToken returns an album capability token (which KHEOPS
// refuses for launching providers).
func (s *Server) albumCapabilityToken(albumID string) string {
	now := s.now()
	return s.sign(jwt.MapClaims{
		"iss": s.root, "aud": s.root, "sub": "capability-" + albumID, "type": typeAlbumCap,
		"album": albumID, "iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
	})
}

// AddAlbum creates an album. An empty id gets a random 10-character one.
// It returns the id.
func (s *Server) AddAlbum(id string) string {
	if id == "" {
		id = randomID(10)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.albums[id]; !ok {
		s.albums[id] = &album{id: id, members: make(map[string]Permissions), series: make(map[string]bool)}
	}
	return id
}

// AddMember gives a user access to an album with the given permissions.
func (s *Server) AddMember(albumID, sub string, p Permissions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.albums[albumID]
	if !ok {
		return fmt.Errorf("kheopstest: no album %q", albumID)
	}
	if _, ok := s.users[sub]; !ok {
		return fmt.Errorf("kheopstest: no user %q", sub)
	}
	a.members[sub] = p
	return nil
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
		return jwt.MapClaims{"type": "viewer", "sub": v.sub, "studyUID": []any{v.studyUID}}, nil
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
func (s *Server) rpToken(sub, clientID, scope string, studies []string) string {
	now := s.now()
	return s.sign(jwt.MapClaims{
		"iss": s.root, "aud": s.root, "sub": sub,
		"exp": now.Add(rpLifetime).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"azp": clientID, "scope": scope, "type": typeRPToken, "studyUID": studies,
	})
}

// code mints an authorization code (600 s): no jti, no iat, not bound to a
// redirect_uri, exactly as KHEOPS.
func (s *Server) code(sub, clientID string, studies []string) string {
	now := s.now()
	return s.sign(jwt.MapClaims{
		"iss": s.root, "aud": s.root, "sub": sub, "azp": clientID,
		"type": typeCode, "study_uids": studies,
		"nbf": now.Unix(), "exp": now.Add(codeLifetime).Unix(),
	})
}

// viewerJWE returns an opaque five-part token shaped like the encrypted
// viewer token KHEOPS issues (A128KW + A128CBC-HS256), and remembers it.
func (s *Server) viewerJWE(sub, studyUID string) string {
	hdr := "eyJhbGciOiJBMTI4S1ciLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0" // {"alg":"A128KW","enc":"A128CBC-HS256"}
	tok := strings.Join([]string{hdr, randomB64(24), randomB64(16), randomB64(48), randomB64(16)}, ".")
	s.mu.Lock()
	s.viewers[tok] = viewerToken{sub: sub, studyUID: studyUID, exp: s.now().Add(viewerSeconds * time.Second)}
	s.mu.Unlock()
	return tok
}
