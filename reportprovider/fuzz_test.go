package reportprovider

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/origin"
)

func FuzzParseLaunch(f *testing.F) {
	for _, s := range []string{
		"code=ey.a.b&conf_uri=https%3A%2F%2Fdemo.kheops.online%2Fapi%2F.well-known%2Freport-provider-configuration&client_id=Ya7IHXuubSsv9PJy9GXifx&return_uri=https://demo.kheops.online/albums/M1qJb98LJe&studyUID=1.2.3&studyUID=1.2.4",
		"access_token=ey.x.y&token_type=bearer&expires_in=3600&scope=read%20write&client_id=c1&conf_uri=https%3A%2F%2Fk%2Fapi&return_uri=https%3A%2F%2Fk%2Falbums%2FM1&studyUID=1.2.3",
		"code=c&code=d&conf_uri=x&client_id=c1",
		"code=&conf_uri=&client_id=",
		"access_token=t&token_type=BEARER&expires_in=99999999999999999999&conf_uri=x&client_id=c",
		"studyUID=1.2&studyUID=1.2&code=c&conf_uri=x&client_id=c",
		"%zz",
		"a=1;b=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		check := func(l *Launch) {
			switch l.Flow {
			case ResponseTypeCode:
				require.Falsef(t, !opaqueOK(string(l.Code)) || l.AccessToken != "", "code flow with bad code/token: %q %q", l.Code, l.AccessToken)
			case ResponseTypeToken:
				require.Falsef(t, !opaqueOK(string(l.AccessToken)) || l.Code != "" || !strings.EqualFold(l.tokenType, "bearer") || l.expiresIn < 0, "implicit flow with bad fields: %+v", l)
			default:
				t.Fatalf("flow %q", l.Flow)
			}
			require.Falsef(t, l.ConfURI == "" || len(l.ConfURI) > maxURILen || !clientIDPattern.MatchString(l.ClientID) || len(l.ReturnURI) > maxURILen, "bad fields: %+v", l)
			seen := map[string]bool{}
			for _, u := range l.StudyUIDs {
				require.Falsef(t, !validUID(u) || seen[u], "bad or repeated study UID %q", u)
				seen[u] = true
			}
		}
		if v, err := url.ParseQuery(raw); err == nil {
			if l, err := ParseLaunch(v); err == nil {
				check(l)
			}
		}
		if l, err := parseFragment(raw); err == nil {
			check(l)
			require.Equal(t, ResponseTypeToken, l.Flow, "fragment without a token accepted")
		}
	})
}

func FuzzConfiguration(f *testing.F) {
	f.Add([]byte(`{"redirect_uri":"https://rp.example/r","response_type":"code","token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_signing_alg":"RS256","jwks_uri":"https://rp.example/k"}`), "https://rp.example/c")
	f.Add([]byte(`{"redirect_uri":"http://rp.example:8443/r?x=1","response_type":"token"}`), "http://rp.example:8443/c")
	f.Add([]byte(`{"redirect_uri":"https://rp.example:443/r","response_type":"token"}`), "https://rp.example/c")
	f.Add([]byte(`{"redirect_uri":"https://RP.example/r","response_type":"token","contacts":["a"],"supported_modalities":["CT"]}`), "https://RP.example/c")
	f.Add([]byte(`null`), "")
	f.Fuzz(func(t *testing.T, data []byte, confURL string) {
		c, err := parseConfiguration(data, confURL)
		if err != nil {
			return
		}
		scheme, authority, err := originText(confURL)
		require.NoErrorf(t, err, "accepted for an invalid configuration URL %q", confURL)
		prefix := scheme + "://" + authority
		require.Falsef(t, !strings.HasPrefix(c.RedirectURI, prefix), "redirect_uri %q outside %q", c.RedirectURI, prefix)
		if rest := c.RedirectURI[len(prefix):]; rest != "" && !strings.ContainsAny(rest[:1], "/?") {
			t.Fatalf("redirect_uri %q extends the authority of %q", c.RedirectURI, prefix)
		}
		require.Falsef(t, c.ResponseType == ResponseTypeCode && !strings.HasPrefix(c.JWKSURI, prefix), "jwks_uri %q outside %q", c.JWKSURI, prefix)
		again, err := json.Marshal(c)
		require.NoError(t, err)
		if _, err := parseConfiguration(again, confURL); err != nil {
			t.Fatalf("re-encoded configuration rejected: %v", err)
		}
	})
}

func FuzzInstanceConfiguration(f *testing.F) {
	const root = "https://kheops.example/k"
	f.Add([]byte(`{"issuer":"https://kheops.example/k","dicomweb_endpoint":"https://kheops.example/k/api","token_endpoint":"https://kheops.example/k/api/token","introspection_endpoint":"https://kheops.example/k/api/token/introspect","userinfo_endpoint":"https://kheops.example/k/api/userinfo"}`))
	f.Add([]byte(`{"issuer":"https://kheops.example/k","dicomweb_endpoint":"https://kheops.example:443/k/api","token_endpoint":"https://KHEOPS.example/k/api/token","introspection_endpoint":"https://kheops.example/x","userinfo_endpoint":"https://kheops.example/u","jwks_uri":"https://evil.example/j"}`))
	f.Add([]byte(`{"issuer":"https://kheops.example/k","dicomweb_endpoint":"https://kheops.example@evil.example/k/api"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseInstanceConfiguration(data, root)
		if err != nil {
			return
		}
		require.Equalf(t, root, c.Issuer, "issuer %q", c.Issuer)
		for _, e := range []string{c.DICOMwebEndpoint, c.TokenEndpoint, c.IntrospectionEndpoint, c.UserinfoEndpoint, c.DICOMwebURIEndpoint, c.AuthorizationEndpoint, c.JWKSURI} {
			if e == "" {
				continue
			}
			u, err := url.Parse(e)
			require.Falsef(t, err != nil || origin.Of(u) != "https://kheops.example:443" || u.User != nil, "endpoint %q accepted", e)
		}
	})
}

func FuzzSafeReturnURI(f *testing.F) {
	is, err := newIssuer(Issuer{URL: "https://kheops.example/k"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("", "https://kheops.example/k/albums/Ab12")
	f.Add("Ab12Cd34Ef", "javascript:alert(1)")
	f.Add("", "https://kheops.example@evil.example/k/albums/x")
	f.Fuzz(func(t *testing.T, album, raw string) {
		got := safeReturnURI(is, album, raw)
		if got == is.URL {
			return
		}
		id, ok := strings.CutPrefix(got, is.URL+"/albums/")
		require.Falsef(t, !ok || !albumIDPattern.MatchString(id), "unsafe return URI %q", got)
	})
}
