package uploadtoken

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const secretValue = "aubt_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz01"

func TestTokenNeverPrintsValue(t *testing.T) {
	t.Parallel()
	tok := &Token{Value: secretValue, ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Scopes: []string{ScopeUploadInit}, MaxUses: 5}
	want := "uploadtoken.Token{aubt_…#" + Fingerprint(secretValue) + " expires 2026-01-02T03:04:05Z scopes upload:init max_uses 5}"
	if got := tok.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	type wrapper struct {
		Tok  *Token
		Val  Token
		List []*Token
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T%v"} {
		for name, v := range map[string]any{"pointer": tok, "value": *tok, "nested": wrapper{tok, *tok, []*Token{tok}}} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, secretValue[5:20]) {
				t.Errorf("Sprintf(%s, %s) leaks the token: %s", verb, name, out)
			}
		}
	}
	var nilTok *Token
	if got := fmt.Sprint(nilTok); got != "<nil>" {
		t.Errorf("nil token prints %q", got)
	}
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
	if strings.Contains(buf.String(), secretValue[5:]) || strings.Contains(buf.String(), secretValue[5:25]) {
		t.Fatalf("log leaks the token:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "aubt_…#"+Fingerprint(secretValue)) {
		t.Fatalf("log does not show the fingerprint:\n%s", buf.String())
	}
	b, err := json.Marshal(map[string]any{"a": tok, "b": *tok})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secretValue[5:25]) {
		t.Fatalf("JSON leaks the token: %s", b)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, prefix string }{
		{secretValue, "aubt_"},
		{"aura_au_service_abc123", "aura_au_"},
		{"aura_sk_supersecretkey456", "aura_sk_"},
		{"lift-token-xyz", ""},
	} {
		got := Redact(tc.in)
		if got != tc.prefix+"…#"+Fingerprint(tc.in) {
			t.Errorf("Redact(%q) = %q", tc.in, got)
		}
	}
	if Redact("") != "" {
		t.Error("Redact of empty is not empty")
	}
	if Fingerprint("a") == Fingerprint("b") || len(Fingerprint("a")) != 8 {
		t.Error("fingerprints are not 8 distinct hex digits")
	}
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
		if got := tc.tok.Valid(now); got != tc.want {
			t.Errorf("%s: Valid = %v", tc.name, got)
		}
	}
	tok := &Token{Scopes: []string{ScopeUploadInit}}
	if !tok.HasScope(ScopeUploadInit) || tok.HasScope(ScopeUploadManage) || (*Token)(nil).HasScope("x") {
		t.Error("HasScope wrong")
	}
}
