package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestQuickstart runs the program as a newcomer would and checks what it
// prints: the accepted app id, the replay and the tampering rejected, and
// never the secret or a signature.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"canonical request:", "string to sign:", "aura_pk_quickstart/",
		`server: 200 {"token":"aubt_demo","app_id":"aura_pk_quickstart"}`,
		`server: 403 {"error":{"message":"nonce already used"}}`,
		`server: 403 {"error":{"message":"signature mismatch"}}`,
		"All three outcomes as expected.",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, secret) || strings.Contains(s, "Signature=") {
		t.Errorf("output leaks the secret or a signature:\n%s", s)
	}
}
