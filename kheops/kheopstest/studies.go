package kheopstest

import (
	"net/http"
)

// seriesAddedLocked records series that joined album a, and schedules
// the new_series webhooks.
func (s *Server) seriesAddedLocked(c *caller, a *album, studyUID string, series []string, importSource string) {
	typ := "IMPORT_SERIES"
	if st := s.studies[studyUID]; st != nil && len(series) == len(st.series) {
		typ = "IMPORT_STUDY"
	}
	s.mutationLocked(c, a, typ, "", studyUID, series...)
	s.newSeriesLocked(c, a, studyUID, series, importSource)
}

// seriesRemovedLocked records series that left album a and fires the
// remove_series webhooks.
func (s *Server) seriesRemovedLocked(c *caller, a *album, studyUID string, series []string, all bool) {
	typ := "REMOVE_SERIES"
	if all {
		typ = "REMOVE_STUDY"
	}
	s.mutationLocked(c, a, typ, "", studyUID, series...)
	s.fireLocked(a, c, hookRemoveSeries, &hookData{study: studyUID, series: series, all: all})
}

func errStudyNotFound(w http.ResponseWriter) {
	apiErr(w, http.StatusNotFound, "Study Not Found", "The study does not exist or you don't have access")
}

func errSeriesNotFound(w http.ResponseWriter) {
	apiErr(w, http.StatusNotFound, "Series Not Found", "The series does not exist or you don't have access")
}

// sourceLocked reads the album= xor inbox=true selector of a sharing
// request: the albums series are taken from (nil: everything the caller
// reaches). needSend checks SEND_SERIES on the album. ok false when it
// answered.
func (s *Server) sourceLocked(w http.ResponseWriter, r *http.Request, c *caller, needSend bool) ([]*album, bool) {
	q := r.URL.Query()
	id, inbox := q.Get("album"), formBool(q.Get("inbox"))
	switch {
	case id != "" && inbox:
		w.WriteHeader(http.StatusBadRequest)
		return nil, false
	case id != "":
		p := perm(0)
		if needSend {
			p = permSend
		}
		a, ok := s.queryAlbumLocked(w, c, id, p)
		return []*album{a}, ok
	case inbox:
		if !c.userAccess() {
			errTokenType(w)
			return nil, false
		}
		return []*album{s.inboxes[c.sub]}, true
	}
	return s.sourcesLocked(c), true
}

// sharedSeriesLocked returns the UIDs of the study's (or one series')
// series that c reaches in from.
func (s *Server) sharedSeriesLocked(c *caller, studyUID, seriesUID string, from []*album) []string {
	st := s.studies[studyUID]
	if st == nil {
		return nil
	}
	var out []string
	for _, se := range s.visibleSeriesLocked(c, st, from) {
		if seriesUID == "" || se.uid == seriesUID {
			out = append(out, se.uid)
		}
	}
	return out
}

// serveSendToUser is PUT /studies/{study}[/series/{series}]/users/{user}:
// the series go to the user's inbox.
func (s *Server) serveSendToUser(w http.ResponseWriter, r *http.Request) {
	c := s.authn(w, r)
	if c == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	from, ok := s.sourceLocked(w, r, c, true)
	if !ok {
		return
	}
	u := s.findUserLocked(r.PathValue("user"))
	if u == nil {
		errUserNotFound(w)
		return
	}
	uids := s.sharedSeriesLocked(c, r.PathValue("study"), r.PathValue("series"), from)
	if len(uids) == 0 {
		s.notFoundLocked(w, r)
		return
	}
	for _, uid := range uids {
		s.inboxes[u.Sub].series[uid] = true
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) notFoundLocked(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("series") != "" {
		errSeriesNotFound(w)
		return
	}
	errStudyNotFound(w)
}

// serveAppropriate is PUT /studies/{study}[/series/{series}]: copy into
// the caller's inbox (or ?album=) what the caller reaches, and claim a
// series UID KHEOPS does not know yet, so that it can be uploaded.
func (s *Server) serveAppropriate(w http.ResponseWriter, r *http.Request) {
	c := s.authn(w, r)
	if c == nil {
		return
	}
	if !c.userAccess() {
		errTokenType(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	studyUID, seriesUID := r.PathValue("study"), r.PathValue("series")
	if seriesUID != "" {
		if se, owner := s.seriesLocked(seriesUID); se == nil {
			s.inboxes[c.sub].series[seriesUID] = true
			w.WriteHeader(http.StatusCreated)
			return
		} else if owner.uid != studyUID {
			w.WriteHeader(http.StatusForbidden)
			return
		}
	}
	from, ok := s.sourceLocked(w, r, c, true)
	if !ok {
		return
	}
	uids := s.sharedSeriesLocked(c, studyUID, seriesUID, from)
	if len(uids) == 0 {
		s.notFoundLocked(w, r)
		return
	}
	for _, uid := range uids {
		s.inboxes[c.sub].series[uid] = true
	}
	w.WriteHeader(http.StatusCreated)
}

// serveRemoveFromInbox is DELETE /studies/{study}[/series/{series}].
func (s *Server) serveRemoveFromInbox(w http.ResponseWriter, r *http.Request) {
	c := s.authn(w, r)
	if c == nil {
		return
	}
	if !c.userAccess() {
		errTokenType(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.inboxes[c.sub]
	uids := s.sharedSeriesLocked(c, r.PathValue("study"), r.PathValue("series"), []*album{in})
	if len(uids) == 0 {
		s.notFoundLocked(w, r)
		return
	}
	for _, uid := range uids {
		delete(in.series, uid)
		delete(in.favorites, uid)
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveAddToAlbum is PUT /studies/{study}[/series/{series}]/albums/{album}.
func (s *Server) serveAddToAlbum(w http.ResponseWriter, r *http.Request) {
	c, a := s.albumCaller(w, r, true, permAddSeries)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	from, ok := s.sourceLocked(w, r, c, true)
	if !ok {
		return
	}
	studyUID := r.PathValue("study")
	uids := s.sharedSeriesLocked(c, studyUID, r.PathValue("series"), from)
	if len(uids) == 0 {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	var added []string
	for _, uid := range uids {
		if !a.series[uid] {
			a.series[uid] = true
			added = append(added, uid)
		}
	}
	if len(added) > 0 {
		s.seriesAddedLocked(c, a, studyUID, added, "send")
	}
	w.WriteHeader(http.StatusCreated)
}

// serveRemoveFromAlbum is DELETE /studies/{study}[/series/{series}]/albums/{album}.
func (s *Server) serveRemoveFromAlbum(w http.ResponseWriter, r *http.Request) {
	c, a := s.albumCaller(w, r, false, permDeleteSeries)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	studyUID, seriesUID := r.PathValue("study"), r.PathValue("series")
	uids := s.sharedSeriesLocked(c, studyUID, seriesUID, []*album{a})
	if len(uids) == 0 {
		s.notFoundLocked(w, r)
		return
	}
	for _, uid := range uids {
		delete(a.series, uid)
		delete(a.favorites, uid)
	}
	s.seriesRemovedLocked(c, a, studyUID, uids, seriesUID == "")
	w.WriteHeader(http.StatusNoContent)
}

// serveFavorite is PUT/DELETE /studies/{study}[/series/{series}]/favorites
// with album= xor inbox=true.
func (s *Server) serveFavorite(w http.ResponseWriter, r *http.Request) {
	c := s.userCaller(w, r)
	if c == nil {
		return
	}
	q := r.URL.Query()
	if (q.Get("album") != "") == formBool(q.Get("inbox")) {
		badQuery(w, "Use 'album' xor 'inbox'")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	from, ok := s.sourceLocked(w, r, c, false)
	if !ok {
		return
	}
	if a := from[0]; !a.inbox && !s.allowedLocked(c, a, permEditFavorites) {
		errAlbumPerm(w)
		return
	}
	uids := s.sharedSeriesLocked(c, r.PathValue("study"), r.PathValue("series"), from)
	if len(uids) == 0 {
		s.notFoundLocked(w, r)
		return
	}
	for _, uid := range uids {
		if r.Method == http.MethodPut {
			from[0].favorites[uid] = true
		} else {
			delete(from[0].favorites, uid)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
