package ohifbridge_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/ohifbridge"
	"github.com/dicombridge/dicombridge/reportprovider"
)

// Example configures a bridge for an OHIF v3 at https://ohif.example and
// one KHEOPS instance. Register https://bridge.example/kheops-configuration
// as a report provider in a KHEOPS album, and configure OHIF with
// authority "https://bridge.example/oidc", client_id "ohif-viewer" and, in
// Proxy mode, its DICOMweb roots at https://bridge.example/oidc/dicomweb.
func Example() {
	rpKey, err := reportprovider.GenerateKey("rp-1") // keep it: KHEOPS checks assertions with it
	if err != nil {
		log.Fatal(err)
	}
	b, err := ohifbridge.New(ohifbridge.Options{
		Issuer: "https://bridge.example/oidc",
		Provider: reportprovider.Options{
			ConfigurationURL: "https://bridge.example/kheops-configuration",
			Configuration: reportprovider.Configuration{
				RedirectURI:  "https://bridge.example/launch",
				ResponseType: reportprovider.ResponseTypeCode,
				JWKSURI:      "https://bridge.example/kheops-jwks",
				ClientName:   "OHIF viewer",
			},
			Keys:    []*reportprovider.Key{rpKey},
			Issuers: []reportprovider.Issuer{{URL: "https://demo.kheops.online"}},
		},
		Client: ohifbridge.Client{
			ID:                     "ohif-viewer",
			LoginURL:               "https://ohif.example/login",
			RedirectURIs:           []string{"https://ohif.example/callback"},
			PostLogoutRedirectURIs: []string{"https://ohif.example/"},
		},
		Mode: ohifbridge.Proxy,
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: ":8443", Handler: b.Handler()}
	_ = srv // srv.ListenAndServeTLS(cert, key)
	fmt.Println(ohifbridge.Proxy)
	// Output: proxy
}

// Example_launch runs a launch against the fake KHEOPS: KHEOPS sends the
// browser to the bridge, which redeems the KHEOPS code itself and sends
// the browser on to OHIF's login initiation with a login_hint of its own.
func Example_launch() {
	ctx := context.Background()
	kheops := kheopstest.NewServer(kheopstest.WithBasePath("/kheops"))
	defer kheops.Close()
	user := kheops.AddUser(kheopstest.User{Sub: "u1", Name: "Jane Reader"})
	album := kheops.AddAlbum("", nil)
	_ = kheops.AddMember(album, "u1", true)
	_, _ = kheops.AddInstance(album, kheopstest.NewInstance(kheopstest.InstanceSpec{
		StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPInstanceUID: "1.2.3.1.1"}))

	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	defer srv.Close()
	rpKey, err := reportprovider.GenerateKey("rp-1")
	if err != nil {
		log.Fatal(err)
	}
	b, err := ohifbridge.New(ohifbridge.Options{
		Issuer: srv.URL + "/oidc",
		Provider: reportprovider.Options{
			ConfigurationURL: srv.URL + "/kheops-configuration",
			Configuration: reportprovider.Configuration{
				RedirectURI:  srv.URL + "/launch",
				ResponseType: reportprovider.ResponseTypeCode,
				JWKSURI:      srv.URL + "/kheops-jwks",
			},
			Keys: []*reportprovider.Key{rpKey},
			// Tests only: the fake is plain HTTP on 127.0.0.1.
			Issuers: []reportprovider.Issuer{{URL: kheops.URL, AllowHTTP: true, AllowPrivateNetwork: true}},
		},
		Client: ohifbridge.Client{
			ID:           "ohif-viewer",
			LoginURL:     "http://ohif.test/login",
			RedirectURIs: []string{"http://ohif.test/callback"},
		},
		AllowHTTP: true, // tests only
	})
	if err != nil {
		log.Fatal(err)
	}
	handler = b.Handler()

	// An album admin registers the bridge; a user launches it on a study.
	clientID, err := kheops.Register(ctx, user, album, "OHIF", srv.URL+"/kheops-configuration")
	if err != nil {
		log.Fatal(err)
	}
	launchURL, err := kheops.Launch(ctx, user, clientID, "1.2.3")
	if err != nil {
		log.Fatal(err)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(launchURL)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	login, _ := url.Parse(resp.Header.Get("Location"))
	fmt.Println(resp.StatusCode, login.Host+login.Path)
	fmt.Println(login.Query().Get("iss") == srv.URL+"/oidc")
	fmt.Println(login.Query().Get("target_link_uri"))
	fmt.Println(len(login.Query().Get("login_hint")))
	// Output:
	// 303 ohif.test/login
	// true
	// http://ohif.test/viewer?StudyInstanceUIDs=1.2.3
	// 43
}
