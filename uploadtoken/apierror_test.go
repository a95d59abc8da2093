package uploadtoken

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func response(status int, header http.Header) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	u, _ := url.Parse("https://aura.example.com/api/auth/exchange")
	return &http.Response{StatusCode: status, Header: header, Request: &http.Request{Method: "POST", URL: u}}
}

func TestNewAPIErrorBodies(t *testing.T) {
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
		{"token echoed back is redacted", `{"message":"token ` + secretValue + ` expired"}`, "token aubt_…#" + Fingerprint(secretValue) + " expired", nil},
		{"control characters", "{\"message\":\"a\\nb\\u0000c\"}", "a bc", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := NewAPIError(response(401, nil), []byte(tc.body))
			if e.Message != tc.msg {
				t.Errorf("Message = %q, want %q", e.Message, tc.msg)
			}
			if !reflect.DeepEqual(e.Fields, tc.fields) {
				t.Errorf("Fields = %v, want %v", e.Fields, tc.fields)
			}
			if e.StatusCode != 401 || e.Method != "POST" || e.Path != "/api/auth/exchange" {
				t.Errorf("status/method/path = %d %s %s", e.StatusCode, e.Method, e.Path)
			}
		})
	}
}

func TestAPIErrorIs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		want   error
	}{{401, ErrUnauthorized}, {403, ErrForbidden}, {429, ErrRateLimited}} {
		err := fmt.Errorf("wrapped: %w", NewAPIError(response(tc.status, nil), nil))
		for _, s := range []error{ErrUnauthorized, ErrForbidden, ErrRateLimited} {
			if errors.Is(err, s) != (s == tc.want) {
				t.Errorf("status %d: errors.Is(%v) = %v", tc.status, s, !(s == tc.want))
			}
		}
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status {
			t.Errorf("errors.As failed for %d", tc.status)
		}
	}
	e := NewAPIError(response(500, nil), nil)
	if errors.Is(e, ErrUnauthorized) || !e.Temporary() || NewAPIError(response(422, nil), nil).Temporary() {
		t.Error("500/422 classification wrong")
	}
}

func TestAPIErrorText(t *testing.T) {
	t.Parallel()
	h := http.Header{"Retry-After": {"17"}}
	e := NewAPIError(response(429, h), []byte(`{"message":"Too Many Attempts."}`))
	want := "aura api: POST /api/auth/exchange: 429 Too Many Requests: Too Many Attempts. (retry after 17s)"
	if e.Error() != want {
		t.Fatalf("Error() = %q, want %q", e.Error(), want)
	}
	if e.RetryAfter != 17*time.Second {
		t.Fatalf("RetryAfter = %v", e.RetryAfter)
	}
	e = NewAPIError(response(404, nil), nil)
	if e.Error() != "aura api: POST /api/auth/exchange: 404 Not Found" {
		t.Fatalf("Error() = %q", e.Error())
	}
	e = NewAPIError(response(599, nil), nil)
	if !strings.Contains(e.Error(), "599") || e.Message != "HTTP 599" {
		t.Fatalf("unknown status: %q / %q", e.Error(), e.Message)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	date := "Wed, 21 Oct 2015 07:28:00 GMT"
	for _, tc := range []struct {
		v, date string
		want    time.Duration
	}{
		{"", "", 0},
		{"0", "", 0},
		{"-5", "", 0},
		{"60", "", time.Minute},
		{"999999999", "", 24 * time.Hour},
		{"Wed, 21 Oct 2015 07:28:30 GMT", date, 30 * time.Second},
		{"Wed, 21 Oct 2015 07:27:00 GMT", date, 0},
		{"soon", "", 0},
	} {
		if got := parseRetryAfter(tc.v, tc.date); got != tc.want {
			t.Errorf("parseRetryAfter(%q, %q) = %v, want %v", tc.v, tc.date, got, tc.want)
		}
	}
}

func FuzzNewAPIError(f *testing.F) {
	for _, s := range []string{
		`{"errors":{"ttl":["a","b"],"scopes":["c"]}}`, `{"error":{"message":"x"}}`, `{"error":"y"}`,
		`{"message":"z"}`, `{"errors":[]}`, `{"errors":{"a":[1,null,"x"]}}`, `not json`, ``, `{"message":"` + secretValue + `"}`,
	} {
		f.Add([]byte(s), "5")
	}
	f.Fuzz(func(t *testing.T, body []byte, retry string) {
		for _, status := range []int{401, 422, 429} {
			e := NewAPIError(response(status, http.Header{"Retry-After": {retry}}), body)
			if e.Message == "" {
				t.Fatal("empty message")
			}
			if len(e.Message) > maxMessage+len("…") {
				t.Fatalf("message too long: %d", len(e.Message))
			}
			if e.RetryAfter < 0 || e.RetryAfter > 24*time.Hour {
				t.Fatalf("RetryAfter %v", e.RetryAfter)
			}
			if leak := tokenLike.FindString(e.Error()); leak != "" {
				t.Fatalf("token-like text survived: %q in %q", leak, e.Error())
			}
			for k, v := range e.Fields {
				if len(v) == 0 {
					t.Fatalf("field %q without messages", k)
				}
			}
		}
	})
}
