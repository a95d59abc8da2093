package uploadtoken

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secretValue = "aubt_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz01"

func TestTokenNeverPrintsValue(t *testing.T) {
	t.Parallel()
	tok := &Token{Value: secretValue, ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Scopes: []string{ScopeUploadInit}, MaxUses: 5}
	assert.Equal(t, "uploadtoken.Token{aubt_…#"+fingerprint(secretValue)+" expires 2026-01-02T03:04:05Z scopes upload:init max_uses 5}", tok.String())
	type wrapper struct {
		Tok  *Token
		Val  Token
		List []*Token
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T%v"} {
		for name, v := range map[string]any{"pointer": tok, "value": *tok, "nested": wrapper{tok, *tok, []*Token{tok}}} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, secretValue[5:20], "Sprintf(%s, %s) leaks the token", verb, name)
			if verb != "%T%v" {
				assert.Contains(t, out, fingerprint(secretValue), "Sprintf(%s, %s)", verb, name)
			}
		}
	}
	var nilTok *Token
	assert.Equal(t, "<nil>", fmt.Sprint(nilTok))
}

func TestTokenRedactedInLogsAndJSON(t *testing.T) {
	t.Parallel()
	tok := &Token{Value: secretValue, ExpiresAt: time.Unix(1700000000, 0).UTC(), Scopes: DefaultScopes}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("pointer", "tok", tok)
		l.Info("value", "tok", *tok)
		l.Info("nested", "obj", struct{ T Token }{*tok})
		l.Info("nilptr", "tok", (*Token)(nil))
	}
	assert.NotContains(t, buf.String(), secretValue[5:25], "log leaks the token")
	assert.Contains(t, buf.String(), "aubt_…#"+fingerprint(secretValue), "log shows the fingerprint")
	b, err := json.Marshal(map[string]any{"a": tok, "b": *tok})
	require.NoError(t, err)
	assert.NotContains(t, string(b), secretValue[5:25], "JSON leaks the token")
	assert.Contains(t, string(b), `"token":"aubt_…#`+fingerprint(secretValue)+`"`)
}

func TestTokenValidAndScopes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name string
		tok  *Token
		want bool
	}{
		{"nil", nil, false},
		{"empty", &Token{}, false},
		{"no expiry", &Token{Value: "x"}, true},
		{"future", &Token{Value: "x", ExpiresAt: now.Add(time.Second)}, true},
		{"at expiry", &Token{Value: "x", ExpiresAt: now}, false},
	} {
		assert.Equal(t, tc.want, tc.tok.Valid(now), tc.name)
	}
	tok := &Token{Scopes: []string{ScopeUploadInit}}
	assert.True(t, tok.HasScope(ScopeUploadInit))
	assert.False(t, tok.HasScope(ScopeUploadManage))
	assert.False(t, (*Token)(nil).HasScope("x"))
}
