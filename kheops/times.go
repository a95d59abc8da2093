package kheops

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// Time is a time in a KHEOPS JSON document, in UTC. It decodes both
// formats KHEOPS writes (see docs/kheops-api.md, "Times"): a UTC
// date-time without zone ("2024-05-06T07:08:09.123456", 0 to 9
// fractional digits, seconds omitted when zero) and an ISO-8601 date-time
// with offset ("2099-12-31T22:59Z", possibly followed by a "[zone]").
// null, an empty string or anything unreadable give the zero time: one
// odd field does not make a whole document unreadable.
type Time struct{ time.Time }

// UnmarshalJSON decodes either KHEOPS time format.
func (j *Time) UnmarshalJSON(b []byte) error {
	j.Time = time.Time{}
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	j.Time = parseTime(s)
	return nil
}

func parseTime(s string) time.Time {
	if i := strings.IndexByte(s, '['); i > 0 {
		s = s[:i]
	}
	if len(s) > 64 {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	if t, err := parseLocalDateTime(s); err == nil {
		return t
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC); err == nil {
		return t
	}
	return time.Time{}
}
