package kheopstest

import "time"

// AlbumCapabilityToken lets the package's own tests hold an album
// capability token (read, write), created by the album's first admin.
func (s *Server) AlbumCapabilityToken(albumID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var by string
	for sub, m := range s.albums[albumID].members {
		if m.admin {
			by = sub
		}
	}
	now := s.now()
	secret := randomID(22)
	k := &capability{id: randomID(10), hash: secretHash(secret), title: "test", scopeAlbum: true, album: albumID,
		read: true, write: true, issued: now, notBefore: now, expiration: now.Add(time.Hour), createdBy: by}
	s.caps[k.id] = k
	s.capsByHash[k.hash] = k
	return secret
}

// SetRegisterTimeout shortens the 5 s bound on registration fetches.
func (s *Server) SetRegisterTimeout(d time.Duration) { s.registerTimeout = d }
