package reportprovider_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/reportprovider"
)

// The test world: a fake KHEOPS served under /kheops on 127.0.0.1, a
// provider at https://rp.example.com (an httptest TLS server reached
// through a dial map), and an attacker at evil.example.com that counts the
// requests it receives.

const (
	rpOrigin  = "https://rp.example.com"
	confURL   = rpOrigin + "/cfg"
	redirect  = rpOrigin + "/cb"
	jwksURL   = rpOrigin + "/jwks"
	albumID   = "AlbumOne01"
	otherAlb  = "AlbumTwo02"
	study1    = "1.2.3"
	study2    = "1.2.4"
	studyElse = "1.2.5" // in otherAlb only
)

var epoch = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func readKey(t testing.TB, file string) *rsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	block, _ := pem.Decode(data)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	return k.(*rsa.PrivateKey)
}

func loadKey(t testing.TB, file, kid string) *reportprovider.Key {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	k, err := reportprovider.ParseKeyPEM(kid, data)
	require.NoError(t, err)
	return k
}

// countingTransport counts requests per host before passing them on.
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	hits map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.hits == nil {
		c.hits = make(map[string]int)
	}
	c.hits[r.URL.Host]++
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

func (c *countingTransport) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.hits {
		n += v
	}
	return n
}

type envOptions struct {
	responseType string // default code
	kheops       []kheopstest.Option
	mutate       func(*reportprovider.Options)
}

type env struct {
	t        testing.TB
	clock    *fakeClock
	kheops   *kheopstest.Server
	provider *reportprovider.Provider
	key      *rsa.PrivateKey // k1, the provider's key

	rp, rpPlain, evil *httptest.Server
	evilHits          atomic.Int64
	docs              sync.Map // path -> []byte, extra documents served by rp

	dial      map[string]string  // host:port -> 127.0.0.1:port
	transport *http.Transport    // dials through the map, trusts the test CA
	rpOut     *countingTransport // everything the provider sends

	sessions chan *reportprovider.Session
	failures chan error

	alice, bob, carol string // tokens: admin with ADD_SERIES, read-only member, outsider
	clientID          string
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.responseType == "" {
		o.responseType = reportprovider.ResponseTypeCode
	}
	e := &env{t: t, clock: &fakeClock{t: epoch}, key: readKey(t, "k1.pem"),
		sessions: make(chan *reportprovider.Session, 16), failures: make(chan error, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if b, ok := e.docs.Load(r.URL.Path); ok {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b.([]byte))
			return
		}
		switch r.URL.Path {
		case "/cfg":
			e.provider.ConfigurationHandler().ServeHTTP(w, r)
		case "/jwks":
			e.provider.JWKSHandler().ServeHTTP(w, r)
		case "/cb":
			e.provider.LaunchHandler(func(w http.ResponseWriter, _ *http.Request, s *reportprovider.Session) {
				e.sessions <- s
				_, _ = io.WriteString(w, "session ok")
			}, func(w http.ResponseWriter, _ *http.Request, err error) {
				e.failures <- err
				http.Error(w, "launch refused", reportprovider.ErrorStatus(err))
			}).ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	quiet := log.New(io.Discard, "", 0) // closing servers mid-handshake is normal here
	e.rp = httptest.NewUnstartedServer(mux)
	e.rp.Config.ErrorLog = quiet
	e.rp.StartTLS()
	e.rpPlain = httptest.NewServer(mux)
	evil := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		e.evilHits.Add(1)
		_, _ = io.WriteString(w, `{"issuer":"https://evil.example.com"}`)
	})
	e.evil = httptest.NewUnstartedServer(evil)
	e.evil.Config.ErrorLog = quiet
	e.evil.StartTLS()
	t.Cleanup(func() { e.rp.Close(); e.rpPlain.Close(); e.evil.Close() })

	e.dial = map[string]string{
		"rp.example.com:443":    e.rp.Listener.Addr().String(),
		"rp.example.com:8443":   e.rpPlain.Listener.Addr().String(),
		"evil.example.com:443":  e.evil.Listener.Addr().String(),
		"evil.example.com:80":   e.evil.Listener.Addr().String(),
		"evil.example.com:8080": e.evil.Listener.Addr().String(),
	}
	e.transport = e.rp.Client().Transport.(*http.Transport).Clone()
	e.transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := e.dial[addr]; ok {
			addr = to
		} else if h, _, _ := net.SplitHostPort(addr); h != "127.0.0.1" {
			return nil, fmt.Errorf("test network: no route to %s", addr)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	t.Cleanup(e.transport.CloseIdleConnections)

	e.kheops = kheopstest.NewServer(append([]kheopstest.Option{
		kheopstest.WithBasePath("/kheops"),
		kheopstest.WithNow(e.clock.Now),
		kheopstest.WithHTTPClient(&http.Client{Transport: e.transport, Timeout: 10 * time.Second}),
	}, o.kheops...)...)
	t.Cleanup(e.kheops.Close)

	e.rpOut = &countingTransport{base: e.transport}
	cfg := reportprovider.Configuration{RedirectURI: redirect, ResponseType: o.responseType, ClientName: "Test provider"}
	if o.responseType == reportprovider.ResponseTypeCode {
		cfg.TokenEndpointAuthMethod = "private_key_jwt"
		cfg.TokenEndpointAuthSigningAlg = "RS256"
		cfg.JWKSURI = jwksURL
	}
	opts := reportprovider.Options{
		ConfigurationURL: confURL,
		Configuration:    cfg,
		Keys:             []*reportprovider.Key{loadKey(t, "k1.pem", "k1")},
		Issuers:          []reportprovider.Issuer{{URL: e.kheops.URL, AllowHTTP: true, AllowPrivateNetwork: true}},
		HTTPClient:       &http.Client{Transport: e.rpOut, Timeout: 10 * time.Second},
		Now:              e.clock.Now,
	}
	if o.mutate != nil {
		o.mutate(&opts)
	}
	p, err := reportprovider.New(opts)
	require.NoError(t, err)
	e.provider = p

	e.alice = e.kheops.AddUser(kheopstest.User{Sub: "alice-sub", Name: "Alice Doe", Email: "alice@example.com"})
	e.bob = e.kheops.AddUser(kheopstest.User{Sub: "bob-sub", Name: "Bob Roe", Email: "bob@example.com"})
	e.carol = e.kheops.AddUser(kheopstest.User{Sub: "carol-sub", Name: "Carol"})
	e.kheops.AddAlbum(albumID, &kheopstest.Permissions{}) // members who are not admins may only read
	e.kheops.AddAlbum(otherAlb, nil)
	must(t, e.kheops.AddMember(albumID, "alice-sub", true))
	must(t, e.kheops.AddMember(albumID, "bob-sub", false))
	must(t, e.kheops.AddMember(otherAlb, "carol-sub", true))
	for _, s := range []struct{ album, study string }{{albumID, study1}, {albumID, study2}, {otherAlb, studyElse}} {
		for i := 1; i <= 2; i++ {
			_, err := e.kheops.AddInstance(s.album, kheopstest.NewInstance(kheopstest.InstanceSpec{
				StudyUID: s.study, SeriesUID: fmt.Sprintf("%s.%d", s.study, i), SOPInstanceUID: fmt.Sprintf("%s.%d.1", s.study, i),
				PatientName: "Doe^Jane", PatientID: "P-1", StudyDescription: "Chest CT", SeriesDescription: fmt.Sprintf("Series %d", i),
				SeriesNumber: i, InstanceNumber: 1,
			}))
			must(t, err)
		}
	}
	e.clientID = e.register(confURL)
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	require.NoError(t, err)
}

// register registers a provider configuration URL in the album as alice.
func (e *env) register(u string) string {
	e.t.Helper()
	clientID, err := e.kheops.Register(context.Background(), e.alice, albumID, "Test RP", u)
	if err != nil {
		e.t.Fatalf("register %s: %v", u, err)
	}
	return clientID
}

// serveDoc makes rp.example.com serve v (JSON) at path.
func (e *env) serveDoc(path string, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	e.docs.Store(path, b)
	return rpOrigin + path
}

// launch launches the provider as the user and returns the URL KHEOPS sends
// the browser to.
func (e *env) launch(userToken, clientID string, studies ...string) string {
	e.t.Helper()
	u, err := e.kheops.Launch(context.Background(), userToken, clientID, studies...)
	if err != nil {
		e.t.Fatalf("launch: %v", err)
	}
	return u
}

// browser returns a client that reaches rp.example.com like a browser would.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: e.transport, Jar: jar, Timeout: 10 * time.Second}
}

// follow opens a launch URL at the provider. For the implicit flow it does
// what the fragment page's script does: POST the fragment back, same-origin.
func (e *env) follow(launchURL string) (*reportprovider.Session, error) {
	e.t.Helper()
	c := e.browser()
	base, frag, hasFrag := strings.Cut(launchURL, "#")
	var resp *http.Response
	var err error
	if hasFrag {
		page, err := c.Get(base)
		if err != nil {
			e.t.Fatal(err)
		}
		page.Body.Close()
		req, _ := http.NewRequest(http.MethodPost, base, strings.NewReader(url.Values{"fragment": {frag}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", rpOrigin)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err = c.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
	} else {
		resp, err = c.Get(launchURL)
		if err != nil {
			e.t.Fatal(err)
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return <-e.sessions, nil
	}
	select {
	case err := <-e.failures:
		return nil, err
	default:
		return nil, fmt.Errorf("launch answered HTTP %d without an error", resp.StatusCode)
	}
}

// postForm sends a form to the fake with optional headers and returns the
// status, the raw body and the body decoded as a JSON object (nil if it is
// not one).
func (e *env) postForm(path string, form url.Values, header http.Header) (int, map[string]any) {
	e.t.Helper()
	status, _, body := e.postRaw(path, form.Encode(), header)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return status, m
}

func (e *env) postRaw(path, form string, header http.Header) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.kheops.URL+path, strings.NewReader(form))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.kheops.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

func bearerHeader(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// codeOf extracts the code parameter of a code-flow launch URL.
func codeOf(t testing.TB, launchURL string) string {
	t.Helper()
	u, err := url.Parse(launchURL)
	require.NoError(t, err)
	c := u.Query().Get("code")
	require.Falsef(t, c == "", "no code in %s", launchURL)
	return c
}
