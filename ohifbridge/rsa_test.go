package ohifbridge_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
)

// rsaPEM turns a JWK's n and e into a PEM public key.
func rsaPEM(t testing.TB, n, e string) []byte {
	nb, err := base64.RawURLEncoding.DecodeString(n)
	require.NoError(t, err)
	eb, err := base64.RawURLEncoding.DecodeString(e)
	require.NoError(t, err)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(new(big.Int).SetBytes(eb).Int64())}
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
