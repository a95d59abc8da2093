package kheopstest

import (
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// oauthError is a token endpoint error: always HTTP 400 in KHEOPS.
type oauthError struct {
	code, desc string
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func oerr(code, desc string) *oauthError { return &oauthError{code, desc} }

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	body := map[string]string{"error": e.code}
	if e.desc != "" {
		body["error_description"] = e.desc
	}
	writeJSON(w, http.StatusBadRequest, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// principal is the authenticated caller of the token or introspection
// endpoint.
type principal struct {
	kind     string // "public", "provider" or "internal"
	clientID string
}

// one returns the single value of a form field and whether it appeared
// exactly once.
func one(r *http.Request, name string) (string, bool) {
	v := r.PostForm[name]
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}

// authenticate is TokenSecurityFilter: classify the caller, then run
// private_key_jwt or Basic authentication. endpoint is the path after
// /api, e.g. "/token".
func (s *Server) authenticate(r *http.Request, endpoint string) (principal, *oauthError) {
	authz := r.Header.Values("Authorization")
	_, hasA := r.PostForm["client_assertion"]
	_, hasT := r.PostForm["client_assertion_type"]
	switch {
	case len(authz) > 0:
		if hasA || hasT {
			return principal{}, oerr("invalid_request", "Authorization header and client_assertion are mutually exclusive")
		}
		if len(authz) > 1 {
			return principal{}, oerr("invalid_request", "Multiple Authorization headers")
		}
		scheme, _, _ := strings.Cut(authz[0], " ")
		switch {
		case strings.EqualFold(scheme, "Basic"):
			id, secret, ok := r.BasicAuth()
			if !ok || s.cfg.internalClientID == "" ||
				subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.internalClientID)) != 1 ||
				subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.internalClientSecret)) != 1 {
				return principal{}, oerr("invalid_client", "Bad client credentials")
			}
			return principal{kind: "internal", clientID: id}, nil
		case strings.EqualFold(scheme, "Bearer"):
			return principal{kind: "public"}, nil
		default:
			return principal{}, oerr("invalid_request", "Unknown Authorization header")
		}
	case hasA || hasT:
		a, okA := one(r, "client_assertion")
		t, okT := one(r, "client_assertion_type")
		if !okA || !okT {
			return principal{}, oerr("invalid_request", "Must have a single client_assertion and client_assertion_type")
		}
		if t != jwtBearer {
			return principal{}, oerr("invalid_request", "Unknown client_assertion_type")
		}
		if !strings.HasPrefix(a, "eyJ") {
			return principal{}, oerr("invalid_request", "Malformed client_assertion")
		}
		return s.privateKeyJWT(r, a, endpoint)
	default:
		return principal{kind: "public"}, nil
	}
}

// privateKeyJWT is PrivateKeyJWTAuthenticator, step by step.
func (s *Server) privateKeyJWT(r *http.Request, assertion, endpoint string) (principal, *oauthError) {
	clientID, okID := one(r, "client_id")
	if !okID {
		return principal{}, oerr("invalid_request", "Must have a single client_id")
	}
	unverified, _, err := jwt.NewParser().ParseUnverified(assertion, jwt.MapClaims{})
	if err != nil {
		return principal{}, oerr("invalid_request", "Unable to decode the JWT")
	}
	if alg, _ := unverified.Header["alg"].(string); alg != "RS256" {
		return principal{}, oerr("invalid_request", "Unexpected JWT signing algorithm")
	}
	claims := unverified.Claims.(jwt.MapClaims)
	jti := claims["jti"]
	if jti == nil { // absent, or null: KHEOPS refuses both
		return principal{}, oerr("invalid_request", "Missing jti")
	}
	kid, _ := unverified.Header["kid"].(string)
	if kid == "" {
		return principal{}, oerr("invalid_request", "Missing kid")
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return principal{}, oerr("invalid_request", "Missing exp")
	}
	if exp.After(s.now().Add(10 * time.Minute)) {
		return principal{}, oerr("invalid_request", "exp is too far in the future")
	}
	p, ok := s.lookupProvider(clientID)
	if !ok {
		return principal{}, oerr("invalid_client", "Unknown client_id")
	}
	conf, err := s.providerConfiguration(r.Context(), p.url)
	if err != nil || conf.JWKSURI == nil {
		return principal{}, oerr("invalid_client", "Error with the client config")
	}
	key, err := s.jwksKey(r.Context(), *conf.JWKSURI, kid)
	if err != nil {
		return principal{}, oerr("invalid_request", "Unable to get public key: "+err.Error())
	}
	verified := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(assertion, verified, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(clientID),
		jwt.WithSubject(clientID),
		jwt.WithAudience(s.root+"/api"+endpoint),
	)
	if err != nil {
		return principal{}, oerr("invalid_request", "Unable to verify the JWT. "+err.Error())
	}
	if s.cfg.rejectJTIReplay {
		key, _ := json.Marshal(jti)
		s.mu.Lock()
		seen := s.usedJTIs[clientID+"\x00"+string(key)]
		s.usedJTIs[clientID+"\x00"+string(key)] = true
		s.mu.Unlock()
		if seen {
			return principal{}, oerr("invalid_request", "jti already used")
		}
	}
	return principal{kind: "provider", clientID: clientID}, nil
}

// jwksKey fetches the JWKS (every time, like KHEOPS) and returns the RSA
// key whose kid matches exactly.
func (s *Server) jwksKey(ctx context.Context, jwksURI, kid string) (*rsa.PublicKey, error) {
	body, err := s.fetchURL(ctx, jwksURI, "application/json")
	if err != nil {
		return nil, errors.New("JWKS fetch failed")
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
		return nil, errors.New("no keys")
	}
	for _, k := range set.Keys {
		if k.Kid != kid {
			continue
		}
		if k.Kty != "RSA" {
			return nil, errors.New("key is not RSA")
		}
		n, err1 := lenientBase64(k.N)
		e, err2 := lenientBase64(k.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("malformed RSA key")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	}
	return nil, errors.New("no key with that kid")
}

// lenientBase64 decodes as KHEOPS's JWKS library does: base64url or
// standard alphabet, padded or not.
func lenientBase64(v string) ([]byte, error) {
	v = strings.TrimRight(v, "=")
	v = strings.NewReplacer("+", "-", "/", "_").Replace(v)
	return base64.RawURLEncoding.DecodeString(v)
}

// serveToken is POST ROOT/api/token.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	p, e := s.authenticate(r, "/token")
	if e != nil {
		writeOAuthError(w, e)
		return
	}
	grant, ok := one(r, "grant_type")
	if !ok {
		writeOAuthError(w, oerr("invalid_request", "Must have a single grant_type"))
		return
	}
	switch grant {
	case "authorization_code":
		s.grantCode(w, r, p)
	case "urn:ietf:params:oauth:grant-type:token-exchange":
		s.grantExchange(w, r, p)
	default:
		writeOAuthError(w, oerr("unsupported_grant_type", "Unsupported grant_type"))
	}
}

func (s *Server) grantCode(w http.ResponseWriter, r *http.Request, p principal) {
	code, ok1 := one(r, "code")
	clientID, ok2 := one(r, "client_id")
	redirect, ok3 := one(r, "redirect_uri")
	switch {
	case !ok1:
		writeOAuthError(w, oerr("invalid_request", "Must have a single code"))
		return
	case !ok2:
		writeOAuthError(w, oerr("invalid_request", "Must have a single client_id"))
		return
	case !ok3:
		writeOAuthError(w, oerr("invalid_request", "Must have a single redirect_uri"))
		return
	}
	if p.kind != "provider" {
		writeOAuthError(w, oerr("unauthorized_client", "Client is not a report provider"))
		return
	}
	rp, found := s.lookupProvider(clientID)
	if !found {
		writeOAuthError(w, oerr("invalid_grant", "Unknown client"))
		return
	}
	conf, err := s.providerConfiguration(r.Context(), rp.url)
	if err != nil {
		writeOAuthError(w, oerr("invalid_grant", "Error with the client config"))
		return
	}
	if deref(conf.RedirectURI) != redirect {
		writeOAuthError(w, oerr("invalid_grant", "redirect_uri does not match"))
		return
	}
	claims, err := s.parseToken(code)
	if err != nil || claimString(claims, "type") != typeCode || claimString(claims, "azp") != clientID ||
		claimString(claims, "sub") == "" || claims["study_uids"] == nil {
		writeOAuthError(w, oerr("invalid_request", "Unable to validate the authorization code"))
		return
	}
	if s.cfg.strictSingleUseCodes {
		s.mu.Lock()
		used := s.usedCodes[code]
		s.usedCodes[code] = true
		s.mu.Unlock()
		if used {
			writeOAuthError(w, oerr("invalid_grant", "Authorization code already used"))
			return
		}
	}
	tok := s.rpToken(claimString(claims, "sub"), clientID, "read write", claimStrings(claims, "study_uids"), claimString(claims, "cap_token"))
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": int(rpLifetime.Seconds())})
}

// scopeChars is the RFC 6749 scope character set plus space.
func validScope(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != ' ' && (c < 0x21 || c > 0x7e || c == '"' || c == '\\') {
			return false
		}
	}
	return true
}

func hasWord(scope, word string) bool {
	for _, w := range strings.FieldsFunc(scope, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) {
		if w == word {
			return true
		}
	}
	return false
}

// grantExchange is the token-exchange grant (viewer and pep tokens).
func (s *Server) grantExchange(w http.ResponseWriter, r *http.Request, p principal) {
	scope, ok1 := one(r, "scope")
	subject, ok2 := one(r, "subject_token")
	subjectType, ok3 := one(r, "subject_token_type")
	studyUID, ok4 := one(r, "studyUID")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		writeOAuthError(w, oerr("invalid_request", "Must have a single scope, subject_token, subject_token_type and studyUID"))
		return
	}
	if !validOID(studyUID) {
		writeOAuthError(w, oerr("invalid_request", "studyUID is not valid"))
		return
	}
	if subjectType != "urn:ietf:params:oauth:token-type:access_token" {
		writeOAuthError(w, oerr("invalid_request", "subject_token_type must be urn:ietf:params:oauth:token-type:access_token"))
		return
	}
	if !validScope(scope) {
		writeOAuthError(w, oerr("invalid_scope", "Bad scope"))
		return
	}
	subj := s.resolve(subject)
	if subj == nil {
		if c, err := s.parseToken(subject); err == nil && claimString(c, "type") == typePEP {
			writeOAuthError(w, oerr("invalid_grant", "subject_token cannot be a viewer or pep token"))
			return
		}
		writeOAuthError(w, oerr("invalid_request", "Bad subject_token"))
		return
	}
	switch {
	case hasWord(scope, "pep"):
		series, ok := one(r, "seriesUID")
		if !ok || !validOID(series) {
			writeOAuthError(w, oerr("invalid_request", "Must have a single valid seriesUID"))
			return
		}
		if p.kind != "internal" {
			writeOAuthError(w, oerr("unauthorized_client", "Only internal clients may request pep tokens"))
			return
		}
		now := s.now()
		tok := s.sign(jwt.MapClaims{"iss": s.root, "aud": s.root, "sub": subj.sub, "type": typePEP,
			"studyUID": studyUID, "seriesUID": series, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": 3600})
	case hasWord(scope, "viewer"):
		st := r.PostForm["source_type"]
		if len(st) > 1 || (len(st) == 1 && st[0] != "album" && st[0] != "inbox") {
			writeOAuthError(w, oerr("invalid_request", "source_type must be album or inbox"))
			return
		}
		sid := r.PostForm["source_id"]
		if len(st) == 1 && st[0] == "album" {
			if len(sid) != 1 {
				writeOAuthError(w, oerr("invalid_request", "source_id is required with source_type album"))
				return
			}
		} else if len(sid) != 0 {
			writeOAuthError(w, oerr("invalid_request", "source_id is only allowed with source_type album"))
			return
		}
		if subj.kind == kindViewer {
			writeOAuthError(w, oerr("invalid_grant", "subject_token cannot be a viewer or pep token"))
			return
		}
		source := ""
		if len(st) == 1 && st[0] == "album" {
			source = sid[0]
		}
		var words []string
		for _, w := range []string{"read", "write"} {
			if hasWord(scope, w) {
				words = append(words, w)
			}
		}
		tok := s.viewerJWE(viewerToken{sub: subj.sub, studyUID: studyUID, source: source, scope: strings.Join(words, " ")})
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": viewerSeconds})
	default:
		writeOAuthError(w, oerr("invalid_scope", "scope must contain viewer or pep"))
	}
}

// serveIntrospect is POST ROOT/api/token/introspect.
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	p, e := s.authenticate(r, "/token/introspect")
	if e != nil {
		writeOAuthError(w, e)
		return
	}
	inactive := map[string]bool{"active": false}
	raw, ok := one(r, "token")
	if !ok {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	if isCapabilitySecret(raw) {
		c := s.resolveCapability(raw)
		if c == nil {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		out := map[string]any{"active": true, "sub": c.sub, "exp": c.cap.expiration.Unix(), "scope": "user read write downloadbutton send"}
		if c.kind == kindAlbumCap {
			var words []string
			for w, ok := range map[string]bool{"read": c.cap.read, "write": c.cap.write} {
				if ok {
					words = append(words, w)
				}
			}
			sort.Strings(words)
			out["scope"], out["album_id"] = strings.Join(words, " "), c.cap.album
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	claims, err := s.parseToken(raw)
	if err != nil {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	typ := claimString(claims, "type")
	switch typ {
	case typeRPToken:
		rp, ok := s.lookupProvider(claimString(claims, "azp"))
		if !ok {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		conf, err := s.providerConfiguration(r.Context(), rp.url)
		if err != nil {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		out := map[string]any{
			"active": true, "iss": claims["iss"], "sub": claims["sub"], "scope": claims["scope"],
			"azp": rp.clientID, "client_id": rp.clientID,
			"exp": claims["exp"], "iat": claims["iat"], "nbf": claims["nbf"],
			"redirect_uri": deref(conf.RedirectURI), "album_id": rp.album,
		}
		if capID := claimString(claims, "cap_token"); capID != "" {
			out["cap_token"] = capID
		}
		aud := claimStrings(claims, "aud")
		if len(aud) == 1 {
			out["aud"] = aud[0]
		} else {
			out["aud"] = aud
		}
		studies := claimStrings(claims, "studyUID")
		if len(studies) == 1 {
			out["studyUID"] = studies[0]
		} else if len(studies) > 1 {
			out["studyUID"] = studies
		}
		writeJSON(w, http.StatusOK, out)
	default:
		if p.kind != "internal" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"active": true, "iss": claims["iss"], "sub": claims["sub"], "exp": claims["exp"]})
	}
}

// serveUserinfo is GET ROOT/api/userinfo.
func (s *Server) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	unauthorized := func() {
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.WriteHeader(http.StatusUnauthorized)
	}
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		unauthorized()
		return
	}
	claims, err := s.parseToken(raw)
	if err != nil {
		unauthorized()
		return
	}
	if claimString(claims, "type") != typeRPToken {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	s.mu.Lock()
	u, ok := s.users[claimString(claims, "sub")]
	var cp User
	if ok {
		cp = *u
	}
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	out := map[string]string{"sub": cp.Sub}
	if cp.Name != "" {
		out["name"] = cp.Name
	}
	if cp.Email != "" {
		out["email"] = cp.Email
	}
	writeJSON(w, http.StatusOK, out)
}
