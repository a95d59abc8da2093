package redisstore_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/redistest"
	"github.com/dicombridge/dicombridge/internal/testenv"
	"github.com/dicombridge/dicombridge/kheops"
	"github.com/dicombridge/dicombridge/redisstore"
)

func TestKheopsDeliveries(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	store, rdb := instance(t, srv.Addr, "k:")
	ctx := context.Background()
	d := store.KheopsDeliveries()

	claimOnce(t, rdb, d.Claim, "id:abc", "k:kheops-delivery:id:abc", 10*time.Minute)

	require.NoError(t, d.Release(ctx, "id:abc"))
	fresh, _ := d.Claim(ctx, "id:abc", time.Minute)
	assert.True(t, fresh, "claim after release")

	other, _ := instance(t, srv.Addr, "other:")
	fresh, _ = other.KheopsDeliveries().Claim(ctx, "id:abc", time.Minute)
	assert.True(t, fresh, "prefixes are isolated")

	fresh, _ = d.Claim(ctx, "id:short", 50*time.Millisecond)
	require.True(t, fresh)
	time.Sleep(120 * time.Millisecond)
	fresh, _ = d.Claim(ctx, "id:short", time.Minute)
	assert.True(t, fresh, "Redis expires claims")
	assert.Positive(t, requireTTLs(t, rdb, "k:"))

	assert.EqualValues(t, 1, concurrentWins(t, srv.Addr, "k:", func(s *redisstore.Store) claimFunc { return s.KheopsDeliveries().Claim }),
		"concurrent claims from 64 clients")

	// Nothing listens on this port: the error is wrapped, not swallowed.
	dead, _ := instance(t, "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)), "k:")
	_, err := dead.KheopsDeliveries().Claim(ctx, "id:x", time.Minute)
	assert.ErrorContains(t, err, "redisstore: claim kheops delivery")
	assert.Error(t, dead.KheopsDeliveries().Release(ctx, "id:x"))
}

// Two instances of a webhook receiver behind a load balancer, sharing
// Redis: each KHEOPS delivery reaches OnEvent once, whichever instance
// receives its attempts, and a failed attempt is handed over again.
func TestKheopsWebhookAcrossInstances(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const secret = "shared-secret"
	var calls atomic.Int32
	var failFirst atomic.Bool
	failFirst.Store(true)
	var urls []string
	for i := 0; i < 2; i++ {
		store, _ := instance(t, srv.Addr, "hook:")
		h := &kheops.WebhookHandler{Secret: secret, Deliveries: store.KheopsDeliveries(),
			OnEvent: func(ctx context.Context, ev *kheops.WebhookEvent) error {
				calls.Add(1)
				if ev.Delivery == "retry" && failFirst.Swap(false) {
					return errors.New("downstream unavailable")
				}
				time.Sleep(10 * time.Millisecond)
				return nil
			}}
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		urls = append(urls, s.URL)
	}
	body := []byte(`{"host":"https://kheops.example","album_id":"Ab12Cd34Ef","event_time":"2025-01-02T10:11:12.345678","is_manual_trigger":false,"new_user":{"email":"bob@example.org"}}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	sig := hex.EncodeToString(m.Sum(nil))
	post := func(url, id string) int {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Kheops-Event", "new_user")
		req.Header.Set("X-Kheops-Delivery", id)
		req.Header.Set("X-Kheops-Attempt", "1/5")
		req.Header.Set("X-Kheops-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			post(urls[i%2], "race")
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), calls.Load(), "64 concurrent copies over two instances")

	calls.Store(0)
	assert.Equal(t, http.StatusInternalServerError, post(urls[0], "retry"))
	assert.Equal(t, http.StatusOK, post(urls[1], "retry"), "the retry reaches the other instance")
	assert.Equal(t, http.StatusOK, post(urls[0], "retry"))
	assert.Equal(t, int32(2), calls.Load(), "failed attempt, then one success, then a duplicate")
}
