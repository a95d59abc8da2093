package deid

import (
	"fmt"
	"io"
	"strings"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// dataset processes the elements of the dataset being read, up to its end:
// the end of the file at depth 0, the item delimiter inside an item. In
// dummy mode (inside a sequence the profile replaces with a dummy value)
// every kept text value is replaced too.
func (s *run) dataset(depth int, dummy bool) error {
	var creators map[uint32]string // private creators of this dataset, by group<<8 | block
	for {
		h, err := s.r.Next()
		if err == io.EOF && depth == 0 {
			return s.flushInserts(0xFFFFFFFF)
		}
		if err != nil {
			return mapReadErr(s.ctx, err)
		}
		if h.Tag == dicomio.TagItemDelimitation && depth > 0 {
			return nil
		}
		if h.Tag.Group() == 0xFFFE {
			return fmt.Errorf("%w: %v where an element was expected", ErrMalformed, h.Tag)
		}
		if s.elements++; s.elements%256 == 0 && s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		tag := uint32(h.Tag)
		if depth == 0 {
			if err := s.flushInserts(tag); err != nil {
				return err
			}
		}
		if tag&0xFFFF == 0 || h.Tag.Group() == 0x0002 {
			if err := s.drop(h); err != nil { // group lengths, which change, and stray meta elements
				return err
			}
			continue
		}
		if h.Tag.Group()%2 == 1 {
			keep, written, err := s.private(h, &creators)
			if written {
				continue
			}
			if err != nil || !keep {
				if err == nil {
					s.res.PrivateRemoved++
					err = s.drop(h)
				}
				if err != nil {
					return err
				}
				continue
			}
			if err := s.keep(h, s.vrOf(h), depth, dummy); err != nil {
				return err
			}
			continue
		}
		if err := s.public(h, depth, dummy); err != nil {
			return err
		}
	}
}

// vrOf is the VR a value is handled as: the dictionary's for implicit VR
// and for UN, the file's otherwise.
func (s *run) vrOf(h dicomio.Header) dicomio.VR {
	if h.VR != 0 && h.VR != vrUN {
		return h.VR
	}
	if vr := dicomio.VR(vrFor(uint32(h.Tag))); vr != 0 {
		return vr
	}
	if h.Length == dicomio.UndefinedLength && h.Tag != dicomio.TagPixelData {
		return vrSQ // an undefined-length UN is a sequence (PS3.5 6.2.2)
	}
	return vrUN
}

// private decides whether a private element stays: a creator that the
// safe list names, an element of such a creator's block that it lists.
// A creator that stays is written here (written).
func (s *run) private(h dicomio.Header, creators *map[uint32]string) (keep, written bool, err error) {
	g, e := uint32(h.Tag.Group()), uint32(h.Tag)&0xFFFF
	if g <= 0x0007 || g == 0xFFFF || len(s.p.safe) == 0 || e < 0x0010 {
		return false, false, nil
	}
	if e <= 0x00FF {
		if h.Length > 64 {
			return false, false, nil
		}
		v, err := s.r.ReadValue(64)
		if err != nil {
			return false, false, mapReadErr(s.ctx, err)
		}
		name := strings.TrimSpace(dicomio.TrimText(v))
		if *creators == nil {
			*creators = map[uint32]string{}
		}
		(*creators)[g<<8|e] = name
		if !s.p.creators[name] {
			return false, false, nil
		}
		return true, true, s.writeValue(h, v)
	}
	name, ok := (*creators)[g<<8|e>>8]
	return ok && s.p.safe[PrivateTag{Creator: name, Group: uint16(g), Element: uint8(e)}], false, nil
}

// public applies the profile to a standard element.
func (s *run) public(h dicomio.Header, depth int, dummy bool) error {
	tag := uint32(h.Tag)
	vr := s.vrOf(h)
	if depth == 0 {
		switch tag {
		case tagPatientID, tagPatientName:
			s.res.Actions[tag] = Dummy
			return s.replace(h, []byte(s.res.PatientID))
		case tagIdentityRemoved, tagMethod, tagMethodCodeSequence:
			return s.drop(h) // written by the run
		case tagLongitudinalModified:
			if s.p.opts.RetainLongitudinalModifiedDates {
				return s.drop(h)
			}
		case tagBurnedIn:
			v, err := s.value(h)
			if err != nil {
				return err
			}
			if strings.EqualFold(dicomio.TrimText(v), "YES") && !s.p.opts.AcceptBurnedIn {
				return ErrBurnedIn
			}
			return s.writeValue(h, v)
		}
	}
	a := s.p.action(tag, vr == vrSQ)
	if a == actK && dummy && vr != vrSQ && dummyText(vr) {
		a = actD
	}
	if a != actK {
		s.res.Actions[tag] = a.applied()
	}
	switch a {
	case actX:
		return s.drop(h)
	case actZ:
		if err := s.drop(h); err != nil {
			return err
		}
		return s.werr(s.w.WriteElement(h.Tag, h.VR, nil))
	case actD:
		if vr == vrSQ {
			return s.keep(h, vr, depth, true)
		}
		return s.dummy(h, vr, depth)
	case actU:
		if vr == vrSQ {
			return s.keep(h, vr, depth, dummy)
		}
		return s.uids(h, depth)
	case actC:
		if vr == vrSQ {
			return s.keep(h, vr, depth, dummy)
		}
		return s.clean(h, vr)
	default: // actK, actXZU on a sequence: the UIDs inside are replaced
		return s.keep(h, vr, depth, dummy)
	}
}

// action resolves the table's action for a tag with the options chosen.
// Combined actions depend on the attribute's type in the IOD, which a
// de-identifier of arbitrary files does not know: they resolve to the
// action that keeps every IOD valid (docs/deid.md, "Combined actions").
func (p *Profile) action(tag uint32, sequence bool) act {
	r, ok := ruleFor(tag)
	if !ok {
		return actK
	}
	a := r.basic
	o := p.opts
	var opt act
	for _, c := range [...]struct {
		on bool
		a  act
	}{{o.RetainLongitudinalModifiedDates, r.modDates}, {o.RetainPatientCharacteristics, r.patChars}, {o.RetainDeviceIdentity, r.devID}, {o.CleanDescriptors, r.desc}} {
		if c.on && (c.a == actK || c.a == actC && opt != actK) {
			opt = c.a
		}
	}
	if opt != none {
		a = opt
	}
	switch a {
	case actXZ:
		return actZ
	case actXD, actZD, actXZD:
		return actD
	case actXZU:
		if sequence {
			return actXZU
		}
		return actZ
	}
	return a
}

// drop skips an element.
func (s *run) drop(h dicomio.Header) error {
	if h.Length == dicomio.UndefinedLength {
		if err := s.r.Skip(); err != nil {
			return mapReadErr(s.ctx, err)
		}
	}
	return nil
}

// value reads a value that is to be changed.
func (s *run) value(h dicomio.Header) ([]byte, error) {
	if h.Length == dicomio.UndefinedLength {
		return nil, fmt.Errorf("%w: %v has an undefined length", ErrMalformed, h.Tag)
	}
	v, err := s.r.ReadValue(maxValue)
	if err != nil {
		return nil, mapReadErr(s.ctx, err)
	}
	return v, nil
}

// replace writes h's element with a new value, skipping the old one.
func (s *run) replace(h dicomio.Header, v []byte) error {
	if err := s.drop(h); err != nil {
		return err
	}
	return s.writeValue(h, v)
}

func (s *run) writeValue(h dicomio.Header, v []byte) error {
	vr := h.VR
	if vr == 0 {
		vr = s.vrOf(h) // padding only
	}
	return s.werr(s.w.WriteElement(h.Tag, vr, v))
}

// werr wraps an error of the output.
func (s *run) werr(err error) error {
	if err != nil {
		return fmt.Errorf("deid: write: %w", err)
	}
	return nil
}

// keep copies an element, streaming its value; a sequence's items are
// processed by the profile, encapsulated fragments copied.
func (s *run) keep(h dicomio.Header, vr dicomio.VR, depth int, dummy bool) error {
	switch {
	case vr == vrSQ:
		return s.sequence(h, depth, dummy)
	case h.Length == dicomio.UndefinedLength:
		return s.fragments(h)
	case h.Length%2 == 1:
		v, err := s.value(h) // odd length, padded on output
		if err != nil {
			return err
		}
		return s.writeValue(h, v)
	}
	if err := s.w.WriteFrom(h.Tag, h.VR, h.Length, s.r.Value()); err != nil {
		if rerr := s.readFailure(); rerr != nil {
			return rerr
		}
		return s.werr(err)
	}
	return nil
}

// readFailure returns the input's error after a copy failed, if it was the
// input's: the Reader keeps it.
func (s *run) readFailure() error {
	if _, err := s.r.Next(); err != nil && err != io.EOF {
		return mapReadErr(s.ctx, err)
	}
	return nil
}

// sequence writes a sequence with undefined length, its items with
// undefined length, each processed as a dataset.
func (s *run) sequence(h dicomio.Header, depth int, dummy bool) error {
	if h.Length != dicomio.UndefinedLength {
		if err := s.r.Enter(); err != nil {
			return mapReadErr(s.ctx, err)
		}
	}
	outVR := h.VR
	if outVR != vrUN {
		outVR = vrSQ
	}
	if err := s.werr(s.w.Begin(h.Tag, outVR)); err != nil {
		return err
	}
	for {
		item, err := s.r.Next()
		if err != nil {
			return mapReadErr(s.ctx, err)
		}
		switch item.Tag {
		case dicomio.TagSequenceDelimitation:
			return s.werr(s.w.End())
		case dicomio.TagItem:
		default:
			return fmt.Errorf("%w: %v in sequence %v", ErrMalformed, item.Tag, h.Tag)
		}
		if item.Length != dicomio.UndefinedLength {
			if err := s.r.Enter(); err != nil {
				return mapReadErr(s.ctx, err)
			}
		}
		if err := s.werr(s.w.BeginItem()); err != nil {
			return err
		}
		if err := s.dataset(depth+1, dummy); err != nil {
			return err
		}
		if err := s.werr(s.w.EndItem()); err != nil {
			return err
		}
	}
}

// fragments copies encapsulated pixel data (or any undefined-length
// value that is not a sequence) item by item, byte for byte.
func (s *run) fragments(h dicomio.Header) error {
	if err := s.werr(s.w.Begin(h.Tag, h.VR)); err != nil {
		return err
	}
	for {
		item, err := s.r.Next()
		if err != nil {
			return mapReadErr(s.ctx, err)
		}
		switch {
		case item.Tag == dicomio.TagSequenceDelimitation:
			return s.werr(s.w.End())
		case item.Tag != dicomio.TagItem || item.Length == dicomio.UndefinedLength || item.Length%2 == 1:
			return fmt.Errorf("%w: %v in encapsulated %v", ErrMalformed, item.Tag, h.Tag)
		}
		if err := s.w.Item(item.Length, s.r.Value()); err != nil {
			if rerr := s.readFailure(); rerr != nil {
				return rerr
			}
			return s.werr(err)
		}
	}
}

// uids replaces each UID of a UI value by its keyed UID.
func (s *run) uids(h dicomio.Header, depth int) error {
	v, err := s.value(h)
	if err != nil {
		return err
	}
	parts := strings.Split(dicomio.TrimText(v), `\`)
	for i, u := range parts {
		parts[i] = s.uid(strings.TrimSpace(u))
	}
	out := strings.Join(parts, `\`)
	if depth == 0 {
		switch uint32(h.Tag) {
		case tagSOPInstanceUID:
			s.res.SOPInstanceUID = out
		case tagSeriesInstanceUID:
			s.res.SeriesInstanceUID = out
		case tagStudyInstanceUID:
			s.res.StudyInstanceUID = out
		}
	}
	return s.writeValue(h, []byte(out))
}

// dummyText reports whether a VR's values are replaced in dummy mode:
// text that can name or describe, and dates.
func dummyText(vr dicomio.VR) bool {
	switch vr.String() {
	case "AE", "AS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT":
		return true
	}
	return false
}

// dummyValues are the dummy values by VR.
var dummyValues = map[string]string{
	"AE": "ANONYMIZED", "AS": "000Y", "CS": "ANONYMIZED", "DA": "19000101", "DS": "0",
	"DT": "19000101000000", "IS": "0", "LO": "ANONYMIZED", "LT": "ANONYMIZED",
	"PN": "ANONYMIZED", "SH": "ANONYMIZED", "ST": "ANONYMIZED", "TM": "000000",
	"UC": "ANONYMIZED", "UR": "urn:uuid:00000000-0000-0000-0000-000000000000", "UT": "ANONYMIZED",
}

// dummy replaces a value by a dummy of its VR: a constant for text, the
// keyed UID for a UID, zeros of the same length for binary values. Dates
// are shifted instead when the Modified Dates option is on.
func (s *run) dummy(h dicomio.Header, vr dicomio.VR, depth int) error {
	if s.shift != 0 && (vr == vrDA || vr == vrDT || vr == vrTM) {
		return s.clean(h, vr)
	}
	if vr == vrUI {
		return s.uids(h, depth)
	}
	if d, ok := dummyValues[vr.String()]; ok {
		return s.replace(h, []byte(d))
	}
	if h.Length == dicomio.UndefinedLength {
		if err := s.drop(h); err != nil {
			return err
		}
		return s.werr(s.w.WriteElement(h.Tag, h.VR, nil))
	}
	if h.Length%2 == 1 {
		if _, err := s.value(h); err != nil {
			return err
		}
		return s.werr(s.w.WriteElement(h.Tag, h.VR, make([]byte, h.Length+1)))
	}
	// Zeros in place of the bytes as they are read: a value that claims
	// more bytes than the input holds fails like any short value.
	if err := s.w.WriteFrom(h.Tag, h.VR, h.Length, zeroing{s.r.Value()}); err != nil {
		if rerr := s.readFailure(); rerr != nil {
			return rerr
		}
		return s.werr(err)
	}
	return nil
}

// zeroing reads from r and hands out zeros instead of what it read.
type zeroing struct{ r io.Reader }

func (z zeroing) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	clear(p[:n])
	return n, err
}

// clean applies C: dates shifted, times kept, text with the patient's
// name parts and ID cut out, other values kept.
func (s *run) clean(h dicomio.Header, vr dicomio.VR) error {
	switch vr {
	case vrDA, vrDT:
		v, err := s.value(h)
		if err != nil {
			return err
		}
		return s.writeValue(h, []byte(shiftDates(dicomio.TrimText(v), vr == vrDT, s.shift)))
	case vrTM, vrUI, vrCS:
		return s.keep(h, vr, 0, false)
	}
	if !dummyText(vr) {
		return s.keep(h, vr, 0, false)
	}
	v, err := s.value(h)
	if err != nil {
		return err
	}
	return s.writeValue(h, []byte(cutText(string(v), s.cut)))
}

// cutText removes every occurrence of the cut strings, ignoring the case
// of ASCII letters, and collapses the white space left.
func cutText(v string, cut []string) string {
	for _, c := range cut {
		lc := asciiLower(c)
		for {
			i := strings.Index(asciiLower(v), lc)
			if i < 0 {
				break
			}
			v = v[:i] + v[i+len(c):]
		}
	}
	return strings.Join(strings.Fields(v), " ")
}

// asciiLower lowers ASCII letters only, so that byte offsets stay put.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
