package auratest_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
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
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Api-Key", s.APIKey)
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
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
			require.NoError(t, err)
			assert.True(t, auraserver.WellFormed(tok.Value), "token %v", tok)
			assert.Len(t, tok.Scopes, 3)
			assert.Equal(t, 7, tok.MaxUses)
			d := time.Until(tok.ExpiresAt)
			assert.True(t, d >= 2*time.Hour-5*time.Second && d <= 2*time.Hour+time.Second, "expires in %v", d)
			g, err := iss.Authorize(context.Background(), tok.Value, uploadtoken.ScopeIntegrationRead)
			require.NoError(t, err)
			assert.Equal(t, s.AppID, g.AppID)
			assert.Equal(t, 7, g.MaxUses)
			calls := s.CallsTo(auratest.EndpointExchange)
			require.Len(t, calls, 1)
			c := calls[0]
			assert.Equal(t, 200, c.Status)
			assert.Equal(t, "POST", c.Method)
			assert.Equal(t, "/api/auth/exchange", c.Path)
			assert.Equal(t, `{"ttl":7200,"scopes":["upload:init","upload:manage","integration:read"],"max_uses":7}`, string(c.Body))
			assert.Equal(t, auraclient.Redact(s.APIKey), c.Header.Get("X-Api-Key"))
			assert.True(t, strings.HasPrefix(c.Header.Get("Authorization"), "AURA-HMAC-SHA256 Credential="+s.AppID+",SignedHeaders=content-type;host;x-aura-nonce;x-aura-timestamp,Signature=…#"),
				"Authorization recorded as %q", c.Header.Get("Authorization"))
		})
	}
}

// signed builds an exchange request signed with the given credentials.
func signed(t *testing.T, s *auratest.Server, signer *hmac.Signer, apiKey, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", s.URL+"/auth/exchange", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", apiKey)
	require.NoError(t, signer.Sign(req))
	return req
}

func send(t *testing.T, s *auratest.Server, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
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
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.body, got)
		})
	}
}

func TestExchangeReplayRefused(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	req := signed(t, s, &hmac.Signer{AppID: s.AppID, Secret: s.Secret}, s.APIKey, `{"ttl":60}`)
	replay := req.Clone(context.Background())
	replay.Body, _ = req.GetBody()
	status, _, body := send(t, s, req)
	require.Equal(t, 200, status, body)
	status, _, body = send(t, s, replay)
	assert.Equal(t, 403, status, "replay")
	assert.Equal(t, `{"error":{"message":"nonce already used"}}`, body)
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	s, iss := withIssuer(t)
	ex := s.Exchanger()
	ctx := context.Background()
	var tok *uploadtoken.Token
	for i := 0; i < 10; i++ {
		var err error
		tok, err = ex.Exchange(ctx, uploadtoken.ExchangeRequest{})
		require.NoError(t, err, "exchange %d", i+1)
	}
	_, err := ex.Exchange(ctx, uploadtoken.ExchangeRequest{})
	var apiErr *uploadtoken.APIError
	assert.ErrorIs(t, err, uploadtoken.ErrRateLimited, "11th exchange")
	require.ErrorAs(t, err, &apiErr)
	assert.True(t, apiErr.RetryAfter > 0 && apiErr.RetryAfter <= time.Minute, "RetryAfter %v", apiErr.RetryAfter)
	for i := 0; i < 30; i++ {
		status, _, body := call(t, s, "GET", "/uploader/config", tok.Value, "")
		require.Equal(t, 200, status, "config %d: %s", i+1, body)
	}
	status, h, body := call(t, s, "GET", "/uploader/config", tok.Value, "")
	assert.Equal(t, 429, status, "31st config")
	assert.Equal(t, `{"message":"Too Many Attempts."}`, body)
	assert.Equal(t, "30", h.Get("X-RateLimit-Limit"))
	ra, _ := strconv.Atoi(h.Get("Retry-After"))
	assert.True(t, ra >= 1 && ra <= 60, "Retry-After %q", h.Get("Retry-After"))
	// The refused call did not use up a use of the token.
	g, err := iss.Authorize(ctx, tok.Value, "")
	require.NoError(t, err)
	assert.Equal(t, 31, g.Uses, "uses after 30 allowed calls and this one")
	// The lifecycle endpoints share one budget of 60.
	s2 := newServer(t, auratest.WithRate(auratest.EndpointInit, uploadtoken.Rate{Limit: 2, Window: time.Minute}))
	tok2, _ := s2.IssueToken(ctx)
	call(t, s2, "POST", "/uploader/upload/start", tok2.Value, `{}`)
	call(t, s2, "POST", "/uploader/upload/cancel", tok2.Value, `{}`)
	status, _, _ = call(t, s2, "POST", "/uploader/upload/init", tok2.Value, `{}`)
	assert.Equal(t, 429, status, "third lifecycle call")
	s3 := newServer(t, auratest.WithoutRateLimits())
	tok3, _ := s3.IssueToken(ctx)
	for i := 0; i < 40; i++ {
		status, _, _ := call(t, s3, "GET", "/uploader/config", tok3.Value, "")
		require.Equal(t, 200, status, "unlimited config %d", i)
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
		assert.Equal(t, tc.status, status, "%s %s with %v: %s", tc.method, tc.path, tc.tok.Scopes, body)
	}
	status, _, body := call(t, s, "GET", "/uploader/config", "aubt_"+strings.Repeat("x", 64), "")
	assert.Equal(t, 401, status, "unknown token")
	assert.Equal(t, `{"error":{"message":"Invalid upload token."}}`, body)
	status, _, _ = call(t, s, "GET", "/nothing", "", "")
	assert.Equal(t, 404, status, "unknown route")
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
		require.Equal(t, st.status, status, "step %d %s: %s", i, st.path, body)
		require.Equal(t, st.want, body, "step %d %s", i, st.path)
	}
	ss, ok := s.Session(uploadID)
	require.True(t, ok)
	assert.Equal(t, auratest.StateCompleted, ss.State)
	assert.Equal(t, "a1", ss.AssemblyID)
	assert.Equal(t, initBody, string(ss.Init))
	assert.Equal(t, []string{"initialized", "started", "completed"}, ss.States)
	assert.Len(t, ss.StudyIDs, 2)
	// error and cancel from a live session
	for _, tc := range []struct{ path, extra, state string }{
		{"/uploader/upload/error", `"message":"tus: 500",`, auratest.StateFailed},
		{"/uploader/upload/cancel", ``, auratest.StateCancelled},
	} {
		id := strings.Replace(uploadID, "5c0e", fmt.Sprintf("%04x", len(tc.path)), 1)
		call(t, s, "POST", "/uploader/upload/init", tok.Value, strings.Replace(initBody, uploadID, id, 1))
		status, _, body := call(t, s, "POST", tc.path, tok.Value, `{"upload_id":"`+id+`",`+tc.extra+`"mode":"uploader"}`)
		ss, _ := s.Session(id)
		assert.Equal(t, 200, status, "%s: %s", tc.path, body)
		assert.Equal(t, tc.state, ss.State, tc.path)
		if tc.state == auratest.StateFailed {
			assert.Equal(t, "tus: 500", ss.Message)
		}
	}
	assert.Len(t, s.Sessions(), 3)
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
	require.NoError(c.t, err, "%s %s", method, url)
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
	require.Equal(t, 200, status, "config: %s", body)
	var cfg struct {
		Lift map[string]any `json:"lift"`
		Mode string         `json:"mode"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &cfg))
	require.Equal(t, s.TusURL, cfg.Lift["endpoint"], body)
	require.Equal(t, "uploads", cfg.Lift["bucket"], body)
	require.Equal(t, "bulk", cfg.Mode, body)
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
	require.Equal(t, 201, resp.StatusCode, "create")
	require.True(t, strings.HasPrefix(loc, strings.TrimSuffix(s.TusURL, "/")), "Location %q", loc)
	half := len(data) / 2
	for _, part := range []struct {
		off  int
		data []byte
	}{{0, data[:half]}, {half, data[half:]}} {
		resp := c.do("PATCH", loc, part.data, map[string]string{"Upload-Offset": strconv.Itoa(part.off), "Content-Type": "application/offset+octet-stream"})
		require.Equal(t, 204, resp.StatusCode, "patch at %d", part.off)
		require.Equal(t, strconv.Itoa(part.off+len(part.data)), resp.Header.Get("Upload-Offset"), "patch at %d", part.off)
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
	require.Len(t, calls, 3)
	assert.Equal(t, 201, calls[0].Status)
	assert.Equal(t, int64(half), calls[1].BodySize)
	assert.Equal(t, "Bearer "+auraclient.Redact(lift), calls[1].Header.Get("Authorization"))
	// Termination.
	assert.Equal(t, 204, c.do("DELETE", loc, nil, nil).StatusCode, "delete")
	up, _ = s.Upload(uploadID)
	assert.True(t, up.Terminated, "marked terminated")
}

func TestTusRequiresLiftToken(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok, _ := s.IssueToken(context.Background())
	for name, bearer := range map[string]string{"none": "", "upload token": tok.Value, "made up": "lift_nope"} {
		resp := tus{t, s, bearer}.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": "10"})
		assert.Equal(t, 401, resp.StatusCode, name)
	}
	require.Empty(t, s.Uploads(), "upload created without a lift token")
	// Every other Tus request on an existing upload needs the lift token too.
	lift, _ := liftFor(t, s)
	loc := tus{t, s, lift}.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": "10", "Upload-Metadata": metadata("upload_id", uploadID)}).Header.Get("Location")
	require.NotEmpty(t, loc, "create with the lift token failed")
	patch := map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
	for name, bearer := range map[string]string{"none": "", "upload token": tok.Value, "made up": "lift_nope"} {
		for _, m := range []string{"HEAD", "PATCH", "DELETE", "GET"} {
			var body []byte
			if m == "PATCH" {
				body = []byte("0123456789")
			}
			assert.Equal(t, 401, (tus{t, s, bearer}).do(m, loc, body, patch).StatusCode, "%s with %s", m, name)
		}
	}
	up, _ := s.Upload(uploadID)
	assert.Zero(t, up.Offset, "upload changed without a lift token")
	assert.False(t, up.Terminated, "upload changed without a lift token")
}

func TestTusFailuresAndResume(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	lift, _ := liftFor(t, s)
	c := tus{t, s, lift}
	data := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB
	s.Fail(auratest.EndpointTus, auratest.Failure{Method: "POST", Status: 503, Times: 1})
	resp := c.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": strconv.Itoa(len(data))})
	require.Equal(t, 503, resp.StatusCode, "injected create failure")
	resp = c.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": metadata("upload_id", uploadID)})
	loc := resp.Header.Get("Location")
	require.Equal(t, 201, resp.StatusCode, "create after the failure")
	// The first PATCH loses the connection after 300,000 bytes.
	s.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Abort: true, CutAfter: 300_000, Times: 1})
	req, _ := http.NewRequest("PATCH", loc, bytes.NewReader(data))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+lift)
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	if resp, err := s.Client().Do(req); !assert.Error(t, err, "the cut PATCH got an answer") {
		resp.Body.Close()
	}
	// A restarted client asks for the offset and sends the rest.
	head := c.do("HEAD", loc, nil, nil)
	off, _ := strconv.Atoi(head.Header.Get("Upload-Offset"))
	require.Equal(t, 200, head.StatusCode, "HEAD after the cut")
	require.Equal(t, 300_000, off, "offset after the cut")
	resp = c.do("PATCH", loc, data[off:], map[string]string{"Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream"})
	require.Equal(t, 204, resp.StatusCode, "resume")
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
	assert.Equal(t, 2, injected, "injected")
	assert.Equal(t, 1, dropped, "dropped")
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
	assert.Equal(t, want, strings.Join(got, " "), "Skip 1, Times 2, then Times 1, then normal")
	s.ClearFailures()
	s.Fail(auratest.EndpointInit, auratest.Failure{Status: 429, Header: http.Header{"Retry-After": {"7"}}})
	status, h, body := call(t, s, "POST", "/uploader/upload/init", tok.Value, initBody)
	assert.Equal(t, 429, status)
	assert.Equal(t, "7", h.Get("Retry-After"))
	assert.Equal(t, `{"message":"Too Many Requests"}`, body)
	// A delay ends when the client gives up.
	s.Fail(auratest.EndpointStart, auratest.Failure{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/uploader/upload/start", strings.NewReader("{}"))
	start := time.Now()
	_, err := s.Client().Do(req)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "delayed call")
	assert.Less(t, time.Since(start), 10*time.Second, "delay did not end with the client")
	// Abort drops the connection.
	s.Fail(auratest.EndpointCancel, auratest.Failure{Abort: true})
	req, _ = http.NewRequest("POST", s.URL+"/uploader/upload/cancel", strings.NewReader("{}"))
	if resp, err := s.Client().Do(req); !assert.Error(t, err, "the aborted call got an answer") {
		resp.Body.Close()
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
		require.NoError(t, err)
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
		assert.Equal(t, 204, resp.StatusCode, tc.path)
		assert.Equal(t, "http://localhost:5173", h.Get("Access-Control-Allow-Origin"), tc.path)
		assert.Equal(t, "authorization, content-type, x-api-key, x-aura-nonce, x-aura-timestamp", h.Get("Access-Control-Allow-Headers"), tc.path)
		assert.Contains(t, h.Get("Access-Control-Allow-Methods"), tc.method, tc.path)
		for _, want := range strings.Split(tc.headers, ",") {
			assert.Contains(t, h.Get("Access-Control-Allow-Headers"), want, tc.path)
		}
	}
	resp := preflight(s.URL+"/uploader/config", "https://evil.example", "GET", "authorization")
	assert.Equal(t, 403, resp.StatusCode, "foreign preflight")
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), "foreign preflight")
	// Tus preflight: Tus headers allowed; actual answers expose Location and Upload-Offset.
	resp = preflight(s.TusURL, "http://localhost:5173", "POST", "authorization,tus-resumable,upload-length,upload-metadata")
	require.Equal(t, 200, resp.StatusCode, "Tus preflight")
	assert.Equal(t, "http://localhost:5173", resp.Header.Get("Access-Control-Allow-Origin"))
	for _, want := range []string{"Authorization", "Tus-Resumable", "Upload-Length", "Upload-Metadata", "Upload-Offset", "Content-Type"} {
		assert.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), want, "Tus preflight allows it")
	}
	lift, _ := liftFor(t, s)
	cr := tus{t, s, lift}.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": "3", "Origin": "http://localhost:5173"})
	expose := cr.Header.Get("Access-Control-Expose-Headers")
	require.Equal(t, 201, cr.StatusCode, "Tus create")
	assert.Contains(t, expose, "Location")
	assert.Contains(t, expose, "Upload-Offset")
	// Answers the fake writes itself (401) carry CORS headers too, so a page can read them.
	un := tus{t, s, ""}.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": "3", "Origin": "http://localhost:5173"})
	assert.Equal(t, 401, un.StatusCode)
	assert.Equal(t, "http://localhost:5173", un.Header.Get("Access-Control-Allow-Origin"), "the fake's own 401 carries CORS headers")
	fo := tus{t, s, lift}.do("POST", s.TusURL, nil, map[string]string{"Upload-Length": "3", "Origin": "https://evil.example"})
	assert.Equal(t, 403, fo.StatusCode, "Tus foreign origin")
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
	assert.Error(t, <-done, "delayed request succeeded")
	assert.Less(t, time.Since(start), 5*time.Second, "Close took too long")
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
			if !assert.NoError(t, err) {
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
	assert.Equal(t, map[int]int{200: 1, 422: n - 1}, count, "one 200, the others 422")
	ss := s.Sessions()
	require.Len(t, ss, 1)
	assert.Len(t, ss[0].StudyIDs, 2)
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
