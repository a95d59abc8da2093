package reportprovider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// CodeStore remembers which authorization codes (and implicit-flow tokens)
// have been used. Claim reports fresh == true for the first claim of a key
// within ttl and false for every later one; of N concurrent claims of one
// key exactly one is fresh. ttl is always positive; a store must refuse
// (with an error) rather than accept a key that is forgotten at once. A
// Redis-backed nonce store with the same method works for providers
// running on several machines.
type CodeStore interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (fresh bool, err error)
}

// codeTTL covers a KHEOPS code's lifetime (600 s) plus its 60 s leeway.
const codeTTL = 11 * time.Minute

// launchKey is the store key for a code or token: a hash, so that the store
// never holds a usable secret.
func launchKey(kind, issuerURL string, secret Token) string {
	h := sha256.New()
	h.Write([]byte(issuerURL))
	h.Write([]byte{0})
	h.Write([]byte(secret))
	return "reportprovider:" + kind + ":" + hex.EncodeToString(h.Sum(nil))
}

// memoryCodeStore is an in-process [CodeStore] with a fixed capacity. When
// full of unexpired keys it refuses new claims with [ErrCodeStoreFull]
// rather than forget a key and allow a replay. Safe for concurrent use.
type memoryCodeStore struct {
	max int
	now func() time.Time

	mu    sync.Mutex // guards keys, queue and head
	keys  map[string]time.Time
	queue []queued // insertion order, for expiry; live part is queue[head:]
	head  int
}

type queued struct {
	key string
	exp time.Time
}

// defaultCodeStoreSize is the capacity of the store [New] creates: at 11
// minutes per code it absorbs about 400 launches a second.
const defaultCodeStoreSize = 1 << 18

// newMemoryCodeStore returns a store holding at most max keys (0 means
// defaultCodeStoreSize). now may be nil (time.Now).
func newMemoryCodeStore(max int, now func() time.Time) *memoryCodeStore {
	if max <= 0 {
		max = defaultCodeStoreSize
	}
	if now == nil {
		now = time.Now
	}
	return &memoryCodeStore{max: max, now: now, keys: make(map[string]time.Time)}
}

// Claim implements [CodeStore].
func (s *memoryCodeStore) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if ttl <= 0 {
		// A key that expires at once would let the same code through
		// again: fail closed.
		return false, fmt.Errorf("reportprovider: code store: ttl %v is not positive", ttl)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.keys[key]; ok && now.Before(exp) {
		return false, nil
	}
	s.expire(now)
	if len(s.keys) >= s.max {
		return false, ErrCodeStoreFull
	}
	exp := now.Add(ttl)
	s.keys[key] = exp
	s.queue = append(s.queue, queued{key, exp})
	return true, nil
}

// expire drops keys from the front of the queue while they are expired.
func (s *memoryCodeStore) expire(now time.Time) {
	for s.head < len(s.queue) && !now.Before(s.queue[s.head].exp) {
		q := s.queue[s.head]
		if exp, ok := s.keys[q.key]; ok && !now.Before(exp) {
			delete(s.keys, q.key)
		}
		s.queue[s.head] = queued{}
		s.head++
	}
	if s.head > 64 && s.head*2 > len(s.queue) {
		s.queue = append(s.queue[:0], s.queue[s.head:]...)
		s.head = 0
	}
}

// size returns the number of keys held, expired ones included until swept.
func (s *memoryCodeStore) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
