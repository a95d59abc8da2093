package auraserver

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/uploadtoken"
)

// ExpiredGrace is how long stores keep a record after it expires, so that
// a late call is told "expired" rather than "unknown".
const ExpiredGrace = time.Hour

// MemoryStore is an in-process uploadtoken.Store. Expired records are dropped
// (ExpiredGrace after expiry) as new ones are saved, so memory stays
// bounded by the tokens alive at once. The zero value is ready to use and
// it is safe for concurrent use.
type MemoryStore struct {
	Now func() time.Time // nil: time.Now

	mu        sync.Mutex // guards entries and lastSweep
	entries   map[string]*memEntry
	lastSweep time.Time
}

type memEntry struct {
	rec  uploadtoken.Record
	uses int
}

// Save implements uploadtoken.Store.
func (m *MemoryStore) Save(ctx context.Context, id string, rec uploadtoken.Record) error {
	now := m.now()
	rec.Scopes = slices.Clone(rec.Scopes)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[string]*memEntry{}
	}
	if now.Sub(m.lastSweep) > time.Minute {
		for k, e := range m.entries {
			if now.After(e.rec.ExpiresAt.Add(ExpiredGrace)) {
				delete(m.entries, k)
			}
		}
		m.lastSweep = now
	}
	m.entries[id] = &memEntry{rec: rec}
	return nil
}

// Load implements uploadtoken.Store.
func (m *MemoryStore) Load(ctx context.Context, id string) (*uploadtoken.Record, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[id]
	if !ok || now.After(e.rec.ExpiresAt.Add(ExpiredGrace)) {
		return nil, uploadtoken.ErrUnknownToken
	}
	rec := e.rec
	rec.Scopes = slices.Clone(rec.Scopes)
	return &rec, nil
}

// Use implements uploadtoken.Store.
func (m *MemoryStore) Use(ctx context.Context, id string, max int, expiresAt time.Time) (int, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[id]
	if !ok {
		return 0, false, uploadtoken.ErrUnknownToken
	}
	if max > 0 && e.uses >= max {
		return e.uses, false, nil
	}
	e.uses++
	return e.uses, true, nil
}

func (m *MemoryStore) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}
