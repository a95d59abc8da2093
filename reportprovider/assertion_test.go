package reportprovider

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	require.NoErrorf(t, err, "%v (run with -update to create it)", err)
	assert.Falsef(t, !bytes.Equal(got, want), "%s differs\n got %s\nwant %s", name, got, want)
}

func testKey(t testing.TB, file, kid string) *Key {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	k, err := ParseKeyPEM(kid, data)
	require.NoError(t, err)
	return k
}

var kaEpoch = time.Unix(1560960911, 0)

// zeroReader makes jti values deterministic.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func kaProvider(t testing.TB, keys ...*Key) *Provider {
	t.Helper()
	p, err := New(Options{
		ConfigurationURL: "https://reportprovider.kheops.online/.well-known/kheops-report-configuration",
		Configuration: Configuration{
			RedirectURI: "https://reportprovider.kheops.online/report.html", ResponseType: ResponseTypeCode,
			TokenEndpointAuthMethod: authMethodPrivateKeyJWT, TokenEndpointAuthSigningAlg: signingAlgRS256,
			JWKSURI: "https://reportprovider.kheops.online/certs",
		},
		Keys:    keys,
		Issuers: []Issuer{{URL: "https://demo.kheops.online"}},
		Now:     func() time.Time { return kaEpoch },
	})
	require.NoError(t, err)
	p.rand = zeroReader{}
	return p
}

const (
	kaClient = "Ya7IHXuubSsv9PJy9GXifx"
	kaAud    = "https://demo.kheops.online/api/token"
)

func TestAssertionKnownAnswer(t *testing.T) {
	t.Parallel()
	p := kaProvider(t, testKey(t, "k1.pem", "k1"))
	a, err := p.clientAssertion(kaClient, kaAud)
	require.NoError(t, err)
	golden(t, "assertion.golden", []byte(a))
	parts := strings.Split(string(a), ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if string(hdr) != `{"alg":"RS256","kid":"k1","typ":"JWT"}` {
		t.Errorf("header %s", hdr)
	}
	if string(claims) != `{"aud":"https://demo.kheops.online/api/token","exp":1560961031,"iss":"Ya7IHXuubSsv9PJy9GXifx","jti":"AAAAAAAAAAAAAAAAAAAAAA","sub":"Ya7IHXuubSsv9PJy9GXifx"}` {
		t.Errorf("claims %s", claims)
	}
}

func TestExchangeFormKnownAnswer(t *testing.T) {
	t.Parallel()
	p := kaProvider(t, testKey(t, "k1.pem", "k1"))
	a, err := p.clientAssertion(kaClient, kaAud)
	require.NoError(t, err)
	form := exchangeForm("ey.DUszcU", kaClient, p.cfg.RedirectURI, a)
	golden(t, "exchange_form.golden", []byte(form))
	want := "grant_type=authorization_code&code=ey.DUszcU&client_id=Ya7IHXuubSsv9PJy9GXifx" +
		"&redirect_uri=https%3A%2F%2Freportprovider.kheops.online%2Freport.html" +
		"&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer" +
		"&client_assertion=" + string(a)
	assert.Equalf(t, want, form, "form\n got %s\nwant %s", form, want)
}

// publishedKeys parses what JWKSHandler serves with go-jose.
func publishedKeys(t *testing.T, p *Provider) jose.JSONWebKeySet {
	t.Helper()
	body, err := json.Marshal(p.jwks)
	require.NoError(t, err)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	return set
}

// verifyWithJose is the independent verifier: go-jose, RS256 only, key by
// kid from the published JWKS, then the claims KHEOPS checks.
func verifyWithJose(set jose.JSONWebKeySet, raw string) error {
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return err
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return jose.ErrUnsupportedKeyType
	}
	var c josejwt.Claims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return err
	}
	return c.ValidateWithLeeway(josejwt.Expected{Issuer: kaClient, Subject: kaClient, AnyAudience: josejwt.Audience{kaAud}, Time: kaEpoch}, 0)
}

func TestAssertionTamperingRejectedByGoJose(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(t, "k1.pem", "k1"), testKey(t, "k2.pem", "k2")
	p := kaProvider(t, k1, k2)
	set := publishedKeys(t, p)
	a, err := p.clientAssertion(kaClient, kaAud)
	require.NoError(t, err)
	if err := verifyWithJose(set, string(a)); err != nil {
		t.Fatalf("genuine assertion rejected: %v", err)
	}
	parts := strings.Split(string(a), ".")
	enc := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	flipped := []byte(parts[2])
	flipped[len(flipped)/2] ^= 0x01
	hsSig := func(header string) string {
		m := hmac.New(sha256.New, []byte(mustPEMPublic(t, k1)))
		m.Write([]byte(enc(header) + "." + parts[1]))
		return enc(header) + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	signedByK2 := func() string {
		q := kaProvider(t, k2)
		b, err := q.clientAssertion(kaClient, kaAud)
		require.NoError(t, err)
		bp := strings.Split(string(b), ".")
		return enc(`{"alg":"RS256","kid":"k1","typ":"JWT"}`) + "." + bp[1] + "." + bp[2]
	}
	for name, tampered := range map[string]string{
		"payload changed":           parts[0] + "." + enc(strings.Replace(string(payload), kaClient, "Attacker0000000000000x", 2)) + "." + parts[2],
		"audience changed":          parts[0] + "." + enc(strings.Replace(string(payload), "/api/token", "/api/tokens", 1)) + "." + parts[2],
		"signature bit flipped":     parts[0] + "." + parts[1] + "." + string(flipped),
		"signature removed":         parts[0] + "." + parts[1] + ".",
		"alg none":                  enc(`{"alg":"none","kid":"k1","typ":"JWT"}`) + "." + parts[1] + ".",
		"alg HS256 with public key": hsSig(`{"alg":"HS256","kid":"k1","typ":"JWT"}`),
		"kid swapped":               enc(`{"alg":"RS256","kid":"k2","typ":"JWT"}`) + "." + parts[1] + "." + parts[2],
		"signed by another key":     signedByK2(),
	} {
		if err := verifyWithJose(set, tampered); err == nil {
			t.Errorf("%s: go-jose accepted the tampered assertion", name)
		}
	}
}

func mustPEMPublic(t *testing.T, k *Key) string {
	t.Helper()
	b, err := json.Marshal(k.publicJWK())
	require.NoError(t, err)
	return string(b)
}

func TestAssertionsAreFreshAndShortLived(t *testing.T) {
	t.Parallel()
	p := kaProvider(t, testKey(t, "k1.pem", "k1"))
	p.rand = randReader(t)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		a, err := p.clientAssertion(kaClient, kaAud)
		require.NoError(t, err)
		tok, err := josejwt.ParseSigned(string(a), []jose.SignatureAlgorithm{jose.RS256})
		require.NoError(t, err)
		var c josejwt.Claims
		if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
			t.Fatal(err)
		}
		require.Falsef(t, seen[c.ID], "jti %s repeated", c.ID)
		seen[c.ID] = true
		if d := c.Expiry.Time().Sub(kaEpoch); d != 2*time.Minute {
			t.Fatalf("lifetime %v", d)
		}
	}
	if _, err := New(Options{ConfigurationURL: "https://rp.example/c", Configuration: Configuration{RedirectURI: "https://rp.example/r", ResponseType: "token"},
		Issuers: []Issuer{{URL: "https://k.example"}}, AssertionLifetime: 6 * time.Minute}); err == nil {
		t.Error("an assertion lifetime of 6 minutes was accepted")
	}
}

func randReader(t *testing.T) *bytes.Reader {
	t.Helper()
	b := make([]byte, 16*64)
	for i := range b {
		b[i] = byte(i*7 + i/16)
	}
	return bytes.NewReader(b)
}

func TestFormEscaping(t *testing.T) {
	t.Parallel()
	f := exchangeForm("a+b&c=d", "id", "https://rp.example/cb?x=1&y=2", "e.f.g")
	v, err := url.ParseQuery(f)
	assert.Falsef(t, err != nil || v.Get("code") != "a+b&c=d" || v.Get("redirect_uri") != "https://rp.example/cb?x=1&y=2" || len(v) != 6, "%s: %v %v", f, v, err)
}

// TestAssertionAcceptedByPyJWT is a second, non-Go verifier: Debian's PyJWT
// checks the signature, algorithm, issuer, subject and audience.
func TestAssertionAcceptedByPyJWT(t *testing.T) {
	t.Parallel()
	py := testenv.DebianPython(t, "jwt")
	k := testKey(t, "k1.pem", "k1")
	p := kaProvider(t, k)
	a, err := p.clientAssertion(kaClient, kaAud)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	require.NoError(t, err)
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	script := `import sys, json, jwt
tok, key, aud, iss = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
h = jwt.get_unverified_header(tok)
c = jwt.decode(tok, key, algorithms=["RS256"], audience=aud, issuer=iss, options={"verify_exp": False, "require": ["exp", "jti", "sub"]})
assert c["sub"] == iss and h["kid"] == "k1" and h["alg"] == "RS256"
print(json.dumps(c, sort_keys=True))`
	out, err := exec.Command(py, "-c", script, string(a), string(pub), kaAud, kaClient).CombinedOutput()
	require.NoErrorf(t, err, "PyJWT rejects the assertion: %v\n%s", err, out)
	want := `{"aud": "https://demo.kheops.online/api/token", "exp": 1560961031, "iss": "Ya7IHXuubSsv9PJy9GXifx", "jti": "AAAAAAAAAAAAAAAAAAAAAA", "sub": "Ya7IHXuubSsv9PJy9GXifx"}`
	assert.Equalf(t, want, strings.TrimSpace(string(out)), "PyJWT claims %s", out)
	tampered := string(a[:len(a)-10]) + "AAAAAAAAAA"
	if out, err := exec.Command(py, "-c", script, tampered, string(pub), kaAud, kaClient).CombinedOutput(); err == nil {
		t.Errorf("PyJWT accepts a tampered signature: %s", out)
	}
}

func BenchmarkClientAssertion(b *testing.B) {
	p := kaProvider(b, testKey(b, "k1.pem", "k1"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.clientAssertion(kaClient, kaAud); err != nil {
			b.Fatal(err)
		}
	}
}
