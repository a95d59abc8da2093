package deid

import (
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// code is a code of the DICOM Controlled Terminology (scheme DCM) naming
// the profile or an option (PS3.16 CID 7050).
type code struct{ value, meaning string }

// methodCodes lists the profile and the options chosen, by code value.
func (p *Profile) methodCodes() []code {
	o := p.opts
	codes := []code{{"113100", "Basic Application Confidentiality Profile"}}
	if o.CleanDescriptors {
		codes = append(codes, code{"113105", "Clean Descriptors Option"})
	}
	if o.RetainLongitudinalModifiedDates {
		codes = append(codes, code{"113107", "Retain Longitudinal Temporal Information Modified Dates Option"})
	}
	if o.RetainPatientCharacteristics {
		codes = append(codes, code{"113108", "Retain Patient Characteristics Option"})
	}
	if o.RetainDeviceIdentity {
		codes = append(codes, code{"113109", "Retain Device Identity Option"})
	}
	if len(p.safe) > 0 {
		codes = append(codes, code{"113111", "Retain Safe Private Option"})
	}
	return codes
}

// method is De-identification Method (0012,0063): the code meanings, one
// value each.
func (p *Profile) method() string {
	var m []string
	for _, c := range p.methodCodes() {
		m = append(m, c.meaning)
	}
	return strings.Join(m, `\`)
}

// plan lists the top-level elements the run writes itself.
func (s *run) plan() {
	w := s.w
	s.inserts = []insert{
		{tagIdentityRemoved, func() error { return w.WriteElement(tagIdentityRemoved, vrCS, []byte("YES")) }},
		{tagMethod, func() error { return w.WriteElement(tagMethod, vrLO, []byte(s.p.methodText)) }},
		{tagMethodCodeSequence, func() error {
			if err := w.Begin(tagMethodCodeSequence, vrSQ); err != nil {
				return err
			}
			for _, c := range s.p.methodCodes() {
				if err := w.BeginItem(); err != nil {
					return err
				}
				for _, e := range [...]struct {
					tag dicomio.Tag
					vr  dicomio.VR
					v   string
				}{{tagCodeValue, vrSH, c.value}, {tagCodingScheme, vrSH, "DCM"}, {tagCodeMeaning, vrLO, c.meaning}} {
					if err := w.WriteElement(e.tag, e.vr, []byte(e.v)); err != nil {
						return err
					}
				}
				if err := w.EndItem(); err != nil {
					return err
				}
			}
			return w.End()
		}},
	}
	if s.p.opts.RetainLongitudinalModifiedDates {
		s.inserts = append(s.inserts, insert{tagLongitudinalModified, func() error {
			return w.WriteElement(tagLongitudinalModified, vrCS, []byte("MODIFIED"))
		}})
	}
}

// flushInserts writes the planned elements whose tag is at most before.
func (s *run) flushInserts(before uint32) error {
	for len(s.inserts) > 0 && s.inserts[0].tag <= before {
		if err := s.inserts[0].write(); err != nil {
			return s.werr(err)
		}
		s.inserts = s.inserts[1:]
	}
	return nil
}

// shiftDates moves each date of a DA or DT value (several values, and
// ranges, allowed) days into the past, keeping its precision and any time
// of day. A value that is not a date is emptied.
func shiftDates(v string, dt bool, days int) string {
	vals := strings.Split(v, `\`)
	for i, val := range vals {
		ends := strings.Split(val, "-")
		if dt {
			ends = []string{val} // DT offsets use '-'
		}
		for j, e := range ends {
			ends[j] = shiftOne(strings.TrimSpace(e), days)
		}
		vals[i] = strings.Join(ends, "-")
	}
	return strings.Join(vals, `\`)
}

func shiftOne(v string, days int) string {
	if v == "" {
		return ""
	}
	n := 0
	for n < len(v) && n < 8 && v[n] >= '0' && v[n] <= '9' {
		n++
	}
	if n != 4 && n != 6 && n != 8 {
		return ""
	}
	full := v[:n] + "01010101"[n-4:][:8-n]
	d, err := time.Parse("20060102", full)
	if err != nil {
		return ""
	}
	return d.AddDate(0, 0, -days).Format("20060102")[:n] + v[n:]
}
