package ohifbridge

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzParseToken: any form either fails with an OAuth error or yields a
// request that has what its grant needs.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{
		"grant_type=authorization_code&code=c&redirect_uri=http%3A%2F%2Fo%2Fcb&client_id=ohif&code_verifier=" + strings.Repeat("a", 43),
		"grant_type=refresh_token&refresh_token=r&client_id=ohif&scope=openid",
		"grant_type=authorization_code&grant_type=refresh_token",
		"grant_type=password&username=u",
		"grant_type=authorization_code&code=c&client_secret=s",
		"%zz", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, form string) {
		v, err := url.ParseQuery(form)
		if err != nil {
			return
		}
		tr, oe := parseToken(v)
		if oe != nil {
			if tr != nil || oe.code == "" {
				t.Fatalf("error %v with a request", oe)
			}
			return
		}
		switch tr.GrantType {
		case "authorization_code":
			if tr.Code == "" || tr.RedirectURI == "" || tr.ClientID == "" || !pkceChars(tr.Verifier) {
				t.Fatalf("accepted an incomplete code request: %+v", tr)
			}
		case "refresh_token":
			if tr.RefreshToken == "" || tr.ClientID == "" {
				t.Fatalf("accepted an incomplete refresh request: %+v", tr)
			}
		default:
			t.Fatalf("accepted grant_type %q", tr.GrantType)
		}
		for name, vals := range v {
			if len(vals) > 1 {
				t.Fatalf("accepted repeated %s", name)
			}
		}
	})
}

// FuzzParseAuthorize: an accepted authorization request always has an
// S256 challenge of the right shape and the openid scope.
func FuzzParseAuthorize(f *testing.F) {
	for _, s := range []string{
		"response_type=code&scope=openid&state=s&code_challenge=" + strings.Repeat("A", 43) + "&code_challenge_method=S256&login_hint=h",
		"response_type=code&scope=openid+profile&code_challenge=" + strings.Repeat("A", 43) + "&code_challenge_method=plain",
		"response_type=token&scope=openid",
		"response_type=code&response_mode=fragment&scope=openid",
		"state=a&state=b", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, form string) {
		v, err := url.ParseQuery(form)
		if err != nil {
			return
		}
		ar, oe := parseAuthorize(v, "ohif", "http://o/cb")
		if ar == nil {
			t.Fatal("no request returned: the error could not carry state")
		}
		if len(ar.State) > maxState {
			t.Fatal("state over the limit")
		}
		if oe != nil {
			return
		}
		if !pkceChars(ar.Challenge) || v.Get("code_challenge_method") != "S256" || v.Get("response_type") != "code" {
			t.Fatalf("accepted a request without S256 PKCE: %q", form)
		}
		if !strings.Contains(" "+ar.Scope+" ", " openid ") {
			t.Fatalf("accepted a scope without openid: %q", ar.Scope)
		}
	})
}

// FuzzProxyRoute: a path the proxy accepts stays under the DICOMweb root
// however the KHEOPS endpoint joins it.
func FuzzProxyRoute(f *testing.F) {
	for _, s := range []string{"studies", "studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5/frames/1,2", "wado", "studies/../token", "studies/%2e%2e", "albums", "studies//x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		methods := proxyRoute(rest)
		if methods == nil {
			return
		}
		u, err := url.Parse("https://kheops.example/api/" + rest)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse", rest)
		}
		if path.Clean(u.Path) != u.Path || !strings.HasPrefix(u.Path, "/api/studies") && u.Path != "/api/wado" {
			t.Fatalf("accepted %q, which leaves the DICOMweb root: %s", rest, u.Path)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("accepted %q, which adds a query or fragment", rest)
		}
	})
}
