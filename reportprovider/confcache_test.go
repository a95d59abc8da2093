package reportprovider

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestConfCacheLeaderCancelDoesNotFailOthers: launches that join a
// configuration fetch in flight must not fail because the launch that
// started it went away (a closed browser tab): they fetch again under their
// own context.
func TestConfCacheLeaderCancelDoesNotFailOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &confCache{ttl: time.Minute, now: time.Now, entries: make(map[string]*confEntry)}
		leaderCtx, cancel := context.WithCancel(context.Background())
		release := make(chan struct{})
		var leaderErr error
		go func() {
			_, leaderErr = c.get(leaderCtx, "k", func(ctx context.Context) (*instanceConfiguration, error) {
				<-release
				return nil, ctx.Err()
			})
		}()
		synctest.Wait() // the leader's fetch is in flight
		var got *instanceConfiguration
		var gotErr error
		go func() {
			got, gotErr = c.get(context.Background(), "k", func(context.Context) (*instanceConfiguration, error) {
				return &instanceConfiguration{Issuer: "https://kheops.example"}, nil
			})
		}()
		synctest.Wait() // the follower waits for the leader's fetch
		cancel()
		close(release)
		synctest.Wait()
		assert.False(t, leaderErr == nil, "the cancelled leader succeeded")
		assert.Falsef(t, gotErr != nil || got == nil || got.Issuer != "https://kheops.example", "follower: %v, %v; want the configuration", got, gotErr)
	})
}
