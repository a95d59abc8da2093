package uploadtoken

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/internal/auraclient"
)

// Prefix starts every Aura upload token ("AUra Bearer Token").
const Prefix = "aubt_"

// Scopes an upload token can carry (docs/aura.md, "Upload tokens").
const (
	ScopeIntegrationRead = "integration:read" // GET /uploader/config
	ScopeUploadInit      = "upload:init"      // POST /uploader/upload/init
	ScopeUploadManage    = "upload:manage"    // POST /uploader/upload/{start,complete,error,cancel}
)

// DefaultScopes are the scopes an upload needs from start to end. The
// reference README's backend example forgets integration:read, without which
// the uploader cannot fetch its configuration (docs/aura.md, "Upload tokens").
var DefaultScopes = []string{ScopeUploadInit, ScopeUploadManage, ScopeIntegrationRead}

// Token lifetimes (docs/aura.md, "Upload tokens").
const (
	DefaultTTL = time.Hour
	MaxTTL     = 24 * time.Hour
)

// Token is an ephemeral upload token. Its Value is a bearer credential: the
// String, GoString, Format, LogValue and MarshalJSON methods never print it,
// so a Token is safe to log or wrap into an error. To hand the token to a
// browser, write Value explicitly (see the package example).
type Token struct {
	Value     string    // "aubt_" + 64 characters
	ExpiresAt time.Time // zero: unknown (never refreshed by CachingSource)
	Scopes    []string
	MaxUses   int // 0: unlimited or not reported
}

// Redacted returns the token value with everything after its prefix
// replaced by a short SHA-256 fingerprint, e.g. "aubt_…#3f2a9c1b". Two
// redactions of one value are equal, so logs can be correlated.
func (t Token) Redacted() string { return auraclient.Redact(t.Value) }

// Valid reports whether t has a value and, if its expiry is known, has not
// expired at now.
func (t *Token) Valid(now time.Time) bool {
	return t != nil && t.Value != "" && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// HasScope reports whether t was granted scope s.
func (t *Token) HasScope(s string) bool {
	if t == nil {
		return false
	}
	for _, have := range t.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

// String describes the token without revealing it.
func (t Token) String() string {
	var b strings.Builder
	b.WriteString("uploadtoken.Token{")
	b.WriteString(t.Redacted())
	if !t.ExpiresAt.IsZero() {
		b.WriteString(" expires ")
		b.WriteString(t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if len(t.Scopes) > 0 {
		b.WriteString(" scopes ")
		b.WriteString(strings.Join(t.Scopes, ","))
	}
	if t.MaxUses > 0 {
		fmt.Fprintf(&b, " max_uses %d", t.MaxUses)
	}
	b.WriteString("}")
	return b.String()
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, %x...) print the
// redacted description, never the value.
func (t Token) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", t.String())
	default:
		_, _ = f.Write([]byte(t.String()))
	}
}

// LogValue implements slog.LogValuer with the redacted form. (A Token
// value, rather than a pointer, is printed through Format or MarshalJSON,
// which redact as well.)
func (t *Token) LogValue() slog.Value {
	if t == nil {
		return slog.StringValue("<nil>")
	}
	attrs := []slog.Attr{slog.String("token", t.Redacted())}
	if !t.ExpiresAt.IsZero() {
		attrs = append(attrs, slog.Time("expires_at", t.ExpiresAt))
	}
	if len(t.Scopes) > 0 {
		attrs = append(attrs, slog.Any("scopes", t.Scopes))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON writes the redacted form, so that a Token embedded in a
// logged or reported structure does not leak. It is not the wire format:
// to send a token, copy Value into your own response type.
func (t Token) MarshalJSON() ([]byte, error) {
	type redacted struct {
		Token     string     `json:"token"`
		ExpiresAt *time.Time `json:"expires_at,omitempty"`
		Scopes    []string   `json:"scopes,omitempty"`
		MaxUses   int        `json:"max_uses,omitempty"`
	}
	r := redacted{Token: auraclient.Redact(t.Value), Scopes: t.Scopes, MaxUses: t.MaxUses}
	if !t.ExpiresAt.IsZero() {
		e := t.ExpiresAt
		r.ExpiresAt = &e
	}
	return json.Marshal(r)
}
