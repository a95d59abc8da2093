package hmac

import (
	stdhmac "crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vector is one entry of testdata/aura-hmac.json, reproduced with Aura's TypeScript,
// C# and Python signers.
type vector struct {
	Label              string            `json:"label"`
	AppID              string            `json:"app_id"`
	AppSecret          string            `json:"app_secret"`
	Method             string            `json:"method"`
	CanonicalPath      string            `json:"canonical_path"`
	CanonicalQuery     string            `json:"canonical_query"`
	SignedHeaderValues map[string]string `json:"signed_header_values"`
	Body               string            `json:"body"`
	Timestamp          string            `json:"timestamp"`
	Nonce              string            `json:"nonce"`
	Date               string            `json:"date"`
	PayloadHash        string            `json:"payload_hash"`
	CanonicalHeaders   string            `json:"canonical_headers"`
	SignedHeaders      string            `json:"signed_headers"`
	CanonicalRequest   string            `json:"canonical_request"`
	CanonicalReqHash   string            `json:"canonical_request_hash"`
	CredentialScope    string            `json:"credential_scope"`
	StringToSign       string            `json:"string_to_sign"`
	DateKeyHex         string            `json:"date_key_hex"`
	SigningKeyHex      string            `json:"signing_key_hex"`
	Signature          string            `json:"signature"`
	Authorization      string            `json:"authorization"`
}

type vectorFile struct {
	Vectors       []vector          `json:"vectors"`
	PayloadHashes map[string]string `json:"payload_hashes"`
	Primitives    map[string]string `json:"primitives"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	b, err := os.ReadFile("testdata/aura-hmac.json")
	require.NoError(t, err)
	var f vectorFile
	require.NoError(t, json.Unmarshal(b, &f))
	require.Len(t, f.Vectors, 9)
	return f
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func mustUnix(t testing.TB, ts string) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(ts, 10, 64)
	require.NoError(t, err)
	return time.Unix(n, 0)
}

// TestVectorIntermediates checks every intermediate value of every vector:
// date key, signing key, payload hash, canonical headers, canonical
// request, its hash, scope, string to sign, signature, Authorization.
func TestVectorIntermediates(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t).Vectors {
		t.Run(v.Label, func(t *testing.T) {
			t.Parallel()
			kDate := dateKey(v.AppSecret, v.Date)
			assert.Equal(t, v.DateKeyHex, hexOf(kDate), "date key")
			kSign := signingKeyFrom(kDate)
			assert.Equal(t, v.SigningKeyHex, hexOf(kSign), "signing key")
			dk := newDayKey(v.AppSecret, mustUnix(t, v.Timestamp).Unix())
			assert.Equal(t, v.Date, dk.date, "newDayKey date")
			assert.Equal(t, v.SigningKeyHex, hexOf(dk.kSign), "newDayKey key")
			ph := sha256.Sum256([]byte(v.Body))
			assert.Equal(t, v.PayloadHash, hexOf(ph[:]), "payload hash")
			path, err := canonicalPath(v.CanonicalPath)
			assert.NoError(t, err)
			assert.Equal(t, v.CanonicalPath, path, "a canonical path must stay unchanged")
			c := canonical{
				method:      v.Method,
				path:        path,
				query:       canonicalQuery(v.CanonicalQuery),
				contentType: normalizeValue(v.SignedHeaderValues["content-type"]),
				host:        normalizeValue(v.SignedHeaderValues["host"]),
				nonce:       v.SignedHeaderValues["x-aura-nonce"],
				timestamp:   v.SignedHeaderValues["x-aura-timestamp"],
				payloadHash: ph,
			}
			assert.Equal(t, v.SignedHeaders, c.signedHeaders(), "signed headers")
			creq := string(c.appendRequest(nil))
			assert.Equal(t, v.CanonicalRequest, creq, "canonical request")
			assert.Contains(t, creq, "\n"+v.CanonicalHeaders+"\n", "canonical headers")
			crh := sha256.Sum256([]byte(creq))
			assert.Equal(t, v.CanonicalReqHash, hexOf(crh[:]), "canonical request hash")
			assert.Equal(t, v.CredentialScope, string(appendScope(nil, v.AppID, v.Date)), "scope")
			sts := appendStringToSign(nil, v.Timestamp, v.AppID, v.Date, &crh)
			assert.Equal(t, v.StringToSign, string(sts), "string to sign")
			sig := dk.sign(sts)
			assert.Equal(t, v.Signature, hexOf(sig[:]), "signature")
			assert.Equal(t, v.Authorization, string(appendAuthorization(nil, v.AppID, c.signedHeaders(), &sig)), "authorization")
		})
	}
}

// vectorRequest builds the *http.Request a Go caller would send for v.
func vectorRequest(t testing.TB, v vector, explicitContentType bool) *http.Request {
	t.Helper()
	u := "https://" + v.SignedHeaderValues["host"] + v.CanonicalPath
	if v.CanonicalQuery != "" {
		u += "?" + v.CanonicalQuery
	}
	var body io.Reader
	if v.Body != "" {
		body = strings.NewReader(v.Body)
	}
	req, err := http.NewRequest(v.Method, u, body)
	require.NoError(t, err)
	if ct, ok := v.SignedHeaderValues["content-type"]; ok && (explicitContentType || v.Body == "") {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("X-Api-Key", "aura_au_myservice_abc123") // sent, never signed
	return req
}

func vectorSigner(t testing.TB, v vector) *Signer {
	return &Signer{
		AppID:  v.AppID,
		Secret: v.AppSecret,
		Now:    func() time.Time { return mustUnix(t, v.Timestamp) },
		Nonce:  func() string { return v.Nonce },
	}
}

// TestSignVectors signs each vector's request end to end through Sign, with
// Content-Type set by the caller and auto-added, and checks the headers.
func TestSignVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t).Vectors {
		for _, explicit := range []bool{true, false} {
			name := v.Label + "/auto-content-type"
			if explicit {
				name = v.Label + "/explicit-content-type"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				req := vectorRequest(t, v, explicit)
				require.NoError(t, vectorSigner(t, v).Sign(req))
				want := map[string]string{
					"Authorization":    v.Authorization,
					"X-Aura-Timestamp": v.Timestamp,
					"X-Aura-Nonce":     v.Nonce,
					"Content-Type":     v.SignedHeaderValues["content-type"],
					"X-Api-Key":        "aura_au_myservice_abc123",
				}
				for k, w := range want {
					if w == "" {
						assert.Empty(t, req.Header.Values(k), k)
					} else {
						assert.Equal(t, []string{w}, req.Header.Values(k), k)
					}
				}
				var b []byte
				if req.Body != nil {
					b, _ = io.ReadAll(req.Body)
				}
				assert.Equal(t, v.Body, string(b), "body after Sign")
			})
		}
	}
}

func TestPrimitives(t *testing.T) {
	t.Parallel()
	f := loadVectors(t)
	for body, want := range f.PayloadHashes {
		got := sha256.Sum256([]byte(body))
		assert.Equal(t, want, hexOf(got[:]), "sha256(%q)", body)
	}
	empty := sha256.Sum256(nil)
	assert.Equal(t, emptyPayloadHash, hexOf(empty[:]))
	m := stdhmac.New(sha256.New, []byte("secret"))
	m.Write([]byte("message"))
	assert.Equal(t, f.Primitives["hmac_sha256_hex(key='secret', data='message')"], hexOf(m.Sum(nil)), "hmac(secret, message)")
}

// TestEdgeVectors are the extra vectors of hmac/testdata: requests run through the real TypeScript
// signer, all with app test-app-id, secret test-secret-key, nonce
// 550e8400-e29b-41d4-a716-446655440000 and ts 1706140800 unless stated.
func TestEdgeVectors(t *testing.T) {
	t.Parallel()
	const (
		tv1Body = `{"ttl":3600,"scopes":["upload:init","upload:manage"]}`
		nonce   = "550e8400-e29b-41d4-a716-446655440000"
	)
	tests := []struct {
		name      string
		method    string
		url       string
		host      string // req.Host; "" keeps the URL's host
		ct        string // "" = not set
		body      string
		ts        int64
		wantPath  string
		wantQuery string
		wantCRH   string
		wantSig   string
	}{
		{
			name: "X1 query merge", method: "GET",
			// TS: url "/uploader/config?b=2&a=1", params {c:"a b", d:true, e:null};
			// in Go the params are appended with EscapeComponent.
			url:      "https://aura.example.com/api/uploader/config?b=2&a=1&c=" + EscapeComponent("a b") + "&d=true",
			ts:       1706140800,
			wantPath: "/api/uploader/config", wantQuery: "a=1&b=2&c=a%20b&d=true",
			wantCRH: "3ac3e7536c2e63e8c8717e1accb4a03de26955eca098d694357c359f9d7dd9e5",
			wantSig: "e75848ec70157e03ed83deff3e5099e88db78b943e7cd9d9c908b0133da18bba",
		},
		{
			name: "X2 path encoding", method: "GET",
			url:      "https://aura.example.com/api/./x/../files/a b/é/%41",
			ts:       1706140800,
			wantPath: "/api/files/a%20b/%C3%A9/A",
			wantCRH:  "aa153fdf87b106771baa8817798a13cf66782074204cd2e98b32dd50ca301ee3",
			wantSig:  "dda755fcc68c47571d0eb979648e1b963375fad32d2752ef4e36b94e7b9009c5",
		},
		{
			name: "X3 one second before midnight", method: "POST",
			url: "https://aura.example.com/api/auth/exchange", ct: "application/json", body: `{"ttl":3600}`,
			ts:       1706140799,
			wantPath: "/api/auth/exchange",
			wantCRH:  "a93d0c236d6fdb61064c909390af9fd0d848e86d16ce5db4971a157f030c7429",
			wantSig:  "9d499556970d5d737904dd24fd2a7c94d20593f1bb189c69550302e53c744798",
		},
		{
			// TypeScript was given Host "  aura.example.com:8443 "; it
			// normalizes to the URL's host, which is what Go sends (a
			// padded req.Host is refused: see "X4 padded host" below).
			name: "X4 whitespace and port", method: "POST",
			url: "https://aura.example.com:8443/api/auth/exchange",
			ct:  " application/json ;\t charset=utf-8 ", body: `{"ttl":3600}`,
			ts:       1706140800,
			wantPath: "/api/auth/exchange",
			wantCRH:  "014f110856bec09e1c3770136221a1e680f070fc6d9b925066b2f3c5c02f637b",
			wantSig:  "59e98a3af50c6d4cb2371e8c8a5f32c24739b556a8318daf6d0891a9d00a1ac0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, tt.url, body)
			require.NoError(t, err)
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			s := &Signer{AppID: "test-app-id", Secret: "test-secret-key",
				Now: func() time.Time { return time.Unix(tt.ts, 0) }, Nonce: func() string { return nonce }}
			require.NoError(t, s.Sign(req))
			ex, err := Explain(req)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(ex.CanonicalRequest, tt.method+"\n"+tt.wantPath+"\n"+tt.wantQuery+"\n"),
				"canonical request starts %q, want path %q query %q", ex.CanonicalRequest, tt.wantPath, tt.wantQuery)
			crh := sha256.Sum256([]byte(ex.CanonicalRequest))
			assert.Equal(t, tt.wantCRH, hexOf(crh[:]), "canonical request hash")
			assert.True(t, strings.HasSuffix(req.Header.Get("Authorization"), ",Signature="+tt.wantSig),
				"Authorization = %q, want signature %s", req.Header.Get("Authorization"), tt.wantSig)
		})
	}

	t.Run("X4 padded host", func(t *testing.T) {
		t.Parallel()
		assert.Equal(t, "aura.example.com:8443", normalizeValue("  aura.example.com:8443 "))
		req, err := http.NewRequest("POST", "https://aura.example.com:8443/api/auth/exchange", strings.NewReader(`{"ttl":3600}`))
		require.NoError(t, err)
		req.Host = "  aura.example.com:8443 " // net/http would send an empty Host
		assert.ErrorContains(t, (&Signer{AppID: "test-app-id", Secret: "test-secret-key"}).Sign(req), "host", "Sign with a padded Host")
	})

	// X5: the README examples never set Host, so TypeScript signs only
	// content-type;x-aura-nonce;x-aura-timestamp. Sign refuses that
	// (docs/aura-hmac.md, "Reference bugs we do not reproduce"), but the
	// canonical form must still match.
	t.Run("X5 no host", func(t *testing.T) {
		t.Parallel()
		c := canonical{method: "POST", path: "/api/auth/exchange", contentType: "application/json",
			nonce: nonce, timestamp: "1706140800", payloadHash: sha256.Sum256([]byte(tv1Body))}
		assert.Equal(t, "content-type;x-aura-nonce;x-aura-timestamp", c.signedHeaders(), "signed headers")
		crh := sha256.Sum256(c.appendRequest(nil))
		assert.Equal(t, "7dd7a987790b20df9518fd27d3e56c4ed8b60c5fb9be13508a36d183924884ff", hexOf(crh[:]), "crh")
		sig := newDayKey("test-secret-key", 1706140800).sign(appendStringToSign(nil, "1706140800", "test-app-id", "20240125", &crh))
		assert.Equal(t, "b92ad1169fab30309a133164bd3c4e47e7d701ab047cedd6d3673de12efcf9a2", hexOf(sig[:]), "signature")
		req, err := http.NewRequest("POST", "/api/auth/exchange", strings.NewReader(tv1Body))
		require.NoError(t, err)
		err = (&Signer{AppID: "test-app-id", Secret: "test-secret-key"}).Sign(req)
		assert.ErrorContains(t, err, "no host", "Sign without host")
	})
}

// TestDayKeyDates checks the third key pair of the vectors (the day before).
func TestDayKeyDates(t *testing.T) {
	t.Parallel()
	k := newDayKey("test-secret-key", 1706140799)
	assert.Equal(t, "20240124", k.date)
	assert.Equal(t, "e554e389068b7651cc6cebe21ed203172396e72955cdf3b17206da025b86331e", hexOf(k.kSign), "day key")
	assert.Equal(t, "98336a755ff272173e71f4bb345648953b7bc24ac7a463bbc436bed765b2dd32", hexOf(dateKey("test-secret-key", "20240124")), "date key")
}

// TestMACMatchesCryptoHMAC checks the Sum256-based HMAC of dayKey against
// crypto/hmac for messages of every length around the block boundaries.
func TestMACMatchesCryptoHMAC(t *testing.T) {
	t.Parallel()
	k := newDayKey("test-secret-key", 1706140800)
	msg := make([]byte, 300)
	for i := range msg {
		msg[i] = byte(i*7 + 3)
	}
	for n := 0; n <= len(msg); n++ {
		m := stdhmac.New(sha256.New, k.kSign)
		m.Write(msg[:n])
		want := m.Sum(nil)
		got := k.sign(msg[:n])
		require.Equal(t, hexOf(want), hexOf(got[:]), "len %d", n)
	}
}
