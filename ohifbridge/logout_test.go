package ohifbridge_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/ohifbridge"
)

func TestEndSession(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ohifbridge.Proxy, nil)
	logout := func(c *oidcClient, v url.Values) *http.Response {
		return w.get(c.endpoint("end_session_endpoint")+"?"+v.Encode(), "")
	}

	t.Run("registered post-logout URI", func(t *testing.T) {
		c, tok := w.login()
		resp := logout(c, url.Values{"id_token_hint": {tok["id_token"].(string)}, "post_logout_redirect_uri": {ohifLogout}, "state": {"s1"}})
		require.Equal(t, http.StatusFound, resp.StatusCode)
		assert.Equal(t, ohifLogout+"?state=s1", resp.Header.Get("Location"))
		status, _ := c.userinfo(tok["access_token"].(string))
		assert.Equal(t, http.StatusUnauthorized, status, "the session is revoked")
	})
	t.Run("unregistered post-logout URI", func(t *testing.T) {
		c, tok := w.login()
		resp := logout(c, url.Values{"id_token_hint": {tok["id_token"].(string)}, "post_logout_redirect_uri": {"http://evil.test/"}})
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Empty(t, resp.Header.Get("Location"))
		body := readBody(resp)
		assert.Contains(t, body, "Signed out")
		assert.Contains(t, body, w.kheopsU+"/albums/", "a link back to the KHEOPS album")
		status, _ := c.userinfo(tok["access_token"].(string))
		assert.Equal(t, http.StatusUnauthorized, status)
	})
	t.Run("a hint the bridge did not sign revokes nothing", func(t *testing.T) {
		c, tok := w.login()
		idt := tok["id_token"].(string)
		forged := idt[:len(idt)-4] + "AAAA"
		resp := logout(c, url.Values{"id_token_hint": {forged}})
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		status, _ := c.userinfo(tok["access_token"].(string))
		assert.Equal(t, http.StatusOK, status)
	})
}
