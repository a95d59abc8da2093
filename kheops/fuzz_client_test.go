package kheops_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/kheops"
)

type fixed struct {
	status int
	body   []byte
	total  string
}

func (f fixed) RoundTrip(r *http.Request) (*http.Response, error) {
	h := http.Header{"Content-Type": {"application/json"}}
	if f.total != "" {
		h.Set("X-Total-Count", f.total)
	}
	return &http.Response{StatusCode: f.status, Header: h, Body: io.NopCloser(bytes.NewReader(f.body)), Request: r}, nil
}

// FuzzResponses feeds every response parser of the client (albums,
// capabilities, webhooks, events, users, report providers, the token and
// metadata answers, the three error shapes, X-Total-Count) hostile bodies:
// no panic, and every failure is a *kheops.Error or wraps
// ErrMalformedResponse, and never contains the token.
func FuzzResponses(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "rest", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(200, b, "2")
		f.Add(400, b, "")
	}
	f.Add(200, []byte(`{"created_time":"2024-13-45T99:99:99.1234567890","expiration_time":"x[","album":null}`), "-1")
	f.Add(204, []byte(``), "0")
	f.Fuzz(func(t *testing.T, status int, body []byte, total string) {
		if status < 100 || status > 599 {
			return
		}
		c, err := kheops.New(kheops.Config{URL: "https://kheops.example", Token: kheops.StaticToken(userToken),
			HTTPClient: &http.Client{Transport: fixed{status, body, total}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		check := func(err error) {
			if err == nil {
				return
			}
			var ke *kheops.Error
			if !errors.As(err, &ke) && !errors.Is(err, kheops.ErrMalformedResponse) {
				t.Fatalf("unexpected error type: %v", err)
			}
			if strings.Contains(err.Error(), userToken) {
				t.Fatal("token in error")
			}
		}
		_, err = c.Album(ctx, "Ab12Cd34Ef", true)
		check(err)
		_, err = c.Albums(kheops.AlbumQuery{}).Page(ctx, 10, 0)
		check(err)
		_, err = c.Capability(ctx, "Cap0123456")
		check(err)
		_, err = c.Capabilities("", "", false).Page(ctx, 0, 0)
		check(err)
		_, err = c.Webhook(ctx, "Ab12Cd34Ef", "Wh0123456789abcdefgh")
		check(err)
		_, err = c.AlbumEvents("Ab12Cd34Ef", true, true).Page(ctx, 0, 0)
		check(err)
		_, err = c.LookupUser(ctx, "bob")
		check(err)
		_, err = c.ReportProviders("Ab12Cd34Ef").Page(ctx, 0, 0)
		check(err)
		_, err = c.InboxInfo(ctx)
		check(err)
		_, err = c.ViewerToken(ctx, "2.25.1", kheops.Place{}, false)
		check(err)
		_, _, err = c.CheckReportProvider(ctx, "https://rp.example/conf")
		check(err)
	})
}
