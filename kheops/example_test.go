package kheops_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/dicombridge/dicombridge/kheops"
)

// A partner backend mounts a WebhookHandler at the URL it registered in
// KHEOPS, with the same secret. OnEvent sees each delivery once, however
// often KHEOPS retries it; it should be quick (record the event, or queue
// it) and return an error only to make KHEOPS retry.
func ExampleWebhookHandler() {
	hook := &kheops.WebhookHandler{
		Secret: "the secret registered with the webhook",
		OnEvent: func(ctx context.Context, ev *kheops.WebhookEvent) error {
			switch ev.Event {
			case kheops.EventNewSeries:
				for _, s := range ev.UpdatedStudy.Series {
					fmt.Printf("album %s: %d new %s instances in study %s (delivery %s, attempt %d)\n",
						ev.AlbumID, s.NumberOfNewInstances, s.Modality, ev.UpdatedStudy.StudyUID, ev.Delivery, ev.Attempt)
				}
			case kheops.EventDeleteAlbum:
				fmt.Printf("album %s deleted at %s\n", ev.AlbumID, ev.EventTime)
			}
			return nil
		},
	}
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/kheops", hook)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// What KHEOPS sends: the same delivery twice (a retry).
	body := `{"host":"https://kheops.example","album_id":"Ab12Cd34Ef","event_time":"2025-01-02T10:11:12.345678",` +
		`"source":{"email":"jane@example.org","name":"Jane Doe","sub":"6f0c"},"is_manual_trigger":false,` +
		`"updated_study":{"patient_ID":"123","study_uid":"1.2.3","series":[{"modality":"SR","series_uid":"1.2.3.4",` +
		`"number_of_series_related_instances":1,"number_of_new_instances":1}]}}`
	mac := hmac.New(sha256.New, []byte("the secret registered with the webhook"))
	mac.Write([]byte(body))
	for attempt := 1; attempt <= 2; attempt++ {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/kheops", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Kheops-Event", "new_series")
		req.Header.Set("X-Kheops-Delivery", "8c1f0e4b2a9d7c6e5f3a1b0d9e8c7f")
		req.Header.Set("X-Kheops-Attempt", fmt.Sprintf("%d/5", attempt))
		req.Header.Set("X-Kheops-Signature", hex.EncodeToString(mac.Sum(nil)))
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	// Output:
	// album Ab12Cd34Ef: 1 new SR instances in study 1.2.3 (delivery 8c1f0e4b2a9d7c6e5f3a1b0d9e8c7f, attempt 1)
	// 200 OK
	// 200 OK
}

// Verify and ParseEvent serve a partner who writes their own handler.
func ExampleVerify() {
	body := []byte(`{"album_id":"Ab12Cd34Ef","event_time":"2025-01-02T10:11"}`)
	err := kheops.Verify("secret", body, "0000000000000000000000000000000000000000000000000000000000000000")
	fmt.Println(err)
	// Output:
	// kheops: webhook signature does not match
}
