package ohifbridge_test

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/ohifbridge"
)

// TestInstancesShareAStore: two bridges behind one URL, taking requests
// in turn, with one Store: hints, codes and refresh tokens issued by one
// are honoured, and spent, on the other.
func TestInstancesShareAStore(t *testing.T) {
	t.Parallel()
	shared := &failingStore{}
	w := newWorld(t, ohifbridge.Proxy, func(o *ohifbridge.Options) { o.Store = shared })
	second, err := ohifbridge.New(w.opts)
	require.NoError(t, err)
	handlers := []http.Handler{w.bridge.Handler(), second.Handler()}
	var n atomic.Uint64
	w.setHandler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		handlers[n.Add(1)%2].ServeHTTP(rw, r)
	}))

	c, tok := w.login()
	status, _ := c.userinfo(tok["access_token"].(string))
	assert.Equal(t, http.StatusOK, status)
	rt := tok["refresh_token"].(string)
	status, tok2 := c.refresh(rt)
	require.Equal(t, http.StatusOK, status)
	status, _ = c.refresh(rt) // on the other instance
	assert.Equal(t, http.StatusBadRequest, status)
	status, _ = c.userinfo(tok2["access_token"].(string))
	assert.Equal(t, http.StatusUnauthorized, status, "the reuse revoked the family on both instances")
}
