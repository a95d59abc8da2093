package auratest_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/auraclient"
	"github.com/dicombridge/dicombridge/internal/auraserver"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

func newServer(t *testing.T, opts ...auratest.Option) *auratest.Server {
	t.Helper()
	s := auratest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// withIssuer starts a server whose tokens live in a store the returned
// Issuer shares, so that a test can check them (uses, app id).
func withIssuer(t *testing.T, opts ...auratest.Option) (*auratest.Server, *auraserver.Issuer) {
	t.Helper()
	store := &auraserver.MemoryStore{}
	return newServer(t, append(opts, auratest.WithSharedState(nil, store, nil))...), &auraserver.Issuer{Store: store}
}

// call sends one API request with the given credentials and returns the
// status and body.
func call(t *testing.T, s *auratest.Server, method, path, token, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Api-Key", s.APIKey)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
}

func TestExchangeThroughRealVerifierAndIssuer(t *testing.T) {
	t.Parallel()
	for _, oauth := range []bool{false, true} {
		t.Run(fmt.Sprintf("oauth=%v", oauth), func(t *testing.T) {
			t.Parallel()
			var opts []auratest.Option
			if oauth {
				opts = append(opts, auratest.WithOAuthExchangeResponse())
			}
			s, iss := withIssuer(t, opts...)
			tok, err := s.Exchanger().Exchange(context.Background(), uploadtoken.ExchangeRequest{TTL: 2 * time.Hour, MaxUses: 7})
			if err != nil {
				t.Fatal(err)
			}
			if !auraserver.WellFormed(tok.Value) || len(tok.Scopes) != 3 || tok.MaxUses != 7 {
				t.Fatalf("token %v", tok)
			}
			if d := time.Until(tok.ExpiresAt); d < 2*time.Hour-5*time.Second || d > 2*time.Hour+time.Second {
				t.Fatalf("expires in %v", d)
			}
			g, err := iss.Authorize(context.Background(), tok.Value, uploadtoken.ScopeIntegrationRead)
			if err != nil || g.AppID != s.AppID || g.MaxUses != 7 {
				t.Fatalf("grant %+v %v", g, err)
			}
			calls := s.CallsTo(auratest.EndpointExchange)
			if len(calls) != 1 {
				t.Fatalf("%d calls", len(calls))
			}
			c := calls[0]
			if c.Status != 200 || c.Method != "POST" || c.Path != "/api/auth/exchange" ||
				string(c.Body) != `{"ttl":7200,"scopes":["upload:init","upload:manage","integration:read"],"max_uses":7}` {
				t.Fatalf("recorded %+v body %s", c, c.Body)
			}
			if got := c.Header.Get("X-Api-Key"); got != auraclient.Redact(s.APIKey) {
				t.Errorf("X-Api-Key recorded as %q", got)
			}
			if a := c.Header.Get("Authorization"); !strings.HasPrefix(a, "AURA-HMAC-SHA256 Credential="+s.AppID+",SignedHeaders=content-type;host;x-aura-nonce;x-aura-timestamp,Signature=…#") {
				t.Errorf("Authorization recorded as %q", a)
			}
		})
	}
}

// signed builds an exchange request signed with the given credentials.
func signed(t *testing.T, s *auratest.Server, signer *hmac.Signer, apiKey, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", s.URL+"/auth/exchange", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", apiKey)
	if err := signer.Sign(req); err != nil {
		t.Fatal(err)
	}
	return req
}

func send(t *testing.T, s *auratest.Server, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
}

func TestExchangeRejections(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	good := &hmac.Signer{AppID: s.AppID, Secret: s.Secret}
	body := `{"ttl":3600,"scopes":["upload:init"]}`
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		status int
		body   string
	}{
		{"wrong secret", func() *http.Request {
			return signed(t, s, &hmac.Signer{AppID: s.AppID, Secret: "aura_sk_wrong"}, s.APIKey, body)
		}, 403, `{"error":{"message":"signature mismatch"}}`},
		{"unknown app", func() *http.Request {
			return signed(t, s, &hmac.Signer{AppID: "aura_pk_other", Secret: s.Secret}, s.APIKey, body)
		}, 401, `{"error":{"message":"unknown app"}}`},
		{"wrong api key", func() *http.Request { return signed(t, s, good, "aura_au_wrong", body) }, 401, `{"error":{"message":"Invalid API key."}}`},
		{"no api key", func() *http.Request { return signed(t, s, good, "", body) }, 401, `{"error":{"message":"Missing API key."}}`},
		{"stale", func() *http.Request {
			return signed(t, s, &hmac.Signer{AppID: s.AppID, Secret: s.Secret, Now: func() time.Time { return time.Now().Add(-6 * time.Minute) }}, s.APIKey, body)
		}, 403, `{"error":{"message":"timestamp outside allowed skew"}}`},
		{"unsigned", func() *http.Request {
			r, _ := http.NewRequest("POST", s.URL+"/auth/exchange", strings.NewReader(body))
			r.Header.Set("X-Api-Key", s.APIKey)
			return r
		}, 401, `{"error":{"message":"missing signature"}}`},
		{"ttl too long", func() *http.Request { return signed(t, s, good, s.APIKey, `{"ttl":90000}`) }, 422,
			`{"message":"The ttl field must be between 1 and 86400.","errors":{"ttl":["The ttl field must be between 1 and 86400."]}}`},
		{"unknown scope", func() *http.Request { return signed(t, s, good, s.APIKey, `{"scopes":["upload:init","admin"]}`) }, 422,
			`{"message":"The selected scopes.1 is invalid.","errors":{"scopes":["The selected scopes.1 is invalid."]}}`},
		{"GET", func() *http.Request {
			r, _ := http.NewRequest("GET", s.URL+"/auth/exchange", nil)
			return r
		}, 405, `{"message":"The GET method is not supported for route api/auth/exchange. Supported methods: POST."}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, got := send(t, s, tc.req())
			if status != tc.status || got != tc.body {
				t.Fatalf("got %d %s, want %d %s", status, got, tc.status, tc.body)
			}
		})
	}
}

func TestExchangeReplayRefused(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	req := signed(t, s, &hmac.Signer{AppID: s.AppID, Secret: s.Secret}, s.APIKey, `{"ttl":60}`)
	replay := req.Clone(context.Background())
	replay.Body, _ = req.GetBody()
	if status, _, body := send(t, s, req); status != 200 {
		t.Fatalf("first: %d %s", status, body)
	}
	if status, _, body := send(t, s, replay); status != 403 || body != `{"error":{"message":"nonce already used"}}` {
		t.Fatalf("replay: %d %s", status, body)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	s, iss := withIssuer(t)
	ex := s.Exchanger()
	ctx := context.Background()
	var tok *uploadtoken.Token
	for i := 0; i < 10; i++ {
		var err error
		if tok, err = ex.Exchange(ctx, uploadtoken.ExchangeRequest{}); err != nil {
			t.Fatalf("exchange %d: %v", i+1, err)
		}
	}
	_, err := ex.Exchange(ctx, uploadtoken.ExchangeRequest{})
	var apiErr *uploadtoken.APIError
	if !errors.Is(err, uploadtoken.ErrRateLimited) || !errors.As(err, &apiErr) || apiErr.RetryAfter <= 0 || apiErr.RetryAfter > time.Minute {
		t.Fatalf("11th exchange: %v", err)
	}
	for i := 0; i < 30; i++ {
		if status, _, body := call(t, s, "GET", "/uploader/config", tok.Value, ""); status != 200 {
			t.Fatalf("config %d: %d %s", i+1, status, body)
		}
	}
	status, h, body := call(t, s, "GET", "/uploader/config", tok.Value, "")
	if status != 429 || body != `{"message":"Too Many Attempts."}` || h.Get("X-RateLimit-Limit") != "30" {
		t.Fatalf("31st config: %d %s %v", status, body, h)
	}
	if ra, _ := strconv.Atoi(h.Get("Retry-After")); ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", h.Get("Retry-After"))
	}
	// The refused call did not use up a use of the token.
	g, err := iss.Authorize(ctx, tok.Value, "")
	if err != nil || g.Uses != 31 {
		t.Fatalf("uses after 30 allowed calls: %+v %v", g, err)
	}
	// The lifecycle endpoints share one budget of 60.
	s2 := newServer(t, auratest.WithRate(auratest.EndpointInit, uploadtoken.Rate{Limit: 2, Window: time.Minute}))
	tok2, _ := s2.IssueToken(ctx)
	call(t, s2, "POST", "/uploader/upload/start", tok2.Value, `{}`)
	call(t, s2, "POST", "/uploader/upload/cancel", tok2.Value, `{}`)
	if status, _, _ := call(t, s2, "POST", "/uploader/upload/init", tok2.Value, `{}`); status != 429 {
		t.Fatalf("third lifecycle call: %d", status)
	}
	s3 := newServer(t, auratest.WithoutRateLimits())
	tok3, _ := s3.IssueToken(ctx)
	for i := 0; i < 40; i++ {
		if status, _, _ := call(t, s3, "GET", "/uploader/config", tok3.Value, ""); status != 200 {
			t.Fatalf("unlimited config %d: %d", i, status)
		}
	}
}

func TestScopesEnforced(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	readOnly, _ := s.IssueToken(ctx, uploadtoken.ScopeIntegrationRead)
	initOnly, _ := s.IssueToken(ctx, uploadtoken.ScopeUploadInit)
	for _, tc := range []struct {
		tok          *uploadtoken.Token
		method, path string
		status       int
	}{
		{readOnly, "GET", "/uploader/config", 200},
		{readOnly, "POST", "/uploader/upload/init", 401},
		{initOnly, "GET", "/uploader/config", 401},
		{initOnly, "POST", "/uploader/upload/start", 401},
		{readOnly, "POST", "/uploader/upload/cancel", 401},
	} {
		body := ""
		if tc.method == "POST" {
			body = "{}"
		}
		status, _, body := call(t, s, tc.method, tc.path, tc.tok.Value, body)
		if status != tc.status {
			t.Errorf("%s %s with %v: %d %s", tc.method, tc.path, tc.tok.Scopes, status, body)
		}
	}
	status, _, body := call(t, s, "GET", "/uploader/config", "aubt_"+strings.Repeat("x", 64), "")
	if status != 401 || body != `{"error":{"message":"Invalid upload token."}}` {
		t.Fatalf("unknown token: %d %s", status, body)
	}
	status, _, _ = call(t, s, "GET", "/nothing", "", "")
	if status != 404 {
		t.Fatalf("unknown route: %d", status)
	}
}

const (
	uploadID = "5c0e6c2a-1f3b-4e0a-9d6b-3f2a1b4c5d6e"
	initBody = `{"upload_id":"` + uploadID + `","studies":{"1.2.3":{"study_uid":"1.2.3","study_description":"","institution_name":"","patient_id":"P1","patient_name":"DOE^JOHN","study_date":"20240101","study_time":"","modalities":["CT"],"series":{"1.2.3.4":{"study_instance_uid":"1.2.3","series_instance_uid":"1.2.3.4","modality":"CT","series_description":null,"body_part_examined":null,"series_date":null,"series_time":null,"study_date":"20240101","series_number":"1"}},"images":2,"series_count":1},"9.8":{}},"mode":"bulk","type":"uploader","source":"standalone-uploader","patient_id":null}`
)

func TestLifecycleStateMachine(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok, _ := s.IssueToken(context.Background())
	steps := []struct {
		path, body string
		status     int
		want       string
	}{
		{"/uploader/upload/start", `{"upload_id":"` + uploadID + `","assembly_id":"a1","mode":"uploader"}`, 422,
			`{"message":"The selected upload id is invalid.","errors":{"upload_id":["The selected upload id is invalid."]}}`},
		{"/uploader/upload/init", `{"upload_id":"nope","studies":{},"mode":1}`, 422,
			`{"message":"The upload id field must be a valid UUID. (and 5 more errors)","errors":{"upload_id":["The upload id field must be a valid UUID."],"studies":["The studies field is required."],"mode":["The mode field must be a string."],"type":["The type field is required."],"source":["The source field is required."],"patient_id":["The patient id field must be present."]}}`},
		{"/uploader/upload/init", initBody, 200, `{"studies":[{"id":"study_1"},{"id":"study_2"}]}`},
		{"/uploader/upload/init", initBody, 422, `{"message":"The upload id has already been taken.","errors":{"upload_id":["The upload id has already been taken."]}}`},
		{"/uploader/upload/complete", `{"upload_id":"` + uploadID + `","assembly_id":"a1","mode":"uploader"}`, 422,
			`{"message":"The upload has not been started or has already finished.","errors":{"upload_id":["The upload has not been started or has already finished."]}}`},
		{"/uploader/upload/start", `{"upload_id":"` + uploadID + `","mode":"uploader"}`, 422,
			`{"message":"The assembly id field is required.","errors":{"assembly_id":["The assembly id field is required."]}}`},
		{"/uploader/upload/start", `{"upload_id":"` + uploadID + `","assembly_id":"a1","mode":"uploader"}`, 200,
			`{"success":true,"upload_id":"` + uploadID + `","status":"started"}`},
		{"/uploader/upload/complete", `{"upload_id":"` + uploadID + `","assembly_id":"a2","mode":"uploader"}`, 422,
			`{"message":"The assembly id does not match the started upload.","errors":{"upload_id":["The assembly id does not match the started upload."]}}`},
		{"/uploader/upload/complete", `{"upload_id":"` + uploadID + `","assembly_id":"a1","mode":"uploader"}`, 422,
			`{"message":"The upload's file has not been received.","errors":{"upload_id":["The upload's file has not been received."]}}`},
		{"tus", "", 0, ""},
		{"/uploader/upload/complete", `{"upload_id":"` + uploadID + `","assembly_id":"a1","mode":"uploader"}`, 200,
			`{"success":true,"upload_id":"` + uploadID + `","status":"completed"}`},
		{"/uploader/upload/cancel", `{"upload_id":"` + uploadID + `","mode":"uploader"}`, 422,
			`{"message":"The upload has already finished.","errors":{"upload_id":["The upload has already finished."]}}`},
		{"/uploader/upload/error", `{"upload_id":"` + uploadID + `","mode":"uploader"}`, 422,
			`{"message":"The message field is required.","errors":{"message":["The message field is required."]}}`},
	}
	for i, st := range steps {
		if st.path == "tus" {
			tusUpload(t, s, uploadID, 1000)
			continue
		}
		status, _, body := call(t, s, "POST", st.path, tok.Value, st.body)
		if status != st.status || body != st.want {
			t.Fatalf("step %d %s: got %d %s\nwant %d %s", i, st.path, status, body, st.status, st.want)
		}
	}
	ss, ok := s.Session(uploadID)
	if !ok || ss.State != auratest.StateCompleted || ss.AssemblyID != "a1" || string(ss.Init) != initBody ||
		strings.Join(ss.States, ",") != "initialized,started,completed" || len(ss.StudyIDs) != 2 {
		t.Fatalf("session %+v", ss)
	}
	// error and cancel from a live session
	for _, tc := range []struct{ path, extra, state string }{
		{"/uploader/upload/error", `"message":"tus: 500",`, auratest.StateFailed},
		{"/uploader/upload/cancel", ``, auratest.StateCancelled},
	} {
		id := strings.Replace(uploadID, "5c0e", fmt.Sprintf("%04x", len(tc.path)), 1)
		call(t, s, "POST", "/uploader/upload/init", tok.Value, strings.Replace(initBody, uploadID, id, 1))
		status, _, body := call(t, s, "POST", tc.path, tok.Value, `{"upload_id":"`+id+`",`+tc.extra+`"mode":"uploader"}`)
		ss, _ := s.Session(id)
		if status != 200 || ss.State != tc.state {
			t.Fatalf("%s: %d %s, state %s", tc.path, status, body, ss.State)
		}
		if tc.state == auratest.StateFailed && ss.Message != "tus: 500" {
			t.Fatalf("message %q", ss.Message)
		}
	}
	if n := len(s.Sessions()); n != 3 {
		t.Fatalf("%d sessions", n)
	}
}

// tus is a minimal Tus 1.0 client for these tests (the SDK's own is in
// package tusclient).
type tus struct {
	t    *testing.T
	s    *auratest.Server
	lift string
}

func (c tus) do(method, url string, body []byte, h map[string]string) *http.Response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Tus-Resumable", "1.0.0")
	if c.lift != "" {
		req.Header.Set("Authorization", "Bearer "+c.lift)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.s.Client().Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func metadata(pairs ...string) string {
	var parts []string
	for i := 0; i < len(pairs); i += 2 {
		parts = append(parts, pairs[i]+" "+base64.StdEncoding.EncodeToString([]byte(pairs[i+1])))
	}
	return strings.Join(parts, ",")
}

// liftFor fetches the config and returns its lift token.
func liftFor(t *testing.T, s *auratest.Server) (string, map[string]any) {
	t.Helper()
	tok, _ := s.IssueToken(context.Background())
	status, _, body := call(t, s, "GET", "/uploader/config", tok.Value, "")
	if status != 200 {
		t.Fatalf("config: %d %s", status, body)
	}
	var cfg struct {
		Lift map[string]any `json:"lift"`
		Mode string         `json:"mode"`
	}
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Lift["endpoint"] != s.TusURL || cfg.Lift["bucket"] != "uploads" || cfg.Mode != "bulk" {
		t.Fatalf("config %s", body)
	}
	return cfg.Lift["token"].(string), cfg.Lift
}

// tusUpload stores a Tus upload of size bytes with the "upload_id"
// metadata id.
func tusUpload(t *testing.T, s *auratest.Server, id string, size int) {
	t.Helper()
	lift, _ := liftFor(t, s)
	c := tus{t, s, lift}
	resp := c.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": strconv.Itoa(size), "Upload-Metadata": metadata("upload_id", id)})
	require.Equal(t, 201, resp.StatusCode)
	resp = c.do("PATCH", resp.Header.Get("Location"), bytes.Repeat([]byte{'z'}, size), map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
	require.Equal(t, 204, resp.StatusCode)
}

func zipOf(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"1.2.3/a.dcm", "1.2.3/b.dcm"} {
		w, _ := zw.Create(name)
		io.WriteString(w, files[name])
	}
	zw.Close()
	return buf.Bytes()
}

func TestTusUploadRecorded(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	lift, _ := liftFor(t, s)
	c := tus{t, s, lift}
	data := zipOf(t, map[string]string{"1.2.3/a.dcm": "DICM-a", "1.2.3/b.dcm": strings.Repeat("b", 3000)})
	meta := metadata("upload_id", uploadID, "bucket", "uploads", "mode", "bulk", "name", uploadID+".zip",
		"type", "application/zip", "filetype", "application/zip", "filename", uploadID+".zip")
	resp := c.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": meta})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 201 || !strings.HasPrefix(loc, strings.TrimSuffix(s.TusURL, "/")) {
		t.Fatalf("create: %d %q", resp.StatusCode, loc)
	}
	half := len(data) / 2
	for _, part := range []struct {
		off  int
		data []byte
	}{{0, data[:half]}, {half, data[half:]}} {
		resp := c.do("PATCH", loc, part.data, map[string]string{"Upload-Offset": strconv.Itoa(part.off), "Content-Type": "application/offset+octet-stream"})
		if resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != strconv.Itoa(part.off+len(part.data)) {
			t.Fatalf("patch at %d: %d %v", part.off, resp.StatusCode, resp.Header)
		}
	}
	up, ok := s.Upload(uploadID)
	require.True(t, ok)
	assert.True(t, up.Complete)
	assert.Equal(t, int64(len(data)), up.Size)
	assert.Equal(t, int64(len(data)), up.Offset)
	assert.NoError(t, up.MetadataErr)
	assert.Equal(t, []auratest.MetaPair{{Key: "upload_id", Value: uploadID}, {Key: "bucket", Value: "uploads"}, {Key: "mode", Value: "bulk"},
		{Key: "name", Value: uploadID + ".zip"}, {Key: "type", Value: "application/zip"}, {Key: "filetype", Value: "application/zip"},
		{Key: "filename", Value: uploadID + ".zip"}}, up.Metadata, "metadata in header order")
	f, err := up.Open()
	require.NoError(t, err)
	stored, err := io.ReadAll(f)
	f.Close()
	require.NoError(t, err)
	assert.Equal(t, data, stored)
	entries, err := up.ZipEntries()
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.Equal(t, "1.2.3/a.dcm", entries[0].Name)
	assert.EqualValues(t, 3000, entries[1].UncompressedSize64)
	assert.Equal(t, zip.Deflate, entries[1].Method)
	// Recorded Tus calls: the lift token is redacted, sizes are counted.
	calls := s.CallsTo(auratest.EndpointTus)
	if len(calls) != 3 || calls[1].BodySize != int64(half) || calls[0].Status != 201 ||
		calls[1].Header.Get("Authorization") != "Bearer "+auraclient.Redact(lift) {
		t.Fatalf("tus calls %+v", calls)
	}
	// Termination.
	if resp := c.do("DELETE", loc, nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if up, _ := s.Upload(uploadID); !up.Terminated {
		t.Fatal("not marked terminated")
	}
}

func TestTusRequiresLiftToken(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok, _ := s.IssueToken(context.Background())
	for name, bearer := range map[string]string{"none": "", "upload token": tok.Value, "made up": "lift_nope"} {
		resp := tus{t, s, bearer}.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": "10"})
		if resp.StatusCode != 401 {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	if len(s.Uploads()) != 0 {
		t.Fatal("upload created without a lift token")
	}
	// Every other Tus request on an existing upload needs the lift token too.
	lift, _ := liftFor(t, s)
	loc := tus{t, s, lift}.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": "10", "Upload-Metadata": metadata("upload_id", uploadID)}).Header.Get("Location")
	if loc == "" {
		t.Fatal("create with the lift token failed")
	}
	patch := map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
	for name, bearer := range map[string]string{"none": "", "upload token": tok.Value, "made up": "lift_nope"} {
		for _, m := range []string{"HEAD", "PATCH", "DELETE", "GET"} {
			var body []byte
			if m == "PATCH" {
				body = []byte("0123456789")
			}
			if resp := (tus{t, s, bearer}).do(m, loc, body, patch); resp.StatusCode != 401 {
				t.Errorf("%s with %s: %d", m, name, resp.StatusCode)
			}
		}
	}
	if up, _ := s.Upload(uploadID); up.Offset != 0 || up.Terminated {
		t.Fatalf("upload changed without a lift token: %+v", up)
	}
}

func TestTusFailuresAndResume(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	lift, _ := liftFor(t, s)
	c := tus{t, s, lift}
	data := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB
	s.Fail(auratest.EndpointTus, auratest.Failure{Method: "POST", Status: 503, Times: 1})
	if resp := c.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": strconv.Itoa(len(data))}); resp.StatusCode != 503 {
		t.Fatalf("injected create failure: %d", resp.StatusCode)
	}
	resp := c.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": metadata("upload_id", uploadID)})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 201 {
		t.Fatalf("create after the failure: %d", resp.StatusCode)
	}
	// The first PATCH loses the connection after 300,000 bytes.
	s.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Abort: true, CutAfter: 300_000, Times: 1})
	req, _ := http.NewRequest("PATCH", loc, bytes.NewReader(data))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+lift)
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	if resp, err := s.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("cut PATCH answered %d", resp.StatusCode)
	}
	// A restarted client asks for the offset and sends the rest.
	head := c.do("HEAD", loc, nil, nil)
	off, _ := strconv.Atoi(head.Header.Get("Upload-Offset"))
	if head.StatusCode != 200 || off != 300_000 {
		t.Fatalf("HEAD after the cut: %d offset %d", head.StatusCode, off)
	}
	if resp := c.do("PATCH", loc, data[off:], map[string]string{"Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream"}); resp.StatusCode != 204 {
		t.Fatalf("resume: %d", resp.StatusCode)
	}
	up, _ := s.Upload(uploadID)
	assert.True(t, up.Complete)
	f, err := up.Open()
	require.NoError(t, err)
	got, _ := io.ReadAll(f)
	f.Close()
	assert.Equal(t, data, got, "resumed upload")
	var injected, dropped int
	for _, c := range s.CallsTo(auratest.EndpointTus) {
		if c.Injected {
			injected++
		}
		if c.Status == 0 {
			dropped++
		}
	}
	if injected != 2 || dropped != 1 {
		t.Fatalf("injected %d, dropped %d", injected, dropped)
	}
}

func TestFailureInjectionOnAPI(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok, _ := s.IssueToken(context.Background())
	s.Fail(auratest.EndpointConfig, auratest.Failure{Status: 500, Times: 2, Skip: 1})
	s.Fail(auratest.EndpointConfig, auratest.Failure{Status: 200, Body: `{"mode":"bulk"}`, Times: 1})
	var got []string
	for i := 0; i < 5; i++ {
		status, _, body := call(t, s, "GET", "/uploader/config", tok.Value, "")
		got = append(got, strconv.Itoa(status)+":"+body[:min(len(body), 15)])
	}
	want := `200:{"lift":{"endpo 500:{"message":"Int 500:{"message":"Int 200:{"mode":"bulk"} 200:{"lift":{"endpo`
	if strings.Join(got, " ") != want {
		t.Fatalf("sequence %s", strings.Join(got, " "))
	}
	s.ClearFailures()
	s.Fail(auratest.EndpointInit, auratest.Failure{Status: 429, Header: http.Header{"Retry-After": {"7"}}})
	status, h, body := call(t, s, "POST", "/uploader/upload/init", tok.Value, initBody)
	if status != 429 || h.Get("Retry-After") != "7" || body != `{"message":"Too Many Requests"}` {
		t.Fatalf("429: %d %v %s", status, h, body)
	}
	// A delay ends when the client gives up.
	s.Fail(auratest.EndpointStart, auratest.Failure{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/uploader/upload/start", strings.NewReader("{}"))
	start := time.Now()
	if _, err := s.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed call: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("delay did not end with the client")
	}
	// Abort drops the connection.
	s.Fail(auratest.EndpointCancel, auratest.Failure{Abort: true})
	req, _ = http.NewRequest("POST", s.URL+"/uploader/upload/cancel", strings.NewReader("{}"))
	if resp, err := s.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("aborted call answered %d", resp.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	s := newServer(t, auratest.WithAllowedOrigins("http://localhost:5173"))
	preflight := func(url, origin, method, headers string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", url, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", method)
		req.Header.Set("Access-Control-Request-Headers", headers)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// API preflights as the widget sends them.
	for _, tc := range []struct{ path, method, headers string }{
		{"/uploader/config", "GET", "authorization,x-api-key"},
		{"/uploader/upload/init", "POST", "authorization,content-type,x-api-key"},
		{"/auth/exchange", "POST", "content-type,x-api-key,x-aura-nonce,x-aura-timestamp"},
	} {
		resp := preflight(s.URL+tc.path, "http://localhost:5173", tc.method, tc.headers)
		h := resp.Header
		if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
			h.Get("Access-Control-Allow-Headers") != "authorization, content-type, x-api-key, x-aura-nonce, x-aura-timestamp" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), tc.method) {
			t.Errorf("API preflight %s: %d %v", tc.path, resp.StatusCode, h)
		}
		for _, want := range strings.Split(tc.headers, ",") {
			if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("%s not allowed", want)
			}
		}
	}
	if resp := preflight(s.URL+"/uploader/config", "https://evil.example", "GET", "authorization"); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign preflight: %d %v", resp.StatusCode, resp.Header)
	}
	// Tus preflight: Tus headers allowed; actual answers expose Location and Upload-Offset.
	resp := preflight(s.TusURL, "http://localhost:5173", "POST", "authorization,tus-resumable,upload-length,upload-metadata")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Fatalf("Tus preflight: %d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{"Authorization", "Tus-Resumable", "Upload-Length", "Upload-Metadata", "Upload-Offset", "Content-Type"} {
		if !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), want) {
			t.Errorf("Tus preflight does not allow %s", want)
		}
	}
	lift, _ := liftFor(t, s)
	cr := tus{t, s, lift}.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": "3", "Origin": "http://localhost:5173"})
	expose := cr.Header.Get("Access-Control-Expose-Headers")
	if cr.StatusCode != 201 || !strings.Contains(expose, "Location") || !strings.Contains(expose, "Upload-Offset") {
		t.Fatalf("Tus create: %d expose %q", cr.StatusCode, expose)
	}
	// Answers the fake writes itself (401) carry CORS headers too, so a page can read them.
	un := tus{t, s, ""}.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": "3", "Origin": "http://localhost:5173"})
	if un.StatusCode != 401 || un.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Fatalf("Tus 401: %d %v", un.StatusCode, un.Header)
	}
	fo := tus{t, s, lift}.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": "3", "Origin": "https://evil.example"})
	if fo.StatusCode != 403 {
		t.Fatalf("Tus foreign origin: %d", fo.StatusCode)
	}
}

func TestCloseEndsInjectedDelays(t *testing.T) {
	t.Parallel()
	s := auratest.NewServer()
	s.Fail(auratest.EndpointConfig, auratest.Failure{Delay: time.Hour})
	tok, _ := s.IssueToken(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", s.URL+"/uploader/config", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Value)
		req.Header.Set("X-Api-Key", s.APIKey)
		resp, err := s.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %d", resp.StatusCode)
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the request reach the delay
	start := time.Now()
	s.Close()
	if err := <-done; err == nil {
		t.Fatal("delayed request succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

// TestConcurrentInitsOfOneUploadID: of concurrent inits of one upload_id,
// exactly one creates the session; the others are told it is taken, as a
// unique rule does in Laravel.
func TestConcurrentInitsOfOneUploadID(t *testing.T) {
	t.Parallel()
	s := newServer(t, auratest.WithoutRateLimits())
	tok, _ := s.IssueToken(context.Background())
	const n = 32
	statuses := make(chan int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest("POST", s.URL+"/uploader/upload/init", strings.NewReader(initBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok.Value)
			req.Header.Set("X-Api-Key", s.APIKey)
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[200] != 1 || count[422] != n-1 {
		t.Fatalf("statuses %v, want one 200 and %d 422", count, n-1)
	}
	if ss := s.Sessions(); len(ss) != 1 || len(ss[0].StudyIDs) != 2 {
		t.Fatalf("sessions %+v, want one with two study ids", ss)
	}
}

// startedUpload inits and starts a fresh upload (assembly "a1") and
// returns its id.
func startedUpload(t *testing.T, s *auratest.Server, tok string, n int) string {
	t.Helper()
	id := fmt.Sprintf("%08x", n) + uploadID[8:]
	status, _, body := call(t, s, "POST", "/uploader/upload/init", tok, strings.Replace(initBody, uploadID, id, 1))
	require.Equal(t, 200, status, body)
	status, _, body = call(t, s, "POST", "/uploader/upload/start", tok, `{"upload_id":"`+id+`","assembly_id":"a1","mode":"uploader"}`)
	require.Equal(t, 200, status, body)
	return id
}

func TestManageStateMachine(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok, err := s.IssueToken(context.Background())
	require.NoError(t, err)
	id := startedUpload(t, s, tok.Value, 1)
	refusal := func(msg string) string {
		return `{"message":"` + msg + `","errors":{"upload_id":["` + msg + `"]}}`
	}
	submit := `{"upload_id":"` + id + `","metadata":{"priority":"urgent"}}`
	withdraw := `{"upload_id":"` + id + `","reason":"wrong patient"}`
	steps := []struct {
		path, body string
		status     int
		want       string
	}{
		{"/uploader/manage/submit", `{"upload_id":"` + uploadID + `"}`, 422, refusal("The selected upload id is invalid.")},
		{"/uploader/manage/submit", submit, 422, refusal("The upload must be completed before it can be submitted.")},
		{"/uploader/manage/withdraw", withdraw, 422, refusal("Only a submitted upload can be withdrawn.")},
		{"/uploader/manage/submit", `{"upload_id":"` + id + `","metadata":"x"}`, 422,
			`{"message":"The metadata field must be an array.","errors":{"metadata":["The metadata field must be an array."]}}`},
		{"tus+complete", "", 0, ""},
		{"/uploader/manage/withdraw", withdraw, 422, refusal("Only a submitted upload can be withdrawn.")},
		{"/uploader/manage/submit", submit, 200, `{"success":true,"upload_id":"` + id + `","status":"submitted","message":"Upload submitted."}`},
		{"/uploader/manage/submit", submit, 422, refusal("The upload must be completed before it can be submitted.")},
		{"/uploader/upload/cancel", `{"upload_id":"` + id + `","mode":"uploader"}`, 422, refusal("The upload has already finished.")},
		{"/uploader/manage/withdraw", `{"upload_id":"` + id + `","reason":7}`, 422,
			`{"message":"The reason field must be a string.","errors":{"reason":["The reason field must be a string."]}}`},
		{"/uploader/manage/withdraw", withdraw, 200, `{"success":true,"upload_id":"` + id + `","status":"withdrawn","message":"Upload withdrawn."}`},
		{"/uploader/manage/withdraw", withdraw, 422, refusal("Only a submitted upload can be withdrawn.")},
	}
	for i, st := range steps {
		if st.path == "tus+complete" {
			tusUpload(t, s, id, 10)
			status, _, body := call(t, s, "POST", "/uploader/upload/complete", tok.Value, `{"upload_id":"`+id+`","assembly_id":"a1","mode":"uploader"}`)
			require.Equal(t, 200, status, body)
			continue
		}
		status, _, body := call(t, s, "POST", st.path, tok.Value, st.body)
		assert.Equal(t, st.status, status, "step %d", i)
		assert.Equal(t, st.want, body, "step %d", i)
	}
	ss, ok := s.Session(id)
	require.True(t, ok)
	assert.Equal(t, []string{"initialized", "started", "completed", "submitted", "withdrawn"}, ss.States)
	assert.Equal(t, auratest.StateWithdrawn, ss.State)
	assert.Len(t, s.CallsTo(auratest.EndpointSubmit), 5, "every submit is recorded")

	// No X-Api-Key is needed (Aura's manage clients send none); the scope is.
	initOnly, err := s.IssueToken(context.Background(), uploadtoken.ScopeUploadInit)
	require.NoError(t, err)
	for _, tc := range []struct {
		tok    string
		status int
		want   string
	}{
		{initOnly.Value, 401, `{"error":{"message":"Upload token does not have the upload:manage scope."}}`},
		{"", 401, `{"error":{"message":"Missing upload token."}}`},
		{tok.Value, 422, refusal("Only a submitted upload can be withdrawn.")},
	} {
		req, err := http.NewRequest("POST", s.URL+"/uploader/manage/withdraw", strings.NewReader(withdraw))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if tc.tok != "" {
			req.Header.Set("Authorization", "Bearer "+tc.tok)
		}
		status, _, body := send(t, s, req)
		assert.Equal(t, tc.status, status)
		assert.Equal(t, tc.want, strings.TrimSpace(body))
	}

	// Failure injection works on the manage routes as on the others.
	s.Fail(auratest.EndpointSubmit, auratest.Failure{Status: 503, Times: 1})
	status, _, _ := call(t, s, "POST", "/uploader/manage/submit", tok.Value, submit)
	assert.Equal(t, 503, status)
	status, _, _ = call(t, s, "POST", "/uploader/manage/submit", tok.Value, submit)
	assert.Equal(t, 422, status, "Times 1 fails one request")
	calls := s.CallsTo(auratest.EndpointSubmit)
	assert.True(t, calls[len(calls)-2].Injected)
	assert.False(t, calls[len(calls)-1].Injected)
}

// TestCancelCompleteRace replays what the real widget does when a user
// cancels mid-upload: it sends cancel and complete together. Whatever
// their order, cancel is accepted and complete refused, because the Tus
// upload never finished.
func TestCancelCompleteRace(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok, err := s.IssueToken(context.Background())
	require.NoError(t, err)
	for i, order := range []string{"cancel-first", "complete-first", "together"} {
		t.Run(order, func(t *testing.T) {
			id := startedUpload(t, s, tok.Value, 100+i)
			// Part of the data arrived, as in a cancelled upload.
			lift, _ := liftFor(t, s)
			c := tus{t, s, lift}
			resp := c.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": "100", "Upload-Metadata": metadata("upload_id", id)})
			require.Equal(t, 201, resp.StatusCode)
			resp = c.do("PATCH", resp.Header.Get("Location"), make([]byte, 40), map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
			require.Equal(t, 204, resp.StatusCode)

			results := map[string]int{}
			var mu sync.Mutex
			run := func(what string) {
				body := `{"upload_id":"` + id + `","mode":"uploader"}`
				if what == "complete" {
					body = `{"upload_id":"` + id + `","assembly_id":"a1","mode":"uploader"}`
				}
				status, _, _ := call(t, s, "POST", "/uploader/upload/"+what, tok.Value, body)
				mu.Lock()
				results[what] = status
				mu.Unlock()
			}
			switch order {
			case "cancel-first":
				run("cancel")
				run("complete")
			case "complete-first":
				run("complete")
				run("cancel")
			default:
				var wg sync.WaitGroup
				for _, what := range []string{"cancel", "complete"} {
					wg.Go(func() { run(what) })
				}
				wg.Wait()
			}
			assert.Equal(t, map[string]int{"cancel": 200, "complete": 422}, results)
			ss, _ := s.Session(id)
			assert.Equal(t, []string{"initialized", "started", "cancelled"}, ss.States)
		})
	}
}

// TestPreflightsRecordedAndObserved: a browser's CORS preflights show in
// Calls and CallsTo, on the API and on Tus, allowed or refused, and
// WithOnCall sees every call as it is recorded.
func TestPreflightsRecordedAndObserved(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []auratest.Call
	s := newServer(t, auratest.WithAllowedOrigins("http://localhost:5173"), auratest.WithOnCall(func(c auratest.Call) {
		mu.Lock()
		seen = append(seen, c)
		mu.Unlock()
	}))
	preflight := func(url, origin string) int {
		req, err := http.NewRequest("OPTIONS", url, nil)
		require.NoError(t, err)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := s.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 204, preflight(s.URL+"/uploader/upload/init", "http://localhost:5173"))
	assert.Equal(t, 403, preflight(s.URL+"/uploader/manage/submit", "https://evil.example"))
	assert.Equal(t, 200, preflight(s.TusURL, "http://localhost:5173"))
	assert.Equal(t, 204, preflight(s.URL+"/no/such/route", "http://localhost:5173"))

	type row struct {
		Endpoint auratest.Endpoint
		Method   string
		Status   int
		Origin   string
	}
	var got []row
	for _, c := range s.Calls() {
		got = append(got, row{c.Endpoint, c.Method, c.Status, c.Header.Get("Origin")})
	}
	assert.Equal(t, []row{
		{auratest.EndpointInit, "OPTIONS", 204, "http://localhost:5173"},
		{auratest.EndpointSubmit, "OPTIONS", 403, "https://evil.example"},
		{auratest.EndpointTus, "OPTIONS", 200, "http://localhost:5173"},
		{"", "OPTIONS", 204, "http://localhost:5173"},
	}, got)
	assert.Len(t, s.CallsTo(auratest.EndpointInit), 1)

	// The hook saw the same calls, in order, as they happened.
	_, err := s.IssueToken(context.Background())
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, s.Calls(), seen)
}
