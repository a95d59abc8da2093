package share_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/share"
)

// A fixed clock and random source make the examples' output stable; real
// code leaves Now and Rand nil.
var (
	now     = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	zeroRNG = bytes.NewReader(make([]byte, 1<<10))
	secret  = []byte("0123456789abcdef0123456789abcdef") // use 32+ random bytes
)

func ExampleCodec_Mint() {
	codec, err := share.NewCodec(share.CodecConfig{Secret: secret, Now: now, Rand: zeroRNG})
	if err != nil {
		panic(err)
	}
	token, claims, err := codec.Mint(share.Claims{
		Type:      share.StoneViewerPublication,
		Resources: []share.Resource{{DicomUID: "1.2.840.113619.2.55.3", OrthancID: "6b9e19d9-62094390-5f9ddb01-4a191ae7-9766b715"}},
		ExpiresAt: now().Add(7 * 24 * time.Hour),
		ServerID:  "orthanc-public",
	})
	if err != nil {
		panic(err)
	}
	links := share.Links{OrthancRoot: "https://pacs.example.org/orthanc"} // no trailing slash needed
	url, err := links.URL(claims, token)
	if err != nil {
		panic(err)
	}
	fmt.Println(claims.Version, claims.TokenID, claims.ExpiresAt.Format(time.RFC3339))
	fmt.Println(strings.Replace(url, token, "<token>", 1))
	// Output:
	// v3 AAAAAAAAAAAAAAAAAAAAAA 2026-01-09T03:04:05Z
	// https://pacs.example.org/orthanc/stone-webviewer/index.html?study=1.2.840.113619.2.55.3&selectedStudies=1.2.840.113619.2.55.3&token=<token>
}

// Decoding a link of the orthanc-share README, signed in July 2022 with the
// demo secret "toto". Old secrets are accepted for verification only, and
// short ones only on request.
func ExampleCodec_Decode() {
	const readme = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6InRvdG8iLCJkaWNvbV91aWQiOiIxLjIiLCJvcnRoYW5jX2lkIjoiMDE5NWYxM2UtNGFmZTY4MjItOGI0OTRjYzQtNTE2MmM1MGQtMGRhZjY2YWEiLCJ0eXBlIjoib3NpbWlzLXZpZXdlci1wdWJsaWNhdGlvbiIsImV4cGlyYXRpb25fZGF0ZSI6IjIwMjItMDctMDdUMTE6MDA6MDArMDA6MDAifQ.8mzvYXCrjhM8OWPhu5HQJbEtCO9y6XyFqV-Ak1n-9Tw"
	codec, err := share.NewCodec(share.CodecConfig{
		Secret:                    secret,
		PreviousSecrets:           [][]byte{[]byte("toto")},
		AllowShortPreviousSecrets: true,
		Now:                       now,
	})
	if err != nil {
		panic(err)
	}
	claims, err := codec.Decode(readme)
	fmt.Println(err)
	fmt.Println(claims.Version, claims.Type, claims.Resources[0].DicomUID, claims.Resources[0].OrthancID)
	fmt.Println(claims.ExpiresAt)
	// Output:
	// share: token expired
	// v0 osimis-viewer-publication 1.2 0195f13e-4afe6822-8b494cc4-5162c50d-0daf66aa
	// 2022-07-07 11:00:00 +0000 UTC
}

// The token service, answering a validation request of the authorization
// plugin.
func ExampleService() {
	codec, _ := share.NewCodec(share.CodecConfig{Secret: secret, Now: now, Rand: zeroRNG})
	svc, err := share.NewService(share.Config{
		Codec:    codec,
		Users:    map[string]string{"orthanc": "change-this-password"},
		ServerID: "orthanc-public",
		Links:    share.Links{OrthancRoot: "https://pacs.example.org/orthanc/"},
	})
	if err != nil {
		panic(err)
	}
	token, _, _ := codec.Mint(share.Claims{
		Type:      share.StoneViewerPublication,
		Resources: []share.Resource{{DicomUID: "1.2.3", OrthancID: "0f1e2d3c-00000000-00000000-00000000-00000000"}},
		ExpiresAt: now().Add(30 * time.Second),
		ServerID:  "orthanc-public",
	})
	ask := func(method string) {
		body := `{"dicom-uid":"1.2.3","level":"study","method":"` + method + `","orthanc-id":"0f1e2d3c-00000000-00000000-00000000-00000000","server-id":"orthanc-public"}`
		req := httptest.NewRequest("POST", "/tokens/validate", strings.NewReader(body))
		req.SetBasicAuth("orthanc", "change-this-password")
		req.Header.Set("token", token)
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, req)
		out, _ := io.ReadAll(rec.Body)
		fmt.Println(method, rec.Code, string(out))
	}
	ask("get")
	ask("delete")
	// Output:
	// get 200 {"granted":true,"validity":30}
	// delete 200 {"granted":false,"validity":60}
}

func ExampleService_Check() {
	codec, _ := share.NewCodec(share.CodecConfig{Secret: secret, Now: now})
	svc, _ := share.NewService(share.Config{Codec: codec, AllowAnonymous: true})
	token, _, _ := codec.Mint(share.Claims{Type: share.OsimisViewerPublication, Resources: []share.Resource{{OrthancID: "study-a"}}})
	d := svc.Check(context.Background(), share.Access{Method: "get", Level: share.LevelStudy, OrthancID: "study-b", DicomUID: "9.9", Token: token})
	fmt.Println(d.Granted, d.Reason)
	// Output:
	// false share: resource not covered by token
}

func ExampleMemoryRevocations() {
	var store share.MemoryRevocations // the zero value is ready
	ctx := context.Background()
	_ = store.Revoke(ctx, "jti-123", time.Now().Add(time.Hour))
	revoked, _ := store.Revoked(ctx, "jti-123")
	fmt.Println(revoked)
	// Output: true
}

func ExampleOrthancClient() {
	// A stand-in for Orthanc's /tools/lookup, for the example only.
	orthanc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `[{"ID":"6b9e19d9-62094390-5f9ddb01-4a191ae7-9766b715","Path":"/studies/6b9e19d9-62094390-5f9ddb01-4a191ae7-9766b715","Type":"Study"}]`)
	}))
	defer orthanc.Close()
	oc := &share.OrthancClient{URL: orthanc.URL}
	r, err := oc.Complete(context.Background(), share.Resource{DicomUID: "1.2.840.113619.2.55.3"})
	fmt.Println(r.OrthancID, err)
	// Output: 6b9e19d9-62094390-5f9ddb01-4a191ae7-9766b715 <nil>
}
