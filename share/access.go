package share

// A fast reader for the validation bodies the authorization plugin sends:
// a flat JSON object of ASCII strings (and null, booleans, arrays of
// strings for "labels"). It answers only when the body is in that simple
// subset and no rule of encoding/json (case-insensitive keys, duplicate
// keys, escapes, Unicode) could give another result; otherwise it declines
// and parseAccess uses encoding/json. FuzzParseAccessFast checks that both
// agree whenever the fast path answers.

type accessField int

const (
	fUnknown accessField = iota
	fMethod
	fLevel
	fOrthancID
	fDicomUID
	fServerID
	fIdentifier
	fTokenValue
	fCount
)

// accessKey maps a key exactly as written to its field. ok is false when
// the key is not exactly known but encoding/json would fold it onto a
// known one (e.g. "Method"), so the fast path must decline.
func accessKey(k []byte) (f accessField, ok bool) {
	switch string(k) {
	case "method":
		return fMethod, true
	case "level":
		return fLevel, true
	case "orthanc-id":
		return fOrthancID, true
	case "dicom-uid":
		return fDicomUID, true
	case "server-id":
		return fServerID, true
	case "identifier":
		return fIdentifier, true
	case "token-value":
		return fTokenValue, true
	}
	for _, name := range [...]string{"method", "level", "orthanc-id", "dicom-uid", "server-id", "identifier", "token-value"} {
		if asciiEqualFold(string(k), name) {
			return fUnknown, false
		}
	}
	return fUnknown, true
}

type fastScanner struct {
	b []byte
	i int
}

func (s *fastScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str reads a string of printable ASCII without escapes.
func (s *fastScanner) str() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		if c == '"' {
			s.i = j + 1
			return s.b[start:j], true
		}
		if c < 0x20 || c > 0x7e || c == '\\' {
			return nil, false
		}
	}
	return nil, false
}

func (s *fastScanner) lit(l string) bool {
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}

// skipValue skips null, true, false, a simple string, or an array of
// simple strings.
func (s *fastScanner) skipValue() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case 'n':
		return s.lit("null")
	case 't':
		return s.lit("true")
	case 'f':
		return s.lit("false")
	case '[':
		s.i++
		s.ws()
		if s.lit("]") {
			return true
		}
		for {
			s.ws()
			if _, ok := s.str(); !ok {
				return false
			}
			s.ws()
			if s.lit("]") {
				return true
			}
			if !s.lit(",") {
				return false
			}
		}
	}
	return false
}

// parseAccessFast reads body if it is in the simple subset; ok is false
// when encoding/json must decide.
func parseAccessFast(body []byte) (a Access, ok bool) {
	s := fastScanner{b: body}
	var present, set [fCount]bool // key seen; value not null
	var vals [fCount]string
	s.ws()
	if !s.lit("{") {
		return Access{}, false
	}
	s.ws()
	if !s.lit("}") {
		for {
			s.ws()
			k, ok := s.str()
			if !ok {
				return Access{}, false
			}
			f, ok := accessKey(k)
			if !ok {
				return Access{}, false
			}
			s.ws()
			if !s.lit(":") {
				return Access{}, false
			}
			s.ws()
			if f == fUnknown {
				if !s.skipValue() {
					return Access{}, false
				}
			} else {
				if present[f] {
					return Access{}, false // duplicate: let encoding/json apply its rule
				}
				present[f] = true
				if !s.lit("null") { // null leaves the field unset, like a nil *string
					v, ok := s.str()
					if !ok {
						return Access{}, false
					}
					vals[f], set[f] = string(v), true
				}
			}
			s.ws()
			if s.lit("}") {
				break
			}
			if !s.lit(",") {
				return Access{}, false
			}
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return Access{}, false
	}
	a = Access{
		Method: vals[fMethod], Level: Level(vals[fLevel]), OrthancID: vals[fOrthancID],
		DicomUID: vals[fDicomUID], Token: vals[fTokenValue],
	}
	switch {
	case set[fServerID]:
		a.ServerID = vals[fServerID]
	case set[fIdentifier]:
		a.ServerID = vals[fIdentifier]
	}
	return a, true
}
