package uploadtoken

import (
	"context"
	"errors"
	"time"
)

// ErrUnknownToken is the error a [Store] returns (wrapped or not) for a
// token it does not hold.
var ErrUnknownToken = errors.New("uploadtoken: unknown upload token")

// Record is what the server keeps about an issued token. The token itself
// is never stored: records are keyed by the hex SHA-256 of the token.
type Record struct {
	AppID     string    `json:"app_id,omitempty"`
	Scopes    []string  `json:"scopes"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	MaxUses   int       `json:"max_uses,omitempty"`
}

// Store keeps token records and counts their uses. Implementations must be
// safe for concurrent use and atomic across every process sharing them
// (redisstore's Tokens does so across processes). auratest keeps its
// tokens in a Store (auratest.WithSharedState); see docs/aura.md, "Upload
// tokens".
type Store interface {
	// Save keeps rec under id until at least rec.ExpiresAt.
	Save(ctx context.Context, id string, rec Record) error
	// Load returns the record saved under id, or an error wrapping
	// ErrUnknownToken.
	Load(ctx context.Context, id string) (*Record, error)
	// Use counts one use of id and returns the new count. When max > 0 and
	// max uses were already counted, it counts nothing and returns ok ==
	// false. The counter may be forgotten after expiresAt.
	Use(ctx context.Context, id string, max int, expiresAt time.Time) (uses int, ok bool, err error)
}
