package auraclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secretValue = "aubt_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz01"

func response(status int, header http.Header) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	u, _ := url.Parse("https://user:pw@aura.example.com/api/auth/exchange?sig=1")
	return &http.Response{StatusCode: status, Header: header, Request: &http.Request{Method: "POST", URL: u}}
}

func TestNewErrorBodies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		body   string
		msg    string
		fields map[string][]string
	}{
		{"laravel validation keeps field order", `{"message":"The ttl field must be an integer. (and 2 more errors)","errors":{"ttl":["The ttl field must be an integer."],"scopes":["The selected scopes.0 is invalid.","The selected scopes.1 is invalid."]}}`,
			"The ttl field must be an integer., The selected scopes.0 is invalid., The selected scopes.1 is invalid.",
			map[string][]string{"ttl": {"The ttl field must be an integer."}, "scopes": {"The selected scopes.0 is invalid.", "The selected scopes.1 is invalid."}}},
		{"validation reversed order", `{"errors":{"z":["last"],"a":["first"]}}`, "last, first", map[string][]string{"z": {"last"}, "a": {"first"}}},
		{"validation string values", `{"errors":{"a":"one"}}`, "one", map[string][]string{"a": {"one"}}},
		{"empty errors fall back to message", `{"errors":{},"message":"Bad"}`, "Bad", nil},
		{"hmac error shape", `{"error":{"message":"Invalid signature"}}`, "Invalid signature", nil},
		{"error string", `{"error":"Unauthorized"}`, "Unauthorized", nil},
		{"plain message", `{"message":"Too Many Attempts."}`, "Too Many Attempts.", nil},
		{"error beats message", `{"message":"outer","error":{"message":"inner"}}`, "inner", nil},
		{"not json", `<html>bad gateway</html>`, "Unauthorized", nil},
		{"empty", ``, "Unauthorized", nil},
		{"array", `[1,2]`, "Unauthorized", nil},
		{"message not string", `{"message":42}`, "Unauthorized", nil},
		{"token echoed back is redacted", `{"message":"token ` + secretValue + ` expired"}`, "token [redacted] expired", nil},
		{"control characters", "{\"message\":\"a\\nb\\u0000c\"}", "a bc", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := NewError(response(401, nil), []byte(tc.body))
			assert.Equal(t, tc.msg, e.Message)
			assert.Equal(t, tc.fields, e.Fields)
			assert.Equal(t, 401, e.StatusCode)
			assert.Equal(t, "POST", e.Method)
			assert.Equal(t, "https://aura.example.com/api/auth/exchange", e.URL, "no user info, no query")
			assert.NotContains(t, e.Body, secretValue)
			assert.LessOrEqual(t, len(e.Body), 512)
		})
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	e := NewError(response(429, http.Header{"Retry-After": {"17"}}), []byte(`{"message":"Too Many Attempts."}`))
	assert.Equal(t, "aura api: POST https://aura.example.com/api/auth/exchange: 429 Too Many Requests: Too Many Attempts. (retry after 17s)", e.Error())
	assert.Equal(t, 17*time.Second, e.RetryAfter)
	assert.Equal(t, `{"message":"Too Many Attempts."}`, e.Body)
	assert.True(t, e.Temporary())
	assert.Equal(t, "aura api: POST https://aura.example.com/api/auth/exchange: 404 Not Found", NewError(response(404, nil), nil).Text())
	assert.False(t, NewError(response(422, nil), nil).Temporary())
	e = NewError(response(599, nil), nil)
	assert.Contains(t, e.Error(), "599")
	assert.Equal(t, "HTTP 599", e.Message)
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                    "",
		secretValue:           "aubt_…#" + Fingerprint(secretValue),
		"aura_au_service_key": "aura_au_…#" + Fingerprint("aura_au_service_key"),
		"aura_sk_secret":      "aura_sk_…#" + Fingerprint("aura_sk_secret"),
		"lift_abcdefgh":       "…#" + Fingerprint("lift_abcdefgh"),
	} {
		assert.Equal(t, want, Redact(in), in)
	}
	assert.Regexp(t, `^[0-9a-f]{8}$`, Fingerprint("x"))
	assert.Equal(t, "uploader.API{BaseURL:https://a/api APIKey:aura_au_…#"+Fingerprint("aura_au_k")+" x}", Describe("uploader.API", "https://a/api", "aura_au_k", " x"))
}

func TestConnCheckAndJoin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ base, key, want string }{
		{"", "k", "p: BaseURL is required"},
		{"https://a/api", "", "p: APIKey is required"},
		{"aura.example.com/api", "k", "p: BaseURL must be a valid URL: not an absolute http or https URL"},
		{"https://a/api?x=1", "k", "p: BaseURL must be a valid URL: must not have a query, fragment or user info"},
		{"https://u:p@a/api", "k", "p: BaseURL must be a valid URL: must not have a query, fragment or user info"},
		{"ftp://a/api", "k", "p: BaseURL must be a valid URL: not an absolute http or https URL"},
		{"https://a\x7f/api", "k", "p: BaseURL must be a valid URL: not a URL"},
	} {
		_, err := (&Conn{Pkg: "p", BaseURL: tc.base, APIKey: tc.key}).Check()
		assert.EqualError(t, err, tc.want, tc.base)
	}
	for base, want := range map[string]string{
		"https://aura.example.com/api":  "https://aura.example.com/api/auth/exchange",
		"https://aura.example.com/api/": "https://aura.example.com/api/auth/exchange",
		"https://aura.example.com":      "https://aura.example.com/auth/exchange",
		"http://127.0.0.1:8080/a%20b/":  "http://127.0.0.1:8080/a%20b/auth/exchange",
	} {
		u, err := parseBaseURL(base)
		require.NoError(t, err)
		assert.Equal(t, want, joinURL(u, "/auth/exchange"), base)
	}
}

// TestConnDo checks the request Do sends and how it reports answers.
func TestConnDo(t *testing.T) {
	t.Parallel()
	var got *http.Request
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		gotBody = string(b[:n])
		if r.URL.Path == "/api/bad" {
			w.WriteHeader(422)
			_, _ = w.Write([]byte(`{"message":"nope","errors":{"upload_id":["nope"]}}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	c := &Conn{Pkg: "p", BaseURL: srv.URL + "/api/", APIKey: "k", HTTPClient: srv.Client()}
	data, err := c.Do(context.Background(), Request{Method: "POST", Path: "/x", Body: []byte(`{"a":1}`),
		Prepare: func(r *http.Request) error { r.Header.Set("X-Test", "1"); return nil }})
	require.NoError(t, err)
	assert.Equal(t, `{"ok":true}`, string(data))
	assert.Equal(t, "/api/x", got.URL.Path)
	assert.Equal(t, "application/json", got.Header.Get("Accept"))
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, "1", got.Header.Get("X-Test"))
	assert.Equal(t, `{"a":1}`, gotBody)

	_, err = c.Do(context.Background(), Request{Method: "GET", Path: "/x"})
	require.NoError(t, err)
	assert.Empty(t, got.Header.Get("Content-Type"), "no body, no Content-Type")

	_, err = c.Do(context.Background(), Request{Method: "GET", Path: "/bad"})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, map[string][]string{"upload_id": {"nope"}}, e.Fields)
	assert.True(t, strings.HasPrefix(err.Error(), "p: aura api: GET "+srv.URL+"/api/bad: 422"), err.Error())

	type wrapped struct{ error }
	c.Wrap = func(e *Error) error { return wrapped{e} }
	_, err = c.Do(context.Background(), Request{Method: "GET", Path: "/bad"})
	var w wrapped
	assert.ErrorAs(t, err, &w)
}

var credentialLike = regexp.MustCompile(`(aubt|aura_sk|aura_au)_[A-Za-z0-9_\-]{4,}`)

func FuzzNewError(f *testing.F) {
	for _, s := range []string{
		`{"errors":{"ttl":["a","b"],"scopes":["c"]}}`, `{"error":{"message":"x"}}`, `{"error":"y"}`,
		`{"message":"z"}`, `{"errors":[]}`, `{"errors":{"a":[1,null,"x"]}}`, `not json`, ``, `{"message":"` + secretValue + `"}`,
	} {
		f.Add([]byte(s), "5")
	}
	f.Fuzz(func(t *testing.T, body []byte, retry string) {
		for _, status := range []int{401, 422, 429} {
			e := NewError(response(status, http.Header{"Retry-After": {retry}}), body)
			require.NotEmpty(t, e.Message)
			require.LessOrEqual(t, len(e.Message), 512)
			require.LessOrEqual(t, len(e.Body), 512)
			require.True(t, e.RetryAfter >= 0 && e.RetryAfter <= 24*time.Hour, "RetryAfter %v", e.RetryAfter)
			require.Empty(t, credentialLike.FindString(e.Error()), "credential-like text survived in %q", e.Error())
			for k, v := range e.Fields {
				require.NotEmpty(t, v, "field %q without messages", k)
			}
		}
	})
}

// FuzzParseBaseURL: an accepted base URL is absolute http(s) with a host,
// without query, fragment or user info, and joining a path keeps it so.
func FuzzParseBaseURL(f *testing.F) {
	for _, s := range []string{"https://aura.example.com/api", "http://127.0.0.1:8080/api/", "aura.example.com/api", "https://u:p@h/api", "https://h/api?x#y", "", "ftp://h", "https://h/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, base string) {
		u, err := parseBaseURL(base)
		if err != nil {
			return
		}
		require.True(t, u.Scheme == "http" || u.Scheme == "https", base)
		require.NotEmpty(t, u.Host, base)
		require.Nil(t, u.User, base)
		require.Empty(t, u.RawQuery, base)
		require.Empty(t, u.Fragment, base)
		joined, err := url.Parse(joinURL(u, "/auth/exchange"))
		require.NoError(t, err)
		require.Equal(t, u.Host, joined.Host)
		require.True(t, strings.HasSuffix(joined.Path, "/auth/exchange"), joined.Path)
	})
}
