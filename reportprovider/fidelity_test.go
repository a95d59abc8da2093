package reportprovider_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/reportprovider"
)

// TestProviderClockAheadOfKHEOPS: KHEOPS checks a client assertion's iat
// with 60 s of leeway, so a provider whose clock runs ahead by more than
// that was locked out (invalid_request). iat is optional; the provider
// leaves it out and stays within KHEOPS's own exp limit (10 minutes).
func TestProviderClockAheadOfKHEOPS(t *testing.T) {
	t.Parallel()
	for _, ahead := range []time.Duration{61 * time.Second, 5 * time.Minute} {
		t.Run(ahead.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{mutate: func(o *reportprovider.Options) {
				now := o.Now
				o.Now = func() time.Time { return now().Add(ahead) }
			}})
			s, err := e.follow(e.launch(e.alice, e.clientID, study1))
			require.NoError(t, err)
			assert.Equal(t, []string{study1}, s.StudyUIDs)
		})
	}
}
