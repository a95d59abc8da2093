package deid_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dicombridge/dicombridge/deid"
	"github.com/dicombridge/dicombridge/dicomgen"
)

// The key lives at the site; the same key gives the same pseudonyms in
// every run, so a study de-identified twice, or in parts, stays one study.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "deid-example")
	defer os.RemoveAll(dir)
	files, err := dicomgen.Write(ctx, dir, dicomgen.Options{Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}

	key := bytes.Repeat([]byte{7}, deid.MinKeySize) // in real use: 32 random bytes kept secret
	p, err := deid.New(deid.Config{Key: key, RetainLongitudinalModifiedDates: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	in, err := os.Open(files[0].Path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer in.Close()
	// In real use: a temporary file in the output directory, renamed to
	// a name made of the new UIDs once Apply succeeds.
	out, err := os.Create(filepath.Join(dir, "out.dcm"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer out.Close()
	res, err := p.Apply(ctx, out, in)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("patient:", res.PatientID)
	fmt.Println("study:", res.StudyInstanceUID)
	fmt.Println("known in advance:", res.StudyInstanceUID == p.UID(files[0].StudyInstanceUID))
	fmt.Println("removed:", len(res.Removed()), "attributes")
	// Output:
	// patient: UIGCY7XYTLF45EPYBEKG
	// study: 2.25.320816915882348942100508088373420815560
	// known in advance: true
	// removed: 2 attributes
}

// New refuses short keys.
func ExampleNew() {
	_, err := deid.New(deid.Config{Key: []byte("password")})
	fmt.Println(err)
	// Output: deid: the key must be at least 32 bytes
}

// Images that declare burned-in annotation are refused unless the caller
// accepts them.
func ExampleErrBurnedIn() {
	p, _ := deid.New(deid.Config{Key: bytes.Repeat([]byte{7}, 32)})
	_, err := p.Apply(context.Background(), new(bytes.Buffer), bytes.NewReader(burnedInFile()))
	fmt.Println(errors.Is(err, deid.ErrBurnedIn))
	// Output: true
}
