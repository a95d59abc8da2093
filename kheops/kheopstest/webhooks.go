package kheopstest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Webhook events.
const (
	hookNewSeries    = "new_series"
	hookNewUser      = "new_user"
	hookRemoveSeries = "remove_series"
	hookDeleteAlbum  = "delete_album"
)

// maxAttempts is how often KHEOPS tries one delivery.
const maxAttempts = 5

type webhook struct {
	id, url, name, secret string
	events                []string
	enabled               bool
	triggers              []*trigger // oldest first
}

type trigger struct {
	id       string
	manual   bool
	event    string
	user     string
	study    string
	series   []string
	attempts []attempt
}

type attempt struct {
	status int // the receiver's HTTP status, -1 when the request failed
	at     time.Time
	n      int
}

// hookData is what an event is about.
type hookData struct {
	user         string
	study        string
	series       []string
	all          bool
	importSource string
	manual       bool
}

// hookBody is the JSON KHEOPS posts.
type hookBody struct {
	Host            string     `json:"host"`
	AlbumID         string     `json:"album_id"`
	EventTime       string     `json:"event_time"`
	Source          *userJSON  `json:"source,omitempty"`
	IsManualTrigger bool       `json:"is_manual_trigger"`
	ImportSource    string     `json:"import_source,omitempty"`
	UpdatedStudy    *studyJSON `json:"updated_study,omitempty"`
	NewUser         *userJSON  `json:"new_user,omitempty"`
	RemoveAllSeries *bool      `json:"remove_all_series,omitempty"`
	RemovedStudy    *studyJSON `json:"removed_study,omitempty"`
}

// studyJSON and seriesJSON are KHEOPS's Study and Series JSON.
type studyJSON struct {
	PatientName            string        `json:"patient_name,omitempty"`
	PatientID              string        `json:"patient_ID,omitempty"`
	StudyUID               string        `json:"study_uid"`
	StudyDate              string        `json:"study_date,omitempty"`
	StudyTime              string        `json:"study_time,omitempty"`
	TimezoneOffset         string        `json:"timezone_offset_from_utc,omitempty"`
	StudyDescription       string        `json:"study_description,omitempty"`
	StudyID                string        `json:"study_id,omitempty"`
	AccessionNumber        string        `json:"accession_number,omitempty"`
	ReferringPhysicianName string        `json:"referring_physician_name,omitempty"`
	PatientBirthDate       string        `json:"patient_birth_date,omitempty"`
	PatientSex             string        `json:"patient_sex,omitempty"`
	RetrieveURL            string        `json:"retrieve_url"`
	Series                 []*seriesJSON `json:"series"`
}

type seriesJSON struct {
	Modality          string `json:"modality,omitempty"`
	SeriesDescription string `json:"series_description,omitempty"`
	SeriesUID         string `json:"series_uid"`
	Instances         int    `json:"number_of_series_related_instances"`
	TimezoneOffset    string `json:"time_zone_offset_from_utc,omitempty"`
	SeriesNumber      *int   `json:"series_number,omitempty"`
	BodyPartExamined  string `json:"body_part_examined,omitempty"`
	RetrieveURL       string `json:"retrieve_url"`
	NewInstances      int    `json:"number_of_new_instances"`
}

func (s *Server) studyJSONLocked(studyUID string, series []string) *studyJSON {
	j := &studyJSON{StudyUID: studyUID, RetrieveURL: s.root + "/api/studies/" + studyUID, Series: []*seriesJSON{}}
	st := s.studies[studyUID]
	if st != nil {
		h := st.first
		j.PatientName, j.PatientID, j.StudyDate, j.StudyTime = h.str(0x00100010), h.str(0x00100020), h.str(0x00080020), h.str(0x00080030)
		j.TimezoneOffset, j.StudyDescription, j.StudyID, j.AccessionNumber = h.str(0x00080201), h.str(0x00081030), h.str(0x00200010), h.str(0x00080050)
		j.ReferringPhysicianName, j.PatientBirthDate, j.PatientSex = h.str(0x00080090), h.str(0x00100030), h.str(0x00100040)
	}
	for _, uid := range series {
		sj := &seriesJSON{SeriesUID: uid, RetrieveURL: j.RetrieveURL + "/series/" + uid}
		if st != nil && st.series[uid] != nil {
			se := st.series[uid]
			sj.Modality, sj.SeriesDescription, sj.TimezoneOffset, sj.BodyPartExamined = se.attr(0x00080060), se.attr(0x0008103E), se.attr(0x00080201), se.attr(0x00180015)
			sj.Instances, sj.NewInstances = len(se.instances), len(se.instances)
			if n := se.attr(0x00200011); n != "" {
				sj.SeriesNumber = ptr(seriesNumber(se.first))
			}
		}
		j.Series = append(j.Series, sj)
	}
	return j
}

// sourceJSONLocked describes who caused an event.
func (s *Server) sourceJSONLocked(c *caller) *userJSON {
	u := s.userJSONLocked(c.sub)
	if p := s.providers[c.clientID]; p != nil {
		u.ReportProvider = &providerRef{Name: p.name, ClientID: p.clientID}
	}
	if c.cap != nil {
		u.CapabilityToken = s.capJSONLocked(c, c.cap)
	}
	return u
}

// fireLocked sends an event to the album's enabled webhooks that want it.
func (s *Server) fireLocked(a *album, c *caller, event string, d *hookData) {
	for _, h := range a.webhooks {
		if h.enabled && slices.Contains(h.events, event) {
			s.sendLocked(a, h, c, event, d)
		}
	}
}

// sendLocked builds one delivery and starts it: up to five attempts in
// the background, spaced as KHEOPS spaces them.
func (s *Server) sendLocked(a *album, h *webhook, c *caller, event string, d *hookData) {
	if s.closed {
		return
	}
	if d == nil {
		d = &hookData{}
	}
	body := hookBody{Host: s.root, AlbumID: a.id, EventTime: javaTime(s.now()), Source: s.sourceJSONLocked(c), IsManualTrigger: d.manual}
	switch event {
	case hookNewSeries:
		body.UpdatedStudy, body.ImportSource = s.studyJSONLocked(d.study, d.series), d.importSource
	case hookNewUser:
		body.NewUser = s.userJSONLocked(d.user)
	case hookRemoveSeries:
		body.RemovedStudy, body.RemoveAllSeries = s.studyJSONLocked(d.study, d.series), ptr(d.all)
	}
	b, err := jsonMarshal(body)
	if err != nil {
		return
	}
	var tr *trigger
	if event != hookDeleteAlbum { // delete_album leaves no trigger and has no delivery id
		tr = &trigger{id: randomID(30), manual: d.manual, event: event, user: d.user, study: d.study, series: d.series}
		h.triggers = append(h.triggers, tr)
	}
	s.wg.Add(1)
	go s.deliver(h.url, h.secret, event, b, tr)
}

func (s *Server) retryUnit() time.Duration {
	if s.cfg.webhookRetryUnit > 0 {
		return s.cfg.webhookRetryUnit
	}
	return 5 * time.Second
}

// deliver posts one event until the receiver answers 2xx, at most five
// times; attempt n that fails waits 5-n retry units (20, 15, 10, 5 s).
func (s *Server) deliver(target, secret, event string, body []byte, tr *trigger) {
	defer s.wg.Done()
	for n := 1; n <= maxAttempts; n++ {
		status := s.post(target, secret, event, body, tr, n)
		if tr != nil {
			s.mu.Lock()
			tr.attempts = append(tr.attempts, attempt{status: status, at: s.now(), n: n})
			s.mu.Unlock()
		}
		if status/100 == 2 || n == maxAttempts {
			return
		}
		t := time.NewTimer(time.Duration(maxAttempts-n) * s.retryUnit())
		select {
		case <-t.C:
		case <-s.stop.Done():
			t.Stop()
			return
		}
	}
}

func (s *Server) post(target, secret, event string, body []byte, tr *trigger, n int) int {
	req, err := http.NewRequestWithContext(s.stop, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return -1
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Kheops-Event", event)
	if tr != nil {
		req.Header.Set("X-Kheops-Delivery", tr.id)
	}
	req.Header.Set("X-Kheops-Attempt", strconv.Itoa(n)+"/"+strconv.Itoa(maxAttempts))
	if secret != "" {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		req.Header.Set("X-Kheops-Signature", hex.EncodeToString(m.Sum(nil)))
	}
	resp, err := s.fetch.Do(req)
	if err != nil {
		return -1
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode
}

// pendingSeries collects additions of series of one study to one album by
// one source until they stop for the new-series delay
// ([WithNewSeriesDelay]).
type pendingSeries struct {
	timer  *time.Timer
	c      *caller
	album  string
	study  string
	series []string
	source string
}

// newSeriesLocked debounces new_series: each addition postpones the
// delivery (30 s in KHEOPS).
func (s *Server) newSeriesLocked(c *caller, a *album, studyUID string, series []string, importSource string) {
	if s.closed {
		return
	}
	key := a.id + "|" + studyUID + "|" + c.sub + "|" + c.clientID
	if c.cap != nil {
		key += "|" + c.cap.id
	}
	delay := s.cfg.newSeriesDelay
	if delay <= 0 {
		delay = 30 * time.Second
	}
	p := s.pending[key]
	if p == nil {
		p = &pendingSeries{c: c, album: a.id, study: studyUID, source: importSource}
		s.pending[key] = p
	} else {
		p.timer.Stop()
	}
	for _, uid := range series {
		if !slices.Contains(p.series, uid) {
			p.series = append(p.series, uid)
		}
	}
	p.timer = time.AfterFunc(delay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.pending[key] != p {
			return
		}
		delete(s.pending, key)
		if a := s.albums[p.album]; a != nil {
			sort.Strings(p.series)
			s.fireLocked(a, p.c, hookNewSeries, &hookData{study: p.study, series: p.series, importSource: p.source})
		}
	})
}

// webhookJSON is KHEOPS's Webhook JSON.
type webhookJSON struct {
	ID               string         `json:"id"`
	URL              string         `json:"url"`
	Name             string         `json:"name"`
	UseSecret        bool           `json:"use_secret"`
	Events           []string       `json:"events"`
	Enabled          bool           `json:"enabled"`
	LastTriggers     []lastTrigger  `json:"last_triggers,omitempty"`
	NumberOfTriggers int            `json:"number_of_triggers"`
	Triggers         []*triggerJSON `json:"triggers,omitempty"`
}

type lastTrigger struct {
	ID     string `json:"id"`
	Status string `json:"status"` // "pass" when an attempt got a 2xx
}

type triggerJSON struct {
	ID       string        `json:"id"`
	Manual   bool          `json:"is_manual_trigger"`
	Event    string        `json:"event"`
	Attempts []attemptJSON `json:"attempts"`
	User     *userJSON     `json:"user,omitempty"`
	Study    *studyJSON    `json:"study,omitempty"`
}

type attemptJSON struct {
	Status  int    `json:"status"`
	Time    string `json:"time"`
	Attempt int    `json:"attempt"`
}

func (s *Server) webhookJSONLocked(h *webhook, last bool) *webhookJSON {
	j := &webhookJSON{ID: h.id, URL: h.url, Name: h.name, UseSecret: h.secret != "", Events: append([]string{}, h.events...),
		Enabled: h.enabled, NumberOfTriggers: len(h.triggers)}
	if last {
		for i := len(h.triggers) - 1; i >= 0 && len(j.LastTriggers) < 5; i-- {
			t := h.triggers[i]
			st := "fail"
			for _, a := range t.attempts {
				if a.status/100 == 2 {
					st = "pass"
				}
			}
			j.LastTriggers = append(j.LastTriggers, lastTrigger{ID: t.id, Status: st})
		}
	}
	return j
}

func (s *Server) triggerJSONLocked(t *trigger) *triggerJSON {
	j := &triggerJSON{ID: t.id, Manual: t.manual, Event: t.event, Attempts: []attemptJSON{}}
	for _, a := range t.attempts {
		j.Attempts = append(j.Attempts, attemptJSON{Status: a.status, Time: zoned(a.at), Attempt: a.n})
	}
	if t.user != "" {
		j.User = s.userJSONLocked(t.user)
	}
	if t.study != "" {
		j.Study = s.studyJSONLocked(t.study, t.series)
	}
	return j
}

// webhookEvents normalizes event names; ok false for an unknown one.
func webhookEvents(names []string) ([]string, bool) {
	out := []string{}
	for _, n := range names {
		n = strings.ToLower(n)
		switch n {
		case hookNewSeries, hookNewUser, hookRemoveSeries, hookDeleteAlbum:
		default:
			return nil, false
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, true
}

func validHookURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && len(u) <= 1024 && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

func (s *Server) serveCreateWebhook(w http.ResponseWriter, r *http.Request) {
	if !form(w, r) {
		return
	}
	c, a := s.albumCaller(w, r, true, permAdmin)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	f := r.PostForm
	events, ok := webhookEvents(f["event"])
	switch {
	case !validHookURL(f.Get("url")):
		badForm(w, "'url' formparam is not valid")
		return
	case strings.TrimSpace(f.Get("name")) == "" || len(f.Get("name")) > 255:
		badForm(w, "'name' formparam is not valid")
		return
	case len(f.Get("secret")) > 1024:
		badForm(w, "'secret' formparam is not valid")
		return
	case !ok:
		badForm(w, "'event' formparam is not valid")
		return
	}
	h := &webhook{id: randomID(20), url: f.Get("url"), name: f.Get("name"), secret: f.Get("secret"), events: events, enabled: true}
	if v, ok := f["enabled"]; ok && len(v) > 0 {
		h.enabled = formBool(v[0])
	}
	a.webhooks = append(a.webhooks, h)
	s.mutationLocked(c, a, "CREATE_WEBHOOK", "", "")
	writeJSON(w, http.StatusCreated, s.webhookJSONLocked(h, false))
}

func (s *Server) serveListWebhooks(w http.ResponseWriter, r *http.Request) {
	_, a := s.albumCaller(w, r, true, permAdmin)
	if a == nil {
		return
	}
	defer s.mu.Unlock()
	var out []*webhookJSON
	for i := len(a.webhooks) - 1; i >= 0; i-- {
		if u := r.URL.Query().Get("url"); u == "" || a.webhooks[i].url == u {
			out = append(out, s.webhookJSONLocked(a.webhooks[i], true))
		}
	}
	from, to, ok := page(w, r, len(out))
	if ok {
		writeJSON(w, http.StatusOK, orEmpty(out[from:to]))
	}
}

// webhookCaller authenticates a request on one webhook of an album (an
// admin's, with user access) and finds the webhook (404 otherwise). It
// reads the form first when withForm. It returns with s.mu held when the
// webhook is not nil.
func (s *Server) webhookCaller(w http.ResponseWriter, r *http.Request, withForm bool) (*caller, *album, *webhook) {
	if withForm && !form(w, r) {
		return nil, nil, nil
	}
	c, a := s.albumCaller(w, r, true, permAdmin)
	if a == nil {
		return nil, nil, nil
	}
	for _, h := range a.webhooks {
		if h.id == r.PathValue("webhook") {
			return c, a, h
		}
	}
	s.mu.Unlock()
	apiErr(w, http.StatusNotFound, "Webhook Not Found", "The webhook does not exist")
	return nil, nil, nil
}

func (s *Server) serveGetWebhook(w http.ResponseWriter, r *http.Request) {
	_, _, h := s.webhookCaller(w, r, false)
	if h == nil {
		return
	}
	defer s.mu.Unlock()
	j := s.webhookJSONLocked(h, false)
	var all []*triggerJSON
	for i := len(h.triggers) - 1; i >= 0; i-- {
		all = append(all, s.triggerJSONLocked(h.triggers[i]))
	}
	from, to, ok := page(w, r, len(all))
	if !ok {
		return
	}
	j.Triggers = all[from:to]
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) servePatchWebhook(w http.ResponseWriter, r *http.Request) {
	c, a, h := s.webhookCaller(w, r, true)
	if h == nil {
		return
	}
	defer s.mu.Unlock()
	f := r.PostForm
	_, replace := f["event"]
	_, addE := f["add_event"]
	_, removeE := f["remove_event"]
	if replace && (addE || removeE) {
		badForm(w, "Do not use 'event' and 'add/remove_event' at the same time")
		return
	}
	var events []string
	ok := true
	switch {
	case replace:
		names := slices.DeleteFunc(slices.Clone(f["event"]), func(v string) bool { return v == "" })
		events, ok = webhookEvents(names)
	case addE: // KHEOPS ignores remove_event when add_event is present
		var add []string
		if add, ok = webhookEvents(f["add_event"]); ok {
			events = slices.Clone(h.events)
			for _, e := range add {
				if !slices.Contains(events, e) {
					events = append(events, e)
				}
			}
		}
	case removeE:
		var rm []string
		if rm, ok = webhookEvents(f["remove_event"]); ok {
			events = slices.DeleteFunc(slices.Clone(h.events), func(e string) bool { return slices.Contains(rm, e) })
		}
	default:
		events = h.events
	}
	switch {
	case !ok:
		badForm(w, "'event' formparam is not valid")
		return
	case f.Has("url") && !validHookURL(f.Get("url")):
		badForm(w, "'url' formparam is not valid")
		return
	case f.Has("name") && (strings.TrimSpace(f.Get("name")) == "" || len(f.Get("name")) > 255):
		badForm(w, "'name' formparam is not valid")
		return
	}
	h.events = events
	if f.Has("url") {
		h.url = f.Get("url")
	}
	if f.Has("name") {
		h.name = f.Get("name")
	}
	if f.Has("secret") {
		h.secret = f.Get("secret") // empty removes the secret
	}
	if f.Has("enabled") {
		h.enabled = formBool(f.Get("enabled"))
	}
	s.mutationLocked(c, a, "EDIT_WEBHOOK", "", "")
	writeJSON(w, http.StatusOK, s.webhookJSONLocked(h, true))
}

func (s *Server) serveDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	c, a, h := s.webhookCaller(w, r, false)
	if h == nil {
		return
	}
	defer s.mu.Unlock()
	a.webhooks = slices.DeleteFunc(a.webhooks, func(x *webhook) bool { return x == h })
	s.mutationLocked(c, a, "DELETE_WEBHOOK", "", "")
	w.WriteHeader(http.StatusNoContent)
}

// serveTriggerWebhook sends a manual new_series or new_user event to one
// webhook, enabled or not, and answers 202 at once.
func (s *Server) serveTriggerWebhook(w http.ResponseWriter, r *http.Request) {
	c, a, h := s.webhookCaller(w, r, true)
	if h == nil {
		return
	}
	defer s.mu.Unlock()
	f := r.PostForm
	event := strings.ToLower(f.Get("event"))
	study, user := f.Get("StudyInstanceUID"), f.Get("user")
	d := &hookData{manual: true}
	switch {
	case event == hookNewSeries && study != "" && user == "" && len(f["SeriesInstanceUID"]) > 0:
		for _, uid := range f["SeriesInstanceUID"] {
			if !a.series[uid] {
				errSeriesNotFound(w)
				return
			}
		}
		d.study, d.series = study, f["SeriesInstanceUID"]
	case event == hookNewUser && user != "" && study == "":
		u := s.findUserLocked(user)
		if u == nil || a.members[u.Sub] == nil {
			errUserNotFound(w)
			return
		}
		d.user = u.Sub
	default:
		badForm(w, "Use 'event' new_series with 'StudyInstanceUID' and 'SeriesInstanceUID', or new_user with 'user'")
		return
	}
	s.mutationLocked(c, a, "TRIGGER_WEBHOOK", "", "")
	s.sendLocked(a, h, c, event, d)
	w.WriteHeader(http.StatusAccepted)
}

// stopDeliveries ends the background deliveries and pending new_series
// events, for Close.
func (s *Server) stopDeliveries(cancel context.CancelFunc) {
	s.mu.Lock()
	s.closed = true
	for k, p := range s.pending {
		p.timer.Stop()
		delete(s.pending, k)
	}
	s.mu.Unlock()
	cancel()
	s.wg.Wait()
}
