package hmac

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// NonceStore remembers the nonces a [Verifier] has accepted. Claim records
// key for ttl and reports whether it was fresh (not already recorded and
// unexpired). Implementations must be safe for concurrent use and atomic:
// of N concurrent Claims of one key exactly one returns fresh == true.
// An error means the store could not decide; the Verifier then rejects the
// request as an internal failure (never as accepted).
//
// [MemoryNonceStore] serves one process; redisstore serves many.
type NonceStore interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (fresh bool, err error)
}

// DefaultNonceCapacity is the number of live nonces a [MemoryNonceStore]
// holds when no capacity is given: at the default 5-minute skew it absorbs a
// sustained 160 signed requests per second (Aura allows 10 token exchanges
// per minute per app), in about 20 MB at most.
const DefaultNonceCapacity = 100_000

// ErrNonceStoreFull is returned by [MemoryNonceStore.Claim] when the store
// holds its capacity of unexpired nonces. Forgetting one early would open
// it to replay, so the store refuses instead; the Verifier reports this as
// an internal failure. Only validly signed requests reach the store, so
// only a holder of a secret can fill it.
var ErrNonceStoreFull = errors.New("hmac: nonce store is full")

// MemoryNonceStore is a bounded, in-memory [NonceStore] for a single
// process. It forgets each nonce when its ttl ends (the Verifier passes the
// time left until the request's timestamp leaves the skew window), and
// holds at most its capacity of unexpired nonces. The zero value is ready to
// use with [DefaultNonceCapacity]. It is safe for concurrent use.
type MemoryNonceStore struct {
	capacity int
	now      func() time.Time // nil: time.Now; tests replace it

	mu       sync.Mutex           // guards seen and byExpiry
	seen     map[string]time.Time // key → expiry
	byExpiry []nonceEntry         // min-heap on expiry; one entry per key in seen
}

type nonceEntry struct {
	key    string
	expiry time.Time
}

// NewMemoryNonceStore returns a store that holds at most capacity
// unexpired nonces; capacity <= 0 means [DefaultNonceCapacity].
func NewMemoryNonceStore(capacity int) *MemoryNonceStore {
	return &MemoryNonceStore{capacity: capacity}
}

// Claim records key until ttl has passed. It returns true if key was not
// recorded (or had expired), false if it is a replay, and
// [ErrNonceStoreFull] if recording it would exceed the capacity.
func (m *MemoryNonceStore) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if ttl <= 0 {
		return false, fmt.Errorf("hmac: nonce ttl %v is not positive", ttl)
	}
	now := time.Now()
	if m.now != nil {
		now = m.now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	if _, ok := m.seen[key]; ok {
		return false, nil // expire removed every expired entry
	}
	capacity := m.capacity
	if capacity <= 0 {
		capacity = DefaultNonceCapacity
	}
	if len(m.seen) >= capacity {
		return false, ErrNonceStoreFull
	}
	if m.seen == nil {
		m.seen = make(map[string]time.Time)
	}
	e := nonceEntry{key: key, expiry: now.Add(ttl)}
	m.seen[key] = e.expiry
	m.push(e)
	return true, nil
}

// len returns the number of unexpired nonces held (for tests).
func (m *MemoryNonceStore) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}

// expire drops every entry whose expiry is not after now. m.mu is held.
func (m *MemoryNonceStore) expire(now time.Time) {
	for len(m.byExpiry) > 0 && !m.byExpiry[0].expiry.After(now) {
		delete(m.seen, m.byExpiry[0].key)
		m.pop()
	}
	if len(m.byExpiry) == 0 && cap(m.byExpiry) > 1024 {
		m.byExpiry = nil // give back the memory of a past burst
	}
}

// push and pop maintain byExpiry as a binary min-heap (container/heap
// without the interface boxing).
func (m *MemoryNonceStore) push(e nonceEntry) {
	h := append(m.byExpiry, e)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].expiry.Before(h[p].expiry) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	m.byExpiry = h
}

func (m *MemoryNonceStore) pop() {
	h := m.byExpiry
	n := len(h) - 1
	h[0] = h[n]
	h[n] = nonceEntry{}
	h = h[:n]
	for i := 0; ; {
		l, r, s := 2*i+1, 2*i+2, i
		if l < n && h[l].expiry.Before(h[s].expiry) {
			s = l
		}
		if r < n && h[r].expiry.Before(h[s].expiry) {
			s = r
		}
		if s == i {
			break
		}
		h[i], h[s] = h[s], h[i]
		i = s
	}
	m.byExpiry = h
}
