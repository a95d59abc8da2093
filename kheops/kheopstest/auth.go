package kheopstest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// kind is the kind of token a request carries (see docs/kheops.md, "What the fake models").
type kind int

const (
	kindUser     kind = iota + 1 // the user's own (Keycloak) token
	kindUserCap                  // a capability token of scope user
	kindAlbumCap                 // a capability token of scope album
	kindViewer                   // a viewer token from the token exchange
	kindProvider                 // a report provider's token
)

// caller is an authenticated request's principal.
type caller struct {
	kind     kind
	sub      string          // the user acting (for capabilities: its creator)
	cap      *capability     // capability tokens
	clientID string          // provider tokens
	scope    string          // provider and viewer tokens
	studies  map[string]bool // provider and viewer tokens: the studies they reach
	source   string          // viewer tokens: the album id, or "" for the inbox
}

// userAccess is KHEOPS's hasUserAccess: the user's token, or a capability
// token of scope user.
func (c *caller) userAccess() bool { return c.kind == kindUser || c.kind == kindUserCap }

// perm is one of KHEOPS's album permissions.
type perm int

const (
	permAddUser perm = iota + 1
	permRemoveUser
	permAdmin // ADD_ADMIN, REMOVE_ADMIN, DELETE_ALBUM, MANAGE_CAPABILITIES_TOKEN, MANAGE_DICOM_SR, MANAGE_WEBHOOK
	permDownload
	permSend
	permDeleteSeries
	permAddSeries
	permReadSeries
	permWriteComment
	permMember // READ_COMMENT, EDIT_ALBUM, LIST_USERS, GET_DICOM_SR: every member
	permEditFavorites
)

// allowed is KHEOPS's permission table: what c may do in a (which c can
// access). Admins may do everything, a user's inbox nothing.
func (s *Server) allowedLocked(c *caller, a *album, p perm) bool {
	switch c.kind {
	case kindUser, kindUserCap:
		m := a.members[c.sub]
		switch {
		case m == nil || a.inbox:
			return false
		case m.admin:
			return true
		}
		f := a.flags
		switch p {
		case permAddUser:
			return f.AddUser
		case permRemoveUser, permReadSeries, permMember:
			return true
		case permDownload:
			return f.DownloadSeries
		case permSend:
			return f.SendSeries
		case permDeleteSeries:
			return f.DeleteSeries
		case permAddSeries, permEditFavorites:
			return f.AddSeries
		case permWriteComment:
			return f.WriteComments
		}
	case kindAlbumCap:
		k := c.cap
		switch p {
		case permDownload:
			return k.read && k.download
		case permSend:
			return k.read && k.approp
		case permDeleteSeries:
			return k.read && k.write
		case permAddSeries:
			return k.write
		case permReadSeries:
			return k.read
		}
	case kindProvider:
		return p == permAddSeries || p == permReadSeries
	}
	return false
}

// canAccessLocked is KHEOPS's album access check.
func (s *Server) canAccessLocked(c *caller, a *album) bool {
	if a == nil || a.inbox {
		return false
	}
	switch c.kind {
	case kindUser, kindUserCap:
		return a.members[c.sub] != nil
	case kindAlbumCap:
		return c.cap.album == a.id
	case kindProvider:
		p := s.providers[c.clientID]
		return p != nil && p.album == a.id
	case kindViewer:
		return c.source == a.id
	}
	return false
}

// The error bodies of KHEOPS's management API.
const helpURL = "https://github.com/OsiriX-Foundation/kheops/wiki"

// apiErr writes {"message","detail","help"}.
func apiErr(w http.ResponseWriter, status int, message, detail string) {
	writeJSON(w, status, errorBody{Message: message, Detail: detail, Help: helpURL})
}

type errorBody struct {
	Message string `json:"message"`
	Detail  string `json:"detail,omitempty"`
	Help    string `json:"help"`
}

func errTokenType(w http.ResponseWriter) {
	apiErr(w, http.StatusForbidden, "Authorization error", "You don't have the permission to do this with this type of token")
}

func errAlbumNotFound(w http.ResponseWriter) {
	apiErr(w, http.StatusNotFound, "Album Not Found", "The album does not exist or you don't have access")
}

func errAlbumPerm(w http.ResponseWriter) {
	apiErr(w, http.StatusForbidden, "Authorization error", "You don't have the permission to do this on this album")
}

type linkKey struct{}

// rawToken finds the token of a request: the /api/link/{token}/ path form,
// Authorization: Bearer (scheme case-insensitive), or Basic whose decoded
// value splits on ':' into exactly two parts (the password is the token).
func rawToken(r *http.Request) (string, bool) {
	if t, ok := r.Context().Value(linkKey{}).(string); ok {
		return t, true
	}
	h := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(h, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer") && rest != "":
		return rest, true
	case strings.EqualFold(scheme, "Basic") && rest != "":
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", false
		}
		parts := strings.Split(string(b), ":")
		if len(parts) != 2 || parts[1] == "" {
			return "", false
		}
		return parts[1], true
	}
	return "", false
}

// authn authenticates a request as KHEOPS's @Secured filter does. It
// writes the 401 itself and returns nil then.
func (s *Server) authn(w http.ResponseWriter, r *http.Request) *caller {
	raw, ok := rawToken(r)
	if !ok {
		w.Header().Add("WWW-Authenticate", "Basic")
		w.Header().Add("WWW-Authenticate", "Bearer")
		w.WriteHeader(http.StatusUnauthorized)
		return nil
	}
	c := s.resolve(raw)
	if c == nil {
		w.WriteHeader(http.StatusUnauthorized)
	}
	return c
}

// resolve verifies a token of any kind KHEOPS accepts.
func (s *Server) resolve(raw string) *caller {
	if isCapabilitySecret(raw) {
		return s.resolveCapability(raw)
	}
	claims, err := s.parseToken(raw)
	if err != nil {
		return nil
	}
	sub := claimString(claims, "sub")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[sub]; !ok {
		return nil
	}
	switch claimString(claims, "type") {
	case typeUser:
		return &caller{kind: kindUser, sub: sub}
	case typeRPToken:
		p, ok := s.providers[claimString(claims, "azp")]
		if !ok || p.removed {
			return nil
		}
		c := &caller{kind: kindProvider, sub: sub, clientID: p.clientID, scope: claimString(claims, "scope"), studies: map[string]bool{}}
		for _, u := range claimStrings(claims, "studyUID") {
			c.studies[u] = true
		}
		return c
	case "viewer":
		c := &caller{kind: kindViewer, sub: sub, scope: claimString(claims, "scope"), studies: map[string]bool{}, source: claimString(claims, "source")}
		for _, u := range claimStrings(claims, "studyUID") {
			c.studies[u] = true
		}
		return c
	}
	return nil
}

func isCapabilitySecret(raw string) bool {
	if len(raw) != 22 {
		return false
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func secretHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// capabilityLeeway is KHEOPS's tolerance on a capability's validity times.
const capabilityLeeway = 5 * time.Second

func (s *Server) resolveCapability(raw string) *caller {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.capsByHash[secretHash(raw)]
	if k == nil || k.revoked != nil || now.Before(k.notBefore.Add(-capabilityLeeway)) || now.After(k.expiration.Add(capabilityLeeway)) {
		return nil
	}
	if _, ok := s.users[k.createdBy]; !ok {
		return nil
	}
	t := now
	k.lastUsed = &t
	if k.scopeAlbum {
		return &caller{kind: kindAlbumCap, sub: k.createdBy, cap: k}
	}
	return &caller{kind: kindUserCap, sub: k.createdBy, cap: k}
}

// userCaller authenticates a request that needs user access (KHEOPS's
// @UserAccessSecured): 403 for tokens without it.
func (s *Server) userCaller(w http.ResponseWriter, r *http.Request) *caller {
	c := s.authn(w, r)
	if c != nil && !c.userAccess() {
		errTokenType(w)
		return nil
	}
	return c
}

// albumCaller authenticates a request on ROOT/api/albums/{album}/...: user
// access when needUser, access to the album (404), then permission p (403;
// 0 checks none). It returns the caller and the album with s.mu held; the
// caller must unlock it.
func (s *Server) albumCaller(w http.ResponseWriter, r *http.Request, needUser bool, p perm) (*caller, *album) {
	c := s.authn(w, r)
	if c == nil {
		return nil, nil
	}
	if needUser && !c.userAccess() {
		errTokenType(w)
		return nil, nil
	}
	s.mu.Lock()
	a := s.albums[r.PathValue("album")]
	if !s.canAccessLocked(c, a) {
		s.mu.Unlock()
		errAlbumNotFound(w)
		return nil, nil
	}
	if p != 0 && !s.allowedLocked(c, a, p) {
		s.mu.Unlock()
		errAlbumPerm(w)
		return nil, nil
	}
	return c, a
}

// queryAlbumLocked checks an album named in the query (album=), as
// KHEOPS's filters do: access (404), then permission p (403; 0 checks
// none). It returns nil, true when id is empty, and ok false when it
// answered.
func (s *Server) queryAlbumLocked(w http.ResponseWriter, c *caller, id string, p perm) (*album, bool) {
	if id == "" {
		return nil, true
	}
	a := s.albums[id]
	if !s.canAccessLocked(c, a) {
		errAlbumNotFound(w)
		return nil, false
	}
	if p != 0 && !s.allowedLocked(c, a, p) {
		errAlbumPerm(w)
		return nil, false
	}
	return a, true
}

// page applies KHEOPS's limit/offset paging to n items: it returns the
// range to answer, sets X-Total-Count, or writes a 400 and returns ok
// false.
func page(w http.ResponseWriter, r *http.Request, n int) (from, to int, ok bool) {
	q := r.URL.Query()
	offset, limit := 0, n
	if v := q.Get("offset"); v != "" {
		o, err := strconv.Atoi(v)
		if err != nil || o < 0 {
			apiErr(w, http.StatusBadRequest, "Bad Query Parameter", "'offset' must be a positive integer")
			return 0, 0, false
		}
		offset = o
	}
	if v := q.Get("limit"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil || l < 1 {
			apiErr(w, http.StatusBadRequest, "Bad Query Parameter", "'limit' must be a positive integer")
			return 0, 0, false
		}
		limit = l
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(n))
	w.Header().Set("Access-Control-Expose-Headers", "X-Total-Count")
	from = min(offset, n)
	to = min(n, from+min(limit, n))
	return from, to, true
}

// formBool is JAX-RS's Boolean.valueOf: "true" in any case is true.
func formBool(v string) bool { return strings.EqualFold(v, "true") }

// javaTime renders t in UTC as Java's LocalDateTime.toString does (the
// way KHEOPS writes management times): seconds left out when they and the
// fraction are zero, and 0, 3, 6 or 9 fractional digits. KHEOPS's
// database keeps microseconds, so the fake truncates to them.
func javaTime(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	s := t.Format("2006-01-02T15:04")
	ns := t.Nanosecond()
	if t.Second() == 0 && ns == 0 {
		return s
	}
	s += t.Format(":05")
	switch {
	case ns == 0:
	case ns%1e6 == 0:
		s += "." + strconv.Itoa(ns/1e6 + 1000)[1:]
	case ns%1e3 == 0:
		s += "." + strconv.Itoa(ns/1e3 + 1000000)[1:]
	default:
		s += "." + strconv.Itoa(ns + 1000000000)[1:]
	}
	return s
}

func withLink(r *http.Request, token string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), linkKey{}, token))
}
