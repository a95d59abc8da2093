package auratest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

func ExampleNewServer() {
	s := auratest.NewServer()
	defer s.Close()

	fmt.Println(strings.HasSuffix(s.URL, "/api"), strings.HasPrefix(s.APIKey, "aura_au_"))
	tok, err := s.Exchanger().Exchange(context.Background(), uploadtoken.ExchangeRequest{})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range s.Calls() {
		fmt.Println(c.Method, c.Path, c.Status, string(c.Body))
	}
	fmt.Println(strings.HasPrefix(tok.Value, uploadtoken.Prefix))
	// Output:
	// true true
	// POST /api/auth/exchange 200 {"ttl":3600,"scopes":["upload:init","upload:manage","integration:read"]}
	// true
}

// Failures are injected per endpoint: here the exchange is rate limited
// once, then works.
func ExampleServer_Fail() {
	s := auratest.NewServer()
	defer s.Close()
	s.Fail(auratest.EndpointExchange, auratest.Failure{
		Status: http.StatusTooManyRequests,
		Header: http.Header{"Retry-After": {"5"}},
		Times:  1,
	})
	ex := s.Exchanger()
	_, err := ex.Exchange(context.Background(), uploadtoken.ExchangeRequest{})
	var apiErr *uploadtoken.APIError
	fmt.Println(errors.Is(err, uploadtoken.ErrRateLimited), errors.As(err, &apiErr) && apiErr.RetryAfter.Seconds() == 5)
	_, err = ex.Exchange(context.Background(), uploadtoken.ExchangeRequest{})
	fmt.Println(err)
	// Output:
	// true true
	// <nil>
}
