package reportprovider

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
)

// minKeyBits is the smallest RSA modulus this package signs with.
const minKeyBits = 2048

// Key is an RSA private key with its key ID, used to sign private_key_jwt
// client assertions (RS256) and published in the provider's JWKS. KHEOPS
// selects the public key by the assertion's kid, so the ID must be unique
// within the JWKS. A Key is immutable and safe for concurrent use.
type Key struct {
	id   string
	priv *rsa.PrivateKey
}

var kidPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)

// NewKey wraps an existing RSA private key. kid must be 1 to 128 characters
// from [A-Za-z0-9._~-]; the key must have at least 2048 bits.
func NewKey(kid string, priv *rsa.PrivateKey) (*Key, error) {
	if !kidPattern.MatchString(kid) {
		return nil, errors.New("reportprovider: key id must be 1-128 characters from [A-Za-z0-9._~-]")
	}
	if priv == nil {
		return nil, errors.New("reportprovider: nil RSA key")
	}
	if priv.N.BitLen() < minKeyBits {
		return nil, fmt.Errorf("reportprovider: RSA key has %d bits, want at least %d", priv.N.BitLen(), minKeyBits)
	}
	if err := priv.Validate(); err != nil {
		return nil, fmt.Errorf("reportprovider: invalid RSA key: %w", err)
	}
	return &Key{id: kid, priv: priv}, nil
}

// GenerateKey creates a new 2048-bit RSA key.
func GenerateKey(kid string) (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, minKeyBits)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: generate RSA key: %w", err)
	}
	return NewKey(kid, priv)
}

// ParseKeyPEM reads an RSA private key from PEM ("PRIVATE KEY", PKCS #8, or
// "RSA PRIVATE KEY", PKCS #1).
func ParseKeyPEM(kid string, data []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("reportprovider: no PEM block found")
	}
	var priv *rsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("reportprovider: parse PKCS #8 key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("reportprovider: PEM holds a %T, want an RSA key", k)
		}
		priv = rk
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("reportprovider: parse PKCS #1 key: %w", err)
		}
		priv = k
	default:
		return nil, fmt.Errorf("reportprovider: unexpected PEM block %q", block.Type)
	}
	return NewKey(kid, priv)
}

// ID returns the key ID (the JWS "kid").
func (k *Key) ID() string { return k.id }

// MarshalPEM encodes the private key as a PKCS #8 "PRIVATE KEY" PEM block,
// for storing it between restarts. Treat the result as a secret.
func (k *Key) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("reportprovider: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// String identifies the key without revealing it.
func (k *Key) String() string { return "reportprovider.Key{kid=" + k.id + "}" }

// jwk is one public key of a JSON Web Key Set (RFC 7517) as KHEOPS reads
// it: kty RSA, the kid, and the modulus and exponent. alg and use are
// informative.
type jwk struct {
	KeyType   string `json:"kty"`
	Use       string `json:"use,omitempty"`
	Algorithm string `json:"alg,omitempty"`
	KeyID     string `json:"kid"`
	N         string `json:"n"`
	E         string `json:"e"`
}

// keySet is a JSON Web Key Set.
type keySet struct {
	Keys []jwk `json:"keys"`
}

// publicJWK returns the public JWK of the key (kty RSA, use sig, alg RS256).
func (k *Key) publicJWK() jwk {
	pub := k.priv.PublicKey
	return jwk{
		KeyType:   "RSA",
		Use:       "sig",
		Algorithm: signingAlgRS256,
		KeyID:     k.id,
		N:         base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E:         base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}

// newJWKS returns the key set publishing the public halves of keys, in
// order. Key IDs must be distinct.
func newJWKS(keys ...*Key) (keySet, error) {
	set := keySet{Keys: make([]jwk, 0, len(keys))}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k == nil {
			return keySet{}, errors.New("reportprovider: nil key")
		}
		if seen[k.id] {
			return keySet{}, fmt.Errorf("reportprovider: duplicate key id %q", k.id)
		}
		seen[k.id] = true
		set.Keys = append(set.Keys, k.publicJWK())
	}
	return set, nil
}

// handler serves the key set as application/json (GET and HEAD).
func (s keySet) handler() http.Handler {
	body, _ := json.Marshal(s) // a JWK set always marshals
	return serveJSON(body)
}
