package share

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// RevocationStore remembers revoked tokens by their revocation id
// ([Claims.RevocationID]). redisstore implements it for services that run
// on several machines; [MemoryRevocations] is the in-process version.
// Implementations must be safe for concurrent use.
type RevocationStore interface {
	// Revoke marks the token with this jti as revoked; the entry may be
	// forgotten after expiresAt. For a token that never expires,
	// [Service.Revoke] passes the last second of year 9999 (UTC).
	Revoke(ctx context.Context, jti string, expiresAt time.Time) error
	// Revoked reports whether the token with this jti was revoked.
	Revoked(ctx context.Context, jti string) (bool, error)
}

// neverExpires is the expiresAt that [Service.Revoke] passes for tokens
// without an expiration date: the last second of year 9999, UTC, far
// enough that a store never forgets the entry and small enough for any
// store's TTL arithmetic.
var neverExpires = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// defaultMaxRevocations bounds a [MemoryRevocations] whose MaxEntries is 0.
const defaultMaxRevocations = 100_000

// MemoryRevocations is a bounded in-memory [RevocationStore]. Entries are
// dropped once their token has expired. When the store is full of
// unexpired entries Revoke fails with [ErrStoreFull] rather than forget a
// revocation (which would silently re-enable a token).
//
// The zero value is ready to use. It is safe for concurrent use.
type MemoryRevocations struct {
	// MaxEntries bounds the number of remembered tokens; 0 means
	// defaultMaxRevocations.
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.RWMutex         // guards entries and sweepAt
	entries map[string]time.Time // revocation id -> token expiry
	sweepAt int                  // sweep expired entries when len(entries) reaches this
}

func (m *MemoryRevocations) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Revoke implements [RevocationStore].
func (m *MemoryRevocations) Revoke(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	max := m.MaxEntries
	if max <= 0 {
		max = defaultMaxRevocations
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = make(map[string]time.Time)
	}
	if old, ok := m.entries[jti]; ok {
		if expiresAt.After(old) {
			m.entries[jti] = expiresAt
		}
		return nil
	}
	// Sweep when full, and whenever the map has doubled since the last
	// sweep, so that a store that never fills up does not keep expired
	// entries forever (amortised O(1) per Revoke).
	if len(m.entries) >= max || len(m.entries) >= m.sweepAt {
		m.sweepLocked(now)
		m.sweepAt = 2*len(m.entries) + 64
	}
	if len(m.entries) >= max {
		return fmt.Errorf("%w (%d entries)", ErrStoreFull, max)
	}
	m.entries[jti] = expiresAt
	return nil
}

func (m *MemoryRevocations) sweepLocked(now time.Time) {
	for k, exp := range m.entries {
		if !now.Before(exp) {
			delete(m.entries, k)
		}
	}
}

// Revoked implements [RevocationStore]. Entries past their expiry report
// false: the token is refused as expired anyway.
func (m *MemoryRevocations) Revoked(ctx context.Context, jti string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.RLock()
	exp, ok := m.entries[jti]
	m.mu.RUnlock()
	return ok && m.now().Before(exp), nil
}

// Len returns the number of entries held, expired ones included until the
// next sweep.
func (m *MemoryRevocations) len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}
