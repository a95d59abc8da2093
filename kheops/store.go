package kheops

import (
	"context"
	"sync"
	"time"
)

// DeliveryStore remembers which deliveries were claimed, so that the
// retries KHEOPS sends with the same delivery id reach OnEvent once.
// Implementations must be safe for concurrent use: of any number of
// concurrent Claims of one id, on any number of instances sharing the
// store, exactly one may return true. Package redisstore has one for
// several instances; [NewMemoryStore] is the one for a single process.
type DeliveryStore interface {
	// Claim records id for ttl and reports whether it was new; false
	// means another Claim of id holds it and has not been released or
	// expired.
	Claim(ctx context.Context, id string, ttl time.Duration) (bool, error)
	// Release forgets id, so that the next delivery with it is handed to
	// OnEvent again (the handler releases when OnEvent fails).
	Release(ctx context.Context, id string) error
}

// defaultMemoryEntries is the size of the store a WebhookHandler makes
// when it is given none.
const defaultMemoryEntries = 10000

// NewMemoryStore returns a DeliveryStore kept in this process's memory,
// holding at most maxEntries ids (10000 when maxEntries <= 0). Expired ids
// are evicted first; when the store is full of live ids, the oldest claim
// is forgotten, so a retry of that delivery would be handed over again.
// Use it to share one store between several handlers of one process; for
// several processes use package redisstore.
func NewMemoryStore(maxEntries int) DeliveryStore {
	if maxEntries <= 0 {
		maxEntries = defaultMemoryEntries
	}
	return &memoryStore{max: maxEntries, ids: map[string]time.Time{}, now: time.Now}
}

type claim struct {
	id      string
	expires time.Time
}

// memoryStore is a map of live ids plus their claims in claim order, which
// is expiry order as long as every claim uses the same TTL (the handler's).
type memoryStore struct {
	max int
	now func() time.Time

	mu    sync.Mutex           // guards ids and order
	ids   map[string]time.Time // id -> expiry of its live claim
	order []claim              // claims, oldest first; may hold released ones
}

func (m *memoryStore) Claim(_ context.Context, id string, ttl time.Duration) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if exp, ok := m.ids[id]; ok && now.Before(exp) {
		return false, nil
	}
	m.evict(now)
	exp := now.Add(ttl)
	m.ids[id] = exp
	m.order = append(m.order, claim{id, exp})
	return true, nil
}

// evict drops expired claims, then the oldest live ones until there is room
// for one more, and compacts order when released claims pile up.
func (m *memoryStore) evict(now time.Time) {
	i := 0
	for ; i < len(m.order); i++ {
		c := m.order[i]
		exp, live := m.ids[c.id]
		if live && !exp.Equal(c.expires) {
			continue // a newer claim of c.id is further on; this entry is stale
		}
		if live && now.Before(exp) && len(m.ids) < m.max {
			break
		}
		if live {
			delete(m.ids, c.id)
		}
	}
	m.order = m.order[i:]
	if len(m.order) > 2*m.max {
		kept := make([]claim, 0, len(m.ids))
		for _, c := range m.order {
			if exp, ok := m.ids[c.id]; ok && exp.Equal(c.expires) {
				kept = append(kept, c)
			}
		}
		m.order = kept
	}
}

func (m *memoryStore) Release(_ context.Context, id string) error {
	m.mu.Lock()
	delete(m.ids, id)
	m.mu.Unlock()
	return nil
}
