package share

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// clock is a settable test clock; after UseRealTime it follows the wall
// clock (for tests where a real peer, such as Orthanc, lives in real time).
type clock struct {
	mu   sync.Mutex // guards t and real
	t    time.Time
	real bool
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real {
		return time.Now()
	}
	return c.t
}

func (c *clock) UseRealTime() { c.mu.Lock(); defer c.mu.Unlock(); c.real = true }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	testUser = "orthanc-plugin"
	testPass = "plugin-password-2f9c"
	dA, oA   = "1.2.840.1.1", "aaaaaaaa-11111111-22222222-33333333-44444444"
	dB, oB   = "1.2.840.1.2", "bbbbbbbb-11111111-22222222-33333333-44444444"
)

type fixture struct {
	clock *clock
	codec *Codec
	svc   *Service
	srv   *httptest.Server
	logs  *testenv.Buffer

	mu    sync.Mutex // guards calls
	calls []string   // bodies of the validation requests received
}

// validations returns the bodies of the validation requests received so
// far (POST /tokens/validate and /shares/validate).
func (f *fixture) validations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// record keeps the body of every validation request, then serves it.
func (f *fixture) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/tokens/validate" || r.URL.Path == "/shares/validate" {
			b, _ := io.ReadAll(io.LimitReader(r.Body, defaultMaxBody+1))
			r.Body = io.NopCloser(bytes.NewReader(b))
			f.mu.Lock()
			f.calls = append(f.calls, string(b))
			f.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// newFixture starts a Service on a real loopback socket.
func newFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: katNow}, logs: &testenv.Buffer{}}
	codec, err := NewCodec(CodecConfig{Secret: []byte(testSecret), Now: f.clock.Now, Rand: &seqRand{}})
	require.NoError(t, err)
	f.codec = codec
	cfg := Config{
		Codec:  f.codec,
		Users:  map[string]string{testUser: testPass, "oe2": "another-password"},
		Links:  Links{OrthancRoot: "https://pacs.example/orthanc/", OHIFRoot: "https://pacs.example/ohif/"},
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := NewService(cfg)
	require.NoError(t, err)
	f.svc = svc
	mux := http.NewServeMux()
	mux.Handle("/share-landing/", svc.Landing())
	mux.Handle("/", svc)
	f.srv = httptest.NewServer(f.record(mux))
	t.Cleanup(f.srv.Close)
	return f
}

// seqRand gives distinct, predictable token ids.
type seqRand struct {
	mu sync.Mutex // guards n
	n  byte
}

func (r *seqRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	for i := range p {
		p[i] = r.n
	}
	return len(p), nil
}

func (f *fixture) mint(t *testing.T, cl Claims) string {
	t.Helper()
	tok, _, err := f.codec.Mint(cl)
	require.NoError(t, err)
	return tok
}

// plugin generations as seen on the wire (docs/orthanc.md, "What the plugin sends").
type generation int

const (
	plugin0114 generation = iota // compact sorted JSON, "server-id", chunked body
	plugin041                    // pretty-printed JSON, "identifier", Content-Length
)

func (g generation) String() string { return [...]string{"plugin 0.11.4", "plugin 0.4.1"}[g] }

// access describes one validation call of the plugin.
type access struct {
	method, level, orthancID, dicomUID string
	server                             *string // nil: JSON null
	tokenKey, tokenValue               string  // body fields; empty: absent
	header                             string  // "token" header; empty: absent
	uri                                string
}

// body renders a validation request as the given plugin generation does.
func (a access) body(g generation) []byte {
	m := map[string]any{"method": a.method, "level": a.level}
	if a.level == "system" {
		m["uri"] = a.uri
	} else {
		m["orthanc-id"], m["dicom-uid"] = a.orthancID, a.dicomUID
	}
	if a.tokenValue != "" {
		m["token-key"], m["token-value"] = a.tokenKey, a.tokenValue
	}
	var server any
	if a.server != nil {
		server = *a.server
	}
	if g == plugin041 {
		m["identifier"] = server
		b, _ := json.MarshalIndent(m, "", "   ")
		return b
	}
	m["server-id"] = server
	b, _ := json.Marshal(m) // sorted keys, compact
	return b
}

// validate sends a raw plugin-shaped request to path over a fresh
// connection and returns status and body.
func (f *fixture) validate(t *testing.T, g generation, path string, a access) (int, string) {
	t.Helper()
	return rawPluginCall(t, f.srv.Listener.Addr().String(), g, path, a, testUser, testPass)
}

func rawPluginCall(t *testing.T, addr string, g generation, path string, a access, user, pass string) (int, string) {
	t.Helper()
	body := a.body(g)
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\nContent-Type: application/json\r\n", path, addr)
	if user != "" {
		req.WriteString("Authorization: Basic " + basic(user, pass) + "\r\n")
	}
	if a.header != "" {
		fmt.Fprintf(&req, "token: %s\r\n", a.header)
	}
	if g == plugin0114 {
		// 0.11.4 streams the body chunked, with no Content-Length.
		req.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		half := len(body) / 2
		for _, part := range [][]byte{body[:half], body[half:]} {
			fmt.Fprintf(&req, "%x\r\n%s\r\n", len(part), part)
		}
		req.WriteString("0\r\n\r\n")
	} else {
		fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n%s", len(body), body)
	}
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write(req.Bytes())
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func str(s string) *string { return &s }

func studyGet(tok string, d, o string) access {
	return access{method: "get", level: "study", dicomUID: d, orthancID: o, header: tok, tokenKey: "token", tokenValue: tok}
}

// TestValidatePluginRequests replays plugin-shaped requests of both
// protocol generations on both routes, and checks the exact answers.
func TestValidatePluginRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.ServerID = "orthanc-a" })
	studyA := Resource{DicomUID: dA, OrthancID: oA}
	in1h := katNow.Add(time.Hour)
	bound := f.mint(t, Claims{Type: StoneViewerPublication, Resources: []Resource{studyA}, ExpiresAt: in1h, ServerID: "orthanc-a"})
	unbound := f.mint(t, Claims{Type: OsimisViewerPublication, Resources: []Resource{studyA}})
	soon := f.mint(t, Claims{Type: StoneViewerPublication, Resources: []Resource{studyA}, ExpiresAt: katNow.Add(5*time.Second + 500*time.Millisecond), ServerID: "orthanc-a"})
	expired := f.mint(t, Claims{Type: StoneViewerPublication, Resources: []Resource{studyA}, ExpiresAt: katNow, ServerID: "orthanc-a"})
	srv := str("orthanc-a")

	const granted60, denied60 = `{"granted":true,"validity":60}`, `{"granted":false,"validity":60}`
	tests := []struct {
		name string
		a    access
		want string
	}{
		{"shared study granted", studyGet(bound, dA, oA), granted60},
		{"other study denied", studyGet(bound, dB, oB), denied60},
		{"token in body only (Authorization/GET-argument tokens)", access{method: "get", level: "study", dicomUID: dA, orthancID: oA, tokenKey: "Authorization", tokenValue: "Bearer " + bound}, granted60},
		{"lower-case bearer in header", access{method: "get", level: "study", dicomUID: dA, orthancID: oA, header: "bearer " + bound}, granted60},
		{"header wins over body", access{method: "get", level: "study", dicomUID: dA, orthancID: oA, header: bound, tokenKey: "token", tokenValue: "junk"}, granted60},
		{"no token", access{method: "get", level: "study", dicomUID: dA, orthancID: oA}, denied60},
		{"garbage token", studyGet("abc", dA, oA), denied60},
		{"expired", studyGet(expired, dA, oA), denied60},
		{"validity capped by expiry", studyGet(soon, dA, oA), `{"granted":true,"validity":5}`},
		{"delete denied", access{method: "delete", level: "study", dicomUID: dA, orthancID: oA, header: bound}, denied60},
		{"put denied", access{method: "put", level: "study", dicomUID: dA, orthancID: oA, header: bound}, denied60},
		{"post at study level denied (/modify, /merge, /anonymize look like this)", access{method: "post", level: "study", dicomUID: dA, orthancID: oA, header: bound}, denied60},
		{"post at patient level denied", access{method: "post", level: "patient", dicomUID: dA, orthancID: oA, header: bound}, denied60},
		{"patient-level call denied", access{method: "get", level: "patient", dicomUID: "PAT-1", orthancID: "pppp", header: bound}, denied60},
		{"system level denied", access{method: "get", level: "system", uri: "/patients", header: bound, tokenKey: "token", tokenValue: bound}, denied60},
		{"system post denied", access{method: "post", level: "system", uri: "/instances", header: bound}, denied60},
		{"unbound token with configured server id", studyGet(unbound, dA, oA), granted60},
	}
	for _, g := range []generation{plugin0114, plugin041} {
		for _, path := range []string{"/tokens/validate", "/shares/validate"} {
			for _, tt := range tests {
				t.Run(fmt.Sprintf("%v %s %s", g, path, tt.name), func(t *testing.T) {
					t.Parallel()
					a := tt.a
					a.server = srv
					status, body := f.validate(t, g, path, a)
					assert.Equal(t, http.StatusOK, status)
					assert.Equal(t, tt.want, body)
				})
			}
			t.Run(fmt.Sprintf("%v %s wrong server id", g, path), func(t *testing.T) {
				t.Parallel()
				a := studyGet(bound, dA, oA)
				a.server = str("orthanc-b")
				_, body := f.validate(t, g, path, a)
				assert.Equal(t, denied60, body)
			})
			t.Run(fmt.Sprintf("%v %s null server id", g, path), func(t *testing.T) {
				t.Parallel()
				_, body := f.validate(t, g, path, studyGet(bound, dA, oA))
				assert.Equal(t, denied60, body)
			})
		}
	}
}

// decide runs Check directly, for table tests of the decision rules.
func decide(t *testing.T, f *fixture, cl Claims, a Access) Decision {
	t.Helper()
	a.Token = f.mint(t, cl)
	return f.svc.Check(context.Background(), a)
}

// TestSpecFixes covers each fix over the Python services we claim
// (docs/orthanc.md, "Decision"; the § numbers are those of our research
// notes on the Python services): every case is granted by the Python
// services' rule (loose matching, no fixes) and must be denied here.
func TestSpecFixes(t *testing.T) {
	t.Parallel()
	two := []Resource{{DicomUID: dA, OrthancID: oA}, {DicomUID: dB, OrthancID: oB}}
	studyA := []Resource{{DicomUID: dA, OrthancID: oA}}
	get := func(d, o string) Access { return Access{Method: "get", Level: LevelStudy, DicomUID: d, OrthancID: o} }
	tests := []struct {
		name   string
		cfg    func(*Config)
		cl     Claims
		a      Access
		reason error
	}{
		{"§6.1 DELETE", nil, Claims{Type: StoneViewerPublication, Resources: studyA},
			Access{Method: "delete", Level: LevelStudy, DicomUID: dA, OrthancID: oA}, ErrMethod},
		{"§6.1 PUT (labels, metadata)", nil, Claims{Type: StoneViewerPublication, Resources: studyA},
			Access{Method: "PUT", Level: LevelStudy, DicomUID: dA, OrthancID: oA}, ErrMethod},
		{"§6.1 POST by default", nil, Claims{Type: StoneViewerPublication, Resources: studyA},
			Access{Method: "post", Level: LevelStudy, DicomUID: dA, OrthancID: oA}, ErrMethod},
		{"§6.2 meddream publication is no Orthanc token", nil, Claims{Type: MedDreamViewerPublication, Resources: studyA}, get(dA, oA), ErrTokenType},
		{"§6.2 meddream instant link type", nil, Claims{Type: MedDreamInstantLink, Resources: studyA}, get(dA, oA), ErrTokenType},
		{"§6.2 token bound to another server", nil, Claims{Type: StoneViewerPublication, Resources: studyA, ServerID: "anon"},
			Access{Method: "get", Level: LevelStudy, DicomUID: dA, OrthancID: oA, ServerID: "std"}, ErrServerID},
		{"§6.2 anonymized token without anonymized server configured", nil,
			Claims{Version: V2, Type: OsimisViewerPublication, Anonymized: true, Resources: studyA}, get(dA, oA), ErrServerID},
		{"§6.2 anonymized token on the standard server", func(c *Config) { c.AnonymizedServerID = "anon"; c.ServerID = "std" },
			Claims{Version: V2, Type: OsimisViewerPublication, Anonymized: true, Resources: studyA},
			Access{Method: "get", Level: LevelStudy, DicomUID: dA, OrthancID: oA, ServerID: "std"}, ErrServerID},
		{"§2.4 bug: standard server id is enforced", func(c *Config) { c.ServerID = "std" },
			Claims{Version: V2, Type: OsimisViewerPublication, Resources: studyA},
			Access{Method: "get", Level: LevelStudy, DicomUID: dA, OrthancID: oA, ServerID: "other"}, ErrServerID},
		{"§6.12 ids from two different entries", nil, Claims{Type: StoneViewerPublication, Resources: two}, get(dA, oB), ErrResource},
		{"§6.12 level: PatientID equal to a shared UID", nil, Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: dA}}},
			Access{Method: "get", Level: LevelPatient, DicomUID: dA, OrthancID: "patient-id"}, ErrResource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.cfg)
			d := decide(t, f, tt.cl, tt.a)
			require.False(t, d.Granted, "decision %+v", d)
			require.ErrorIs(t, d.Reason, tt.reason)
			// The same access under the Python rules would be granted.
			py := newFixture(t, func(c *Config) {
				if tt.cfg != nil {
					tt.cfg(c)
				}
				c.AllowedTypes = []Type{tt.cl.Type}
				c.ServerID, c.AnonymizedServerID = "", ""
			})
			py.svc.loose = true
			a := tt.a
			a.Method = "get"
			cl := tt.cl
			cl.ServerID, cl.Anonymized = "", false
			d = decide(t, py, cl, a)
			assert.True(t, d.Granted, "the Python rule would deny this too (%v): the case proves nothing", d.Reason)
		})
	}
}

// TestPythonMatchingRules checks that the compatible part of the decision
// (docs/orthanc.md, "Decision") is reproduced, in both matching modes.
func TestPythonMatchingRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		res       []Resource
		d, o      string
		want      bool
		wantLoose bool
	}{
		{"both ids match", []Resource{{DicomUID: dA, OrthancID: oA}}, dA, oA, true, true},
		{"uid matches, orthanc id not", []Resource{{DicomUID: dA, OrthancID: oA}}, dA, oB, false, false},
		{"dicom-only token checked on uid", []Resource{{DicomUID: dA}}, dA, "anything", true, true},
		{"orthanc-only token checked on id", []Resource{{OrthancID: oA}}, "anything", oA, true, true},
		{"mixed list never matches", []Resource{{DicomUID: dA}, {OrthancID: oB}}, dA, oA, false, false},
		{"second study", []Resource{{DicomUID: dA, OrthancID: oA}, {DicomUID: dB, OrthancID: oB}}, dB, oB, true, true},
		{"cross entries", []Resource{{DicomUID: dA, OrthancID: oA}, {DicomUID: dB, OrthancID: oB}}, dA, oB, false, true},
		{"case-sensitive", []Resource{{OrthancID: oA}}, "", strings.ToUpper(oA), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for loose, want := range map[bool]bool{false: tt.want, true: tt.wantLoose} {
				s := &Service{loose: loose}
				got := s.matches(tt.res, Access{Level: LevelStudy, DicomUID: tt.d, OrthancID: tt.o})
				assert.Equal(t, want, got, "loose=%v", loose)
			}
		})
	}
}

func TestValidityNeverOutlivesToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.MaxValidity = 30 * time.Second })
	res := []Resource{{DicomUID: dA, OrthancID: oA}}
	for _, tt := range []struct {
		left time.Duration
		want int
	}{{time.Hour, 30}, {31 * time.Second, 30}, {10*time.Second + 900*time.Millisecond, 10}, {999 * time.Millisecond, 0}} {
		d := decide(t, f, Claims{Type: StoneViewerPublication, Resources: res, ExpiresAt: katNow.Add(tt.left)},
			Access{Method: "get", Level: LevelStudy, DicomUID: dA, OrthancID: oA})
		assert.True(t, d.Granted, "%v left: %+v", tt.left, d)
		assert.Equal(t, tt.want, d.Validity, "%v left", tt.left)
	}
	// A token that never expires gets MaxValidity.
	d := decide(t, f, Claims{Type: StoneViewerPublication, Resources: res}, Access{Method: "get", Level: LevelStudy, DicomUID: dA})
	assert.Equal(t, 30, d.Validity, "no expiry: %+v", d)
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ours := f.mint(t, Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: dA, OrthancID: oA}}, ExpiresAt: katNow.Add(time.Hour)})
	// A Python-minted token (no jti) is revocable by its signature digest.
	legacy := signRaw(t, `{"id":null,"studies":[{"dicom_uid":"`+dA+`","orthanc_id":"`+oA+`"}],"anonymized":false,"type":"stone-viewer-publication","expiration_date":null}`)
	other := f.mint(t, Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: dA, OrthancID: oA}}})
	for _, tok := range []string{ours, legacy} {
		_, body := f.validate(t, plugin0114, "/tokens/validate", studyGet(tok, dA, oA))
		require.Equal(t, `{"granted":true,"validity":60}`, body, "before revocation")
		status, body := f.post(t, "/tokens/revoke", `{"token-value":"Bearer `+tok+`"}`, nil)
		require.Equal(t, 200, status, "revoke: %s", body)
		require.Contains(t, body, `"revoked":true`)
		_, body = f.validate(t, plugin0114, "/tokens/validate", studyGet(tok, dA, oA))
		require.Equal(t, `{"granted":false,"validity":60}`, body, "after revocation")
	}
	id, err := f.svc.Revoke(context.Background(), legacy)
	require.NoError(t, err)
	assert.NotContains(t, id, ".", "revocation id looks like a token")
	_, body := f.validate(t, plugin0114, "/tokens/validate", studyGet(other, dA, oA))
	require.Equal(t, `{"granted":true,"validity":60}`, body, "another token of the same study")
	status, _ := f.post(t, "/tokens/revoke", `{"token-value":"forged.token.value"}`, nil)
	assert.Equal(t, 400, status, "revoking garbage")
}

type failingStore struct{}

func (failingStore) Revoke(context.Context, string, time.Time) error { return errors.New("store down") }
func (failingStore) Revoked(context.Context, string) (bool, error) {
	return false, errors.New("store down")
}

func TestStoreFailureDeniesWithoutCaching(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.Revocations = failingStore{} })
	tok := f.mint(t, Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: dA, OrthancID: oA}}})
	status, body := f.validate(t, plugin0114, "/tokens/validate", studyGet(tok, dA, oA))
	assert.Equal(t, 200, status)
	assert.Equal(t, `{"granted":false,"validity":0}`, body)
}

// TestNeverServerErrorForBadTokens sends every kind of bad token and
// body: the answer is never 5xx (the old service crashed with 500 on a
// missing token).
func TestNeverServerErrorForBadTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	bodies := []string{
		`{"method":"get","level":"study","orthanc-id":"x","dicom-uid":"y"}`,
		`{"method":"get","level":"study","orthanc-id":"x","dicom-uid":"y","token-value":""}`,
		`{"method":"get","level":"study","orthanc-id":"x","dicom-uid":"y","token-value":"Bearer "}`,
		`{"method":"get","level":"study","orthanc-id":"x","dicom-uid":"y","token-value":"a.b.c"}`,
		`{"method":"get","level":"study","orthanc-id":"x","dicom-uid":"y","token-value":"` + strings.Repeat("A", maxTokenLen+10) + `"}`,
		`{"method":"get","level":null,"orthanc-id":null,"dicom-uid":null,"identifier":null,"token-value":"x"}`,
		`{"method":"get","level":"study","orthanc-id":"x","labels":["a","b"],"uri":"/x","token-key":"token","token-value":"x"}`,
		`{}`, `[]`, `null`, ``, `{"method":5}`, `{`, "\x00\xff",
	}
	for _, b := range bodies {
		for _, hdr := range []string{"", "junk", "Bearer"} {
			req, _ := http.NewRequest("POST", f.srv.URL+"/tokens/validate", strings.NewReader(b))
			req.SetBasicAuth(testUser, testPass)
			if hdr != "" {
				req.Header.Set("token", hdr)
			}
			resp, err := f.srv.Client().Do(req)
			require.NoError(t, err)
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Less(t, resp.StatusCode, 500, "body %.40q header %q", b, hdr)
			assert.True(t, strings.HasPrefix(string(got), `{"granted":false,"validity":`), "body %.40q header %q: answer %s", b, hdr, got)
		}
	}
	// Too large.
	req, _ := http.NewRequest("POST", f.srv.URL+"/tokens/validate", strings.NewReader(`{"x":"`+strings.Repeat("a", defaultMaxBody)+`"}`))
	req.SetBasicAuth(testUser, testPass)
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "large body")
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.mint(t, Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: dA}}})
	addr := f.srv.Listener.Addr().String()
	for _, tt := range []struct {
		user, pass string
		want       int
	}{
		{testUser, testPass, 200}, {"oe2", "another-password", 200},
		{testUser, "wrong", 401}, {"oe2", testPass, 401}, {"nobody", testPass, 401},
		{"", "", 401}, {testUser, testPass + "x", 401}, {strings.ToUpper(testUser), testPass, 401},
	} {
		status, _ := rawPluginCall(t, addr, plugin0114, "/tokens/validate", studyGet(tok, dA, ""), tt.user, tt.pass)
		assert.Equal(t, tt.want, status, "%q/%q", tt.user, tt.pass)
	}
	_, err := NewService(Config{Codec: f.codec})
	assert.Error(t, err, "NewService without users nor AllowAnonymous")
	open := newFixture(t, func(c *Config) { c.Users, c.AllowAnonymous = nil, true })
	status, _ := rawPluginCall(t, open.srv.Listener.Addr().String(), plugin0114, "/tokens/validate", studyGet(tok, dA, ""), "", "")
	assert.Equal(t, 200, status, "AllowAnonymous")
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/tokens/validate", 405}, {"GET", "/shares", 405}, {"POST", "/tokens/stone-viewer-publication", 405},
		{"GET", "/nope", 404}, {"PUT", "/tokens/a/b", 404}, {"POST", "/user/get-profile", 200},
	} {
		status, _ := f.do(t, tt.method, tt.path, "{}", nil)
		assert.Equal(t, tt.want, status, "%s %s", tt.method, tt.path)
	}
	_, body := f.post(t, "/user/get-profile", `{"token-key":"token","token-value":"x","server-id":null}`, nil)
	assert.Equal(t, `{"name":"anonymous","permissions":[],"authorized-labels":[],"validity":60}`, body, "profile")
}

func (f *fixture) do(t *testing.T, method, path, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	req.SetBasicAuth(testUser, testPass)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *fixture) post(t *testing.T, path, body string, hdr map[string]string) (int, string) {
	t.Helper()
	return f.do(t, "POST", path, body, hdr)
}

// TestNoSecretsInLogs runs grants and denials with debug logging and checks
// that neither tokens nor secrets nor passwords appear.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.mint(t, Claims{Type: StoneViewerPublication, Resources: []Resource{{DicomUID: dA, OrthancID: oA}}})
	forged := tok[:len(tok)-4] + "AAAA"
	for _, tk := range []string{tok, forged, "Bearer " + tok} {
		f.validate(t, plugin0114, "/tokens/validate", studyGet(tk, dA, oA))
		f.validate(t, plugin041, "/shares/validate", access{method: "delete", level: "study", dicomUID: dA, orthancID: oA, header: tk})
	}
	f.post(t, "/tokens/decode", `{"token-value":"`+tok+`"}`, nil)
	f.post(t, "/tokens/revoke", `{"token-value":"`+forged+`"}`, nil)
	logs := f.logs.String()
	require.Contains(t, logs, "granted=true", "expected decision records")
	require.Contains(t, logs, "granted=false", "expected decision records")
	parts := strings.Split(tok, ".")
	for _, secret := range []string{parts[1], parts[2], forged[len(forged)-20:], testSecret, testPass} {
		assert.NotContains(t, logs, secret, "logs contain a secret (%.12s...)", secret)
	}
}

// The fast body reader must actually serve what the plugin sends.
func TestParseAccessFastTakesPluginBodies(t *testing.T) {
	t.Parallel()
	for _, g := range []generation{plugin0114, plugin041} {
		for _, a := range []access{studyGet("tok", dA, oA), {method: "get", level: "system", uri: "/patients", tokenKey: "token", tokenValue: "t", server: str("s")}} {
			body := a.body(g)
			got, ok := parseAccessFast(body)
			want, err := parseAccessJSON(body)
			assert.True(t, ok, "%v: fast path declined\n%s", g, body)
			assert.NoError(t, err, "%v", g)
			assert.Equal(t, want, got, "%v: fast and JSON readers disagree\n%s", g, body)
		}
	}
}

// A token bound to another server is refused even when that server asks,
// if this service is configured for a different one (as the Python service
// with SERVER_ID refuses every other server id).
func TestConfiguredServerIDWinsOverTokenBinding(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.ServerID = "orthanc-a" })
	res := []Resource{{DicomUID: dA, OrthancID: oA}}
	for _, tt := range []struct {
		bound, asking string
		granted       bool
	}{{"orthanc-b", "orthanc-b", false}, {"orthanc-a", "orthanc-a", true}, {"", "orthanc-a", true}, {"", "orthanc-b", false}} {
		d := decide(t, f, Claims{Type: StoneViewerPublication, Resources: res, ServerID: tt.bound},
			Access{Method: "get", Level: LevelStudy, DicomUID: dA, OrthancID: oA, ServerID: tt.asking})
		assert.Equal(t, tt.granted, d.Granted, "bound %q, asked by %q: %+v", tt.bound, tt.asking, d)
	}
}

// TestPostDeniedByDefault: a share link is read-only unless AllowPost is
// set. The plugin sends POST /studies/{id}/modify, /merge and /anonymize
// (and series/instance POSTs under CheckedLevel "studies") as one
// study-level "post" check, so the zero Config must refuse them all; the
// denial names the token in the decision and in the log.
func TestPostDeniedByDefault(t *testing.T) {
	t.Parallel()
	res := []Resource{{DicomUID: dA, OrthancID: oA}}
	post := func(l Level) Access { return Access{Method: "post", Level: l, DicomUID: dA, OrthancID: oA} }
	for _, tt := range []struct {
		name      string
		allowPost bool
		a         Access
		granted   bool
	}{
		{"study level, zero Config", false, post(LevelStudy), false},
		{"series level, zero Config", false, post(LevelSeries), false},
		{"instance level, zero Config", false, post(LevelInstance), false},
		{"upper-case method, zero Config", false, Access{Method: "POST", Level: LevelStudy, DicomUID: dA, OrthancID: oA}, false},
		{"study level, AllowPost", true, post(LevelStudy), true},
		{"series level, AllowPost", true, post(LevelSeries), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(c *Config) { c.AllowPost = tt.allowPost })
			tok, minted, err := f.codec.Mint(Claims{Type: StoneViewerPublication, Resources: res})
			require.NoError(t, err)
			a := tt.a
			a.Token = tok
			d := f.svc.Check(context.Background(), a)
			assert.Equal(t, tt.granted, d.Granted, "decision %+v", d)
			if !tt.granted {
				assert.ErrorIs(t, d.Reason, ErrMethod)
			}
			assert.Equal(t, minted.RevocationID(), d.TokenID, "the denial must name the token")
		})
	}
	t.Run("log names the token of a method denial", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		tok, minted, err := f.codec.Mint(Claims{Type: StoneViewerPublication, Resources: res})
		require.NoError(t, err)
		status, body := f.validate(t, plugin0114, "/tokens/validate", access{method: "post", level: "study", dicomUID: dA, orthancID: oA, header: tok})
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, `{"granted":false,"validity":60}`, body)
		logs := f.logs.String()
		assert.Contains(t, logs, "token_id="+minted.RevocationID())
		assert.Contains(t, logs, "method=post")
		assert.NotContains(t, logs, `token_id=""`)
	})
}
