package ohifbridge

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Store keeps the bridge's short-lived records: login hints, codes,
// sessions and token records, as opaque values under keys that are hashes
// of the bridge's own random tokens. Records expire by themselves; the
// bridge deletes them early when they are used or revoked.
//
// Add must be atomic: of concurrent Adds of one key, exactly one reports
// added == true. That is what makes hints, codes and refresh tokens
// single-use across instances (with Redis: SET key value NX PX ttl).
// A store must return an error rather than accept a record it would
// forget before its ttl.
type Store interface {
	// Add stores value under key for ttl unless the key holds an
	// unexpired value, and reports whether it stored it. ttl > 0.
	Add(ctx context.Context, key string, value []byte, ttl time.Duration) (added bool, err error)
	// Get returns the unexpired value under key; ok is false if there is
	// none.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Delete removes key. Deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
}

// defaultStoreEntries bounds the in-memory store. A launch uses five to
// eight records (hint, code, session, two per token pair), so this holds
// several thousand live sessions.
const defaultStoreEntries = 1 << 16

// errStoreFull is returned by the in-memory store when it is full of
// unexpired records; the bridge answers 503.
var errStoreFull = errors.New("ohifbridge: store full")

// memoryStore is the default [Store]: a map with a capacity, expiring
// records lazily. Safe for concurrent use.
type memoryStore struct {
	max int
	now func() time.Time

	mu      sync.Mutex // guards entries
	entries map[string]memEntry
}

type memEntry struct {
	value []byte
	exp   time.Time
}

func newMemoryStore(max int, now func() time.Time) *memoryStore {
	return &memoryStore{max: max, now: now, entries: make(map[string]memEntry)}
}

func (s *memoryStore) Add(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("ohifbridge: store: ttl must be positive")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && now.Before(e.exp) {
		return false, nil
	}
	if len(s.entries) >= s.max {
		s.sweepLocked(now)
		if len(s.entries) >= s.max {
			return false, errStoreFull
		}
	}
	s.entries[key] = memEntry{value: append([]byte(nil), value...), exp: now.Add(ttl)}
	return true, nil
}

func (s *memoryStore) Get(_ context.Context, key string) ([]byte, bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || !now.Before(e.exp) {
		return nil, false, nil
	}
	return append([]byte(nil), e.value...), true, nil
}

func (s *memoryStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	delete(s.entries, key)
	s.mu.Unlock()
	return nil
}

// sweepLocked drops expired entries. It runs only when the store is full,
// so its cost is paid once per max insertions at most.
func (s *memoryStore) sweepLocked(now time.Time) {
	for k, e := range s.entries {
		if !now.Before(e.exp) {
			delete(s.entries, k)
		}
	}
}
