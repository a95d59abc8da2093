package uploader_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// The whole upload in one call: config, scan, init, start, the zip over
// Tus, complete. Here against the fake Aura API, with a generated sample;
// with a real Aura, BaseURL is https://<instance>/api and the token comes
// from your backend's exchange.
func ExampleUploader_Upload() {
	aura := auratest.NewServer()
	defer aura.Close()
	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	sample := filepath.Join(dir, "incoming")
	if _, err := dicomgen.Write(context.Background(), sample, dicomgen.Options{Studies: 2, SeriesPerStudy: 2, InstancesPerSeries: 3}); err != nil {
		log.Fatal(err)
	}

	u := &uploader.Uploader{
		API: &uploader.API{
			BaseURL: aura.URL,
			APIKey:  aura.APIKey,
			Tokens:  aura.Exchanger().Source(uploadtoken.ExchangeRequest{}),
		},
		StateDir: filepath.Join(dir, "state"), // resumable after a crash (Uploader.Resume)
		Callbacks: uploader.Callbacks{
			OnStudies: func(studies []uploader.Study) { fmt.Println("studies found:", len(studies)) },
		},
	}
	res, err := u.Upload(context.Background(), sample)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("uploaded %d studies, %d series, %d instances\n", res.Studies, res.Series, res.Instances)
	ss, _ := aura.Session(res.UploadID)
	fmt.Println("server:", ss.States)
	up, _ := aura.Upload(res.UploadID)
	entries, _ := up.ZipEntries()
	fmt.Println("zip entries:", len(entries), "complete:", up.Complete)
	// Output:
	// studies found: 2
	// uploaded 2 studies, 4 series, 12 instances
	// server: [initialized started completed]
	// zip entries: 12 complete: true
}

// Prepare, look, remove a study, upload.
func ExampleSession_Remove() {
	aura := auratest.NewServer()
	defer aura.Close()
	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	if _, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{Studies: 3}); err != nil {
		log.Fatal(err)
	}
	u := &uploader.Uploader{API: &uploader.API{BaseURL: aura.URL, APIKey: aura.APIKey,
		Tokens: aura.Exchanger().Source(uploadtoken.ExchangeRequest{})}}
	ctx := context.Background()
	s, err := u.Prepare(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, st := range s.Studies() {
		if st.PatientID == s.Studies()[0].PatientID {
			continue
		}
		if err := s.Remove(st.UID); err != nil { // "Skip these"
			log.Fatal(err)
		}
	}
	res, err := s.Upload(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("scanned:", len(s.Scan().Studies), "uploaded:", res.Studies)
	// Output:
	// scanned: 3 uploaded: 1
}

// The lifecycle calls of one upload, against the fake Aura API. Between
// Start and Complete the uploader sends the zip to cfg.Lift.Endpoint over
// Tus (package tusclient); Submit hands the completed upload over.
func ExampleAPI() {
	aura := auratest.NewServer()
	defer aura.Close()
	ctx := context.Background()

	api := &uploader.API{
		BaseURL: aura.URL,    // "https://aura-instance.com/api"
		APIKey:  aura.APIKey, // service API key
		Tokens:  aura.Exchanger().Source(uploadtoken.ExchangeRequest{}),
	}
	cfg, err := api.Config(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tus bucket:", cfg.Lift.Bucket, "mode:", cfg.Mode)

	const id = "5c0e6c2a-1f3b-4e0a-9d6b-3f2a1b4c5d6e"
	_, err = api.Init(ctx, uploader.InitRequest{
		UploadID: id,
		Studies: []uploader.Study{{
			UID: "1.2.3", PatientName: "DOE^JOHN", Modalities: []string{"CT"}, Images: 1,
			Series: []uploader.Series{{UID: "1.2.3.4", Modality: "CT"}},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := api.Start(ctx, id, "assembly-1"); err != nil {
		log.Fatal(err)
	}
	// The zip goes to the lift endpoint (the Uploader does all of this).
	tus, err := tusclient.New(tusclient.Config{Endpoint: cfg.Lift.Endpoint,
		Header: http.Header{"Authorization": {"Bearer " + cfg.Lift.Token}}})
	if err != nil {
		log.Fatal(err)
	}
	zip := []byte("PK\x05\x06" + strings.Repeat("\x00", 18)) // an empty zip
	up, err := tus.NewUpload(bytes.NewReader(zip), int64(len(zip)), tusclient.UploadOptions{
		Metadata: tusclient.Metadata{{Key: "upload_id", Value: id}, {Key: "bucket", Value: cfg.Lift.Bucket}}})
	if err != nil {
		log.Fatal(err)
	}
	if err := up.Run(ctx); err != nil {
		log.Fatal(err)
	}
	if err := api.Complete(ctx, id, "assembly-1"); err != nil {
		log.Fatal(err)
	}
	// A backend may then hand the upload over for processing, or take it back.
	res, err := api.Submit(ctx, id, map[string]any{"priority": "routine"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, res.Message)
	ss, _ := aura.Session(id)
	fmt.Println(ss.States)
	// Output:
	// tus bucket: uploads mode: bulk
	// submitted Upload submitted.
	// [initialized started completed submitted]
}

// The init body is built byte for byte as Aura's browser client builds it:
// series values that are missing are null, study values are "".
func ExampleInitRequest_Body() {
	b, _ := uploader.InitRequest{
		UploadID: "u-1",
		Studies: []uploader.Study{{
			UID: "1.2", Images: 1,
			Series: []uploader.Series{{UID: "1.2.1", Modality: "MR"}},
		}},
	}.Body()
	fmt.Println(string(b))
	// Output:
	// {"upload_id":"u-1","studies":{"1.2":{"study_uid":"1.2","study_description":"","institution_name":"","patient_id":"","patient_name":"","study_date":"","study_time":"","modalities":[],"series":{"1.2.1":{"study_instance_uid":"1.2","series_instance_uid":"1.2.1","modality":"MR","series_description":null,"body_part_examined":null,"series_date":null,"series_time":null,"study_date":null,"series_number":null}},"images":1,"series_count":1}},"mode":"bulk","type":"uploader","source":"standalone-uploader","patient_id":null}
}
