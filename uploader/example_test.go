package uploader_test

import (
	"context"
	"fmt"
	"log"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// The lifecycle calls of one upload, against the fake Aura API. Between
// Start and Complete the uploader sends the zip to cfg.Lift.Endpoint over
// Tus (package tusclient).
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
	if err := api.Complete(ctx, id, "assembly-1"); err != nil {
		log.Fatal(err)
	}
	ss, _ := aura.Session(id)
	fmt.Println(ss.States)
	// Output:
	// tus bucket: uploads mode: bulk
	// [initialized started completed]
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
