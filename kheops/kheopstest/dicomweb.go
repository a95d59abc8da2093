package kheopstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
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
	first  *header // what KHEOPS stores of the study: its first instance's attributes
	series map[string]*series
}

type series struct {
	uid       string
	first     *header
	instances map[string]*storedInstance
}

// attr is a stored attribute of the series, as text.
func (se *series) attr(tag uint32) string { return se.first.str(tag) }

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
		st = &study{uid: in.StudyUID, first: in.hdr, series: make(map[string]*series)}
		s.studies[in.StudyUID] = st
	}
	se, ok := st.series[in.SeriesUID]
	if !ok {
		se = &series{uid: in.SeriesUID, first: in.hdr, instances: make(map[string]*storedInstance)}
		st.series[in.SeriesUID] = se
	}
	se.instances[in.SOPInstanceUID] = in
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

func copyAttrs(dst map[string]attribute, h *header, tags ...string) {
	all := h.dicomJSON()
	for _, t := range tags {
		if a, ok := all[t]; ok {
			dst[t] = a
		}
	}
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
