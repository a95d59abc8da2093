package hmac

import (
	stdhmac "crypto/hmac"
	"crypto/sha256"
	"hash"
	"time"
)

// secondsPerDay converts a Unix timestamp into its UTC day number.
const secondsPerDay = 24 * 60 * 60

// dateKey returns kDate = HMAC-SHA256(key = "AURA"+secret, data = date).
func dateKey(secret, date string) []byte {
	m := stdhmac.New(sha256.New, []byte("AURA"+secret))
	m.Write([]byte(date))
	return m.Sum(nil)
}

// signingKeyFrom returns kSign = HMAC-SHA256(kDate, "aura_request").
func signingKeyFrom(kDate []byte) []byte {
	m := stdhmac.New(sha256.New, kDate)
	m.Write([]byte(Service))
	return m.Sum(nil)
}

// dayKey is the derived signing key of one secret for one UTC day, with an
// HMAC already keyed by it. It is immutable once built, so goroutines share
// it freely: each signature clones mac and never writes to mac itself.
type dayKey struct {
	secret string
	day    int64  // Unix timestamp / 86400
	date   string // YYYYMMDD of day, in UTC
	kSign  []byte
	mac    hash.Hash // HMAC-SHA256 keyed with kSign; template for clone
}

// newDayKey derives the key of secret for the UTC day of timestamp ts
// (ts >= 0). This costs four HMAC key schedules, which is why Signer and
// Verifier cache the result.
func newDayKey(secret string, ts int64) *dayKey {
	day := ts / secondsPerDay
	date := dateOf(ts)
	kSign := signingKeyFrom(dateKey(secret, date))
	return &dayKey{secret: secret, day: day, date: date, kSign: kSign, mac: newMAC(kSign)}
}

// matches reports whether k is the key of secret for the day of ts.
func (k *dayKey) matches(secret string, ts int64) bool {
	return k != nil && k.day == ts/secondsPerDay && k.secret == secret
}

// sign returns HMAC-SHA256(kSign, sts).
func (k *dayKey) sign(sts []byte) (sum [sha256.Size]byte) {
	var m hash.Hash
	if c, ok := k.mac.(hash.Cloner); ok {
		if cl, err := c.Clone(); err == nil {
			m, _ = cl.(hash.Hash)
		}
	}
	if m == nil {
		m = newMAC(k.kSign)
	}
	m.Write(sts)
	m.Sum(sum[:0])
	return sum
}

// newMAC returns an HMAC-SHA256 keyed with key.
func newMAC(key []byte) hash.Hash { return stdhmac.New(sha256.New, key) }

// dateOf returns the UTC date of Unix timestamp ts as YYYYMMDD.
func dateOf(ts int64) string { return time.Unix(ts, 0).UTC().Format("20060102") }
