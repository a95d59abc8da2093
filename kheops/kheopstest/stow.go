package kheopstest

import (
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// Failure reasons in STOW-RS responses (PS3.18, PS3.4 Annex GG).
const (
	reasonInvalidAttribute = 0x0106
)

// readParts reads a STOW-RS body: one application/dicom instance, or a
// multipart/related; type="application/dicom" of them. It answers the
// request itself when the body is unusable and returns nil then.
func readParts(w http.ResponseWriter, r *http.Request) [][]byte {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return nil
	}
	body := http.MaxBytesReader(w, r.Body, maxStoreBytes)
	var parts [][]byte
	add := func(rd io.Reader) bool {
		b, err := io.ReadAll(io.LimitReader(rd, maxInstanceBytes+1))
		switch {
		case err != nil:
			w.WriteHeader(http.StatusBadRequest)
			return false
		case len(b) > maxInstanceBytes:
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return false
		}
		parts = append(parts, b)
		return true
	}
	switch {
	case mt == "application/dicom":
		if !add(body) {
			return nil
		}
	case mt == "multipart/related" && strings.EqualFold(params["type"], "application/dicom") && params["boundary"] != "":
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return nil
			}
			if ct := p.Header.Get("Content-Type"); ct != "" {
				if pmt, _, err := mime.ParseMediaType(ct); err != nil || pmt != "application/dicom" {
					w.WriteHeader(http.StatusUnsupportedMediaType)
					return nil
				}
			}
			if !add(p) {
				return nil
			}
		}
	default:
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return nil
	}
	if len(parts) == 0 {
		w.WriteHeader(http.StatusBadRequest)
		return nil
	}
	return parts
}

// serveStore is STOW-RS POST ROOT/api/studies[/{study}], with the rules of
// KHEOPS's DICOMweb proxy (see docs/kheops.md, "DICOMweb access"): the
// token must be active (401) and allowed to write (403); each series must
// be one the caller may add (else FailureReason 0x0124), and each instance
// must agree with what KHEOPS stores of its study and series (else
// 0x0106 with the differing tags). Series go to the provider's or the
// capability's album, to ?album= for users, else to the user's inbox.
func (s *Server) serveStore(w http.ResponseWriter, r *http.Request) {
	c := s.authn(w, r)
	if c == nil {
		return
	}
	switch {
	case c.kind == kindProvider && !hasWord(c.scope, "write"),
		c.kind == kindAlbumCap && !c.cap.write,
		c.kind == kindViewer:
		w.WriteHeader(http.StatusForbidden)
		return
	}
	parts := readParts(w, r)
	if parts == nil {
		return
	}
	target := r.PathValue("study")
	s.mu.Lock()
	dest, status := s.storeDestinationLocked(c, r.URL.Query().Get("album"))
	if status != 0 {
		s.mu.Unlock()
		w.WriteHeader(status)
		return
	}
	var stored, failed []any
	added := map[string][]string{} // study UID -> series newly in dest
	for _, b := range parts {
		in, err := parseInstance(b)
		if err != nil {
			failed = append(failed, failedItem("", "", reasonCannotProcess))
			continue
		}
		if target != "" && in.StudyUID != target {
			failed = append(failed, failedItem(in.SOPClassUID, in.SOPInstanceUID, reasonCannotProcess))
			continue
		}
		if !s.mayAddSeriesLocked(c, dest, in) {
			failed = append(failed, failedItem(in.SOPClassUID, in.SOPInstanceUID, reasonNotAuthorized))
			continue
		}
		if tags := s.mismatchLocked(in); len(tags) > 0 {
			item := failedItem(in.SOPClassUID, in.SOPInstanceUID, reasonInvalidAttribute)
			item["00001005"] = attribute{VR: "LO", Value: tags}
			failed = append(failed, item)
			continue
		}
		s.storeLocked(in)
		if !dest.series[in.SeriesUID] {
			dest.series[in.SeriesUID] = true
			added[in.StudyUID] = append(added[in.StudyUID], in.SeriesUID)
		}
		stored = append(stored, map[string]attribute{
			"00081150": {VR: "UI", Value: []any{in.SOPClassUID}},
			"00081155": {VR: "UI", Value: []any{in.SOPInstanceUID}},
			"00081190": {VR: "UR", Value: []any{s.root + "/api/studies/" + in.StudyUID + "/series/" + in.SeriesUID + "/instances/" + in.SOPInstanceUID}},
		})
	}
	if !dest.inbox {
		for st, se := range added {
			s.seriesAddedLocked(c, dest, st, se, "")
		}
	}
	s.mu.Unlock()
	resp := map[string]any{}
	if target != "" {
		resp["00081190"] = attribute{VR: "UR", Value: []any{s.root + "/api/studies/" + target}}
	}
	if len(stored) > 0 {
		resp["00081199"] = attribute{VR: "SQ", Value: stored}
	}
	if len(failed) > 0 {
		resp["00081198"] = attribute{VR: "SQ", Value: failed}
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

// storeDestinationLocked is where c's uploads go.
func (s *Server) storeDestinationLocked(c *caller, albumParam string) (*album, int) {
	switch c.kind {
	case kindProvider:
		if a := s.sourcesLocked(c); len(a) == 1 {
			return a[0], 0
		}
		return nil, http.StatusUnauthorized
	case kindAlbumCap:
		if a := s.albums[c.cap.album]; a != nil {
			return a, 0
		}
		return nil, http.StatusUnauthorized
	}
	if albumParam == "" {
		return s.inboxes[c.sub], 0
	}
	a := s.albums[albumParam]
	if !s.canAccessLocked(c, a) || !s.allowedLocked(c, a, permAddSeries) {
		return nil, http.StatusForbidden
	}
	return a, 0
}

// mayAddSeriesLocked is KHEOPS's hasSeriesAddAccess for an upload into
// dest: a series UID names one series of one study; an existing series
// must be in that study and already readable by the caller in dest (or,
// for a user, anywhere the user reaches). Providers are limited to their
// token's studies, which must already be in the album.
func (s *Server) mayAddSeriesLocked(c *caller, dest *album, in *storedInstance) bool {
	se, owner := s.seriesLocked(in.SeriesUID)
	if se != nil && owner.uid != in.StudyUID {
		return false
	}
	switch c.kind {
	case kindProvider:
		st := s.studies[in.StudyUID]
		if !c.studies[in.StudyUID] || st == nil || len(s.visibleSeriesLocked(c, st, []*album{dest})) == 0 {
			return false
		}
		return se == nil || dest.series[in.SeriesUID]
	case kindAlbumCap:
		return se == nil || dest.series[in.SeriesUID]
	}
	if se == nil || dest.series[in.SeriesUID] {
		return true
	}
	return len(s.visibleSeriesLocked(c, owner, nil)) > 0 && slicesContainsSeries(s.visibleSeriesLocked(c, owner, nil), in.SeriesUID)
}

func slicesContainsSeries(l []*series, uid string) bool {
	for _, se := range l {
		if se.uid == uid {
			return true
		}
	}
	return false
}

// Tags KHEOPS compares on upload (its verifyInstance check).
var (
	// Study attributes: where KHEOPS stores a value, an upload without one
	// passes; where it stores none, the upload must carry none.
	studyChecked = []uint32{0x00080020, 0x00080030, 0x00081030, 0x00080201, 0x00080050}
	// Compared once '^' and '=' are removed.
	namesChecked   = []uint32{0x00080090, 0x00100010}
	patientChecked = []uint32{0x00100020, 0x00100030, 0x00100040}
	// Series attributes, compared exactly, for a series KHEOPS has.
	seriesChecked = []uint32{0x00080060, 0x0008103E, 0x00200011, 0x00180015, 0x00080201}
)

// mismatchLocked returns the tags (decimal, as KHEOPS lists them) in
// which in disagrees with the study and series KHEOPS already stores.
func (s *Server) mismatchLocked(in *storedInstance) []any {
	var tags []any
	add := func(tag uint32) { tags = append(tags, strconv.FormatUint(uint64(tag), 10)) }
	st := s.studies[in.StudyUID]
	if st == nil {
		return nil
	}
	for _, tag := range studyChecked {
		if stored, got := st.first.str(tag), in.hdr.str(tag); stored == "" && got != "" || stored != "" && got != "" && stored != got {
			add(tag)
		}
	}
	for _, tag := range namesChecked {
		stored, got := stripPN(st.first.str(tag)), stripPN(in.hdr.str(tag))
		if stored == "" && got != "" || stored != "" && got != "" && stored != got {
			add(tag)
		}
	}
	for _, tag := range patientChecked {
		if stored, got := st.first.str(tag), in.hdr.str(tag); stored == "" && got != "" || stored != "" && got != "" && stored != got {
			add(tag)
		}
	}
	// StudyID: exact, and an absent one differs from a stored one.
	if st.first.str(0x00200010) != in.hdr.str(0x00200010) {
		add(0x00200010)
	}
	if len(tags) > 0 {
		return tags
	}
	se := st.series[in.SeriesUID]
	if se == nil {
		return nil
	}
	for _, tag := range seriesChecked {
		if tag == 0x00200011 {
			if seriesNumber(se.first) != seriesNumber(in.hdr) {
				add(tag)
			}
		} else if se.attr(tag) != in.hdr.str(tag) {
			add(tag)
		}
	}
	return tags
}

func stripPN(s string) string { return strings.NewReplacer("^", "", "=", "").Replace(s) }

// seriesNumber is SeriesNumber as an integer, 0 when absent or unreadable.
func seriesNumber(h *header) int {
	n, _ := strconv.Atoi(strings.TrimSpace(h.str(0x00200011)))
	return n
}
