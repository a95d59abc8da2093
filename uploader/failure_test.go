package uploader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// TestTusFailure: when Tus fails, Aura hears error with the real cause
// (method, status, server text) and never complete; the partial upload is
// deleted and nothing is left in the state directory.
func TestTusFailure(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		failure auratest.Failure
		message string // prefix of the /error message
		status  int    // the *tusclient.HTTPError status, 0 for a network error
		posts   int    // creation attempts
	}{
		{"PATCH 500 until the retries run out", auratest.Failure{Method: "PATCH", Status: 500},
			"tus PATCH failed: 500 Internal Server Error: ERR_INJECTED", 500, 1},
		{"creation refused", auratest.Failure{Method: "POST", Status: 403, Body: "lift token not accepted here"},
			"tus POST failed: 403 Forbidden: lift token not accepted here", 403, 1},
		{"upload too large", auratest.Failure{Method: "POST", Status: 413, Body: "ERR_MAX_SIZE_EXCEEDED"},
			"tus POST failed: 413 Request Entity Too Large: ERR_MAX_SIZE_EXCEEDED", 413, 1},
		{"connection dropped on every PATCH", auratest.Failure{Method: "PATCH", Abort: true},
			"tus upload failed: ", 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			aura := auratest.NewServer()
			t.Cleanup(aura.Close)
			stateDir := t.TempDir()
			u, rec := newUploader(t, aura, stateDir)
			aura.Fail(auratest.EndpointTus, c.failure)
			_, err := u.Upload(context.Background(), sampleDir)
			require.Error(t, err)
			var he *tusclient.HTTPError
			if c.status != 0 {
				require.ErrorAs(t, err, &he)
				assert.Equal(t, c.status, he.StatusCode)
			} else {
				assert.False(t, errors.As(err, &he), "a network error, not an HTTPError: %v", err)
			}
			assert.NotErrorIs(t, err, uploader.ErrResumable, "a failure Aura was told about is not resumable")
			calls := lifecycle(aura)
			assert.Zero(t, count(calls, "complete"), "calls %q", compact(calls))
			assert.Equal(t, 1, count(calls, "error"), "calls %q", compact(calls))
			assert.Equal(t, c.posts, count(calls, "tus POST"), "calls %q", compact(calls))
			sessions := aura.Sessions()
			require.Len(t, sessions, 1)
			assert.Equal(t, []string{"initialized", "started", "failed"}, sessions[0].States)
			msg := sessions[0].Message
			assert.True(t, strings.HasPrefix(msg, c.message), "error message %q, want it to start with %q", msg, c.message)
			assert.NotContains(t, msg, "uploader:")
			assert.NotContains(t, msg, sampleDir, "a local path")
			assert.True(t, strings.HasPrefix(body(t, aura, auratest.EndpointError), `{"upload_id":"`+sessions[0].UploadID+`","message":`),
				"error body %s", body(t, aura, auratest.EndpointError))
			if up, ok := aura.Upload(sessions[0].UploadID); ok && c.status != 403 && c.status != 413 {
				assert.True(t, up.Terminated, "the failed tus upload was not deleted: %+v", up)
			}
			assert.Len(t, rec.errs, 1)
			require.NotEmpty(t, rec.states)
			assert.Equal(t, uploader.StateFailed, rec.states[len(rec.states)-1])
			assert.Empty(t, rec.completes)
			assert.Empty(t, stateFiles(t, stateDir), "state left behind")
		})
	}
}

// TestCancelBeforeInit: a context that ends before anything was announced
// (here just before init) sends nothing at all: there is nothing to pause,
// and the upload ends cancelled.
func TestCancelBeforeInit(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	u, rec := newUploader(t, aura, t.TempDir())
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	s, err := u.Prepare(ctx, sampleDir)
	require.NoError(t, err)
	rec.onState = func(st uploader.State) {
		if st == uploader.StateInitializing {
			stop()
		}
	}
	_, err = s.Upload(ctx)
	require.ErrorIs(t, err, uploader.ErrCancelled)
	assert.ErrorIs(t, err, context.Canceled, "the cause")
	assert.NotErrorIs(t, err, uploader.ErrResumable)
	assert.Equal(t, []string{"config"}, lifecycle(aura), "only config")
	assert.Equal(t, 1, rec.cancels)
	p, err := u.Pending()
	require.NoError(t, err)
	assert.Empty(t, p)
}

// TestLifecycleRetries: init, start and complete survive a 503 or a dropped
// connection; a repeated call whose first attempt was applied but whose
// answer was lost (Aura then says "already started") counts as done.
func TestLifecycleRetries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		ep     auratest.Endpoint
		fail   auratest.Failure
		lose   string // path whose first answer is lost after the server applied it
		states []string
	}{
		{"init 503", auratest.EndpointInit, auratest.Failure{Status: 503, Times: 1, Header: http.Header{"Retry-After": {"0"}}}, "", nil},
		{"start dropped", auratest.EndpointStart, auratest.Failure{Abort: true, Times: 1}, "", nil},
		{"complete 502", auratest.EndpointComplete, auratest.Failure{Status: 502, Times: 1}, "", nil},
		{"init answer lost", "", auratest.Failure{}, "/uploader/upload/init", nil},
		{"start answer lost", "", auratest.Failure{}, "/uploader/upload/start", nil},
		{"complete answer lost", "", auratest.Failure{}, "/uploader/upload/complete", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			aura := auratest.NewServer()
			t.Cleanup(aura.Close)
			u, _ := newUploader(t, aura, "")
			if c.ep != "" {
				aura.Fail(c.ep, c.fail)
			}
			if c.lose != "" {
				u.API.HTTPClient = &http.Client{Transport: &loseAnswer{base: aura.Client().Transport, path: c.lose}}
			}
			res, err := u.Upload(context.Background(), sampleDir)
			require.NoError(t, err)
			ss, _ := aura.Session(res.UploadID)
			assert.Equal(t, []string{"initialized", "started", "completed"}, ss.States)
			calls := lifecycle(aura)
			for _, name := range []string{"init", "start", "complete"} {
				want := 1
				if strings.HasSuffix(string(c.ep), name) || strings.HasSuffix(c.lose, name) {
					want = 2
				}
				assert.Equal(t, want, count(calls, name), "%s: %q", name, compact(calls))
			}
			checkZip(t, aura, res.UploadID, expectedEntries(t, sampleDir, sampleFiles))
		})
	}
}

// loseAnswer forwards the first request to path, then drops its answer, as
// when the network fails after the server acted.
type loseAnswer struct {
	base http.RoundTripper
	path string
	done atomic.Bool
}

func (l *loseAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err == nil && strings.HasSuffix(req.URL.Path, l.path) && l.done.CompareAndSwap(false, true) {
		resp.Body.Close()
		return nil, errors.New("connection reset by peer (simulated)")
	}
	return resp, err
}

// TestRefusals: answers that end the upload before any byte moves.
func TestRefusals(t *testing.T) {
	t.Parallel()
	t.Run("init refused: Aura holds no upload to report on", func(t *testing.T) {
		t.Parallel()
		aura := auratest.NewServer()
		t.Cleanup(aura.Close)
		u, rec := newUploader(t, aura, t.TempDir())
		aura.Fail(auratest.EndpointInit, auratest.Failure{Status: 422, Body: `{"message":"The studies field is required.","errors":{"studies":["The studies field is required."]}}`})
		_, err := u.Upload(context.Background(), sampleDir)
		var ae *uploadtoken.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, 422, ae.StatusCode)
		assert.Equal(t, "The studies field is required.", ae.Message)
		assert.Equal(t, []string{"config", "init"}, lifecycle(aura))
		assert.Len(t, rec.errs, 1, "OnError calls")
	})
	t.Run("start refused: reported as error", func(t *testing.T) {
		t.Parallel()
		aura := auratest.NewServer()
		t.Cleanup(aura.Close)
		u, _ := newUploader(t, aura, "")
		aura.Fail(auratest.EndpointStart, auratest.Failure{Status: 403, Body: `{"message":"This action is unauthorized."}`})
		_, err := u.Upload(context.Background(), sampleDir)
		require.ErrorIs(t, err, uploadtoken.ErrForbidden)
		assert.Equal(t, []string{"config", "init", "start", "error"}, lifecycle(aura))
		ss := aura.Sessions()[0]
		assert.Equal(t, "aura api POST /api/uploader/upload/start failed: 403 This action is unauthorized.", ss.Message)
	})
	t.Run("bad config", func(t *testing.T) {
		t.Parallel()
		aura := auratest.NewServer()
		t.Cleanup(aura.Close)
		u, rec := newUploader(t, aura, "")
		aura.Fail(auratest.EndpointConfig, auratest.Failure{Status: 200, Body: `{"lift":{"endpoint":"https://tus.example.com/files/","token":"x"},"mode":"bulk"}`})
		_, err := u.Upload(context.Background(), sampleDir)
		require.ErrorIs(t, err, uploader.ErrServerConfig)
		assert.Contains(t, err.Error(), "Server config missing or invalid lift.bucket")
		assert.Equal(t, []uploader.State{uploader.StateConnecting, uploader.StateFailed}, rec.states)
		assert.Len(t, rec.errs, 1)
	})
	t.Run("no DICOM", func(t *testing.T) {
		t.Parallel()
		aura := auratest.NewServer()
		t.Cleanup(aura.Close)
		u, _ := newUploader(t, aura, "")
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o600))
		_, err := u.Upload(context.Background(), dir)
		require.ErrorIs(t, err, uploader.ErrNoStudies)
		assert.Contains(t, err.Error(), "among 1 files (1 skipped")
		assert.Equal(t, []string{"config"}, lifecycle(aura))
	})
}

// TestNoSecretInFailures: the error returned, the message sent to Aura
// and every log line of a failed upload are free of the lift token, the
// upload token and the API key, even when the Tus server echoes them.
func TestNoSecretInFailures(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	u, _ := newUploader(t, aura, "")
	u.Logger = logger
	lift := &liftCapture{base: aura.Client().Transport}
	u.API.HTTPClient = &http.Client{Transport: lift}
	tok, err := u.API.Tokens.Token(context.Background())
	require.NoError(t, err)
	// The Tus server answers with the credentials in its body; the lift
	// token is only known once config was fetched, so it is echoed by a
	// transport.
	u.TusHTTPClient = &http.Client{Transport: echoAuth{base: aura.Client().Transport}}
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Status: 400, Body: "bad key " + aura.APIKey + " for token " + tok.Value})
	_, uerr := u.Upload(context.Background(), sampleDir)
	require.Error(t, uerr, "upload succeeded")
	ss := aura.Sessions()[0]
	mu.Lock()
	text := fmt.Sprintf("%v\n%+v\n%s\n%s", uerr, uerr, ss.Message, logs.String())
	mu.Unlock()
	require.Contains(t, text, "uploader: upload failed", "the scenario did not run as intended")
	require.NotEmpty(t, ss.Message, "the scenario did not run as intended")
	for name, secret := range map[string]string{"lift token": lift.get(), "API key": aura.APIKey, "upload token": tok.Value} {
		require.NotEmpty(t, secret, "%s unknown", name)
		assert.NotContains(t, text, secret, "%s leaked", name)
		assert.NotContains(t, text, secret[len(secret)-16:], "%s leaked", name)
	}
}

// echoAuth makes the Tus server's error bodies repeat the Authorization
// header, as a careless server might.
type echoAuth struct{ base http.RoundTripper }

func (e echoAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := e.base.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	resp.Body.Close()
	msg := "denied for " + req.Header.Get("Authorization")
	resp.Body = ioNopCloser(strings.NewReader(msg))
	resp.ContentLength = int64(len(msg))
	return resp, nil
}

// TestCancelWhilePreparing: a context that ends before the upload was
// announced (here while the config is fetched, as by Ctrl-C during a long
// scan) leaves nothing to pause: ErrCancelled and StateCancelled, not a
// failure, and nothing is sent to Aura.
func TestCancelWhilePreparing(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	u, rec := newUploader(t, aura, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec.onState = func(st uploader.State) {
		if st == uploader.StateConnecting {
			cancel()
		}
	}
	_, err := u.Upload(ctx, sampleDir)
	require.ErrorIs(t, err, uploader.ErrCancelled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, rec.cancels)
	assert.Empty(t, rec.errs)
	require.NotEmpty(t, rec.states)
	assert.Equal(t, uploader.StateCancelled, rec.states[len(rec.states)-1])
	assert.Empty(t, lifecycle(aura), "no call")
}

// TestNoConnectionLeftOpen: with TusHTTPClient nil each upload (and each
// Cancel) has its own Tus transport; once it returns, no keep-alive
// connection of that transport is left open, with its goroutines, for the
// transport's idle timeout (90 s). Not parallel: it counts goroutines.
func TestNoConnectionLeftOpen(t *testing.T) {
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	tok, err := aura.IssueToken(context.Background())
	require.NoError(t, err)
	tr := &http.Transport{}
	stateDir := t.TempDir()
	newU := func() *uploader.Uploader {
		return &uploader.Uploader{StateDir: stateDir, API: &uploader.API{BaseURL: aura.URL, APIKey: aura.APIKey,
			HTTPClient: &http.Client{Transport: tr}, Tokens: uploadtoken.StaticSource(tok)}}
	}
	ignore := []goleak.Option{goleak.IgnoreCurrent(),
		goleak.IgnoreTopFunction("github.com/tus/tusd/v2/pkg/handler.newDelayedContext.func1")}

	_, err = newU().Upload(context.Background(), sampleDir)
	require.NoError(t, err)
	tr.CloseIdleConnections() // the API client's, which the test owns
	assert.NoError(t, goleak.Find(ignore...), "after Upload")

	u := newU()
	id := pauseDuringTransfer(t, aura, u, sampleDir)
	require.NoError(t, u.Cancel(context.Background(), id))
	tr.CloseIdleConnections()
	assert.NoError(t, goleak.Find(ignore...), "after a pause and Cancel")
}
