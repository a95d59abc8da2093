package kheopstest

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// seriesLocked finds a series and its study.
func (s *Server) seriesLocked(uid string) (*series, *study) {
	for _, st := range s.studies {
		if se, ok := st.series[uid]; ok {
			return se, st
		}
	}
	return nil, nil
}

// sourcesLocked lists the albums (inbox included) whose series c may read.
func (s *Server) sourcesLocked(c *caller) []*album {
	switch c.kind {
	case kindUser, kindUserCap:
		out := []*album{}
		if in := s.inboxes[c.sub]; in != nil {
			out = append(out, in)
		}
		for _, a := range s.albums {
			if a.members[c.sub] != nil {
				out = append(out, a)
			}
		}
		return out
	case kindAlbumCap:
		if a := s.albums[c.cap.album]; a != nil && c.cap.read {
			return []*album{a}
		}
	case kindProvider:
		if p := s.providers[c.clientID]; p != nil && s.albums[p.album] != nil {
			return []*album{s.albums[p.album]}
		}
	case kindViewer:
		if c.source == "" {
			return []*album{s.inboxes[c.sub]}
		}
		if a := s.albums[c.source]; a != nil && a.members[c.sub] != nil {
			return []*album{a}
		}
	}
	return nil
}

// visibleSeriesLocked lists the series of st that c may read, from the
// given sources (nil: all of c's), sorted by UID.
func (s *Server) visibleSeriesLocked(c *caller, st *study, from []*album) []*series {
	if c.studies != nil && !c.studies[st.uid] {
		return nil
	}
	if from == nil {
		from = s.sourcesLocked(c)
	}
	var out []*series
	for uid, se := range st.series {
		for _, a := range from {
			if a != nil && a.series[uid] {
				out = append(out, se)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uid < out[j].uid })
	return out
}

// qidoSources applies the album= and inbox=true selectors of a QIDO
// request; ok false when it answered.
func (s *Server) qidoSourcesLocked(w http.ResponseWriter, r *http.Request, c *caller) ([]*album, bool) {
	q := r.URL.Query()
	if a, ok := s.queryAlbumLocked(w, c, q.Get("album"), 0); !ok || a != nil {
		return []*album{a}, ok
	}
	if formBool(q.Get("inbox")) {
		if !c.userAccess() {
			errTokenType(w)
			return nil, false
		}
		return []*album{s.inboxes[c.sub]}, true
	}
	return s.sourcesLocked(c), true
}

// serveSearchStudies is QIDO-RS GET ROOT/api/studies: the studies the
// caller may read, filtered by StudyInstanceUID (repeated or comma
// separated), ModalitiesInStudy and PatientID, with KHEOPS's album and
// inbox selectors and paging. No study answers 204 with X-Total-Count 0.
func (s *Server) serveSearchStudies(w http.ResponseWriter, r *http.Request) {
	c := s.authn(w, r)
	if c == nil {
		return
	}
	q := r.URL.Query()
	var filter map[string]bool
	if vals := q["StudyInstanceUID"]; len(vals) > 0 {
		filter = make(map[string]bool)
		for _, v := range vals {
			for _, u := range strings.Split(v, ",") {
				filter[u] = true
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	from, ok := s.qidoSourcesLocked(w, r, c)
	if !ok {
		return
	}
	uids := make([]string, 0, len(s.studies))
	for uid := range s.studies {
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	out := []map[string]attribute{}
	for _, uid := range uids {
		if filter != nil && !filter[uid] {
			continue
		}
		visible := s.visibleSeriesLocked(c, s.studies[uid], from)
		if len(visible) == 0 {
			continue
		}
		ds := map[string]attribute{}
		copyAttrs(ds, s.studies[uid].first, "00080020", "00080030", "00080050", "00080090", "00081030", "00100010", "00100020", "00100030", "00100040", "00200010")
		ds["0020000D"] = attribute{VR: "UI", Value: []any{uid}}
		var mods []any
		instances := 0
		for _, se := range visible {
			instances += len(se.instances)
			if m := se.attr(0x00080060); m != "" && !slices.Contains(mods, any(m)) {
				mods = append(mods, m)
			}
		}
		if m := q.Get("ModalitiesInStudy"); m != "" && !slices.Contains(mods, any(m)) {
			continue
		}
		if p := q.Get("PatientID"); p != "" && s.studies[uid].first.str(0x00100020) != p {
			continue
		}
		ds["00080061"] = attribute{VR: "CS", Value: mods}
		ds["00201206"] = attribute{VR: "IS", Value: []any{len(visible)}}
		ds["00201208"] = attribute{VR: "IS", Value: []any{instances}}
		ds["00081190"] = attribute{VR: "UR", Value: []any{s.root + "/api/studies/" + uid}}
		out = append(out, ds)
	}
	lo, hi, ok := page(w, r, len(out))
	if !ok {
		return
	}
	if len(out) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeDICOMJSON(w, http.StatusOK, out[lo:hi])
}

// serveSearchSeries is QIDO-RS GET ROOT/api/studies/{study}/series.
func (s *Server) serveSearchSeries(w http.ResponseWriter, r *http.Request) {
	s.serveStudy(w, r, func(se *series) []map[string]attribute {
		ds := map[string]attribute{}
		copyAttrs(ds, se.first, "00080060", "0008103E", "00200011", "00080021", "00180015")
		ds["0020000D"] = attribute{VR: "UI", Value: []any{r.PathValue("study")}}
		ds["0020000E"] = attribute{VR: "UI", Value: []any{se.uid}}
		ds["00201209"] = attribute{VR: "IS", Value: []any{len(se.instances)}}
		return []map[string]attribute{ds}
	})
}

// serveMetadata is WADO-RS GET ROOT/api/studies/{study}[/series/{series}]/metadata.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	s.serveStudy(w, r, func(se *series) []map[string]attribute {
		out := []map[string]attribute{}
		for _, in := range se.sorted() {
			out = append(out, in.hdr.dicomJSON())
		}
		return out
	})
}

// serveSearchInstances is QIDO-RS GET ROOT/api/studies/{study}/series/{series}/instances.
func (s *Server) serveSearchInstances(w http.ResponseWriter, r *http.Request) {
	s.serveStudy(w, r, func(se *series) []map[string]attribute {
		out := []map[string]attribute{}
		for _, in := range se.sorted() {
			ds := map[string]attribute{}
			copyAttrs(ds, in.hdr, "00080016", "00080018", "00200013")
			ds["0020000D"] = attribute{VR: "UI", Value: []any{in.StudyUID}}
			ds["0020000E"] = attribute{VR: "UI", Value: []any{se.uid}}
			ds["00081190"] = attribute{VR: "UR", Value: []any{s.root + "/api/studies/" + in.StudyUID + "/series/" + se.uid + "/instances/" + in.SOPInstanceUID}}
			out = append(out, ds)
		}
		return out
	})
}

// sorted returns the series' instances by SOP instance UID.
func (se *series) sorted() []*storedInstance {
	keys := make([]string, 0, len(se.instances))
	for k := range se.instances {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*storedInstance, 0, len(keys))
	for _, k := range keys {
		out = append(out, se.instances[k])
	}
	return out
}

// serveStudy answers a read of one study (or of its {series}) with the
// datasets perSeries returns for each series the caller may read.
func (s *Server) serveStudy(w http.ResponseWriter, r *http.Request, perSeries func(*series) []map[string]attribute) {
	c := s.authn(w, r)
	if c == nil {
		return
	}
	if c.kind == kindProvider && !hasWord(c.scope, "read") {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	from, ok := s.qidoSourcesLocked(w, r, c)
	if !ok {
		return
	}
	st := s.studies[r.PathValue("study")]
	var visible []*series
	if st != nil {
		visible = s.visibleSeriesLocked(c, st, from)
	}
	if uid := r.PathValue("series"); uid != "" {
		visible = slices.DeleteFunc(visible, func(se *series) bool { return se.uid != uid })
	}
	if len(visible) == 0 {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	out := []map[string]attribute{}
	for _, se := range visible {
		out = append(out, perSeries(se)...)
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(len(out)))
	writeDICOMJSON(w, http.StatusOK, out)
}
