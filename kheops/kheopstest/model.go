package kheopstest

import (
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// User is a KHEOPS user. Requests name users by e-mail or sub, compared
// in lower case.
type User struct {
	Sub   string
	Name  string
	Email string
}

// Permissions are what an album lets its members who are not admins do
// (admins may do everything). They are the album's settings in KHEOPS,
// the same for every such member.
type Permissions struct {
	AddUser        bool // add (and invite) users
	DownloadSeries bool // download series
	SendSeries     bool // share series out of the album
	DeleteSeries   bool // remove series from the album
	AddSeries      bool // add series; also edit favorites
	WriteComments  bool // comment
}

// kheopsDefaults are the settings of an album created without them.
var kheopsDefaults = Permissions{DownloadSeries: true, SendSeries: true, AddSeries: true, WriteComments: true}

type member struct {
	admin, favorite              bool
	notifySeries, notifyComments bool
}

type album struct {
	id, name, description string
	created, lastEvent    time.Time
	flags                 Permissions
	inbox                 bool               // a user's inbox: no permissions, not addressable by id
	members               map[string]*member // by sub
	series                map[string]bool    // series UIDs in the album
	favorites             map[string]bool    // series UIDs marked favorite in the album
	events                []*event
	webhooks              []*webhook
}

func newAlbum(id string, now time.Time, flags Permissions) *album {
	return &album{id: id, created: now, lastEvent: now, flags: flags, members: map[string]*member{},
		series: map[string]bool{}, favorites: map[string]bool{}}
}

// event is an album event (a comment or a mutation) or a study comment.
type event struct {
	comment  bool // Comment, else Mutation
	source   string
	at       time.Time
	text     string
	private  string // to_user: the only other member who sees it
	mutation string
	target   string
	study    string
	series   []string
	clientID string
	capID    string
}

// AddUser creates (or replaces) a user, with an inbox, and returns an
// access token for it, standing in for the user's Keycloak token (valid
// 24 h, refreshed by calling AddUser again).
func (s *Server) AddUser(u User) string {
	s.mu.Lock()
	cp := u
	s.users[u.Sub] = &cp
	if s.inboxes[u.Sub] == nil {
		in := newAlbum("", s.now(), Permissions{})
		in.inbox = true
		in.members[u.Sub] = &member{}
		s.inboxes[u.Sub] = in
	}
	s.mu.Unlock()
	now := s.now()
	return s.sign(jwt.MapClaims{
		"iss": s.root, "aud": s.root, "sub": u.Sub, "type": typeUser,
		"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
	})
}

// AddAlbum creates an album with the given settings for its members (nil:
// KHEOPS's defaults, which let members download, send and add series and
// comment) and returns its id. An empty id gets a random 10-character one.
// Add members with [Server.AddMember]; an album created through the API
// has its creator as admin.
func (s *Server) AddAlbum(id string, p *Permissions) string {
	if id == "" {
		id = randomID(10)
	}
	flags := kheopsDefaults
	if p != nil {
		flags = *p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.albums[id]; !ok {
		a := newAlbum(id, s.now(), flags)
		a.name = id
		s.albums[id] = a
	}
	return id
}

// AddMember makes a user a member of an album, an admin when admin is
// true.
func (s *Server) AddMember(albumID, sub string, admin bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.albums[albumID]
	if !ok {
		return fmt.Errorf("kheopstest: no album %q", albumID)
	}
	if _, ok := s.users[sub]; !ok {
		return fmt.Errorf("kheopstest: no user %q", sub)
	}
	a.members[sub] = &member{admin: admin, notifySeries: true, notifyComments: true}
	return nil
}

// findUserLocked finds a user by e-mail or sub, case-insensitively.
func (s *Server) findUserLocked(ref string) *User {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if ref == "" {
		return nil
	}
	for _, u := range s.users {
		if strings.ToLower(u.Sub) == ref || strings.ToLower(u.Email) == ref {
			return u
		}
	}
	return nil
}
