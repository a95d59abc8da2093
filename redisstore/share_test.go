package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/redistest"
	"github.com/dicombridge/dicombridge/redisstore"
	"github.com/dicombridge/dicombridge/share"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		require.NoError(t, err)
		svc, err := share.NewService(share.Config{
			Codec:          codec,
			AllowAnonymous: true,
			Revocations:    store.Revocations(),
		})
		require.NoError(t, err)
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
			require.NoError(t, err)
			access := share.Access{Method: "get", Level: share.LevelStudy, OrthancID: res.OrthancID, DicomUID: res.DicomUID, Token: token}
			d := b.Check(ctx, access)
			require.True(t, d.Granted, "before revocation: denied: %v", d.Reason)
			_, err = a.Revoke(ctx, token)
			require.NoError(t, err, "revoke on instance A")
			d = b.Check(ctx, access)
			assert.False(t, d.Granted, "instance B after revocation on A")
			assert.ErrorIs(t, d.Reason, share.ErrRevoked)
		})
	}
}
