package kheopstest

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// capability is a capability token; KHEOPS keeps only the secret's hash.
type capability struct {
	id, hash, title  string
	scopeAlbum       bool
	album            string
	read, write      bool
	download, approp bool
	issued           time.Time
	notBefore        time.Time
	expiration       time.Time
	lastUsed         *time.Time
	revoked          *time.Time
	createdBy        string
	revokedBy        string
}

// capJSON is KHEOPS's Capability JSON. Times are written as Java's
// ZonedDateTime in UTC: "2099-12-31T22:59Z" when seconds are zero.
type capJSON struct {
	ID        string `json:"id"`
	Secret    string `json:"secret,omitempty"`
	TokenType string `json:"token_type"`
	Title     string `json:"title"`
	capTimes
	Revoked bool `json:"revoked"`
	*capPermissions
	ScopeType   string     `json:"scope_type"`
	Album       *albumJSON `json:"album,omitempty"`
	CreatedBy   *userJSON  `json:"created_by,omitempty"`
	RevokedBy   *userJSON  `json:"revoked_by,omitempty"`
	AccessToken string     `json:"access_token,omitempty"`
}

// capTimes are a token's times, in UTC.
type capTimes struct {
	IssuedAtTime   string `json:"issued_at_time"`
	NotBeforeTime  string `json:"not_before_time"`
	ExpirationTime string `json:"expiration_time"`
	LastUsed       string `json:"last_used,omitempty"`
	RevokeTime     string `json:"revoke_time,omitempty"`
}

// capPermissions are the flags only album tokens show.
type capPermissions struct {
	Read        bool `json:"read_permission"`
	Write       bool `json:"write_permission"`
	Download    bool `json:"download_permission"`
	Appropriate bool `json:"appropriate_permission"`
}

func zoned(t time.Time) string { return javaTime(t) + "Z" }

func (s *Server) capJSONLocked(c *caller, k *capability) *capJSON {
	j := &capJSON{ID: k.id, TokenType: "Bearer", Title: k.title, Revoked: k.revoked != nil, ScopeType: "user",
		capTimes: capTimes{IssuedAtTime: zoned(k.issued), NotBeforeTime: zoned(k.notBefore), ExpirationTime: zoned(k.expiration)}}
	if k.lastUsed != nil {
		j.LastUsed = zoned(*k.lastUsed)
	}
	if k.revoked != nil {
		j.RevokeTime = zoned(*k.revoked)
		if k.revokedBy != "" {
			j.RevokedBy = s.userJSONLocked(k.revokedBy)
		}
	}
	if k.scopeAlbum {
		j.ScopeType = "album"
		j.capPermissions = &capPermissions{Read: k.read, Write: k.write, Download: k.download, Appropriate: k.approp}
		if a := s.albums[k.album]; a != nil {
			j.Album = s.albumJSONLocked(c, a, false)
		}
		j.CreatedBy = s.userJSONLocked(k.createdBy)
	}
	return j
}

// keycloakCaller authenticates a capability management request: only the
// user's own (Keycloak) token is accepted, anything else is 401.
func (s *Server) keycloakCaller(w http.ResponseWriter, r *http.Request) *caller {
	c := s.authn(w, r)
	if c != nil && c.kind != kindUser {
		w.WriteHeader(http.StatusUnauthorized)
		return nil
	}
	return c
}

// parseOffsetTime reads an ISO 8601 date-time with an offset, as Java's
// OffsetDateTime.parse does (seconds optional).
func parseOffsetTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (s *Server) serveCreateCapability(w http.ResponseWriter, r *http.Request) {
	c := s.keycloakCaller(w, r)
	if c == nil || !form(w, r) {
		return
	}
	f := r.PostForm
	bad := func(detail string) { apiErr(w, http.StatusBadRequest, "Bad Query Parameter", detail) }
	now := s.now().UTC()
	k := &capability{id: randomID(10), title: f.Get("title"), issued: now, notBefore: now,
		expiration: now.AddDate(0, 3, 0), createdBy: c.sub,
		read: formBool(f.Get("read_permission")), write: formBool(f.Get("write_permission")),
		download: formBool(f.Get("download_permission")), approp: formBool(f.Get("appropriate_permission"))}
	scope := strings.ToLower(f.Get("scope_type"))
	switch {
	case strings.TrimSpace(k.title) == "" || len(k.title) > 255:
		bad("'title' is not valid")
		return
	case scope != "user" && scope != "album":
		bad("'scope_type' must be 'user' or 'album'")
		return
	case (k.download || k.approp) && !k.read:
		bad("'download_permission' and 'appropriate_permission' need 'read_permission'")
		return
	}
	for name, dst := range map[string]*time.Time{"expiration_time": &k.expiration, "not_before_time": &k.notBefore} {
		if v := f.Get(name); v != "" {
			t, ok := parseOffsetTime(v)
			if !ok {
				bad("'" + name + "' is not a valid ISO 8601 date-time with an offset")
				return
			}
			*dst = t
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if scope == "album" {
		a := s.albums[f.Get("album")]
		if f.Get("album") == "" {
			bad("'album' is required with scope_type album")
			return
		}
		if !s.canAccessLocked(c, a) {
			errAlbumNotFound(w)
			return
		}
		if !a.members[c.sub].admin {
			apiErr(w, http.StatusForbidden, "Authorization error", "Only an admin of the album may create a capability token for it")
			return
		}
		k.scopeAlbum, k.album = true, a.id
	} else {
		// User tokens keep only read and write.
		k.download, k.approp = false, false
	}
	secret := randomID(22)
	k.hash = secretHash(secret)
	s.caps[k.id] = k
	s.capsByHash[k.hash] = k
	j := s.capJSONLocked(c, k)
	j.Secret, j.AccessToken = secret, secret
	writeJSON(w, http.StatusCreated, j)
}

func (s *Server) serveListCapabilities(w http.ResponseWriter, r *http.Request) {
	c := s.keycloakCaller(w, r)
	if c == nil {
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.queryAlbumLocked(w, c, q.Get("album"), permAdmin)
	if !ok {
		return
	}
	var by *User
	if ref := q.Get("user"); ref != "" && a != nil {
		if by = s.findUserLocked(ref); by == nil {
			errUserNotFound(w)
			return
		}
	}
	now := s.now()
	var list []*capability
	for _, k := range s.caps {
		switch {
		case a != nil && (!k.scopeAlbum || k.album != a.id),
			a == nil && k.createdBy != c.sub,
			by != nil && k.createdBy != by.Sub,
			formBool(q.Get("valid")) && (k.revoked != nil || now.After(k.expiration)):
			continue
		}
		list = append(list, k)
	}
	slices.SortFunc(list, func(x, y *capability) int {
		if d := y.issued.Compare(x.issued); d != 0 {
			return d
		}
		return strings.Compare(x.id, y.id)
	})
	from, to, ok := page(w, r, len(list))
	if !ok {
		return
	}
	out := []*capJSON{}
	for _, k := range list[from:to] {
		out = append(out, s.capJSONLocked(c, k))
	}
	writeJSON(w, http.StatusOK, out)
}

// ownCapabilityLocked finds a token c created; 404 otherwise.
func (s *Server) ownCapabilityLocked(w http.ResponseWriter, r *http.Request, c *caller) *capability {
	k := s.caps[r.PathValue("id")]
	if k == nil || k.createdBy != c.sub {
		apiErr(w, http.StatusNotFound, "Not Found", "Capability token not found")
		return nil
	}
	return k
}

func (s *Server) serveGetCapability(w http.ResponseWriter, r *http.Request) {
	c := s.userCaller(w, r)
	if c == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.ownCapabilityLocked(w, r, c); k != nil {
		writeJSON(w, http.StatusOK, s.capJSONLocked(c, k))
	}
}

// serveRevokeCapability revokes a token; revoking one already revoked or
// expired changes nothing and answers 200.
func (s *Server) serveRevokeCapability(w http.ResponseWriter, r *http.Request) {
	c := s.keycloakCaller(w, r)
	if c == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.ownCapabilityLocked(w, r, c)
	if k == nil {
		return
	}
	if now := s.now(); k.revoked == nil && !now.After(k.expiration) {
		k.revoked, k.revokedBy = &now, c.sub
	}
	writeJSON(w, http.StatusOK, s.capJSONLocked(c, k))
}

// revokeAlbumCapsLocked revokes the album tokens sub created for an album
// (when sub stops being its admin).
func (s *Server) revokeAlbumCapsLocked(albumID, sub string) {
	now := s.now()
	for _, k := range s.caps {
		if k.scopeAlbum && k.album == albumID && k.createdBy == sub && k.revoked == nil {
			k.revoked, k.revokedBy = &now, sub
		}
	}
}
