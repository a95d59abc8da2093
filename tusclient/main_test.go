package tusclient_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"go.uber.org/goleak"

	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" { // the process TestProcessRestart kills
		fmt.Fprintln(os.Stderr, childUpload())
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

// fastRetry is a retry policy with short waits, so tests that inject
// faults finish quickly.
var fastRetry = tusclient.RetryPolicy{Delays: []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}}

// newTus starts a tustest server that is closed when the test ends.
func newTus(tb testing.TB, opts ...tustest.Option) *tustest.Server {
	tb.Helper()
	srv := tustest.NewServer(opts...)
	tb.Cleanup(srv.Close)
	return srv
}

// optIf returns o if on and no option otherwise, for tests that run
// against a server with and without a feature.
func optIf(on bool, o tustest.Option) []tustest.Option {
	if on {
		return []tustest.Option{o}
	}
	return nil
}

// randomData returns n deterministic pseudo-random bytes.
func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeFile writes data to a file in a temp dir and opens it.
func writeFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.bin")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	f, err := os.Open(p)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// newClient returns a client for srv (or for endpoint, if set) with fast
// retries; cfg fields set by the caller win.
func newClient(t *testing.T, srv *tustest.Server, cfg tusclient.Config) *tusclient.Client {
	t.Helper()
	if cfg.Endpoint == "" {
		cfg.Endpoint = srv.URL
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = srv.Client()
	}
	if cfg.Retry.Delays == nil {
		cfg.Retry = fastRetry
	}
	c, err := tusclient.New(cfg)
	require.NoError(t, err)
	return c
}

// assertStored checks the server holds exactly data at url.
func assertStored(t *testing.T, srv *tustest.Server, url string, data []byte) {
	t.Helper()
	got, err := srv.StoredSHA256(url)
	require.NoError(t, err, "stored file")
	require.Equal(t, sha(data), got, "stored SHA-256 (sent %d bytes)", len(data))
	info, err := srv.Info(url)
	require.NoError(t, err)
	require.EqualValues(t, len(data), info.Offset, "server offset")
	require.EqualValues(t, len(data), info.Size, "server size")
	require.True(t, info.Complete(), "server info %+v", info)
}

func parseInt(s string) (int64, error) {
	var n int64
	_, err := fmt.Sscan(s, &n)
	return n, err
}

// exists reports whether srv still knows the upload at url.
func exists(srv *tustest.Server, url string) bool {
	_, err := srv.Info(url)
	return err == nil
}

// stored reports whether store holds a record for fingerprint.
func stored(store tusclient.Store, fingerprint string) bool {
	_, ok, _ := store.Get(context.Background(), fingerprint)
	return ok
}
