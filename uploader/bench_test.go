package uploader_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// Run: go test ./uploader -run '^$' -bench . -benchmem

// A large init: 100 studies of 10 series.
func BenchmarkInitBody(b *testing.B) {
	req := uploader.InitRequest{UploadID: "5c0e6c2a-1f3b-4e0a-9d6b-3f2a1b4c5d6e"}
	for i := 0; i < 100; i++ {
		st := uploader.Study{UID: "1.2.840.10008.9." + strconv.Itoa(i), Description: "CT CHEST", PatientName: "DOE^JOHN",
			Date: "20240101", Modalities: []string{"CT"}, Images: 300}
		for j := 0; j < 10; j++ {
			st.Series = append(st.Series, uploader.Series{UID: st.UID + "." + strconv.Itoa(j), Modality: "CT", Description: "AXIAL", Number: strconv.Itoa(j)})
		}
		req.Studies = append(req.Studies, st)
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		body, err := req.Body()
		if err != nil {
			b.Fatal(err)
		}
		n = len(body)
	}
	b.SetBytes(int64(n))
}

// One signed exchange over loopback against auratest: sign, verify, issue,
// answer, parse.
func BenchmarkExchangeRoundTrip(b *testing.B) {
	s := auratest.NewServer(auratest.WithoutRateLimits())
	defer s.Close()
	ex := s.Exchanger()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ex.Exchange(ctx, uploadtoken.ExchangeRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}

// GET /uploader/config over loopback with a cached token.
func BenchmarkConfigRoundTrip(b *testing.B) {
	s := auratest.NewServer(auratest.WithoutRateLimits())
	defer s.Close()
	api := &uploader.API{BaseURL: s.URL, APIKey: s.APIKey, Tokens: s.Exchanger().Source(uploadtoken.ExchangeRequest{}), HTTPClient: s.Client()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := api.Config(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
