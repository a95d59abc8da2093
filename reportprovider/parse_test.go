package reportprovider

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLaunch(t *testing.T) {
	t.Parallel()
	const conf = "https%3A%2F%2Fdemo.kheops.online%2Fapi%2F.well-known%2Freport-provider-configuration"
	cases := []struct {
		name  string
		query string
		want  *Launch // nil: want ErrInvalidLaunch
	}{
		{"code flow, KHEOPS order", "code=ey.a.b&conf_uri=" + conf + "&client_id=Ya7IHXuubSsv9PJy9GXifx&return_uri=https://demo.kheops.online/albums/M1qJb98LJe&studyUID=1.2.3&studyUID=1.2.4",
			&Launch{Flow: "code", Code: "ey.a.b", ConfURI: "https://demo.kheops.online/api/.well-known/report-provider-configuration",
				ClientID: "Ya7IHXuubSsv9PJy9GXifx", ReturnURI: "https://demo.kheops.online/albums/M1qJb98LJe", StudyUIDs: []string{"1.2.3", "1.2.4"}}},
		{"implicit flow", "access_token=ey.x.y&token_type=bearer&expires_in=3600&scope=read%20write&client_id=c1&conf_uri=" + conf + "&return_uri=https%3A%2F%2Fdemo.kheops.online%2Falbums%2FM1&studyUID=1.2.3",
			&Launch{Flow: "token", AccessToken: "ey.x.y", tokenType: "bearer", expiresIn: 3600, Scope: "read write", ClientID: "c1",
				ConfURI: "https://demo.kheops.online/api/.well-known/report-provider-configuration", ReturnURI: "https://demo.kheops.online/albums/M1", StudyUIDs: []string{"1.2.3"}}},
		{"redirect_uri's own query is ignored", "page=2&code=c&conf_uri=x&client_id=c1", &Launch{Flow: "code", Code: "c", ConfURI: "x", ClientID: "c1"}},
		{"both code and token", "code=c&access_token=t&token_type=bearer&conf_uri=x&client_id=c1", nil},
		{"neither", "conf_uri=x&client_id=c1", nil},
		{"repeated code", "code=c&code=d&conf_uri=x&client_id=c1", nil},
		{"repeated conf_uri", "code=c&conf_uri=x&conf_uri=y&client_id=c1", nil},
		{"repeated client_id", "code=c&conf_uri=x&client_id=a&client_id=b", nil},
		{"repeated return_uri", "code=c&conf_uri=x&client_id=a&return_uri=a&return_uri=b", nil},
		{"empty code", "code=&conf_uri=x&client_id=c1", nil},
		{"code with a space", "code=a%20b&conf_uri=x&client_id=c1", nil},
		{"code with a newline", "code=a%0Ab&conf_uri=x&client_id=c1", nil},
		{"huge code", "code=" + strings.Repeat("a", 9000) + "&conf_uri=x&client_id=c1", nil},
		{"missing conf_uri", "code=c&client_id=c1", nil},
		{"missing client_id", "code=c&conf_uri=x", nil},
		{"client_id with a slash", "code=c&conf_uri=x&client_id=a/b", nil},
		{"bad study UID", "code=c&conf_uri=x&client_id=c1&studyUID=abc", nil},
		{"study UID not an OID", "code=c&conf_uri=x&client_id=c1&studyUID=3.1", nil},
		{"study UID with an empty component", "code=c&conf_uri=x&client_id=c1&studyUID=1..2", nil},
		{"study UID too long", "code=c&conf_uri=x&client_id=c1&studyUID=1." + strings.Repeat("1", 255), nil},
		{"repeated study UID", "code=c&conf_uri=x&client_id=c1&studyUID=1.2&studyUID=1.2", nil},
		{"implicit without token_type", "access_token=t&conf_uri=x&client_id=c1", nil},
		{"implicit with mac token_type", "access_token=t&token_type=mac&conf_uri=x&client_id=c1", nil},
		{"implicit with negative expires_in", "access_token=t&token_type=bearer&expires_in=-1&conf_uri=x&client_id=c1", nil},
		{"implicit with an unknown scope", "access_token=t&token_type=bearer&scope=admin&conf_uri=x&client_id=c1", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v, err := url.ParseQuery(c.query)
			require.NoError(t, err)
			got, err := ParseLaunch(v)
			if c.want == nil {
				require.ErrorIsf(t, err, ErrInvalidLaunch, "%v, want ErrInvalidLaunch", err)
				assert.Falsef(t, strings.Contains(err.Error(), "ey.") || strings.Contains(err.Error(), "aaaa"), "error echoes a value: %v", err)
				return
			}
			require.NoError(t, err)
			if got.Flow != c.want.Flow || got.Code != c.want.Code || got.AccessToken != c.want.AccessToken || got.tokenType != c.want.tokenType ||
				got.expiresIn != c.want.expiresIn || got.Scope != c.want.Scope || got.ConfURI != c.want.ConfURI || got.ClientID != c.want.ClientID ||
				got.ReturnURI != c.want.ReturnURI || !slices.Equal(got.StudyUIDs, c.want.StudyUIDs) {
				t.Errorf("got %+v\nwant %+v", *got, *c.want)
			}
		})
	}
	if _, err := parseFragment("code=c&conf_uri=x&client_id=c1"); !errors.Is(err, ErrInvalidLaunch) {
		t.Errorf("a code in a fragment: %v", err)
	}
	if _, err := parseFragment("access_token=t&token_type=bearer&conf_uri=x&client_id=c1&x=%zz"); !errors.Is(err, ErrInvalidLaunch) {
		t.Errorf("bad escape: %v", err)
	}
}

func TestConfigurationValidate(t *testing.T) {
	t.Parallel()
	code := func(redirect, jwks string) Configuration {
		return Configuration{RedirectURI: redirect, ResponseType: "code", TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "RS256", JWKSURI: jwks}
	}
	cases := []struct {
		name    string
		confURL string
		c       Configuration
		ok      bool
	}{
		{"code flow", "https://rp.example/c", code("https://rp.example/r", "https://rp.example/k"), true},
		{"implicit", "https://rp.example/c", Configuration{RedirectURI: "https://rp.example/r", ResponseType: "token"}, true},
		{"port on both", "http://rp.example:8443/c", code("http://rp.example:8443/r", "http://rp.example:8443/k"), true},
		{"redirect with query", "https://rp.example/c", code("https://rp.example/r?x=1", "https://rp.example/k"), true},
		{"explicit default port", "https://rp.example/c", code("https://rp.example:443/r", "https://rp.example/k"), false},
		{"host case differs", "https://rp.example/c", code("https://RP.example/r", "https://rp.example/k"), false},
		{"scheme differs", "https://rp.example/c", code("http://rp.example/r", "https://rp.example/k"), false},
		{"jwks elsewhere", "https://rp.example/c", code("https://rp.example/r", "https://other.example/k"), false},
		{"redirect with fragment", "https://rp.example/c", code("https://rp.example/r#x", "https://rp.example/k"), false},
		{"user info", "https://u@rp.example/c", code("https://u@rp.example/r", "https://u@rp.example/k"), false},
		{"javascript redirect", "https://rp.example/c", Configuration{RedirectURI: "javascript:alert(1)", ResponseType: "token"}, false},
		{"relative redirect", "https://rp.example/c", Configuration{RedirectURI: "/r", ResponseType: "token"}, false},
		{"old auth method", "https://rp.example/c", Configuration{RedirectURI: "https://rp.example/r", ResponseType: "code", TokenEndpointAuthMethod: "kheops_private_key_jwt", TokenEndpointAuthSigningAlg: "RS256", JWKSURI: "https://rp.example/k"}, false},
		{"auth method and alg left to New", "https://rp.example/c", Configuration{RedirectURI: "https://rp.example/r", ResponseType: "code", JWKSURI: "https://rp.example/k"}, true},
		{"ES256", "https://rp.example/c", Configuration{RedirectURI: "https://rp.example/r", ResponseType: "code", TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "ES256", JWKSURI: "https://rp.example/k"}, false},
		{"no response_type", "https://rp.example/c", Configuration{RedirectURI: "https://rp.example/r"}, false},
		{"configuration URL not a URL", "::", Configuration{RedirectURI: "https://rp.example/r", ResponseType: "token"}, false},
	}
	for _, c := range cases {
		err := c.c.Validate(c.confURL)
		assert.Falsef(t, c.ok && err != nil, "%s: %v", c.name, err)
		assert.Falsef(t, !c.ok && !errors.Is(err, ErrInvalidConfiguration), "%s: %v, want ErrInvalidConfiguration", c.name, err)
	}
	if _, err := parseConfiguration([]byte(`{"redirect_uri":"https://rp.example/r","response_type":"token"} {}`), "https://rp.example/c"); err == nil {
		t.Error("trailing data accepted")
	}
	// A served document must spell out what New fills in: KHEOPS refuses it otherwise.
	if _, err := parseConfiguration([]byte(`{"redirect_uri":"https://rp.example/r","response_type":"code","token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://rp.example/k"}`), "https://rp.example/c"); !errors.Is(err, ErrInvalidConfiguration) {
		t.Errorf("served document without alg: %v, want ErrInvalidConfiguration", err)
	}
}

func TestParseInstanceConfiguration(t *testing.T) {
	t.Parallel()
	const root = "https://kheops.example/k"
	base := func() map[string]string {
		return map[string]string{"issuer": root, "dicomweb_endpoint": root + "/api", "token_endpoint": root + "/api/token",
			"introspection_endpoint": root + "/api/token/introspect", "userinfo_endpoint": root + "/api/userinfo"}
	}
	doc := func(m map[string]string) []byte {
		var b strings.Builder
		b.WriteString("{")
		i := 0
		for k, v := range m {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"` + k + `":"` + v + `"`)
			i++
		}
		b.WriteString("}")
		return []byte(b.String())
	}
	if _, err := parseInstanceConfiguration(doc(base()), root); err != nil {
		t.Fatalf("valid: %v", err)
	}
	m := base()
	m["dicomweb_endpoint"] = "https://KHEOPS.example:443/k/api"
	if _, err := parseInstanceConfiguration(doc(m), root); err != nil {
		t.Errorf("same origin written differently: %v", err)
	}
	m = base()
	m["issuer"] = root + "/" // KHEOPS configured with a trailing slash
	_, err := parseInstanceConfiguration(doc(m), root)
	assert.NoError(t, err, "issuer with a trailing slash")
	for _, c := range []struct{ field, value string }{
		{"issuer", "https://kheops.example"},
		{"issuer", root + "//"},
		{"issuer", root + "/x"},
		{"dicomweb_endpoint", "https://evil.example/api"},
		{"dicomweb_endpoint", "http://kheops.example/k/api"},
		{"dicomweb_endpoint", "https://kheops.example:8443/k/api"},
		{"token_endpoint", "https://kheops.example.evil.example/api/token"},
		{"introspection_endpoint", "https://user@kheops.example/k/api/token/introspect"},
		{"userinfo_endpoint", "https://kheops.example/k/api/userinfo#x"},
		{"userinfo_endpoint", "javascript:alert(1)"},
		{"userinfo_endpoint", ""},
		{"dicomweb_uri_endpoint", "https://evil.example/wado"},
		{"jwks_uri", "https://evil.example/jwks"},
		{"authorization_endpoint", "ftp://kheops.example/k/api/authorize"},
	} {
		m := base()
		m[c.field] = c.value
		if c.value == "" {
			delete(m, c.field)
		}
		if _, err := parseInstanceConfiguration(doc(m), root); !errors.Is(err, ErrInvalidInstanceConfiguration) {
			t.Errorf("%s=%q: %v, want ErrInvalidInstanceConfiguration", c.field, c.value, err)
		}
	}
	for _, bad := range []string{"", "null", "[]", `{"issuer":1}`, "{} {}"} {
		if _, err := parseInstanceConfiguration([]byte(bad), root); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSafeReturnURI(t *testing.T) {
	t.Parallel()
	is, err := newIssuer(Issuer{URL: "https://kheops.example/k"})
	require.NoError(t, err)
	cases := []struct{ album, raw, want string }{
		{"Ab12Cd34Ef", "https://kheops.example/k/albums/Ab12Cd34Ef", "https://kheops.example/k/albums/Ab12Cd34Ef"},
		{"Ab12Cd34Ef", "https://evil.example/albums/x", "https://kheops.example/k/albums/Ab12Cd34Ef"},
		{"", "https://kheops.example/k/albums/Xy", "https://kheops.example/k/albums/Xy"},
		{"", "https://KHEOPS.example:443/k/albums/Xy", "https://kheops.example/k/albums/Xy"},
		{"", "javascript:alert(1)", "https://kheops.example/k"},
		{"", "JavaScript:alert(document.cookie)//https://kheops.example/k/albums/x", "https://kheops.example/k"},
		{"", "data:text/html,<script>alert(1)</script>", "https://kheops.example/k"},
		{"", "//evil.example/k/albums/x", "https://kheops.example/k"},
		{"", "https://kheops.example@evil.example/k/albums/x", "https://kheops.example/k"},
		{"", "https://evil.example\\@kheops.example/k/albums/x", "https://kheops.example/k"},
		{"", "https://kheops.example/k/albums/x/../../../evil", "https://kheops.example/k"},
		{"", "https://kheops.example/k/albums/x?next=https://evil.example", "https://kheops.example/k"},
		{"", "https://kheops.example/k/albums/x#@evil.example", "https://kheops.example/k"},
		{"", "https://kheops.example/other/albums/x", "https://kheops.example/k"},
		{"", "http://kheops.example/k/albums/x", "https://kheops.example/k"},
		{"", "https://kheops.example/k/albums/%2F%2Fevil.example", "https://kheops.example/k"},
		{"../evil", "", "https://kheops.example/k"},
	}
	for _, c := range cases {
		if got := safeReturnURI(is, c.album, c.raw); got != c.want {
			t.Errorf("album %q return_uri %q: %q, want %q", c.album, c.raw, got, c.want)
		}
	}
}

func TestMemoryCodeStore(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newMemoryCodeStore(3, clock)
	ctx := context.Background()
	claim := func(k string) bool {
		fresh, err := s.Claim(ctx, k, time.Minute)
		require.NoError(t, err)
		return fresh
	}
	require.False(t, !claim("a") || claim("a"), "a claimed twice")
	claim("b")
	claim("c")
	if _, err := s.Claim(ctx, "d", time.Minute); !errors.Is(err, ErrCodeStoreFull) {
		t.Fatalf("full store: %v", err)
	}
	assert.False(t, claim("a"), "a forgotten while the store was full")
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	assert.Falsef(t, !claim("d") || !claim("a") || s.size() != 2, "expired keys not released (len %d)", s.size())

	// Of many concurrent claims of one key, exactly one is fresh.
	big := newMemoryCodeStore(0, nil)
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := big.Claim(ctx, "k", time.Minute); err == nil && ok {
				fresh.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equalf(t, int32(1), fresh.Load(), "%d fresh claims", fresh.Load())
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := big.Claim(cctx, "x", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestMemoryCodeStoreQueueCompaction(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	s := newMemoryCodeStore(10, func() time.Time { return now })
	for i := 0; i < 10000; i++ {
		now = now.Add(time.Second)
		if fresh, err := s.Claim(context.Background(), string(rune(i)), 3*time.Second); err != nil || !fresh {
			t.Fatalf("claim %d: %v %v", i, fresh, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Falsef(t, len(s.keys) > 4 || cap(s.queue) > 1024, "keys %d, queue cap %d: expired entries are not released", len(s.keys), cap(s.queue))
}

func TestNewRejectsUnsafeOptions(t *testing.T) {
	t.Parallel()
	good := func() Options {
		return Options{ConfigurationURL: "https://rp.example/c", Configuration: Configuration{RedirectURI: "https://rp.example/r", ResponseType: "token"},
			Issuers: []Issuer{{URL: "https://kheops.example"}}}
	}
	if _, err := New(good()); err != nil {
		t.Fatal(err)
	}
	k := testKey(t, "k1.pem", "k1")
	for name, mod := range map[string]func(*Options){
		"no issuers":           func(o *Options) { o.Issuers = nil },
		"http issuer":          func(o *Options) { o.Issuers[0].URL = "http://kheops.example" },
		"issuer with query":    func(o *Options) { o.Issuers[0].URL = "https://kheops.example/?x" },
		"issuer with userinfo": func(o *Options) { o.Issuers[0].URL = "https://u:p@kheops.example" },
		"relative issuer":      func(o *Options) { o.Issuers[0].URL = "/kheops" },
		"ftp issuer":           func(o *Options) { o.Issuers[0].URL = "ftp://kheops.example" },
		"conf URL elsewhere":   func(o *Options) { o.Issuers[0].ConfigurationURL = "https://evil.example/c" },
		"invalid config":       func(o *Options) { o.Configuration.RedirectURI = "https://other.example/r" },
		"code flow, no key": func(o *Options) {
			o.Configuration = Configuration{RedirectURI: "https://rp.example/r", ResponseType: "code", TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "RS256", JWKSURI: "https://rp.example/k"}
		},
		"duplicate kid": func(o *Options) { o.Keys = []*Key{k, k} },
		"disagreeing private network flags": func(o *Options) {
			o.Issuers = append(o.Issuers, Issuer{URL: "https://kheops.example/two", AllowPrivateNetwork: true})
		},
	} {
		o := good()
		mod(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	o := good()
	o.Issuers[0].URL = "http://127.0.0.1:8080/kheops/"
	o.Issuers[0].AllowHTTP = true
	p, err := New(o)
	assert.Falsef(t, err != nil || p.issuers[0].URL != "http://127.0.0.1:8080/kheops" || p.issuers[0].confURL != "http://127.0.0.1:8080/kheops/api/.well-known/report-provider-configuration", "AllowHTTP issuer: %v", err)
}

func TestKeys(t *testing.T) {
	t.Parallel()
	k := testKey(t, "k1.pem", "k1")
	pemBytes, err := k.MarshalPEM()
	require.NoError(t, err)
	back, err := ParseKeyPEM("k1", pemBytes)
	require.Falsef(t, err != nil || !back.priv.PublicKey.Equal(&k.priv.PublicKey), "PEM round trip: %v", err)
	if strings.Contains(k.String(), "PRIVATE") || k.String() != "reportprovider.Key{kid=k1}" {
		t.Errorf("String %q", k.String())
	}
	for _, bad := range []string{"", "not pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		if _, err := ParseKeyPEM("k", []byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, kid := range []string{"", "a b", "é", strings.Repeat("a", 129)} {
		if _, err := NewKey(kid, k.priv); err == nil {
			t.Errorf("kid %q accepted", kid)
		}
	}
	j := k.publicJWK()
	assert.Falsef(t, j.KeyType != "RSA" || j.Algorithm != "RS256" || j.KeyID != "k1" || j.E != "AQAB" || j.Use != "sig", "jwk %+v", j)
}

func TestNewPublishesCodeFlowAuth(t *testing.T) {
	t.Parallel()
	k, err := GenerateKey("k1")
	require.NoError(t, err)
	p, err := New(Options{
		ConfigurationURL: "https://rp.example/c",
		Configuration:    Configuration{RedirectURI: "https://rp.example/r", ResponseType: ResponseTypeCode, JWKSURI: "https://rp.example/k"},
		Keys:             []*Key{k},
		Issuers:          []Issuer{{URL: "https://kheops.example"}},
	})
	require.NoError(t, err)
	w := httptest.NewRecorder()
	p.ConfigurationHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/c", nil))
	if _, err := parseConfiguration(w.Body.Bytes(), "https://rp.example/c"); err != nil {
		t.Errorf("published document %s: %v", w.Body, err)
	}
}
