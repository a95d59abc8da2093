package deid_test

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/dicombridge/dicombridge/deid"
)

// The key lives at the site; the same key gives the same pseudonyms in
// every run, so a study de-identified twice, or in parts, stays one study.
func Example() {
	key := bytes.Repeat([]byte{7}, deid.MinKeySize) // in real use: 32 random bytes kept secret
	p, err := deid.New(deid.Config{Key: key, RetainLongitudinalModifiedDates: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	in, err := os.Open("testdata/ct.dcm")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer in.Close()
	var out bytes.Buffer // in real use: a temporary file, renamed on success
	res, err := p.Apply(context.Background(), &out, in)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("patient:", res.PatientID)
	fmt.Println("study:", res.StudyInstanceUID)
	fmt.Println("same as UID():", res.StudyInstanceUID == p.UID("1.2.826.0.1.3680043.10.1.1"))
}

// New refuses short keys.
func ExampleNew() {
	_, err := deid.New(deid.Config{Key: []byte("password")})
	fmt.Println(err)
	// Output: deid: the key must be at least 32 bytes
}
