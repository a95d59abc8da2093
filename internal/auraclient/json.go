package auraclient

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// ParseInt accepts a JSON integer or an integer in a string (Laravel
// sometimes serialises numbers as strings).
func ParseInt(raw json.RawMessage) (int64, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil || f != float64(int64(f)) {
		return 0, errors.New("not an integer")
	}
	return int64(f), nil
}
