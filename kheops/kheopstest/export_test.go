package kheopstest

// AlbumCapabilityToken lets the package's own tests hold an album
// capability token, which KHEOPS refuses for launching providers.
func (s *Server) AlbumCapabilityToken(albumID string) string { return s.albumCapabilityToken(albumID) }
