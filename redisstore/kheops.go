package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dicombridge/dicombridge/kheops"
)

// deliverySpace holds KHEOPS webhook delivery claims: SET NX PX ttl.
const deliverySpace = "kheops-delivery:"

// KheopsDeliveries returns a kheops.DeliveryStore, so that a KHEOPS
// webhook delivery (and its retries) is handed to OnEvent once across every
// instance of a kheops.WebhookHandler sharing the database: a claim is SET
// NX PX, so of any number of concurrent claims of one id exactly one wins,
// and Release deletes the key.
func (s *Store) KheopsDeliveries() kheops.DeliveryStore { return kheopsDeliveries{s} }

type kheopsDeliveries struct{ s *Store }

func (d kheopsDeliveries) Claim(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	err := d.s.rdb.SetArgs(ctx, d.s.prefix+deliverySpace+id, 1, redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	}
	return false, fmt.Errorf("redisstore: claim kheops delivery: %w", err)
}

func (d kheopsDeliveries) Release(ctx context.Context, id string) error {
	if err := d.s.rdb.Del(ctx, d.s.prefix+deliverySpace+id).Err(); err != nil {
		return fmt.Errorf("redisstore: release kheops delivery: %w", err)
	}
	return nil
}
