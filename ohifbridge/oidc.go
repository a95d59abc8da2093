package ohifbridge

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// discovery builds the OpenID Provider metadata (see docs/ohif-bridge.md,
// "Discovery").
func (b *Bridge) discovery() []byte {
	doc := map[string]any{
		"issuer":                                         b.issuer,
		"authorization_endpoint":                         b.base + pathAuthorize,
		"token_endpoint":                                 b.base + pathToken,
		"userinfo_endpoint":                              b.base + pathUserinfo,
		"jwks_uri":                                       b.base + pathJWKS,
		"revocation_endpoint":                            b.base + pathRevoke,
		"end_session_endpoint":                           b.base + pathLogout,
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"none"},
		"revocation_endpoint_auth_methods_supported":     []string{"none"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"scopes_supported":                               knownScopes,
		"claims_supported":                               []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "name", "email"},
		"authorization_response_iss_parameter_supported": true,
	}
	data, _ := json.Marshal(doc) // strings and lists only: always marshals
	return data
}

func (b *Bridge) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	serveDocument(w, r, b.discoveryJSON)
}

// maxForm bounds the body of form posts to the OpenID endpoints.
const maxForm = 64 << 10

// readForm parses the query (GET) or the url-encoded body (POST) into one
// set of values, refusing a body that is not a form or too large.
func readForm(w http.ResponseWriter, r *http.Request, allowGet bool) (url.Values, *oauthError, int) {
	switch r.Method {
	case http.MethodGet:
		if !allowGet {
			return nil, oerr("invalid_request", "use POST"), http.StatusMethodNotAllowed
		}
		v, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, oerr("invalid_request", "the query is not form-encoded"), http.StatusBadRequest
		}
		return v, nil, 0
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, oerr("invalid_request", "the body must be application/x-www-form-urlencoded"), http.StatusBadRequest
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			return nil, oerr("invalid_request", "the form is unreadable or too large"), http.StatusBadRequest
		}
		if r.URL.RawQuery != "" && len(r.URL.Query()) > 0 {
			return nil, oerr("invalid_request", "send the parameters in the body, not the query"), http.StatusBadRequest
		}
		return r.PostForm, nil, 0
	default:
		if allowGet {
			w.Header().Set("Allow", "GET, POST")
		} else {
			w.Header().Set("Allow", "POST")
		}
		return nil, oerr("invalid_request", "method not allowed"), http.StatusMethodNotAllowed
	}
}

// serveAuthorize is the authorization endpoint (see docs/ohif-bridge.md,
// "Authorization endpoint").
func (b *Bridge) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	v, oe, status := readForm(w, r, true)
	if oe != nil {
		b.errorPage(w, r, status, oe)
		return
	}
	clientID, redirectURI, oe := b.parseClient(v)
	if oe != nil {
		// Never redirect to an unchecked redirect_uri.
		b.errorPage(w, r, http.StatusBadRequest, oe)
		return
	}
	ar, oe := parseAuthorize(v, clientID, redirectURI)
	if oe == nil {
		oe = b.authorize(r.Context(), w, ar)
	}
	if oe != nil {
		b.logRefusal(r.Context(), "authorization", oe)
		q := url.Values{"error": {oe.code}, "error_description": {oe.desc}, "iss": {b.issuer}}
		if ar != nil && ar.State != "" {
			q.Set("state", ar.State)
		}
		w.Header().Set("Location", appendQuery(redirectURI, q))
		w.WriteHeader(http.StatusFound)
	}
}

// authorize consumes the login_hint and issues a code.
func (b *Bridge) authorize(ctx context.Context, w http.ResponseWriter, ar *authRequest) *oauthError {
	loginRequired := oerr("login_required", "open the viewer from KHEOPS: this sign-in has no valid launch")
	if ar.LoginHint == "" || len(ar.LoginHint) > maxTokenLen {
		return loginRequired
	}
	// Look the hint up before claiming it, so that made-up hints cannot
	// fill the store with markers.
	var hr hintRecord
	ok, err := b.get(ctx, key(kindHint, ar.LoginHint), &hr)
	if err != nil {
		return serverError(err)
	}
	if !ok || hr.ClientID != ar.ClientID {
		return loginRequired
	}
	fresh, err := b.claim(ctx, kindHint, ar.LoginHint, hintTTL)
	if err != nil {
		return serverError(err)
	}
	if !fresh {
		return loginRequired
	}
	_ = b.store.Delete(ctx, key(kindHint, ar.LoginHint))
	s, ok, err := b.liveSession(ctx, hr.SID)
	if err != nil {
		return serverError(err)
	}
	if !ok {
		return loginRequired
	}
	code, err := newSecret()
	if err != nil {
		return serverError(err)
	}
	rec := codeRecord{SID: hr.SID, ClientID: ar.ClientID, RedirectURI: ar.RedirectURI, Challenge: ar.Challenge, Nonce: ar.Nonce, Scope: ar.Scope}
	if err := b.put(ctx, key(kindCode, code), rec, min(codeTTL, s.expiry().Sub(b.now()))); err != nil {
		return serverError(err)
	}
	q := url.Values{"code": {code}, "iss": {b.issuer}}
	if ar.State != "" {
		q.Set("state", ar.State)
	}
	w.Header().Set("Location", appendQuery(ar.RedirectURI, q))
	w.WriteHeader(http.StatusFound)
	return nil
}

// serverError turns an internal failure into the OAuth error a client
// sees: temporarily_unavailable for the store, server_error otherwise.
func serverError(err error) *oauthError {
	oe := oerr("server_error", "internal error")
	if errors.Is(err, errStore) || errors.Is(err, errStoreFull) {
		oe = oerr("temporarily_unavailable", "the bridge cannot keep state right now; try again")
	}
	oe.cause = err
	return oe
}

// logRefusal logs why a request was refused: the OAuth error and, for
// internal failures, their cause. Neither holds a secret.
func (b *Bridge) logRefusal(ctx context.Context, what string, oe *oauthError) {
	if b.log == nil {
		return
	}
	attrs := []any{"error", oe.code, "reason", oe.desc}
	if oe.cause != nil {
		attrs = append(attrs, "cause", oe.cause.Error())
	}
	b.log.InfoContext(ctx, "ohifbridge: "+what+" refused", attrs...)
}

var errorPageTemplate = template.Must(template.New("e").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Sign-in refused</title></head>
<body><h1>Sign-in refused</h1><p>{{.}}</p><p>Open the viewer from KHEOPS again.</p></body></html>
`))

// errorPage answers an authorization request that cannot be redirected.
func (b *Bridge) errorPage(w http.ResponseWriter, r *http.Request, status int, oe *oauthError) {
	b.logRefusal(r.Context(), "authorization", oe)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = errorPageTemplate.Execute(w, oe.code+": "+oe.desc)
}

// tokenResponse is the token endpoint's success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope"`
}

// serveToken is the token endpoint (see docs/ohif-bridge.md, "Token
// endpoint").
func (b *Bridge) serveToken(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	v, oe, status := readForm(w, r, false)
	if oe != nil {
		writeOAuthError(w, status, oe)
		return
	}
	if r.Header.Get("Authorization") != "" {
		writeOAuthError(w, http.StatusUnauthorized, oerr("invalid_client", "this client is public: send no Authorization header"))
		return
	}
	tr, oe := parseToken(v)
	if oe == nil && tr.ClientID != b.client.ID {
		oe = oerr("invalid_client", "unknown client_id")
	}
	var resp *tokenResponse
	if oe == nil {
		if tr.GrantType == "authorization_code" {
			resp, oe = b.redeemCode(r.Context(), tr)
		} else {
			resp, oe = b.refresh(r.Context(), tr)
		}
	}
	if oe != nil {
		b.logRefusal(r.Context(), "token request", oe)
		writeOAuthError(w, oauthStatus(oe), oe)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func oauthStatus(oe *oauthError) int {
	switch oe.code {
	case "invalid_client":
		return http.StatusUnauthorized
	case "temporarily_unavailable":
		return http.StatusServiceUnavailable
	case "server_error":
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

func writeOAuthError(w http.ResponseWriter, status int, oe *oauthError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": oe.code, "error_description": oe.desc})
}

// redeemCode is the authorization_code grant. The code is spent before
// anything is compared, so a wrong verifier burns it; a second use of a
// code revokes the session its first use gave.
func (b *Bridge) redeemCode(ctx context.Context, tr *tokenRequest) (*tokenResponse, *oauthError) {
	bad := oerr("invalid_grant", "the code is unknown, expired, already used, or issued for another request")
	var rec codeRecord
	ok, err := b.get(ctx, key(kindCode, tr.Code), &rec)
	if err != nil {
		return nil, serverError(err)
	}
	if !ok {
		return nil, bad
	}
	fresh, err := b.claim(ctx, kindCode, tr.Code, codeTTL)
	if err != nil {
		return nil, serverError(err)
	}
	if !fresh {
		if err := b.revoke(ctx, rec.SID); err != nil {
			return nil, serverError(err)
		}
		return nil, bad
	}
	if rec.ClientID != tr.ClientID || rec.RedirectURI != tr.RedirectURI {
		return nil, bad
	}
	if !verifierMatches(tr.Verifier, rec.Challenge) {
		return nil, oerr("invalid_grant", "code_verifier does not match the code_challenge")
	}
	s, ok, err := b.liveSession(ctx, rec.SID)
	if err != nil {
		return nil, serverError(err)
	}
	if !ok {
		return nil, oerr("invalid_grant", "the session has ended; open the viewer from KHEOPS again")
	}
	return b.issue(ctx, rec.SID, s, rec.Scope, rec.Nonce)
}

// refresh is the refresh_token grant: single use with rotation; a reused
// refresh token revokes the session.
func (b *Bridge) refresh(ctx context.Context, tr *tokenRequest) (*tokenResponse, *oauthError) {
	bad := oerr("invalid_grant", "the refresh token is unknown, expired, revoked or already used")
	if len(tr.RefreshToken) > maxTokenLen {
		return nil, bad
	}
	var rec tokenRecord
	ok, err := b.get(ctx, key(kindRefresh, tr.RefreshToken), &rec)
	if err != nil {
		return nil, serverError(err)
	}
	if !ok {
		return nil, bad
	}
	ttl := time.Unix(rec.Expiry, 0).Sub(b.now())
	if ttl <= 0 {
		return nil, bad
	}
	fresh, err := b.claim(ctx, kindRefresh, tr.RefreshToken, ttl)
	if err != nil {
		return nil, serverError(err)
	}
	if !fresh {
		if err := b.revoke(ctx, rec.SID); err != nil {
			return nil, serverError(err)
		}
		return nil, bad
	}
	if rec.ClientID != tr.ClientID {
		return nil, bad
	}
	scope := rec.Scope
	if tr.Scope != "" {
		for _, w := range strings.Fields(tr.Scope) {
			if !strings.Contains(" "+rec.Scope+" ", " "+w+" ") {
				return nil, oerr("invalid_scope", "scope exceeds the original grant")
			}
		}
		scope, _ = grantScope(tr.Scope)
		if scope == "" {
			scope = rec.Scope
		}
	}
	s, ok, err := b.liveSession(ctx, rec.SID)
	if err != nil {
		return nil, serverError(err)
	}
	if !ok {
		return nil, bad
	}
	if s.expiry().Sub(b.now()) < minRemaining {
		return nil, oerr("invalid_grant", "the KHEOPS session has ended; open the viewer from KHEOPS again")
	}
	return b.issue(ctx, rec.SID, s, scope, "")
}

// issue mints the access token (a bridge token in Proxy mode, the KHEOPS
// token in Direct mode), a new refresh token and an id_token.
func (b *Bridge) issue(ctx context.Context, sid string, s *session, scope, nonce string) (*tokenResponse, *oauthError) {
	now := b.now()
	end := s.expiry()
	var at string
	atExp := end
	if b.mode == Direct {
		at = string(s.KHEOPS.AccessToken)
	} else {
		var err error
		if at, err = newSecret(); err != nil {
			return nil, serverError(err)
		}
		atExp = now.Add(b.atLife)
		if atExp.After(end) {
			atExp = end
		}
	}
	atLife := atExp.Sub(now).Truncate(time.Second)
	if atLife <= 0 {
		return nil, oerr("invalid_grant", "the KHEOPS session has ended; open the viewer from KHEOPS again")
	}
	atRec := tokenRecord{SID: sid, ClientID: s.ClientID, Scope: scope, Expiry: atExp.Unix()}
	if b.mode == Direct {
		// The same KHEOPS token on every refresh: store its record once.
		data, _ := json.Marshal(atRec)
		if _, err := b.store.Add(ctx, key(kindAccess, at), data, end.Sub(now)); err != nil {
			return nil, serverError(storeErr(err))
		}
	} else if err := b.put(ctx, key(kindAccess, at), atRec, atLife); err != nil {
		return nil, serverError(err)
	}
	rt, err := newSecret()
	if err != nil {
		return nil, serverError(err)
	}
	rtRec := tokenRecord{SID: sid, ClientID: s.ClientID, Scope: scope, Expiry: end.Unix()}
	if err := b.put(ctx, key(kindRefresh, rt), rtRec, end.Sub(now)); err != nil {
		return nil, serverError(err)
	}
	idt, err := b.idToken(s, sid, nonce, atExp)
	if err != nil {
		return nil, serverError(err)
	}
	return &tokenResponse{
		AccessToken:  at,
		TokenType:    "Bearer",
		ExpiresIn:    int64(atLife / time.Second),
		RefreshToken: rt,
		IDToken:      idt,
		Scope:        scope,
	}, nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// sessionOf returns the live session of the request's bearer token, or
// answers the request itself (401 without a valid token, 503 when the
// store fails) and returns nil.
func (b *Bridge) sessionOf(w http.ResponseWriter, r *http.Request) *session {
	_, s, err := b.bearerToken(r.Context(), bearer(r))
	switch {
	case err != nil:
		b.logRefusal(r.Context(), "bearer token lookup", serverError(err))
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
	case s == nil:
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
	}
	return s
}

// serveUserinfo is the userinfo endpoint: the KHEOPS user, with the
// id_token's sub.
func (b *Bridge) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	s := b.sessionOf(w, r)
	if s == nil {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.KHEOPS.User)
}

// serveRevoke is the revocation endpoint (RFC 7009): any token of a
// session revokes the session. Always 200 for a well-formed request.
func (b *Bridge) serveRevoke(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	v, oe, status := readForm(w, r, false)
	if oe != nil {
		writeOAuthError(w, status, oe)
		return
	}
	tok, oe := single(v, "token", maxTokenLen)
	if oe == nil {
		_, oe = single(v, "token_type_hint", maxParam)
	}
	var clientID string
	if oe == nil {
		clientID, oe = single(v, "client_id", maxParam)
	}
	if oe == nil && tok == "" {
		oe = oerr("invalid_request", "token is required")
	}
	if oe == nil && clientID != "" && clientID != b.client.ID {
		oe = oerr("invalid_client", "unknown client_id")
	}
	if oe != nil {
		writeOAuthError(w, oauthStatus(oe), oe)
		return
	}
	ctx := r.Context()
	for _, kind := range []string{kindRefresh, kindAccess} {
		var rec tokenRecord
		ok, err := b.get(ctx, key(kind, tok), &rec)
		if err == nil && ok {
			err = b.revoke(ctx, rec.SID)
		}
		if err != nil {
			writeOAuthError(w, http.StatusServiceUnavailable, serverError(err))
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

var signedOutTemplate = template.Must(template.New("o").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Signed out</title></head>
<body><h1>Signed out</h1><p>You are signed out of the viewer.</p>{{if .}}<p><a href="{{.}}">Back to KHEOPS</a></p>{{end}}</body></html>
`))

// serveLogout is the end-session endpoint (see docs/ohif-bridge.md,
// "Revocation and sign-out").
func (b *Bridge) serveLogout(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	v, oe, status := readForm(w, r, true)
	if oe != nil {
		b.errorPage(w, r, status, oe)
		return
	}
	ctx := r.Context()
	var back string
	if hint, oe := single(v, "id_token_hint", maxTokenLen); oe == nil {
		if sid, ok := b.hintSession(hint); ok {
			if s, ok, err := b.liveSession(ctx, sid); err == nil && ok {
				back = s.KHEOPS.ReturnURI
			}
			if err := b.revoke(ctx, sid); err != nil {
				b.errorPage(w, r, http.StatusServiceUnavailable, serverError(err))
				return
			}
		}
	}
	target, _ := single(v, "post_logout_redirect_uri", maxParam)
	state, _ := single(v, "state", maxState)
	for _, u := range b.client.PostLogoutRedirectURIs {
		if target != "" && u == target {
			q := url.Values{}
			if state != "" {
				q.Set("state", state)
			}
			loc := u
			if len(q) > 0 {
				loc = appendQuery(u, q)
			}
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusFound)
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	_ = signedOutTemplate.Execute(w, back)
}
