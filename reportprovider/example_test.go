package reportprovider_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/reportprovider"
)

func ExampleParseLaunch() {
	q, _ := url.ParseQuery("code=eyJhbGciOiJIUzI1NiJ9.e30.sig" +
		"&conf_uri=https%3A%2F%2Fdemo.kheops.online%2Fapi%2F.well-known%2Freport-provider-configuration" +
		"&client_id=Ya7IHXuubSsv9PJy9GXifx&return_uri=https://demo.kheops.online/albums/M1qJb98LJe" +
		"&studyUID=1.2.3&studyUID=1.2.4")
	l, err := reportprovider.ParseLaunch(q)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.Flow, l.ClientID, l.StudyUIDs)
	fmt.Println(l.ConfURI)
	fmt.Println(l.Code) // secrets never print
	// Output:
	// code Ya7IHXuubSsv9PJy9GXifx [1.2.3 1.2.4]
	// https://demo.kheops.online/api/.well-known/report-provider-configuration
	// [redacted]
}

func ExampleConfiguration_Validate() {
	c := reportprovider.Configuration{
		RedirectURI:  "https://rp.example.org:443/launch",
		ResponseType: reportprovider.ResponseTypeCode,
		JWKSURI:      "https://rp.example.org/jwks",
	}
	// KHEOPS compares scheme and authority as text: ":443" does not match.
	err := c.Validate("https://rp.example.org/.well-known/kheops-report-configuration")
	fmt.Println(errors.Is(err, reportprovider.ErrInvalidConfiguration))
	// Output: true
}

// Example shows a whole launch against the fake KHEOPS: register the
// provider in an album, launch it as a user, and read the study with the
// session's token.
func Example() {
	ctx := context.Background()
	kheops := kheopstest.NewServer(kheopstest.WithBasePath("/kheops"))
	defer kheops.Close()
	user := kheops.AddUser(kheopstest.User{Sub: "u1", Name: "Jane Reader", Email: "jane@example.org"})
	album := kheops.AddAlbum("", nil)
	_ = kheops.AddMember(album, "u1", true)
	_, _ = kheops.AddInstance(album, kheopstest.NewInstance(kheopstest.InstanceSpec{
		StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPInstanceUID: "1.2.3.1.1", Modality: "MR", SeriesDescription: "T1 axial"}))

	// The provider: its handlers on one server.
	mux := http.NewServeMux()
	rp := httptest.NewServer(mux)
	defer rp.Close()
	key, err := reportprovider.GenerateKey("k1")
	if err != nil {
		log.Fatal(err)
	}
	p, err := reportprovider.New(reportprovider.Options{
		ConfigurationURL: rp.URL + "/kheops-report-configuration",
		Configuration: reportprovider.Configuration{
			RedirectURI:  rp.URL + "/launch",
			ResponseType: reportprovider.ResponseTypeCode,
			JWKSURI:      rp.URL + "/jwks",
			ClientName:   "Example provider",
		},
		Keys: []*reportprovider.Key{key},
		// Tests only: the fake is plain HTTP on 127.0.0.1.
		Issuers: []reportprovider.Issuer{{URL: kheops.URL, AllowHTTP: true, AllowPrivateNetwork: true}},
	})
	if err != nil {
		log.Fatal(err)
	}
	sessions := make(chan *reportprovider.Session, 1)
	mux.Handle("/kheops-report-configuration", p.ConfigurationHandler())
	mux.Handle("/jwks", p.JWKSHandler())
	mux.Handle("/launch", p.LaunchHandler(func(w http.ResponseWriter, r *http.Request, s *reportprovider.Session) {
		sessions <- s // a real provider starts a fresh session and redirects
		_, _ = io.WriteString(w, "ok")
	}, nil))

	clientID, err := kheops.Register(ctx, user, album, "Example provider", rp.URL+"/kheops-report-configuration")
	if err != nil {
		log.Fatal(err)
	}
	launchURL, err := kheops.Launch(ctx, user, clientID, "1.2.3")
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.Get(launchURL) // the browser follows KHEOPS's page
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	s := <-sessions

	series, err := s.DICOMweb(nil).SearchSeries(ctx, s.StudyUIDs[0], nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.User.Name, s.StudyUIDs, s.Scope, s.CanWrite())
	for _, se := range series {
		fmt.Println(se.String("00080060"), se.String("0008103E")) // Modality, SeriesDescription
	}
	// Output:
	// Jane Reader [1.2.3] [read write] true
	// MR T1 axial
}
