package ohifbridge_test

import (
	"fmt"
	"log"
	"net/http"

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
