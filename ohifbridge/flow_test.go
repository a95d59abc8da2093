package ohifbridge_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/ohifbridge"
)

// TestFlow runs what OHIF does, in both modes: launch, login initiation,
// discovery, authorization with PKCE, token, id_token, userinfo, DICOMweb
// reads (and a STOW in proxy mode), refresh rotation, and revocation.
func TestFlow(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, mode, nil)

			// Launch: a redirect to OHIF's login initiation, iss verbatim,
			// a login_hint of the bridge's own, the viewer URL with the study.
			loc := w.launch()
			assert.Equal(t, ohifLogin, loc.Scheme+"://"+loc.Host+loc.Path)
			q := loc.Query()
			assert.Equal(t, w.issuer, q.Get("iss"))
			assert.Equal(t, ohifOrigin+"/viewer?StudyInstanceUIDs="+studyUID, q.Get("target_link_uri"))
			hint := q.Get("login_hint")
			assert.Len(t, hint, 43)
			assert.NotContains(t, loc.String(), "eyJ", "no KHEOPS code or token in the URL")

			// Discovery.
			c := w.newClient()
			for name, want := range map[string]any{
				"issuer":                 w.issuer,
				"authorization_endpoint": w.issuer + "/authorize",
				"token_endpoint":         w.issuer + "/token",
				"userinfo_endpoint":      w.issuer + "/userinfo",
				"jwks_uri":               w.issuer + "/jwks",
				"revocation_endpoint":    w.issuer + "/revoke",
				"end_session_endpoint":   w.issuer + "/logout",
			} {
				assert.Equal(t, want, c.meta[name], name)
			}
			for name, want := range map[string][]any{
				"response_types_supported":              {"code"},
				"grant_types_supported":                 {"authorization_code", "refresh_token"},
				"code_challenge_methods_supported":      {"S256"},
				"token_endpoint_auth_methods_supported": {"none"},
				"id_token_signing_alg_values_supported": {"RS256"},
			} {
				assert.Equal(t, want, c.meta[name], name)
			}

			// Authorization and token.
			code := c.code(hint)
			status, tok := c.redeem(code, c.verifier)
			require.Equal(t, http.StatusOK, status, "%v", tok)
			assert.Equal(t, "Bearer", tok["token_type"])
			assert.Equal(t, "openid profile", tok["scope"])
			at, _ := tok["access_token"].(string)
			rt, _ := tok["refresh_token"].(string)
			require.NotEmpty(t, at)
			require.NotEmpty(t, rt)
			exp, _ := tok["expires_in"].(float64)
			if mode == ohifbridge.Proxy {
				assert.Len(t, at, 43, "a bridge token, not the KHEOPS token")
				assert.InDelta(t, 300, exp, 2)
			} else {
				assert.True(t, strings.HasPrefix(at, "eyJ"), "the KHEOPS token")
				assert.InDelta(t, 3600, exp, 5)
			}

			// id_token: RS256 with the published key, the nonce, sub = userinfo's.
			claims := c.idClaims(tok["id_token"].(string))
			assert.Equal(t, "u-jane", claims["sub"])
			assert.Equal(t, c.nonce, claims["nonce"])
			assert.Equal(t, "Jane Reader", claims["name"])
			assert.NotEmpty(t, claims["sid"])
			status, ui := c.userinfo(at)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, map[string]any{"sub": "u-jane", "name": "Jane Reader", "email": "jane@example.org"}, ui)

			// DICOMweb reads.
			root := w.dicomwebRoot()
			resp, body := w.dicomweb(http.MethodGet, root+"/studies", at, "", nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			assert.Contains(t, body, studyUID)
			resp, body = w.dicomweb(http.MethodGet, root+"/studies/"+studyUID+"/series", at, "", nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			assert.Contains(t, body, "T1 axial")
			resp, body = w.dicomweb(http.MethodGet, root+"/studies/"+studyUID+"/metadata", at, "", nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			assert.Contains(t, body, seriesUID)
			if mode == ohifbridge.Proxy {
				assert.Equal(t, ohifOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
				// A STOW of a new series (a report) into the launched study.
				ct, stow := stowBody(t, kheopstest.NewInstance(kheopstest.InstanceSpec{
					StudyUID: studyUID, SeriesUID: studyUID + ".9", SOPInstanceUID: studyUID + ".9.1",
					Modality: "SR", PatientID: "P1", PatientName: "Doe^Jane"}))
				resp, body = w.dicomweb(http.MethodPost, root+"/studies/"+studyUID, at, ct, stow)
				require.Equal(t, http.StatusOK, resp.StatusCode, body)
				assert.Len(t, w.kheops.Instances(studyUID), 2)
			}

			// Refresh rotates; the old refresh token is spent.
			status, tok2 := c.refresh(rt)
			require.Equal(t, http.StatusOK, status, "%v", tok2)
			rt2, _ := tok2["refresh_token"].(string)
			at2, _ := tok2["access_token"].(string)
			assert.NotEqual(t, rt, rt2)
			if mode == ohifbridge.Proxy {
				assert.NotEqual(t, at, at2)
			} else {
				assert.Equal(t, at, at2, "direct mode: the same KHEOPS token")
			}
			claims2 := c.idClaims(tok2["id_token"].(string))
			assert.Equal(t, claims["sub"], claims2["sub"])
			assert.Equal(t, claims["auth_time"], claims2["auth_time"])
			assert.NotContains(t, claims2, "nonce")
			status, _ = c.userinfo(at2)
			assert.Equal(t, http.StatusOK, status)

			// Revocation ends the session: every token stops working.
			status, _, h := c.post("revocation_endpoint", url.Values{"token": {rt2}, "token_type_hint": {"refresh_token"}, "client_id": {clientID}})
			assert.Equal(t, http.StatusOK, status)
			assert.Equal(t, ohifOrigin, h.Get("Access-Control-Allow-Origin"))
			status, _ = c.userinfo(at2)
			assert.Equal(t, http.StatusUnauthorized, status)
			status, out := c.refresh(rt2)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", out["error"])
			if mode == ohifbridge.Proxy {
				resp, _ = w.dicomweb(http.MethodGet, root+"/studies", at2, "", nil)
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			}
		})
	}
}
