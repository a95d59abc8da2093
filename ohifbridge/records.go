package ohifbridge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dicombridge/dicombridge/reportprovider"
)

// Lifetimes of the bridge's front-channel values.
const (
	hintTTL = 2 * time.Minute // login_hint: launch to authorization request
	codeTTL = time.Minute     // code: callback to token request
	// minRemaining is the least KHEOPS token lifetime a refresh still
	// renews; below it the session is over (so that a client renewing a
	// minute before expiry never loops on ever shorter tokens).
	minRemaining = 2 * time.Minute
)

// Record kinds, the middle part of every store key.
const (
	kindHint    = "hint"
	kindCode    = "code"
	kindSession = "session"
	kindAccess  = "access"
	kindRefresh = "refresh"
	kindUsed    = "used"
)

// newSecret returns 256 random bits, base64url: hints, codes and tokens.
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("ohifbridge: randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// newSessionID returns a random 128-bit session ID in hex. It is the
// id_token's sid: public, not a credential.
func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("ohifbridge: randomness: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// key returns the store key of a secret: its SHA-256, so that the store
// never holds a usable secret as a key.
func key(kind, secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "ohifbridge:" + kind + ":" + hex.EncodeToString(sum[:])
}

// sessionKey is the store key of a session, by its public ID.
func sessionKey(sid string) string { return "ohifbridge:" + kindSession + ":" + sid }

// usedKey is the single-use marker of a secret of the given kind.
func usedKey(kind, secret string) string { return key(kindUsed, kind+":"+secret) }

// session is what a launch established: the KHEOPS session and who it is
// for. Deleting it revokes everything issued from it.
type session struct {
	KHEOPS   reportprovider.Session `json:"kheops"`
	ClientID string                 `json:"client_id"`
	AuthTime int64                  `json:"auth_time"` // the launch, Unix seconds
}

// expiry is the end of the session: the KHEOPS token's expiry.
func (s *session) expiry() time.Time { return s.KHEOPS.Expiry }

// hintRecord is stored under a login_hint.
type hintRecord struct {
	SID      string `json:"sid"`
	ClientID string `json:"client_id"`
}

// codeRecord is stored under an authorization code: everything the token
// request must match.
type codeRecord struct {
	SID         string `json:"sid"`
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	Challenge   string `json:"code_challenge"`
	Nonce       string `json:"nonce,omitempty"`
	Scope       string `json:"scope"`
}

// tokenRecord is stored under a bridge access token, a KHEOPS access token
// handed out in Direct mode, or a refresh token.
type tokenRecord struct {
	SID      string `json:"sid"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Expiry   int64  `json:"exp"` // Unix seconds
}

// errStore marks failures of the store, answered with 503.
var errStore = errors.New("ohifbridge: state store unavailable")

func storeErr(err error) error { return fmt.Errorf("%w: %w", errStore, err) }

// put stores v as JSON under k for ttl; the key must be new.
func (b *Bridge) put(ctx context.Context, k string, v any, ttl time.Duration) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ohifbridge: encode record: %w", err)
	}
	added, err := b.store.Add(ctx, k, data, ttl)
	if err != nil {
		return storeErr(err)
	}
	if !added {
		return storeErr(errors.New("key collision"))
	}
	return nil
}

// get loads the record under k into v; ok is false if there is none.
func (b *Bridge) get(ctx context.Context, k string, v any) (bool, error) {
	data, ok, err := b.store.Get(ctx, k)
	if err != nil {
		return false, storeErr(err)
	}
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, storeErr(fmt.Errorf("corrupt record: %w", err))
	}
	return true, nil
}

// claim marks the secret of the given kind used and reports whether this
// was the first use. ttl covers the secret's own lifetime.
func (b *Bridge) claim(ctx context.Context, kind, secret string, ttl time.Duration) (bool, error) {
	fresh, err := b.store.Add(ctx, usedKey(kind, secret), []byte{1}, ttl)
	if err != nil {
		return false, storeErr(err)
	}
	return fresh, nil
}

// liveSession returns the session sid if it exists and has not expired.
func (b *Bridge) liveSession(ctx context.Context, sid string) (*session, bool, error) {
	var s session
	ok, err := b.get(ctx, sessionKey(sid), &s)
	if err != nil || !ok {
		return nil, false, err
	}
	if !b.now().Before(s.expiry()) {
		return nil, false, nil
	}
	return &s, true, nil
}

// revoke deletes session sid, which invalidates every hint, code and token
// issued from it.
func (b *Bridge) revoke(ctx context.Context, sid string) error {
	if err := b.store.Delete(ctx, sessionKey(sid)); err != nil {
		return storeErr(err)
	}
	return nil
}

// bearerToken looks up an access token (a bridge token, or in Direct mode
// the KHEOPS token) and returns its record and live session.
func (b *Bridge) bearerToken(ctx context.Context, tok string) (*tokenRecord, *session, error) {
	if tok == "" || len(tok) > maxTokenLen {
		return nil, nil, nil
	}
	var rec tokenRecord
	ok, err := b.get(ctx, key(kindAccess, tok), &rec)
	if err != nil || !ok {
		return nil, nil, err
	}
	if !b.now().Before(time.Unix(rec.Expiry, 0)) {
		return nil, nil, nil
	}
	s, ok, err := b.liveSession(ctx, rec.SID)
	if err != nil || !ok {
		return nil, nil, err
	}
	return &rec, s, nil
}

// maxTokenLen bounds tokens read from requests (KHEOPS tokens are JWS of a
// few hundred bytes; the bridge's are 43 characters).
const maxTokenLen = 8 << 10
