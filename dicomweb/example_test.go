package dicomweb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/dicombridge/dicombridge/dicomweb"
)

// A STOW-RS upload that KHEOPS refuses in part: the StoreError lists each
// refused instance with its FailureReason and, for KHEOPS's attribute
// check, the tags that differ from the study it already holds.
func ExampleClient_Store() {
	kheops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/dicom+json")
		w.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(w, `{"00081198":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["2.25.7.1"]},`+
			`"00081197":{"vr":"US","Value":[262]},"00001005":{"vr":"LO","Value":["2097168","1048608"]}}]}}`)
	}))
	defer kheops.Close()

	c := &dicomweb.Client{Endpoint: kheops.URL + "/api"} // give it an HTTPClient that authenticates
	_, err := c.Store(context.Background(), "2.25.7", strings.NewReader("(a DICOM Part 10 file)"))
	var se *dicomweb.StoreError
	if !errors.As(err, &se) {
		log.Fatal(err)
	}
	for _, f := range se.Failed {
		if f.Reason == dicomweb.ReasonAttributeMismatch {
			for _, tag := range f.Tags {
				fmt.Printf("%s: copy (%04X,%04X) from the study\n", f.SOPInstanceUID, tag>>16, tag&0xFFFF)
			}
		}
	}
	// Output:
	// 2.25.7.1: copy (0020,0010) from the study
	// 2.25.7.1: copy (0010,0020) from the study
}
