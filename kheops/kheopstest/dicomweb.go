package kheopstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// Limits of the fake DICOMweb store.
const (
	maxInstanceBytes = 64 << 20
	maxStoreBytes    = 256 << 20
)

// Failure reasons in STOW-RS responses (PS3.18 Annex I).
const (
	reasonNotAuthorized = 0x0124
	reasonCannotProcess = 0xC000
)

// Instance is one stored DICOM instance.
type Instance struct {
	StudyUID, SeriesUID, SOPInstanceUID, SOPClassUID string
	Data                                             []byte // the Part 10 bytes as uploaded
}

type study struct {
	uid    string
	series map[string]*series
}

type series struct {
	uid       string
	instances map[string]*storedInstance
}

type storedInstance struct {
	Instance
	hdr *header
}

// AddInstance stores a DICOM Part 10 file and puts its series in the album.
func (s *Server) AddInstance(albumID string, data []byte) (Instance, error) {
	in, err := parseInstance(data)
	if err != nil {
		return Instance{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.albums[albumID]
	if !ok {
		return Instance{}, fmt.Errorf("kheopstest: no album %q", albumID)
	}
	s.storeLocked(in)
	a.series[in.SeriesUID] = true
	return in.Instance, nil
}

// Instances returns copies of the instances stored in a study, ordered by
// series then SOP instance UID.
func (s *Server) Instances(studyUID string) []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.studies[studyUID]
	if !ok {
		return nil
	}
	var out []Instance
	for _, se := range st.series {
		for _, in := range se.instances {
			cp := in.Instance
			cp.Data = bytes.Clone(in.Data)
			out = append(out, cp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].SeriesUID != out[j].SeriesUID {
			return out[i].SeriesUID < out[j].SeriesUID
		}
		return out[i].SOPInstanceUID < out[j].SOPInstanceUID
	})
	return out
}

func parseInstance(data []byte) (*storedInstance, error) {
	h, err := readHeader(data)
	if err != nil {
		return nil, err
	}
	in := &storedInstance{hdr: h, Instance: Instance{
		StudyUID:       h.str(0x0020000D),
		SeriesUID:      h.str(0x0020000E),
		SOPInstanceUID: h.str(0x00080018),
		SOPClassUID:    h.str(0x00080016),
		Data:           bytes.Clone(data),
	}}
	if !validOID(in.StudyUID) || !validOID(in.SeriesUID) || !validOID(in.SOPInstanceUID) || in.SOPClassUID == "" {
		return nil, errors.New("kheopstest: instance lacks valid study, series or SOP instance UIDs")
	}
	return in, nil
}

func (s *Server) storeLocked(in *storedInstance) {
	st, ok := s.studies[in.StudyUID]
	if !ok {
		st = &study{uid: in.StudyUID, series: make(map[string]*series)}
		s.studies[in.StudyUID] = st
	}
	se, ok := st.series[in.SeriesUID]
	if !ok {
		se = &series{uid: in.SeriesUID, instances: make(map[string]*storedInstance)}
		st.series[in.SeriesUID] = se
	}
	se.instances[in.SOPInstanceUID] = in
}

func (s *Server) studyInAlbumLocked(studyUID string, a *album) bool {
	st, ok := s.studies[studyUID]
	if !ok || a == nil {
		return false
	}
	for uid := range st.series {
		if a.series[uid] {
			return true
		}
	}
	return false
}

// seriesStudyLocked returns the UID of the study holding the series, or ""
// if no study has it.
func (s *Server) seriesStudyLocked(seriesUID string) string {
	for uid, st := range s.studies {
		if _, ok := st.series[seriesUID]; ok {
			return uid
		}
	}
	return ""
}

// access is what a DICOMweb caller may see.
type access struct {
	studies map[string]bool // nil: every study of the albums
	albums  []*album
	scope   string
	rp      bool
}

// dicomwebAccess authenticates a DICOMweb request: a provider token (its
// studies within its album) or a user token (the user's albums). The token
// may come as Bearer or as the password of Basic.
func (s *Server) dicomwebAccess(r *http.Request) (*access, int) {
	raw, ok := bearer(r)
	if !ok {
		if _, pw, okB := r.BasicAuth(); okB {
			raw, ok = pw, true
		}
	}
	if !ok {
		return nil, http.StatusUnauthorized
	}
	c, err := s.parseToken(raw)
	if err != nil {
		return nil, http.StatusUnauthorized
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch claimString(c, "type") {
	case typeRPToken:
		p, ok := s.providers[claimString(c, "azp")]
		if !ok || p.removed {
			return nil, http.StatusForbidden
		}
		ac := &access{studies: make(map[string]bool), albums: []*album{s.albums[p.album]}, scope: claimString(c, "scope"), rp: true}
		for _, u := range claimStrings(c, "studyUID") {
			ac.studies[u] = true
		}
		return ac, 0
	case typeUser:
		ac := &access{scope: "read"}
		for _, a := range s.albums {
			if _, ok := a.members[claimString(c, "sub")]; ok {
				ac.albums = append(ac.albums, a)
			}
		}
		return ac, 0
	default:
		return nil, http.StatusForbidden
	}
}

// visibleSeriesLocked lists the series of a study the caller may see.
func (ac *access) visibleSeriesLocked(st *study) []*series {
	if ac.studies != nil && !ac.studies[st.uid] {
		return nil
	}
	var out []*series
	for uid, se := range st.series {
		for _, a := range ac.albums {
			if a != nil && a.series[uid] {
				out = append(out, se)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uid < out[j].uid })
	return out
}

func writeDICOMJSON(w http.ResponseWriter, status int, v any) {
	b, err := jsonMarshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/dicom+json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func firstInstance(se []*series) *storedInstance {
	for _, x := range se {
		keys := make([]string, 0, len(x.instances))
		for k := range x.instances {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 0 {
			return x.instances[keys[0]]
		}
	}
	return nil
}

func copyAttrs(dst map[string]attribute, h *header, tags ...string) {
	all := h.dicomJSON()
	for _, t := range tags {
		if a, ok := all[t]; ok {
			dst[t] = a
		}
	}
}

// serveSearchStudies is QIDO-RS GET ROOT/api/studies. It filters on
// StudyInstanceUID (repeated or comma-separated) only.
func (s *Server) serveSearchStudies(w http.ResponseWriter, r *http.Request) {
	ac, status := s.dicomwebAccess(r)
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	var filter map[string]bool
	if vals := r.URL.Query()["StudyInstanceUID"]; len(vals) > 0 {
		filter = make(map[string]bool)
		for _, v := range vals {
			for _, u := range strings.Split(v, ",") {
				filter[u] = true
			}
		}
	}
	s.mu.Lock()
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
		visible := ac.visibleSeriesLocked(s.studies[uid])
		if len(visible) == 0 {
			continue
		}
		ds := map[string]attribute{}
		first := firstInstance(visible)
		copyAttrs(ds, first.hdr, "00080020", "00080030", "00080050", "00081030", "00100010", "00100020", "00100030", "00100040", "00200010")
		ds["0020000D"] = attribute{VR: "UI", Value: []any{uid}}
		var mods []any
		instances := 0
		for _, se := range visible {
			instances += len(se.instances)
			if m := firstInstance([]*series{se}).hdr.str(0x00080060); m != "" && !slices.Contains(mods, any(m)) {
				mods = append(mods, m)
			}
		}
		ds["00080061"] = attribute{VR: "CS", Value: mods}
		ds["00201206"] = attribute{VR: "IS", Value: []any{len(visible)}}
		ds["00201208"] = attribute{VR: "IS", Value: []any{instances}}
		out = append(out, ds)
	}
	s.mu.Unlock()
	writeDICOMJSON(w, http.StatusOK, out)
}

// serveSearchSeries is QIDO-RS GET ROOT/api/studies/{study}/series.
func (s *Server) serveSearchSeries(w http.ResponseWriter, r *http.Request) {
	s.serveStudy(w, r, func(se *series) []map[string]attribute {
		ds := map[string]attribute{}
		copyAttrs(ds, firstInstance([]*series{se}).hdr, "00080060", "0008103E", "00200011", "00080021")
		ds["0020000D"] = attribute{VR: "UI", Value: []any{r.PathValue("study")}}
		ds["0020000E"] = attribute{VR: "UI", Value: []any{se.uid}}
		ds["00201209"] = attribute{VR: "IS", Value: []any{len(se.instances)}}
		return []map[string]attribute{ds}
	})
}

// serveMetadata is WADO-RS GET ROOT/api/studies/{study}/metadata.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	s.serveStudy(w, r, func(se *series) []map[string]attribute {
		keys := make([]string, 0, len(se.instances))
		for k := range se.instances {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]map[string]attribute, 0, len(keys))
		for _, k := range keys {
			out = append(out, se.instances[k].hdr.dicomJSON())
		}
		return out
	})
}

// serveStudy answers a read of one study with the datasets perSeries
// returns for each series the caller may read.
func (s *Server) serveStudy(w http.ResponseWriter, r *http.Request, perSeries func(*series) []map[string]attribute) {
	ac, status := s.dicomwebAccess(r)
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	s.mu.Lock()
	visible, status := s.readableSeriesLocked(ac, r.PathValue("study"))
	out := []map[string]attribute{}
	for _, se := range visible {
		out = append(out, perSeries(se)...)
	}
	s.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	writeDICOMJSON(w, http.StatusOK, out)
}

// readableSeriesLocked returns the series of a study the caller may read,
// or an HTTP status. Provider tokens also need the read scope word.
func (s *Server) readableSeriesLocked(ac *access, studyUID string) ([]*series, int) {
	if ac.rp && !hasWord(ac.scope, "read") {
		return nil, http.StatusForbidden
	}
	st, ok := s.studies[studyUID]
	if !ok {
		return nil, http.StatusNotFound
	}
	visible := ac.visibleSeriesLocked(st)
	if len(visible) == 0 {
		return nil, http.StatusNotFound
	}
	return visible, 0
}

// serveStore is STOW-RS POST ROOT/api/studies[/{study}], with the DICOMweb
// proxy's rules: the token must be an active provider token (401) with the
// write scope (403); each instance must belong to a study of the token that
// is in the provider's album, in a series that is new or already in the
// album, else it fails with reason 0x0124. New series join the album.
func (s *Server) serveStore(w http.ResponseWriter, r *http.Request) {
	ac, status := s.dicomwebAccess(r)
	switch {
	case status == http.StatusForbidden:
		w.WriteHeader(http.StatusUnauthorized) // introspection says inactive
		return
	case status != 0:
		w.WriteHeader(status)
		return
	case !ac.rp || !hasWord(ac.scope, "write"):
		w.WriteHeader(http.StatusForbidden)
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	body := http.MaxBytesReader(w, r.Body, maxStoreBytes)
	var parts [][]byte
	switch {
	case mt == "application/dicom":
		b, err := io.ReadAll(io.LimitReader(body, maxInstanceBytes+1))
		if err != nil || len(b) > maxInstanceBytes {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		parts = append(parts, b)
	case mt == "multipart/related" && strings.EqualFold(params["type"], "application/dicom") && params["boundary"] != "":
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			if ct := p.Header.Get("Content-Type"); ct != "" {
				if pmt, _, err := mime.ParseMediaType(ct); err != nil || pmt != "application/dicom" {
					w.WriteHeader(http.StatusUnsupportedMediaType)
					return
				}
			}
			b, err := io.ReadAll(io.LimitReader(p, maxInstanceBytes+1))
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			if len(b) > maxInstanceBytes {
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				return
			}
			parts = append(parts, b)
		}
	default:
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	if len(parts) == 0 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	target := r.PathValue("study")
	var stored, failed []any
	s.mu.Lock()
	a := ac.albums[0]
	for _, b := range parts {
		in, err := parseInstance(b)
		if err != nil {
			failed = append(failed, failedItem("", "", reasonCannotProcess))
			continue
		}
		// A series UID names one series of one study: an existing series
		// must be in this study and already in the album.
		owner := s.seriesStudyLocked(in.SeriesUID)
		switch {
		case target != "" && in.StudyUID != target:
			failed = append(failed, failedItem(in.SOPClassUID, in.SOPInstanceUID, reasonCannotProcess))
		case !ac.studies[in.StudyUID] || !s.studyInAlbumLocked(in.StudyUID, a) ||
			(owner != "" && (owner != in.StudyUID || !a.series[in.SeriesUID])):
			failed = append(failed, failedItem(in.SOPClassUID, in.SOPInstanceUID, reasonNotAuthorized))
		default:
			s.storeLocked(in)
			a.series[in.SeriesUID] = true
			stored = append(stored, map[string]attribute{
				"00081150": {VR: "UI", Value: []any{in.SOPClassUID}},
				"00081155": {VR: "UI", Value: []any{in.SOPInstanceUID}},
				"00081190": {VR: "UR", Value: []any{s.root + "/api/studies/" + in.StudyUID + "/series/" + in.SeriesUID + "/instances/" + in.SOPInstanceUID}},
			})
		}
	}
	s.mu.Unlock()
	resp := map[string]any{}
	if target != "" {
		resp["00081190"] = attribute{VR: "UR", Value: []any{s.root + "/api/studies/" + target}}
	}
	if len(stored) > 0 {
		resp["00081199"] = map[string]any{"vr": "SQ", "Value": stored}
	}
	if len(failed) > 0 {
		resp["00081198"] = map[string]any{"vr": "SQ", "Value": failed}
	}
	code := http.StatusOK
	switch {
	case len(stored) == 0:
		code = http.StatusConflict
	case len(failed) > 0:
		code = http.StatusAccepted
	}
	writeDICOMJSON(w, code, resp)
}

func failedItem(class, inst string, reason int) map[string]attribute {
	item := map[string]attribute{"00081197": {VR: "US", Value: []any{reason}}}
	if class != "" {
		item["00081150"] = attribute{VR: "UI", Value: []any{class}}
	}
	if inst != "" {
		item["00081155"] = attribute{VR: "UI", Value: []any{inst}}
	}
	return item
}

// jsonMarshal is encoding/json without HTML escaping.
func jsonMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
