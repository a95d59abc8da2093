// Package auraserver is the server side of Aura's upload tokens, as
// auratest runs it: an [Issuer] that mints tokens and checks them
// (max_uses counted exactly), [RequireScope] guarding an endpoint, and
// [ExchangeHandler] answering the token exchange. See docs/aura.md,
// "Upload tokens" and "Token exchange".
//
// It is internal: a partner backend never issues tokens, and test authors
// use auratest. The parts a backend or a shared store implements
// (uploadtoken.Store, uploadtoken.Limiter, uploadtoken.RateLimit) stay in
// uploadtoken.
package auraserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/internal/auraclient"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// Errors returned by [Issuer.Authorize] besides
// uploadtoken.ErrUnknownToken; test with errors.Is.
var (
	ErrExpired   = errors.New("uploadtoken: upload token expired")
	ErrScope     = errors.New("uploadtoken: upload token lacks the required scope")
	ErrExhausted = errors.New("uploadtoken: upload token has no uses left")
)

// tokenChars is the alphabet of the 64 random characters after "aubt_".
const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// tokenLen is the number of random characters in a token (docs/aura.md, "Upload tokens").
const tokenLen = 64

// KnownScope reports whether s is one of the three scopes Aura defines.
func KnownScope(s string) bool {
	switch s {
	case uploadtoken.ScopeIntegrationRead, uploadtoken.ScopeUploadInit, uploadtoken.ScopeUploadManage:
		return true
	}
	return false
}

// HashToken returns the key a token is stored under: the hex SHA-256 of
// its value. An upload token carries 381 bits of entropy, so a fast
// unsalted hash is enough to make a leaked store useless.
func HashToken(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// Grant is the outcome of a successful [Issuer.Authorize].
type Grant struct {
	ID        string // first 16 hex digits of the token hash; safe to log
	AppID     string // the app that exchanged the token
	Scopes    []string
	ExpiresAt time.Time
	MaxUses   int // 0: unlimited
	Uses      int // uses counted so far, including this one
}

// Issuer mints upload tokens and checks them, as the Aura server does
// (docs/aura.md, "Upload tokens"): "aubt_" + 64 characters from crypto/rand, a TTL of 1 h by
// default and 24 h at most, only the three known scopes, and max_uses
// enforced exactly even under concurrency. The zero value keeps tokens in
// memory; set Store to share them between processes. An Issuer is
// safe for concurrent use.
type Issuer struct {
	Store uploadtoken.Store // nil: an in-memory store created on first use
	Now   func() time.Time  // nil: time.Now
	Rand  io.Reader         // nil: crypto/rand.Reader

	once sync.Once // guards mem
	mem  *MemoryStore
}

// Issue mints a token for appID with req's TTL, scopes and max_uses.
// Empty scopes mean uploadtoken.DefaultScopes. Bad arguments give an error wrapping
// uploadtoken.ErrInvalidRequest (see also [ValidateRequest]).
func (i *Issuer) Issue(ctx context.Context, appID string, req uploadtoken.ExchangeRequest) (*uploadtoken.Token, error) {
	scopes, ttl, err := ValidateRequest(req)
	if err != nil {
		return nil, err
	}
	value, err := i.newValue()
	if err != nil {
		return nil, err
	}
	now := i.now()
	rec := uploadtoken.Record{
		AppID:     appID,
		Scopes:    scopes,
		IssuedAt:  now.UTC(),
		ExpiresAt: now.Add(ttl).UTC(),
		MaxUses:   req.MaxUses,
	}
	if err := i.store().Save(ctx, HashToken(value), rec); err != nil {
		return nil, fmt.Errorf("uploadtoken: save token: %w", err)
	}
	return &uploadtoken.Token{Value: value, ExpiresAt: rec.ExpiresAt, Scopes: slices.Clone(scopes), MaxUses: req.MaxUses}, nil
}

// ValidateRequest checks req as the issuer does and returns the effective
// scopes (deduplicated, uploadtoken.DefaultScopes if empty) and TTL.
func ValidateRequest(req uploadtoken.ExchangeRequest) ([]string, time.Duration, error) {
	ttl := req.TTL
	switch {
	case ttl == 0:
		ttl = uploadtoken.DefaultTTL
	case ttl < 0 || ttl > uploadtoken.MaxTTL:
		return nil, 0, fmt.Errorf("%w: ttl %v is outside 1 s to %v", uploadtoken.ErrInvalidRequest, req.TTL, uploadtoken.MaxTTL)
	}
	ttl = (ttl + time.Second - 1).Truncate(time.Second)
	if ttl < time.Second {
		return nil, 0, fmt.Errorf("%w: ttl must be at least 1 second", uploadtoken.ErrInvalidRequest)
	}
	if req.MaxUses < 0 {
		return nil, 0, fmt.Errorf("%w: max_uses %d is negative", uploadtoken.ErrInvalidRequest, req.MaxUses)
	}
	scopes := req.Scopes
	if len(scopes) == 0 {
		scopes = uploadtoken.DefaultScopes
	}
	var out []string
	for _, s := range scopes {
		if !KnownScope(s) {
			return nil, 0, fmt.Errorf("%w: unknown scope %q", uploadtoken.ErrInvalidRequest, auraclient.Clean(s))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, ttl, nil
}

// Authorize checks token for scope (empty: any scope) and counts one use.
// It fails with uploadtoken.ErrUnknownToken, ErrExpired, ErrScope or ErrExhausted, or
// a store error. A request for the wrong scope does not use up a use.
func (i *Issuer) Authorize(ctx context.Context, token, scope string) (*Grant, error) {
	if !WellFormed(token) {
		return nil, uploadtoken.ErrUnknownToken
	}
	id := HashToken(token)
	rec, err := i.store().Load(ctx, id)
	if err != nil {
		if errors.Is(err, uploadtoken.ErrUnknownToken) {
			return nil, uploadtoken.ErrUnknownToken
		}
		return nil, fmt.Errorf("uploadtoken: load token: %w", err)
	}
	if !i.now().Before(rec.ExpiresAt) {
		return nil, ErrExpired
	}
	if scope != "" && !slices.Contains(rec.Scopes, scope) {
		return nil, ErrScope
	}
	uses, ok, err := i.store().Use(ctx, id, rec.MaxUses, rec.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("uploadtoken: count use: %w", err)
	}
	if !ok {
		return nil, ErrExhausted
	}
	return &Grant{
		ID:        id[:16],
		AppID:     rec.AppID,
		Scopes:    slices.Clone(rec.Scopes),
		ExpiresAt: rec.ExpiresAt,
		MaxUses:   rec.MaxUses,
		Uses:      uses,
	}, nil
}

// WellFormed reports whether s has the shape of an upload token: "aubt_"
// and 64 characters from [A-Za-z0-9].
func WellFormed(s string) bool {
	if len(s) != len(uploadtoken.Prefix)+tokenLen || s[:len(uploadtoken.Prefix)] != uploadtoken.Prefix {
		return false
	}
	for i := len(uploadtoken.Prefix); i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// newValue draws 64 uniform characters by rejection sampling, so that no
// character is likelier than another.
func (i *Issuer) newValue() (string, error) {
	r := i.Rand
	if r == nil {
		r = rand.Reader
	}
	const limit = 256 - 256%len(tokenChars) // 248: largest multiple of 62
	out := make([]byte, 0, len(uploadtoken.Prefix)+tokenLen)
	out = append(out, uploadtoken.Prefix...)
	var buf [96]byte
	for len(out) < cap(out) {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", fmt.Errorf("uploadtoken: random source: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < cap(out) {
				out = append(out, tokenChars[int(b)%len(tokenChars)])
			}
		}
	}
	return string(out), nil
}

func (i *Issuer) store() uploadtoken.Store {
	if i.Store != nil {
		return i.Store
	}
	i.once.Do(func() { i.mem = &MemoryStore{Now: i.Now} })
	return i.mem
}

func (i *Issuer) now() time.Time {
	if i.Now != nil {
		return i.Now()
	}
	return time.Now()
}
