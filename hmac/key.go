package hmac

import (
	stdhmac "crypto/hmac"
	"crypto/sha256"
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
	m.Write([]byte(service))
	return m.Sum(nil)
}

// dayKey is the derived signing key of one secret for one UTC day. It is
// immutable once built, so goroutines share it freely.
//
// The derivation uses crypto/hmac. The per-request HMAC with kSign is the
// RFC 2104 construction H(kSign^opad || H(kSign^ipad || msg)) computed with
// sha256.Sum256 over stack buffers, from the two padded key blocks kept
// here: unlike a hash.Hash, Sum256 lets the message stay on the stack, which
// makes Sign allocation-light. TestMACMatchesCryptoHMAC checks it against
// crypto/hmac.
type dayKey struct {
	secret     string
	day        int64  // Unix timestamp / 86400
	date       string // YYYYMMDD of day, in UTC
	kSign      []byte
	ipad, opad [sha256.BlockSize]byte // kSign XOR 0x36 / 0x5c, zero-padded
}

// newDayKey derives the key of secret for the UTC day of timestamp ts
// (ts >= 0). This costs four HMAC key schedules, which is why Signer and
// Verifier cache the result.
func newDayKey(secret string, ts int64) *dayKey {
	date := dateOf(ts)
	k := &dayKey{secret: secret, day: ts / secondsPerDay, date: date, kSign: signingKeyFrom(dateKey(secret, date))}
	copy(k.ipad[:], k.kSign) // kSign is 32 bytes, shorter than a block
	copy(k.opad[:], k.kSign)
	for i := range k.ipad {
		k.ipad[i] ^= 0x36
		k.opad[i] ^= 0x5c
	}
	return k
}

// dateOf returns the UTC date of Unix timestamp ts as YYYYMMDD.
func dateOf(ts int64) string { return time.Unix(ts, 0).UTC().Format("20060102") }

// matches reports whether k is the key of secret for the day of ts.
func (k *dayKey) matches(secret string, ts int64) bool {
	return k != nil && k.day == ts/secondsPerDay && k.secret == secret
}

// appendInner starts an HMAC input in b: append the message after it and
// pass the result to finish.
func (k *dayKey) appendInner(b []byte) []byte { return append(b, k.ipad[:]...) }

// finish returns HMAC-SHA256(kSign, msg) for inner = appendInner(...)+msg.
func (k *dayKey) finish(inner []byte) [sha256.Size]byte {
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], k.opad[:])
	h := sha256.Sum256(inner)
	copy(outer[sha256.BlockSize:], h[:])
	return sha256.Sum256(outer[:])
}

// sign returns HMAC-SHA256(kSign, msg).
func (k *dayKey) sign(msg []byte) [sha256.Size]byte {
	return k.finish(append(k.appendInner(make([]byte, 0, sha256.BlockSize+len(msg))), msg...))
}
