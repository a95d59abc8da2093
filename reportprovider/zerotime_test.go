package reportprovider

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIntrospectionExpiryIsNeverOptional: an exp that is present but zero
// (or negative, or not a number) is not "no expiry"; it, and a missing
// exp, refuse the token (issue 11 §2's pattern, for KHEOPS).
func TestIntrospectionExpiryIsNeverOptional(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	p := &Provider{cfg: Configuration{RedirectURI: "https://rp.example/r"}, now: func() time.Time { return now }}
	is, err := newIssuer(Issuer{URL: "https://kheops.example"})
	require.NoError(t, err)
	l := &Launch{ClientID: "c1", StudyUIDs: []string{"1.2.3"}}
	base := `"active":true,"iss":"https://kheops.example","sub":"u","client_id":"c1","azp":"c1",` +
		`"redirect_uri":"https://rp.example/r","scope":"read","studyUID":"1.2.3"`
	cases := []struct {
		name string
		exp  string // the "exp" member as JSON, "" to leave it out
		ok   bool
	}{
		{"valid", `1800003600`, true},
		{"absent", ``, false},
		{"zero", `0`, false},
		{"null", `null`, false},
		{"negative", `-1`, false},
		{"fractional", `0.5`, false},
		{"year 1 as a string", `"0001-01-01T00:00:00Z"`, false},
		{"past", `1799999999`, false},
		{"now", `1800000000`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := "{" + base
			if c.exp != "" {
				body += `,"exp":` + c.exp
			}
			body += "}"
			var in introspection
			if err := json.Unmarshal([]byte(body), &in); err != nil {
				assert.False(t, c.ok, "unmarshal %s: %v", body, err)
				return
			}
			expiry, _, err := p.checkIntrospection(&in, is, l)
			if c.ok {
				require.NoError(t, err)
				assert.Equal(t, time.Unix(1800003600, 0), expiry)
				return
			}
			assert.ErrorIs(t, err, ErrTokenRejected)
			assert.True(t, expiry.IsZero())
		})
	}
}

// TestCodeStoreRefusesNonPositiveTTL: a claim that would expire at once
// would let the same code through again; the store refuses it instead.
func TestCodeStoreRefusesNonPositiveTTL(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	s := newMemoryCodeStore(10, func() time.Time { return now })
	for _, ttl := range []time.Duration{0, -time.Second} {
		fresh, err := s.Claim(context.Background(), "k", ttl)
		assert.Error(t, err, "ttl %v", ttl)
		assert.False(t, fresh)
	}
	fresh, err := s.Claim(context.Background(), "k", time.Minute)
	require.NoError(t, err)
	assert.True(t, fresh)
	fresh, err = s.Claim(context.Background(), "k", time.Minute)
	require.NoError(t, err)
	assert.False(t, fresh, "replay within the ttl")
}
