package uploader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/dicombridge/dicombridge/deid"
	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/dicombridge/dicombridge/internal/deidscan"
	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// This file is the uploader's de-identification (Uploader.Deidentify): a
// pass over the scanned files that learns what their de-identified copies
// hold, and the reader that produces those copies for the archive. See
// docs/uploader.md, "De-identification".

// deidHeaderMax bounds the start of a de-identified file kept to read its
// study and series attributes, which come before (0020,0011).
const deidHeaderMax = 1 << 20

// deidFingerprint identifies the key of p in the saved state, so that a
// resume with another key (or none) is refused before anything is sent.
// It is a keyed UID of a fixed string: it does not reveal the key.
func deidFingerprint(p *deid.Profile) string {
	if p == nil {
		return ""
	}
	return p.UID("1.2.840.10008.1.1")
}

// deidentify replaces the scanned studies by their de-identified copies
// (Uploader.Deidentify), moving the files the profile refuses to the
// scan's errors. A resume must use the key the upload began with.
func (s *Session) deidentify(ctx context.Context, res *dicomscan.Result) error {
	p := s.u.Deidentify
	if fp := deidFingerprint(p); fp != s.opts.Deid {
		if s.opts.Deid == "" {
			return fmt.Errorf("uploader: upload %s was begun without de-identification; Uploader.Deidentify must be nil to resume it", s.id)
		}
		return fmt.Errorf("uploader: upload %s was begun with de-identification under another key (or none is set now); resume it with the same Uploader.Deidentify", s.id)
	}
	if p == nil {
		return nil
	}
	s.deid = newDeidentifier(p)
	studies, failed, err := s.deid.studies(ctx, res.Studies, s.u.Workers)
	if err != nil {
		return fmt.Errorf("uploader: de-identifying: %w", err)
	}
	s.studies = studies
	res.Errors = append(res.Errors, failed...)
	return nil
}

// deidentifier de-identifies a session's files.
type deidentifier struct {
	p       *deid.Profile
	src     deidscan.Sources
	mu      sync.Mutex                                  // guards sources
	sources map[*dicomscan.Instance]*dicomscan.Instance // copy -> original
}

func newDeidentifier(p *deid.Profile) *deidentifier {
	return &deidentifier{p: p, sources: make(map[*dicomscan.Instance]*dicomscan.Instance)}
}

// open is dicomscan.Zip.Open: the de-identified bytes of a copy made by
// studies.
func (d *deidentifier) open(ctx context.Context, in *dicomscan.Instance) (io.ReadCloser, error) {
	d.mu.Lock()
	orig := d.sources[in]
	d.mu.Unlock()
	if orig == nil {
		return nil, fmt.Errorf("uploader: %s was not de-identified", in.Name)
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		_, err := d.src.Apply(ctx, d.p, pw, orig)
		pw.CloseWithError(err)
	}()
	return &pipeCloser{pr, cancel}, nil
}

type pipeCloser struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (p *pipeCloser) Close() error {
	p.cancel()
	return p.PipeReader.Close()
}

// deidFile is what the first pass learnt about one file.
type deidFile struct {
	res  *deid.Result
	size int64
	hdr  deidHeader
	err  error
}

// deidHeader holds the attributes of a de-identified file that init
// announces.
type deidHeader struct {
	studyDescription, institutionName, studyDate, studyTime                     string
	modality, seriesDescription, bodyPart, seriesDate, seriesTime, seriesNumber string
}

// studies de-identifies every instance of studies once, without keeping
// the output, and returns the studies as their de-identified copies hold
// them: new UIDs, pseudonyms, the values left by the profile, and each
// instance named "<new SOP Instance UID>.dcm" with the size of its
// de-identified copy (the archive reads it through open). Files the
// profile refuses (a burned-in annotation, a syntax it does not read) are
// left out and returned as errors, one *dicomscan.FileError each.
func (d *deidentifier) studies(ctx context.Context, studies []*dicomscan.Study, workers int) ([]*dicomscan.Study, []*dicomscan.FileError, error) {
	var all []*dicomscan.Instance
	for _, st := range studies {
		for _, se := range st.Series {
			all = append(all, se.Instances...)
		}
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	files := make([]deidFile, len(all))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				files[i] = d.one(ctx, all[i])
			}
		}()
	}
feed:
	for i := range all {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}

	var out []*dicomscan.Study
	var failed []*dicomscan.FileError
	i := 0
	for _, st := range studies {
		var ns *dicomscan.Study
		for _, se := range st.Series {
			var nse *dicomscan.Series
			for _, in := range se.Instances {
				f := files[i]
				i++
				if f.err != nil {
					failed = append(failed, &dicomscan.FileError{Path: in.Path, Err: f.err})
					continue
				}
				if ns == nil {
					ns = &dicomscan.Study{StudyInstanceUID: f.res.StudyInstanceUID, InstitutionName: f.hdr.institutionName,
						PatientID: f.res.PatientID, PatientName: f.res.PatientName, StudyDate: f.hdr.studyDate, StudyTime: f.hdr.studyTime}
					out = append(out, ns)
				}
				if ns.StudyDescription == "" {
					ns.StudyDescription = f.hdr.studyDescription
				}
				if nse == nil {
					nse = &dicomscan.Series{SeriesInstanceUID: f.res.SeriesInstanceUID, Modality: f.hdr.modality,
						SeriesDescription: f.hdr.seriesDescription, BodyPartExamined: f.hdr.bodyPart, SeriesDate: f.hdr.seriesDate,
						SeriesTime: f.hdr.seriesTime, StudyDate: f.hdr.studyDate, SeriesNumber: f.hdr.seriesNumber}
					ns.Series = append(ns.Series, nse)
				}
				cp := &dicomscan.Instance{Path: in.Path, Archive: in.Archive, Member: in.Member,
					Name: f.res.SOPInstanceUID + ".dcm", Size: f.size, ModTime: in.ModTime,
					TransferSyntaxUID: f.res.TransferSyntaxUID, SOPInstanceUID: f.res.SOPInstanceUID}
				d.mu.Lock()
				d.sources[cp] = in
				d.mu.Unlock()
				nse.Instances = append(nse.Instances, cp)
			}
		}
		if ns != nil {
			for _, se := range ns.Series {
				if se.Modality != "" && !contains(ns.Modalities, se.Modality) {
					ns.Modalities = append(ns.Modalities, se.Modality)
				}
			}
		}
	}
	return out, failed, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// one de-identifies in into a counter that keeps the start of the output.
func (d *deidentifier) one(ctx context.Context, in *dicomscan.Instance) deidFile {
	var w headWriter
	res, err := d.src.Apply(ctx, d.p, &w, in)
	if err != nil {
		return deidFile{err: err}
	}
	if res.SOPInstanceUID == "" || res.StudyInstanceUID == "" || res.SeriesInstanceUID == "" {
		return deidFile{err: errors.New("uploader: the de-identified file has no SOP, series or study instance UID")}
	}
	return deidFile{res: res, size: w.n, hdr: readDeidHeader(w.head.Bytes())}
}

// headWriter counts what is written and keeps the first deidHeaderMax
// bytes.
type headWriter struct {
	n    int64
	head bytes.Buffer
}

func (h *headWriter) Write(p []byte) (int, error) {
	if room := deidHeaderMax - h.head.Len(); room > 0 {
		h.head.Write(p[:min(room, len(p))])
	}
	h.n += int64(len(p))
	return len(p), nil
}

// Tags read from de-identified files for init.
const (
	tagStudyDate         = 0x00080020
	tagSeriesDate        = 0x00080021
	tagStudyTime         = 0x00080030
	tagSeriesTime        = 0x00080031
	tagModality          = 0x00080060
	tagInstitutionName   = 0x00080080
	tagStudyDescription  = 0x00081030
	tagSeriesDescription = 0x0008103E
	tagBodyPartExamined  = 0x00180015
	tagSeriesNumber      = 0x00200011
)

// readDeidHeader reads the top-level attributes init announces from the
// start of a de-identified file. Text that is not UTF-8 (a description
// kept by the Clean Descriptors option in another character set) has its
// invalid bytes replaced by '?'. A truncated or unreadable start gives the
// values read so far.
func readDeidHeader(head []byte) deidHeader {
	var h deidHeader
	fields := map[dicomio.Tag]*string{
		tagStudyDate: &h.studyDate, tagSeriesDate: &h.seriesDate, tagStudyTime: &h.studyTime, tagSeriesTime: &h.seriesTime,
		tagModality: &h.modality, tagInstitutionName: &h.institutionName, tagStudyDescription: &h.studyDescription,
		tagSeriesDescription: &h.seriesDescription, tagBodyPartExamined: &h.bodyPart, tagSeriesNumber: &h.seriesNumber,
	}
	r := dicomio.NewReader(bytes.NewReader(head), int64(len(head))+1)
	if _, err := r.ReadMeta(); err != nil {
		return h
	}
	for {
		e, err := r.Next()
		if err != nil {
			return h
		}
		if r.Depth() > 0 || e.Tag.Group() == 0xFFFE {
			continue
		}
		if e.Tag > tagSeriesNumber {
			return h
		}
		dst := fields[e.Tag]
		if dst == nil {
			continue
		}
		if e.Length == dicomio.UndefinedLength {
			continue
		}
		v, err := r.ReadValue(4096)
		if err != nil {
			return h
		}
		s := strings.TrimSpace(dicomio.TrimText(v))
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "?")
		}
		*dst = s
	}
}
