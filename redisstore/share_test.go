package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/redistest"
	"github.com/dicombridge/dicombridge/redisstore"
	"github.com/dicombridge/dicombridge/share"
)

// redisstore.Revocations is the Redis share.RevocationStore; this fails to
// compile if the method sets drift apart.
var _ share.RevocationStore = (*redisstore.Revocations)(nil)

// TestShareRevocationAcrossServices: a token revoked through one share
// service is refused by another instance that shares the Redis store, and
// a token that never expires (share.NeverExpires) can be revoked too.
func TestShareRevocationAcrossServices(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := context.Background()
	secret := []byte("0123456789abcdef0123456789abcdef")

	newService := func() (*share.Service, *share.Codec) {
		store, _ := instance(t, srv.Addr, "share:")
		codec, err := share.NewCodec(share.CodecConfig{Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := share.NewService(share.Config{
			Codec:          codec,
			AllowAnonymous: true,
			Revocations:    store.Revocations(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return svc, codec
	}
	a, codec := newService()
	b, _ := newService()

	res := share.Resource{DicomUID: "1.2.3.4", OrthancID: "6b9e19d9-62094390-5f9ddb01-4a191ae7-9766b715"}
	for _, tc := range []struct {
		name    string
		expires time.Time
	}{
		{"expiring", time.Now().Add(time.Hour)},
		{"never expires", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token, _, err := codec.Mint(share.Claims{
				Type:      share.StoneViewerPublication,
				Resources: []share.Resource{res},
				ExpiresAt: tc.expires,
			})
			if err != nil {
				t.Fatal(err)
			}
			access := share.Access{Method: "get", Level: share.LevelStudy, OrthancID: res.OrthancID, DicomUID: res.DicomUID, Token: token}
			if d := b.Check(ctx, access); !d.Granted {
				t.Fatalf("before revocation: denied: %v", d.Reason)
			}
			if _, err := a.Revoke(ctx, token); err != nil {
				t.Fatalf("revoke on instance A: %v", err)
			}
			if d := b.Check(ctx, access); d.Granted || !errors.Is(d.Reason, share.ErrRevoked) {
				t.Fatalf("instance B after revocation on A: granted=%v reason=%v", d.Granted, d.Reason)
			}
		})
	}
}
