package kheops_test

import (
	"context"
	"fmt"
	"log"

	"github.com/dicombridge/dicombridge/kheops"
	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

// A Client sends the user's token to the KHEOPS REST API and, through
// DICOMweb, to the same KHEOPS; list calls return a Pager whose All is an
// iterator.
func ExampleClient() {
	fake := kheopstest.NewServer(nil)
	defer fake.Close()
	token := fake.AddUser(kheopstest.User{Sub: "alice", Name: "Alice"})
	album := fake.AddAlbum("", nil)
	spec := kheopstest.InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPInstanceUID: "1.2.3.1.1"}
	if err := fake.AddMember(album, "alice", true); err != nil {
		log.Fatal(err)
	} else if _, err := fake.AddInstance(album, kheopstest.NewInstance(spec)); err != nil {
		log.Fatal(err)
	}

	c, err := kheops.New(kheops.Config{
		URL:        fake.URL, // the KHEOPS root; the API is under /api
		Token:      kheops.StaticToken(kheops.Token(token)),
		HTTPClient: fake.Client(),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	studies, err := c.DICOMweb().SearchStudies(ctx, map[string][]string{"album": {album}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("studies:", len(studies), studies[0].String("0020000D"))
	n := 0
	for _, err := range c.ReportProviders(album).All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	fmt.Println("report providers:", n)
	// Output:
	// studies: 1 1.2.3
	// report providers: 0
}
