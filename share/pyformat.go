package share

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// This file writes JSON and dates the way the Python services do, so that
// a payload minted here is byte-identical to PyJWT's for the same claims:
// json.dumps with separators (",", ":") and ensure_ascii (every rune
// outside printable ASCII as a lowercase \uXXXX escape, surrogate pairs
// above the BMP, no HTML escaping), and datetime.isoformat.

const hexDigits = "0123456789abcdef"

// appendPyString appends s as Python's json.dumps(s, ensure_ascii=True)
// would. s must be valid UTF-8 (checked by the callers).
func appendPyString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r >= 0x20 && r <= 0x7e:
			b = append(b, byte(r))
		case r > 0xffff:
			r -= 0x10000
			b = appendU4(b, 0xd800|(r>>10)&0x3ff)
			b = appendU4(b, 0xdc00|r&0x3ff)
		default:
			b = appendU4(b, r)
		}
	}
	return append(b, '"')
}

func appendU4(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// appendPyNullString appends null for "" and the quoted string otherwise.
func appendPyNullString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendPyString(b, s)
}

// formatPyTime formats t in UTC as Python's datetime.isoformat() does for
// an aware UTC datetime: seconds always, microseconds only when non-zero,
// offset "+00:00".
func formatPyTime(t time.Time) string {
	t = t.UTC()
	b := make([]byte, 0, 32)
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		b = append(b, '.')
		s := strconv.Itoa(us)
		for i := len(s); i < 6; i++ {
			b = append(b, '0')
		}
		b = append(b, s...)
	}
	return string(append(b, "+00:00"...))
}

var errTime = errors.New("share: not an ISO-8601 date and time")

// parsePyTime parses the date-times the Python services accept and write:
// YYYY-MM-DD[T or space]HH:MM[:SS[.fraction]][Z|±HH[[:]MM]]. A time
// without an offset is taken as UTC (the Python services store it naive
// and then fail at validation). Fractions beyond nanoseconds are
// truncated; the result is truncated to microseconds like Python's.
func parsePyTime(s string) (time.Time, error) {
	if !utf8.ValidString(s) || len(s) > 64 {
		return time.Time{}, errTime
	}
	p := &scanner{s: s}
	year, ok1 := p.digits(4, 4)
	ok2 := p.lit('-')
	month, ok3 := p.digits(1, 2)
	ok4 := p.lit('-')
	day, ok5 := p.digits(1, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return time.Time{}, errTime
	}
	if !p.lit('T') && !p.lit('t') && !p.lit(' ') {
		return time.Time{}, errTime
	}
	hour, ok1 := p.digits(1, 2)
	ok2 = p.lit(':')
	minute, ok3 := p.digits(1, 2)
	if !(ok1 && ok2 && ok3) {
		return time.Time{}, errTime
	}
	sec, nsec := 0, 0
	if p.lit(':') {
		var ok bool
		if sec, ok = p.digits(1, 2); !ok {
			return time.Time{}, errTime
		}
		if p.lit('.') {
			start := p.i
			for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
				p.i++
			}
			n := p.i - start
			if n == 0 || n > 12 {
				return time.Time{}, errTime
			}
			frac := p.s[start:p.i]
			if n > 9 {
				frac = frac[:9]
			}
			v, _ := strconv.Atoi(frac)
			for i := len(frac); i < 9; i++ {
				v *= 10
			}
			nsec = v
		}
	}
	offset := 0
	if p.i < len(p.s) {
		switch c := p.s[p.i]; c {
		case 'Z', 'z':
			p.i++
		case '+', '-':
			p.i++
			oh, ok := p.digits(2, 2)
			if !ok {
				return time.Time{}, errTime
			}
			om := 0
			if p.i < len(p.s) {
				p.lit(':')
				if om, ok = p.digits(2, 2); !ok {
					return time.Time{}, errTime
				}
			}
			if oh > 23 || om > 59 {
				return time.Time{}, errTime
			}
			offset = oh*3600 + om*60
			if c == '-' {
				offset = -offset
			}
		default:
			return time.Time{}, errTime
		}
	}
	if p.i != len(p.s) {
		return time.Time{}, errTime
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 || year < 1 {
		return time.Time{}, errTime
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 31 February and the like
		return time.Time{}, errTime
	}
	t = t.Add(-time.Duration(offset) * time.Second)
	if y := t.Year(); y < 1 || y > 9999 {
		// In UTC the date leaves Python's datetime range (and the
		// four-digit years written here): 0001-01-01T00:00+01:00.
		return time.Time{}, errTime
	}
	return t.Truncate(time.Microsecond), nil
}

type scanner struct {
	s string
	i int
}

func (p *scanner) lit(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// digits reads between min and max ASCII digits.
func (p *scanner) digits(min, max int) (int, bool) {
	v, n := 0, 0
	for n < max && p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		v = v*10 + int(p.s[p.i]-'0')
		p.i++
		n++
	}
	return v, n >= min
}
