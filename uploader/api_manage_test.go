package uploader_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// completedUpload walks one upload through init, start and complete on s
// and returns its id.
func completedUpload(t *testing.T, s *auratest.Server, api *uploader.API, c initCase) string {
	t.Helper()
	ctx := context.Background()
	_, err := api.Init(ctx, c.request())
	require.NoError(t, err)
	require.NoError(t, api.Start(ctx, c.UploadID, "4JmDCtwqNT5ItJDHN7Pbf"))
	uploadZip(t, s, c.UploadID)
	require.NoError(t, api.Complete(ctx, c.UploadID, "4JmDCtwqNT5ItJDHN7Pbf"))
	return c.UploadID
}

func TestManageOverHTTP(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	api, src := newAPI(s, uploadtoken.ExchangeRequest{})
	ctx := context.Background()
	cases := initCases(t)
	withMeta := completedUpload(t, s, api, cases[0])
	bare := completedUpload(t, s, api, cases[1])
	s.ResetCalls()

	res, err := api.Submit(ctx, withMeta, map[string]any{
		"priority": "urgent", "referral": map[string]any{"id": 42, "note": "<b>&é\u2028"}, "tags": []string{"ct", "mr"},
	})
	require.NoError(t, err)
	assert.Equal(t, &uploader.ManageResult{UploadID: withMeta, Status: "submitted", Message: "Upload submitted."}, res)
	res, err = api.Submit(ctx, bare, nil)
	require.NoError(t, err)
	assert.Equal(t, "submitted", res.Status)
	res, err = api.Withdraw(ctx, withMeta, "wrong patient \"DOE^JOHN\"")
	require.NoError(t, err)
	assert.Equal(t, &uploader.ManageResult{UploadID: withMeta, Status: "withdrawn", Message: "Upload withdrawn."}, res)
	_, err = api.Withdraw(ctx, bare, "")
	require.NoError(t, err)

	tok, err := src.Token(ctx)
	require.NoError(t, err)
	calls := s.Calls()
	require.Len(t, calls, 4)
	for i, name := range []string{"submit", "submit-no-metadata", "withdraw", "withdraw-no-reason"} {
		c := calls[i]
		assert.Equal(t, 200, c.Status, name)
		assert.Equal(t, "/api/uploader/manage/"+map[bool]string{true: "submit", false: "withdraw"}[i < 2], c.Path, name)
		assert.Equal(t, []string{"Bearer " + tok.Redacted()}, c.Header.Values("Authorization"), name)
		assert.Equal(t, []string{"application/json"}, c.Header.Values("Content-Type"), name)
		assert.Empty(t, c.Header.Values("X-Api-Key"), "%s: the manage calls send no API key", name)
		golden(t, name, c.Body)
	}
	for id, states := range map[string][]string{
		withMeta: {"initialized", "started", "completed", "submitted", "withdrawn"},
		bare:     {"initialized", "started", "completed", "submitted", "withdrawn"},
	} {
		ss, ok := s.Session(id)
		require.True(t, ok)
		assert.Equal(t, states, ss.States)
	}
}

func TestManageRefusals(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	api, _ := newAPI(s, uploadtoken.ExchangeRequest{})
	ctx := context.Background()
	cases := initCases(t)
	unknown := "11111111-2222-4333-8444-555555555555"

	fieldErr := func(err error) map[string][]string {
		t.Helper()
		var apiErr *uploadtoken.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, 422, apiErr.StatusCode)
		return apiErr.Fields
	}
	_, err := api.Submit(ctx, unknown, nil)
	assert.Equal(t, map[string][]string{"upload_id": {"The selected upload id is invalid."}}, fieldErr(err))

	_, err = api.Init(ctx, cases[0].request())
	require.NoError(t, err)
	_, err = api.Submit(ctx, cases[0].UploadID, nil)
	assert.Equal(t, map[string][]string{"upload_id": {"The upload must be completed before it can be submitted."}}, fieldErr(err))

	done := completedUpload(t, s, api, cases[1])
	_, err = api.Withdraw(ctx, done, "")
	assert.Equal(t, map[string][]string{"upload_id": {"Only a submitted upload can be withdrawn."}}, fieldErr(err))
	_, err = api.Submit(ctx, done, nil)
	require.NoError(t, err)
	_, err = api.Submit(ctx, done, nil)
	assert.Equal(t, map[string][]string{"upload_id": {"The upload must be completed before it can be submitted."}}, fieldErr(err), "a second submit")

	// Scope upload:manage is required.
	initOnly, err := s.IssueToken(ctx, uploadtoken.ScopeUploadInit)
	require.NoError(t, err)
	weak := &uploader.API{BaseURL: s.URL, APIKey: s.APIKey, Tokens: uploadtoken.StaticSource(initOnly), HTTPClient: s.Client()}
	_, err = weak.Withdraw(ctx, done, "x")
	assert.ErrorIs(t, err, uploadtoken.ErrUnauthorized)
	assert.ErrorContains(t, err, "Upload token does not have the upload:manage scope.")

	// Failure injection, and a 2xx that is not a success.
	s.Fail(auratest.EndpointWithdraw, auratest.Failure{Status: 503, Times: 1})
	_, err = api.Withdraw(ctx, done, "")
	var apiErr *uploadtoken.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 503, apiErr.StatusCode)
	s.Fail(auratest.EndpointWithdraw, auratest.Failure{Status: 200, Times: 1,
		Body: `{"success":false,"upload_id":"` + done + `","status":"submitted","message":"Locked by aubt_` + "abcdefghij\"}"})
	res, err := api.Withdraw(ctx, done, "")
	require.ErrorIs(t, err, uploader.ErrRefused)
	assert.NotContains(t, err.Error(), "abcdefghij", "a token-shaped text is redacted")
	assert.Equal(t, "submitted", res.Status)
	s.Fail(auratest.EndpointWithdraw, auratest.Failure{Status: 200, Times: 1, Body: `[]`})
	_, err = api.Withdraw(ctx, done, "")
	require.ErrorIs(t, err, uploader.ErrRefused)
	_, err = api.Withdraw(ctx, done, "")
	require.NoError(t, err, "the injected failures were used up")

	_, err = api.Submit(ctx, "", nil)
	assert.EqualError(t, err, "uploader: empty upload id")
	_, err = api.Submit(ctx, done, map[string]any{"bad": make(chan int)})
	assert.ErrorContains(t, err, "uploader: submit: metadata:")
}

// uploadZip sends a small body to s's Tus server with the "upload_id"
// metadata of uploadID, as the engine would, so that complete is accepted.
func uploadZip(t *testing.T, s *auratest.Server, uploadID string) {
	t.Helper()
	ctx := context.Background()
	api := &uploader.API{BaseURL: s.URL, APIKey: s.APIKey, HTTPClient: s.Client(), Tokens: uploadtoken.SourceFunc(func(ctx context.Context) (*uploadtoken.Token, error) {
		return s.IssueToken(ctx)
	})}
	cfg, err := api.Config(ctx)
	require.NoError(t, err)
	body := "PK\x05\x06" + strings.Repeat("\x00", 18) // an empty zip
	send := func(method, url string, h map[string]string, b string) *http.Response {
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(b))
		require.NoError(t, err)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+cfg.Lift.Token)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := s.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := send(http.MethodPost, cfg.Lift.Endpoint, map[string]string{
		"Upload-Length":   strconv.Itoa(len(body)),
		"Upload-Metadata": "upload_id " + base64.StdEncoding.EncodeToString([]byte(uploadID)),
	}, "")
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	resp = send(http.MethodPatch, resp.Header.Get("Location"), map[string]string{
		"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
	}, body)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}
