package reportprovider_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/reportprovider"
)

// Run with:
//
//	go test ./reportprovider -run '^$' -bench . -benchmem

func BenchmarkParseLaunch(b *testing.B) {
	q, _ := url.ParseQuery("code=eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2RlbW8ua2hlb3BzLm9ubGluZSJ9.c2lnbmF0dXJl" +
		"&conf_uri=https%3A%2F%2Fdemo.kheops.online%2Fapi%2F.well-known%2Freport-provider-configuration" +
		"&client_id=Ya7IHXuubSsv9PJy9GXifx&return_uri=https://demo.kheops.online/albums/M1qJb98LJe" +
		"&studyUID=1.3.6.1.4.1.5962.1.2.0.1175775772.5729.0&studyUID=1.3.6.1.4.1.5962.1.2.0.1175775772.5729.1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reportprovider.ParseLaunch(q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCodeFlow measures one whole code-flow launch as the provider
// sees it, against the fake KHEOPS on loopback: configuration (cached),
// code exchange with a fresh RS256 assertion, introspection and userinfo.
// The KHEOPS side (fake) is included in the time.
func BenchmarkCodeFlow(b *testing.B) {
	e := newEnv(b, envOptions{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		e.clock.Advance(time.Second) // a new code
		l, err := reportprovider.ParseLaunch(mustQuery(b, e.launch(e.alice, e.clientID, study1)))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := e.provider.Complete(ctx, l); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQIDOSeries(b *testing.B) {
	e := newEnv(b, envOptions{})
	s, err := e.follow(e.launch(e.alice, e.clientID, study1))
	if err != nil {
		b.Fatal(err)
	}
	dw := s.DICOMweb(&http.Client{Transport: e.transport})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dw.SearchSeries(ctx, study1, nil); err != nil {
			b.Fatal(err)
		}
	}
}
