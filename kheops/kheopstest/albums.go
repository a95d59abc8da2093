package kheopstest

import (
	"net/http"
	"slices"
	"sort"
	"strings"
)

// userJSON is KHEOPS's User JSON.
type userJSON struct {
	Email       string `json:"email,omitempty"`
	Name        string `json:"name,omitempty"`
	Sub         string `json:"sub"`
	IsAdmin     *bool  `json:"is_admin,omitempty"`
	StudyAccess *bool  `json:"study_access,omitempty"`
	AlbumAccess *bool  `json:"album_access,omitempty"`
	// Set in webhook sources when a provider or a capability acted.
	ReportProvider  *providerRef `json:"report_provider,omitempty"`
	CapabilityToken *capJSON     `json:"capability_token,omitempty"`
}

type providerRef struct {
	Name     string `json:"name"`
	ClientID string `json:"client_id"`
}

func ptr[T any](v T) *T { return &v }

func (s *Server) userJSONLocked(sub string) *userJSON {
	u := s.users[sub]
	if u == nil {
		return &userJSON{Sub: sub}
	}
	return &userJSON{Email: u.Email, Name: u.Name, Sub: u.Sub}
}

// albumJSON is KHEOPS's Album JSON; the per-caller members are left out
// for album capability tokens.
type albumJSON struct {
	AlbumID           string      `json:"album_id"`
	Name              string      `json:"name"`
	Description       string      `json:"description"`
	Modalities        []string    `json:"modalities"`
	CreatedTime       string      `json:"created_time"`
	LastEventTime     string      `json:"last_event_time"`
	NumberOfUsers     int         `json:"number_of_users"`
	Users             []*userJSON `json:"users,omitempty"`
	NumberOfComments  int         `json:"number_of_comments"`
	NumberOfStudies   int         `json:"number_of_studies"`
	NumberOfSeries    int         `json:"number_of_series"`
	NumberOfInstances int         `json:"number_of_instances"`
	AddUser           bool        `json:"add_user"`
	DownloadSeries    bool        `json:"download_series"`
	SendSeries        bool        `json:"send_series"`
	DeleteSeries      bool        `json:"delete_series"`
	AddSeries         bool        `json:"add_series"`
	WriteComments     bool        `json:"write_comments"`
	IsFavorite        *bool       `json:"is_favorite,omitempty"`
	NotifyNewSeries   *bool       `json:"notification_new_series,omitempty"`
	NotifyNewComment  *bool       `json:"notification_new_comment,omitempty"`
	IsAdmin           *bool       `json:"is_admin,omitempty"`
}

func (s *Server) albumJSONLocked(c *caller, a *album, withUsers bool) *albumJSON {
	j := &albumJSON{AlbumID: a.id, Name: a.name, Description: a.description, Modalities: []string{},
		CreatedTime: javaTime(a.created), LastEventTime: javaTime(a.lastEvent), NumberOfUsers: len(a.members),
		AddUser: a.flags.AddUser, DownloadSeries: a.flags.DownloadSeries, SendSeries: a.flags.SendSeries,
		DeleteSeries: a.flags.DeleteSeries, AddSeries: a.flags.AddSeries, WriteComments: a.flags.WriteComments}
	studies := map[string]bool{}
	for uid := range a.series {
		if se, st := s.seriesLocked(uid); se != nil {
			studies[st.uid] = true
			j.NumberOfSeries++
			j.NumberOfInstances += len(se.instances)
			if m := se.attr(0x00080060); m != "" && !slices.Contains(j.Modalities, m) {
				j.Modalities = append(j.Modalities, m)
			}
		}
	}
	sort.Strings(j.Modalities)
	j.NumberOfStudies = len(studies)
	for _, e := range a.events {
		if e.comment {
			j.NumberOfComments++
		}
	}
	if m := a.members[c.sub]; m != nil && c.userAccess() {
		j.IsFavorite, j.NotifyNewSeries, j.NotifyNewComment, j.IsAdmin = ptr(m.favorite), ptr(m.notifySeries), ptr(m.notifyComments), ptr(m.admin)
	}
	if withUsers {
		j.Users = s.membersJSONLocked(a)
	}
	return j
}

func (s *Server) membersJSONLocked(a *album) []*userJSON {
	subs := make([]string, 0, len(a.members))
	for sub := range a.members {
		subs = append(subs, sub)
	}
	sort.Strings(subs)
	out := make([]*userJSON, 0, len(subs))
	for _, sub := range subs {
		u := s.userJSONLocked(sub)
		u.IsAdmin = ptr(a.members[sub].admin)
		out = append(out, u)
	}
	return out
}

// mutationLocked records a mutation event in an album.
func (s *Server) mutationLocked(c *caller, a *album, typ, target, study string, series ...string) {
	e := &event{source: c.sub, at: s.now(), mutation: typ, target: target, study: study, series: series}
	if c.cap != nil {
		e.capID = c.cap.id
	}
	e.clientID = c.clientID
	a.events = append(a.events, e)
	a.lastEvent = e.at
}

func badForm(w http.ResponseWriter, detail string) {
	apiErr(w, http.StatusBadRequest, "Bad Form Parameter", detail)
}

func badQuery(w http.ResponseWriter, detail string) {
	apiErr(w, http.StatusBadRequest, "Bad Query Parameter", detail)
}

// form parses a form body, answering 415 when it is not one.
func form(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		r.PostForm = map[string][]string{}
		return true
	}
	if err := parseForm(w, r); err != nil {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return false
	}
	return true
}

// applyFlags sets the album settings present in the form.
func applyFlags(f *Permissions, r *http.Request) {
	for name, p := range map[string]*bool{"addUser": &f.AddUser, "downloadSeries": &f.DownloadSeries, "sendSeries": &f.SendSeries,
		"deleteSeries": &f.DeleteSeries, "addSeries": &f.AddSeries, "writeComments": &f.WriteComments} {
		if v, ok := r.PostForm[name]; ok && len(v) > 0 {
			*p = formBool(v[0])
		}
	}
}

func (s *Server) serveCreateAlbum(w http.ResponseWriter, r *http.Request) {
	c := s.userCaller(w, r)
	if c == nil || !form(w, r) {
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	desc := r.PostForm.Get("description")
	switch {
	case name == "" || len(name) > 255:
		badForm(w, "'name' formparam is not valid")
		return
	case len(desc) > 2048:
		badForm(w, "'description' formparam is not valid")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := newAlbum(s.newIDLocked(), s.now(), kheopsDefaults)
	a.name, a.description = name, desc
	applyFlags(&a.flags, r)
	a.members[c.sub] = &member{admin: true, notifySeries: true, notifyComments: true}
	s.albums[a.id] = a
	s.mutationLocked(c, a, "CREATE_ALBUM", "", "")
	writeJSON(w, http.StatusCreated, s.albumJSONLocked(c, a, false))
}

func (s *Server) newIDLocked() string {
	for {
		id := randomID(10)
		if s.albums[id] == nil {
			return id
		}
	}
}

var albumSorts = map[string]bool{"created_time": true, "last_event_time": true, "name": true,
	"number_of_users": true, "number_of_studies": true, "number_of_comments": true}

func (s *Server) serveListAlbums(w http.ResponseWriter, r *http.Request) {
	c := s.userCaller(w, r)
	if c == nil {
		return
	}
	q := r.URL.Query()
	sortBy := q.Get("sort")
	if sortBy == "" {
		sortBy = "-created_time"
	}
	if !albumSorts[strings.TrimPrefix(sortBy, "-")] {
		badQuery(w, "'sort' query param is not valid")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*albumJSON
	for _, a := range s.albums {
		m := a.members[c.sub]
		if m == nil {
			continue
		}
		if (q.Get("favorite") != "" && formBool(q.Get("favorite")) != m.favorite) ||
			(q.Get("canAddSeries") != "" && formBool(q.Get("canAddSeries")) != s.allowedLocked(c, a, permAddSeries)) ||
			(q.Get("canCreateCapabilityToken") != "" && formBool(q.Get("canCreateCapabilityToken")) != m.admin) ||
			(q.Get("name") != "" && !strings.Contains(strings.ToLower(a.name), strings.ToLower(q.Get("name")))) {
			continue
		}
		j := s.albumJSONLocked(c, a, false)
		if mod := q.Get("modality"); mod != "" && !slices.Contains(j.Modalities, mod) {
			continue
		}
		list = append(list, j)
	}
	key := strings.TrimPrefix(sortBy, "-")
	less := func(x, y *albumJSON) int {
		switch key {
		case "name":
			return strings.Compare(x.Name, y.Name)
		case "last_event_time":
			return strings.Compare(x.LastEventTime, y.LastEventTime)
		case "number_of_users":
			return x.NumberOfUsers - y.NumberOfUsers
		case "number_of_studies":
			return x.NumberOfStudies - y.NumberOfStudies
		case "number_of_comments":
			return x.NumberOfComments - y.NumberOfComments
		}
		return s.albums[x.AlbumID].created.Compare(s.albums[y.AlbumID].created)
	}
	slices.SortStableFunc(list, func(x, y *albumJSON) int {
		if d := less(x, y); d != 0 {
			if strings.HasPrefix(sortBy, "-") {
				return -d
			}
			return d
		}
		return strings.Compare(x.AlbumID, y.AlbumID)
	})
	from, to, ok := page(w, r, len(list))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(list[from:to]))
}

func orEmpty[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

func (s *Server) serveGetAlbum(w http.ResponseWriter, r *http.Request) {
	c, a := s.albumCaller(w, r, false, 0)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	withUsers := formBool(r.URL.Query().Get("includeUsers"))
	if withUsers && !s.allowedLocked(c, a, permMember) {
		apiErr(w, http.StatusForbidden, "'includeUser' forbidden", "You don't have the permission to list the users")
		return
	}
	writeJSON(w, http.StatusOK, s.albumJSONLocked(c, a, withUsers))
}

func (s *Server) servePatchAlbum(w http.ResponseWriter, r *http.Request) {
	if !form(w, r) {
		return
	}
	c, a := s.albumCaller(w, r, false, permMember)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	f := r.PostForm
	if v, ok := f["name"]; ok && (len(v) == 0 || strings.TrimSpace(v[0]) == "" || len(v[0]) > 255) {
		badForm(w, "'name' formparam is not valid")
		return
	}
	if v, ok := f["description"]; ok && (len(v) == 0 || strings.TrimSpace(v[0]) == "" || len(v[0]) > 2048) {
		badForm(w, "'description' formparam is not valid")
		return
	}
	// KHEOPS turns an omitted description into "" before its admin check,
	// so every PATCH by a member who is not admin is refused.
	m := a.members[c.sub]
	if m == nil || !m.admin {
		errAlbumPerm(w)
		return
	}
	if v := f.Get("name"); v != "" {
		a.name = strings.TrimSpace(v)
	}
	a.description = f.Get("description")
	applyFlags(&a.flags, r)
	if v, ok := f["notificationNewSeries"]; ok && len(v) > 0 {
		m.notifySeries = formBool(v[0])
	}
	if v, ok := f["notificationNewComment"]; ok && len(v) > 0 {
		m.notifyComments = formBool(v[0])
	}
	s.mutationLocked(c, a, "EDIT_ALBUM", "", "")
	writeJSON(w, http.StatusOK, s.albumJSONLocked(c, a, false))
}

func (s *Server) serveDeleteAlbum(w http.ResponseWriter, r *http.Request) {
	c, a := s.albumCaller(w, r, false, permAdmin)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	s.deleteAlbumLocked(c, a)
	w.WriteHeader(http.StatusNoContent)
}

// deleteAlbumLocked removes an album and fires its delete_album webhooks.
func (s *Server) deleteAlbumLocked(c *caller, a *album) {
	s.fireLocked(a, c, hookDeleteAlbum, nil)
	delete(s.albums, a.id)
	for _, p := range s.providers {
		if p.album == a.id {
			p.removed = true
		}
	}
}

func (s *Server) serveAlbumUsers(w http.ResponseWriter, r *http.Request) {
	_, a := s.albumCaller(w, r, true, permMember)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	users := s.membersJSONLocked(a)
	from, to, ok := page(w, r, len(users))
	if ok {
		writeJSON(w, http.StatusOK, users[from:to])
	}
}

func errUserNotFound(w http.ResponseWriter) {
	apiErr(w, http.StatusNotFound, "User Not Found", "The user does not exist")
}

// addMemberLocked adds u to a and fires new_user; it reports whether u
// was new.
func (s *Server) addMemberLocked(c *caller, a *album, u *User, admin bool) bool {
	if a.members[u.Sub] != nil {
		return false
	}
	a.members[u.Sub] = &member{admin: admin, notifySeries: true, notifyComments: true}
	typ := "ADD_USER"
	if admin {
		typ = "ADD_ADMIN"
	}
	s.mutationLocked(c, a, typ, u.Sub, "")
	s.fireLocked(a, c, hookNewUser, &hookData{user: u.Sub})
	return true
}

func (s *Server) servePutUser(w http.ResponseWriter, r *http.Request) {
	c, a := s.albumCaller(w, r, true, permAddUser)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	u := s.findUserLocked(r.PathValue("user"))
	switch {
	case u == nil:
		errUserNotFound(w)
	case u.Sub == c.sub:
		apiErr(w, http.StatusForbidden, "Authorization error", "You can't add yourself")
	default:
		s.addMemberLocked(c, a, u, false)
		w.WriteHeader(http.StatusCreated)
	}
}

func (s *Server) serveDeleteUser(w http.ResponseWriter, r *http.Request) {
	c, a := s.albumCaller(w, r, true, permRemoveUser)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	u := s.findUserLocked(r.PathValue("user"))
	if u == nil || a.members[u.Sub] == nil {
		errUserNotFound(w)
		return
	}
	if u.Sub != c.sub && !a.members[c.sub].admin {
		apiErr(w, http.StatusForbidden, "Authorization error", "You must be an admin for removing another user")
		return
	}
	s.removeMemberLocked(c, a, u.Sub)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) removeMemberLocked(c *caller, a *album, sub string) {
	if a.members[sub].admin {
		s.revokeAlbumCapsLocked(a.id, sub)
	}
	delete(a.members, sub)
	typ := "REMOVE_USER"
	if sub == c.sub {
		typ = "LEAVE_ALBUM"
	}
	s.mutationLocked(c, a, typ, sub, "")
	if len(a.members) == 0 {
		s.deleteAlbumLocked(c, a)
	}
}

func (s *Server) servePutAdmin(w http.ResponseWriter, r *http.Request) {
	c, a := s.albumCaller(w, r, true, permAdmin)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	u := s.findUserLocked(r.PathValue("user"))
	if u == nil {
		errUserNotFound(w)
		return
	}
	if !s.addMemberLocked(c, a, u, true) && !a.members[u.Sub].admin {
		a.members[u.Sub].admin = true
		s.mutationLocked(c, a, "PROMOTE_ADMIN", u.Sub, "")
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) serveDeleteAdmin(w http.ResponseWriter, r *http.Request) {
	c, a := s.albumCaller(w, r, true, permAdmin)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	u := s.findUserLocked(r.PathValue("user"))
	if u == nil || a.members[u.Sub] == nil {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("User not found in this album"))
		return
	}
	if a.members[u.Sub].admin {
		a.members[u.Sub].admin = false
		s.revokeAlbumCapsLocked(a.id, u.Sub)
		s.mutationLocked(c, a, "DEMOTE_ADMIN", u.Sub, "")
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) serveAlbumFavorite(w http.ResponseWriter, r *http.Request) {
	c, a := s.albumCaller(w, r, true, 0)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	a.members[c.sub].favorite = r.Method == http.MethodPut
	w.WriteHeader(http.StatusNoContent)
}

// eventJSON is KHEOPS's Event JSON.
type eventJSON struct {
	EventType      string       `json:"event_type"`
	Source         *userJSON    `json:"source,omitempty"`
	PostDate       string       `json:"post_date"`
	Comment        string       `json:"comment,omitempty"`
	IsPrivate      *bool        `json:"is_private,omitempty"`
	Target         *userJSON    `json:"target,omitempty"`
	MutationType   string       `json:"mutation_type,omitempty"`
	Study          *eventStudy  `json:"study,omitempty"`
	ReportProvider *providerRef `json:"report_provider,omitempty"`
}

type eventStudy struct {
	UID    string        `json:"UID"`
	Series []eventSeries `json:"series,omitempty"`
}

type eventSeries struct {
	UID              string `json:"UID"`
	IsPresentInAlbum bool   `json:"is_present_in_album"`
}

// visible says whether sub may see e (private comments: author and
// recipient only).
func (e *event) visible(sub string) bool {
	return e.private == "" || e.source == sub || e.private == sub
}

func (s *Server) eventJSONLocked(e *event, a *album) *eventJSON {
	j := &eventJSON{EventType: "Mutation", Source: s.userJSONLocked(e.source), PostDate: javaTime(e.at), MutationType: e.mutation}
	if e.comment {
		j.EventType, j.Comment, j.IsPrivate = "Comment", e.text, ptr(e.private != "")
		if e.private != "" {
			j.Target = s.userJSONLocked(e.private)
		}
	}
	if e.target != "" {
		j.Target = s.userJSONLocked(e.target)
	}
	if e.study != "" {
		j.Study = &eventStudy{UID: e.study}
		for _, se := range e.series {
			j.Study.Series = append(j.Study.Series, eventSeries{UID: se, IsPresentInAlbum: a != nil && a.series[se]})
		}
	}
	if p := s.providers[e.clientID]; p != nil {
		j.ReportProvider = &providerRef{Name: p.name, ClientID: p.clientID}
	}
	return j
}

// listEvents answers the events, newest first, that sub may see.
func (s *Server) listEventsLocked(w http.ResponseWriter, r *http.Request, events []*event, a *album, sub string, keep func(*event) bool) {
	var out []*eventJSON
	for i := len(events) - 1; i >= 0; i-- {
		if e := events[i]; e.visible(sub) && keep(e) {
			out = append(out, s.eventJSONLocked(e, a))
		}
	}
	from, to, ok := page(w, r, len(out))
	if ok {
		writeJSON(w, http.StatusOK, orEmpty(out[from:to]))
	}
}

func (s *Server) serveAlbumEvents(w http.ResponseWriter, r *http.Request) {
	c, a := s.albumCaller(w, r, false, permMember)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	types := r.URL.Query()["types"]
	comments, mutations := slices.Contains(types, "comments"), slices.Contains(types, "mutations")
	if comments == mutations {
		comments, mutations = true, true
	}
	s.listEventsLocked(w, r, a.events, a, c.sub, func(e *event) bool { return (e.comment && comments) || (!e.comment && mutations) })
}

// commentForm reads comment and to_user; ok false when it answered.
func (s *Server) commentFormLocked(w http.ResponseWriter, r *http.Request, c *caller, members map[string]*member) (*event, bool) {
	text := r.PostForm.Get("comment")
	if strings.TrimSpace(text) == "" || len(text) > 1024 {
		badForm(w, "'comment' formparam is not valid")
		return nil, false
	}
	e := &event{comment: true, source: c.sub, at: s.now(), text: text}
	if to := r.PostForm.Get("to_user"); to != "" {
		u := s.findUserLocked(to)
		if u == nil || (members != nil && members[u.Sub] == nil) {
			errUserNotFound(w)
			return nil, false
		}
		e.private = u.Sub
	}
	return e, true
}

func (s *Server) servePostAlbumComment(w http.ResponseWriter, r *http.Request) {
	if !form(w, r) {
		return
	}
	c, a := s.albumCaller(w, r, true, permWriteComment)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	if e, ok := s.commentFormLocked(w, r, c, a.members); ok {
		a.events = append(a.events, e)
		a.lastEvent = e.at
		w.WriteHeader(http.StatusNoContent)
	}
}

// studyCaller authenticates a request on ROOT/api/studies/{study}/...
// whose study the caller must be able to see (404 Study Not Found). It
// returns with s.mu held.
func (s *Server) studyCaller(w http.ResponseWriter, r *http.Request, needUser bool) (*caller, *study) {
	c := s.authn(w, r)
	if c == nil {
		return nil, nil
	}
	if needUser && !c.userAccess() {
		errTokenType(w)
		return nil, nil
	}
	s.mu.Lock()
	st := s.studies[r.PathValue("study")]
	if st == nil || len(s.visibleSeriesLocked(c, st, nil)) == 0 {
		s.mu.Unlock()
		apiErr(w, http.StatusNotFound, "Study Not Found", "The study does not exist or you don't have access")
		return nil, nil
	}
	return c, st
}

func (s *Server) serveStudyComments(w http.ResponseWriter, r *http.Request) {
	c, st := s.studyCaller(w, r, false)
	if st == nil {
		return
	}
	defer s.mu.Unlock()
	s.listEventsLocked(w, r, s.studyComments[st.uid], nil, c.sub, func(*event) bool { return true })
}

func (s *Server) servePostStudyComment(w http.ResponseWriter, r *http.Request) {
	if !form(w, r) {
		return
	}
	c, st := s.studyCaller(w, r, true)
	if st == nil {
		return
	}
	defer s.mu.Unlock()
	if e, ok := s.commentFormLocked(w, r, c, nil); ok {
		e.study = st.uid
		s.studyComments[st.uid] = append(s.studyComments[st.uid], e)
		w.WriteHeader(http.StatusNoContent)
	}
}

func plainError(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

// serveUsers is the user lookup: reference (exact) xor search (substring
// of e-mail or name, the caller excluded, no X-Total-Count).
func (s *Server) serveUsers(w http.ResponseWriter, r *http.Request) {
	c := s.userCaller(w, r)
	if c == nil {
		return
	}
	q := r.URL.Query()
	ref, search := q.Get("reference"), q.Get("search")
	if (ref == "") == (search == "") {
		plainError(w, http.StatusBadRequest, "Use query param 'search' xor 'reference'")
		return
	}
	if ref == "" && len(search) < 3 {
		badQuery(w, "'search' must be at least 3 characters")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.queryAlbumLocked(w, c, q.Get("album"), permMember)
	if !ok {
		return
	}
	studyUID := q.Get("studyInstanceUID")
	decorate := func(u *User) *userJSON {
		j := s.userJSONLocked(u.Sub)
		if a != nil {
			m := a.members[u.Sub]
			j.AlbumAccess = ptr(m != nil)
			if m != nil {
				j.IsAdmin = ptr(m.admin)
			}
		}
		if studyUID != "" {
			st := s.studies[studyUID]
			j.StudyAccess = ptr(st != nil && len(s.visibleSeriesLocked(&caller{kind: kindUser, sub: u.Sub}, st, nil)) > 0)
		}
		return j
	}
	if ref != "" {
		u := s.findUserLocked(ref)
		if u == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, decorate(u))
		return
	}
	needle := strings.ToLower(search)
	var out []*userJSON
	for _, u := range s.users {
		if u.Sub != c.sub && (strings.Contains(strings.ToLower(u.Email), needle) || strings.Contains(strings.ToLower(u.Name), needle)) {
			out = append(out, decorate(u))
		}
	}
	if len(out) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	slices.SortFunc(out, func(x, y *userJSON) int { return strings.Compare(x.Sub, y.Sub) })
	from, to, ok := page(w, r, len(out))
	if !ok {
		return
	}
	w.Header().Del("X-Total-Count")
	w.Header().Del("Access-Control-Expose-Headers")
	writeJSON(w, http.StatusOK, out[from:to])
}

func (s *Server) serveInboxInfo(w http.ResponseWriter, r *http.Request) {
	c := s.userCaller(w, r)
	if c == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.albumJSONLocked(c, s.inboxes[c.sub], false)
	writeJSON(w, http.StatusOK, map[string]any{"modalities": j.Modalities, "number_of_studies": j.NumberOfStudies,
		"number_of_series": j.NumberOfSeries, "number_of_instances": j.NumberOfInstances})
}
