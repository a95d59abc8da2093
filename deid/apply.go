package deid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// Bounds of one run.
const (
	// peekLimit bounds the bytes read ahead for the Patient ID and Burned
	// In Annotation before anything is written (they follow the dates of
	// group 0008, which a date shift needs the Patient ID for).
	peekLimit = 16 << 20
	// maxValue bounds a value that is read to be changed: a UID list, a
	// date, a name, a description.
	maxValue = 1 << 20
)

// Tags the run handles itself.
const (
	tagSOPClassUID          = 0x00080016
	tagSOPInstanceUID       = 0x00080018
	tagPatientName          = 0x00100010
	tagPatientID            = 0x00100020
	tagIdentityRemoved      = 0x00120062
	tagMethod               = 0x00120063
	tagMethodCodeSequence   = 0x00120064
	tagStudyInstanceUID     = 0x0020000D
	tagSeriesInstanceUID    = 0x0020000E
	tagBurnedIn             = 0x00280301
	tagLongitudinalModified = 0x00280303
	tagCodeValue            = 0x00080100
	tagCodingScheme         = 0x00080102
	tagCodeMeaning          = 0x00080104
)

// mediaStorageDirectory is the SOP Class of a DICOMDIR.
const mediaStorageDirectory = "1.2.840.10008.1.3.10"

var (
	vrSQ = dicomio.VRSQ
	vrUN = dicomio.VRUN
	vrUI = dicomio.VRUI
	vrCS = dicomio.MakeVR("CS")
	vrLO = dicomio.MakeVR("LO")
	vrSH = dicomio.MakeVR("SH")
	vrDA = dicomio.MakeVR("DA")
	vrDT = dicomio.MakeVR("DT")
	vrTM = dicomio.MakeVR("TM")
)

// run is the state of one Apply.
type run struct {
	p        *Profile
	ctx      context.Context
	r        *dicomio.Reader
	w        *dicomio.Writer
	res      *Result
	patient  string   // original Patient ID
	cut      []string // what Clean cuts out of text: the name's parts, the ID
	shift    int      // days dates move back
	inserts  []insert // top-level elements still to write
	elements int
}

// insert is a top-level element the run adds.
type insert struct {
	tag   uint32
	write func() error
}

// facts is what the run reads ahead before writing.
type facts struct {
	patientID, patientName string
	burnedIn               bool
}

func (p *Profile) apply(ctx context.Context, dst io.Writer, src io.Reader) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	src = &ctxReader{ctx: ctx, r: src}
	var head bytes.Buffer
	f, err := p.peek(io.TeeReader(src, &head))
	if err != nil {
		return nil, mapReadErr(ctx, err)
	}
	if f.burnedIn && !p.opts.AcceptBurnedIn {
		return nil, ErrBurnedIn
	}
	s := &run{
		p:       p,
		ctx:     ctx,
		r:       dicomio.NewReader(io.MultiReader(&head, src), p.maxSize),
		patient: f.patientID,
		res: &Result{
			Actions:     map[uint32]Action{},
			UIDs:        map[string]string{},
			PatientID:   p.pseudonym(f.patientID),
			PatientName: p.pseudonym(f.patientID),
		},
	}
	s.cut = cutList(f)
	if p.opts.RetainLongitudinalModifiedDates {
		s.shift = p.dateShift(f.patientID)
	}
	if err := s.meta(dst); err != nil {
		return nil, err
	}
	s.plan()
	if err := s.dataset(0, false); err != nil {
		return nil, err
	}
	if err := s.w.Close(); err != nil {
		return nil, fmt.Errorf("deid: write: %w", err)
	}
	return s.res, nil
}

// peek reads the meta group and the top-level elements up to Burned In
// Annotation, without entering sequences, for the facts the run needs
// before it writes.
func (p *Profile) peek(src io.Reader) (facts, error) {
	var f facts
	r := dicomio.NewReader(src, peekLimit)
	m, err := r.ReadMeta()
	if err != nil {
		return f, err
	}
	if err := checkSyntax(m.TransferSyntaxUID); err != nil {
		return f, err
	}
	if m.MediaStorageSOPClassUID == mediaStorageDirectory {
		return f, ErrDICOMDIR
	}
	for {
		h, err := r.Next()
		if err != nil {
			return f, nil // the main pass reports it, or runs past the limit
		}
		if r.Depth() > 0 || h.Tag.Group() == 0xFFFE {
			continue
		}
		if h.Tag > tagBurnedIn {
			return f, nil
		}
		var dst *string
		switch h.Tag {
		case tagPatientID:
			dst = &f.patientID
		case tagPatientName:
			dst = &f.patientName
		case tagBurnedIn:
			v, err := r.ReadValue(64)
			if err == nil {
				f.burnedIn = strings.EqualFold(dicomio.TrimText(v), "YES")
			}
			return f, nil
		default:
			continue
		}
		if v, err := r.ReadValue(maxValue); err == nil {
			*dst = strings.TrimSpace(dicomio.TrimText(v))
		}
	}
}

// checkSyntax accepts the transfer syntaxes of the standard (whose UIDs
// start with 1.2.840.10008.1.2) and refuses private ones, whose encoding
// deid cannot know.
func checkSyntax(ts string) error {
	if ts == "" {
		return fmt.Errorf("%w: the file meta group has no transfer syntax", ErrNotDICOM)
	}
	if ts != dicomio.ImplicitVRLittleEndian && !strings.HasPrefix(ts, dicomio.ImplicitVRLittleEndian+".") {
		return fmt.Errorf("%w: %q", ErrSyntax, ts)
	}
	return nil
}

// mapReadErr turns an error of the input into the package's errors.
func mapReadErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case errors.Is(err, ErrSyntax), errors.Is(err, ErrNotDICOM), errors.Is(err, ErrDICOMDIR), errors.Is(err, ErrMalformed), errors.Is(err, ErrBurnedIn):
		return err
	case errors.Is(err, dicomio.ErrNotPart10):
		return ErrNotDICOM
	case errors.Is(err, dicomio.ErrLimit):
		return ErrTooLarge
	case errors.Is(err, dicomio.ErrTooDeep):
		return fmt.Errorf("%w: %v", ErrTooDeep, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: truncated: %v", ErrMalformed, err)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// meta reads the input's file meta group and writes the output's.
func (s *run) meta(dst io.Writer) error {
	m, err := s.r.ReadMeta()
	if err != nil {
		return mapReadErr(s.ctx, err)
	}
	ts := m.TransferSyntaxUID
	if syn, _ := dicomio.SyntaxOf(ts); syn != s.r.Syntax() {
		ts = dicomio.ImplicitVRLittleEndian // labelled explicit, read as implicit
	}
	s.res.TransferSyntaxUID = ts
	s.res.SOPClassUID = m.MediaStorageSOPClassUID
	s.w = dicomio.NewWriter(dst)
	out := dicomio.Meta{
		MediaStorageSOPClassUID:    m.MediaStorageSOPClassUID,
		MediaStorageSOPInstanceUID: s.uid(m.MediaStorageSOPInstanceUID),
		TransferSyntaxUID:          ts,
	}
	if err := s.w.WriteMeta(out); err != nil {
		return fmt.Errorf("deid: write: %w", err)
	}
	return nil
}

// uid maps one UID and records it.
func (s *run) uid(u string) string {
	if u == "" {
		return ""
	}
	n := s.p.UID(u)
	s.res.UIDs[u] = n
	return n
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// cutList is what Clean removes from text: the parts of the patient's
// name and the Patient ID, longest first.
func cutList(f facts) []string {
	var cut []string
	for _, part := range strings.FieldsFunc(f.patientName, func(r rune) bool { return r == '^' || r == '=' || r == ' ' || r == ',' }) {
		if len(part) >= 2 {
			cut = append(cut, part)
		}
	}
	if len(f.patientID) >= 2 {
		cut = append(cut, f.patientID)
	}
	for i := 1; i < len(cut); i++ {
		for j := i; j > 0 && len(cut[j]) > len(cut[j-1]); j-- {
			cut[j], cut[j-1] = cut[j-1], cut[j]
		}
	}
	return cut
}
