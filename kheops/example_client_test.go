package kheops_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/dicombridge/dicombridge/kheops"
	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

// A Client sends the user's token to the KHEOPS REST API and, through
// DICOMweb, to the same KHEOPS; list calls return a Pager whose All is an
// iterator.
func ExampleClient() {
	fake := kheopstest.NewServer()
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

// Lists come as a Pager: All is an iterator that fetches pages as it
// goes; Page fetches one page and KHEOPS's total. KHEOPS's answers to a
// refused call are *kheops.Error, whichever of its three error shapes it
// used.
func ExamplePager() {
	fake := kheopstest.NewServer()
	defer fake.Close()
	token := fake.AddUser(kheopstest.User{Sub: "alice", Name: "Alice"})
	c, err := kheops.New(kheops.Config{URL: fake.URL, Token: kheops.StaticToken(kheops.Token(token)), HTTPClient: fake.Client()})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"Teaching", "Tumour board", "Research"} {
		if _, err := c.CreateAlbum(ctx, kheops.AlbumSettings{Name: name}); err != nil {
			log.Fatal(err)
		}
	}
	for a, err := range c.Albums(kheops.AlbumQuery{Sort: "name"}).All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(a.Name, a.IsAdmin)
	}
	page, err := c.Albums(kheops.AlbumQuery{}).Page(ctx, 1, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first page:", len(page.Items), "of", page.Total)

	_, err = c.Album(ctx, "NoSuchAlbm", false)
	var ke *kheops.Error
	if errors.As(err, &ke) {
		fmt.Println(ke.StatusCode, ke.Message)
	}
	// Output:
	// Research true
	// Teaching true
	// Tumour board true
	// first page: 1 of 3
	// 404 Album Not Found
}
