package ohifbridge

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// publicJWKS is the JSON Web Key Set of the id_token key.
func publicJWKS(kid string, pub *rsa.PublicKey) ([]byte, error) {
	set := map[string]any{"keys": []map[string]string{{
		"kty": "RSA",
		"use": "sig",
		"alg": "RS256",
		"kid": kid,
		"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}}
	data, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("ohifbridge: marshal JWKS: %w", err)
	}
	return data, nil
}

// idToken signs the id_token of a token response (see docs/ohif-bridge.md,
// "The id_token"). nonce is set only in the code grant.
func (b *Bridge) idToken(s *session, sid, nonce string, exp time.Time) (string, error) {
	now := b.now()
	c := jwt.MapClaims{
		"iss":       b.issuer,
		"sub":       s.KHEOPS.User.Subject,
		"aud":       s.ClientID,
		"iat":       now.Unix(),
		"exp":       exp.Unix(),
		"auth_time": s.AuthTime,
		"sid":       sid,
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if s.KHEOPS.User.Name != "" {
		c["name"] = s.KHEOPS.User.Name
	}
	if s.KHEOPS.User.Email != "" {
		c["email"] = s.KHEOPS.User.Email
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = b.idKeyID
	signed, err := t.SignedString(b.idKey)
	if err != nil {
		return "", fmt.Errorf("ohifbridge: sign id_token: %w", err)
	}
	return signed, nil
}

// hintSession returns the sid of an id_token_hint the bridge signed for
// its client; an expired one is accepted (RP-initiated logout allows it).
func (b *Bridge) hintSession(hint string) (string, bool) {
	if hint == "" || len(hint) > maxTokenLen {
		return "", false
	}
	var c jwt.MapClaims
	_, err := jwt.ParseWithClaims(hint, &c, func(*jwt.Token) (any, error) { return &b.idKey.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithIssuer(b.issuer),
		jwt.WithAudience(b.client.ID),
		jwt.WithoutClaimsValidation(),
	)
	if err != nil {
		return "", false
	}
	if iss, _ := c["iss"].(string); iss != b.issuer {
		return "", false
	}
	aud, _ := c.GetAudience()
	if len(aud) != 1 || aud[0] != b.client.ID {
		return "", false
	}
	sid, _ := c["sid"].(string)
	return sid, sid != ""
}

func (b *Bridge) serveJWKS(w http.ResponseWriter, r *http.Request) {
	serveDocument(w, r, b.jwks)
}

// serveDocument answers GET and HEAD with a public JSON document.
func serveDocument(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "public, max-age=300")
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
