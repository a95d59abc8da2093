package kheopstest_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"strings"

	"github.com/dicombridge/dicombridge/kheops/kheopstest"
)

func ExampleNewServer() {
	s := kheopstest.NewServer(kheopstest.WithBasePath("/kheops"))
	defer s.Close()
	alice := s.AddUser(kheopstest.User{Sub: "alice", Name: "Alice"})
	album := s.AddAlbum("AlbumOne01", nil)
	if err := s.AddMember(album, "alice", true); err != nil {
		log.Fatal(err)
	}
	if _, err := s.AddInstance(album, kheopstest.NewInstance(kheopstest.InstanceSpec{
		StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPInstanceUID: "1.2.3.1.1"})); err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.TrimPrefix(s.ConfigurationURL(), s.URL))

	// QIDO-RS as the user.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, s.URL+"/api/studies", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := s.Client().Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"), len(s.Instances("1.2.3")))
	// Output:
	// /api/.well-known/report-provider-configuration
	// 200 application/dicom+json 1
}

func ExampleParseLaunchPage() {
	page := []byte(`<html><head><title>RP</title><meta http-equiv="refresh" content="0;URL='https://rp.example/cb?code=x&client_id=y'"></head></html>`)
	u, err := kheopstest.ParseLaunchPage(page)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u)
	// Output: https://rp.example/cb?code=x&client_id=y
}

// Example_restAPI creates an album through KHEOPS's REST API (a form,
// answered with snake_case JSON) and lists albums a page at a time.
func Example_restAPI() {
	s := kheopstest.NewServer()
	defer s.Close()
	alice := s.AddUser(kheopstest.User{Sub: "alice", Email: "alice@example.org"})
	call := func(method, path string, form url.Values) *http.Response {
		req, _ := http.NewRequestWithContext(context.Background(), method, s.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := s.Client().Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, name := range []string{"Teaching", "Research"} {
		fmt.Println(call(http.MethodPost, "/api/albums", url.Values{"name": {name}, "addUser": {"true"}}).StatusCode)
	}
	list := call(http.MethodGet, "/api/albums?limit=1", nil)
	fmt.Println(list.StatusCode, list.Header.Get("X-Total-Count"))
	// Output:
	// 201
	// 201
	// 200 2
}
