package deid

import (
	"math/big"
	"strings"
)

// uidFrom makes a "2.25." UID of the first 16 bytes of sum, with the
// version (8, custom) and variant bits of a UUID set so that the integer
// is a valid UUID as PS3.5 B.2 asks.
func uidFrom(sum []byte) string {
	var u [16]byte
	copy(u[:], sum)
	u[6] = u[6]&0x0F | 0x80
	u[8] = u[8]&0x3F | 0x80
	return "2.25." + new(big.Int).SetBytes(u[:]).String()
}

// pseudonym is the keyed pseudonym of an original Patient ID: 20
// upper-case base-32 characters (100 bits).
func (p *Profile) pseudonym(patientID string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	sum := p.mac("patient", patientID)
	var b strings.Builder
	var acc uint64
	bits := 0
	for _, c := range sum {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 && b.Len() < 20 {
			bits -= 5
			b.WriteByte(alphabet[acc>>bits&31])
		}
	}
	return b.String()
}

// dateShift is the keyed number of days, 1 to 3650, that dates of the
// patient move into the past.
func (p *Profile) dateShift(patientID string) int {
	sum := p.mac("date-shift", patientID)
	return int((uint32(sum[0])<<24|uint32(sum[1])<<16|uint32(sum[2])<<8|uint32(sum[3]))%3650) + 1
}
