package kheops_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/kheops"
)

// FuzzParseEvent feeds ParseEvent hostile bodies and headers: it must not
// panic, must either fail with ErrMalformed or return an event that keeps
// the body it was given, and must not hold event-specific fields of
// another event kind.
func FuzzParseEvent(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		ev := strings.TrimSuffix(filepath.Base(name), ".json")
		f.Add(ev, "1/5", b)
		f.Add(kheops.EventDeleteAlbum, "2/5", b)
	}
	f.Add("new_series", "9999999999/5", []byte(`{"event_time":"2025-01-02T10:11:12.","updated_study":{"series":[{"series_number":1e400}]}}`))
	f.Add("x", "", []byte(`{"source":{"capability_token":"x"},"event_time":"+99999-01-02T10:11"}`))
	f.Add("", "1/5", []byte(`{}`))
	f.Fuzz(func(t *testing.T, event, attempt string, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		h := http.Header{"X-Kheops-Event": {event}, "X-Kheops-Attempt": {attempt}}
		ev, err := kheops.ParseEvent(h, body)
		if err != nil {
			if ev != nil {
				t.Fatal("event returned with an error")
			}
			return
		}
		if string(ev.Body) != string(body) || ev.Event != event {
			t.Fatal("event does not keep its input")
		}
		if ev.Attempt < 0 || ev.Attempt > 999 {
			t.Fatalf("attempt %d", ev.Attempt)
		}
		if (ev.UpdatedStudy != nil && event != kheops.EventNewSeries) ||
			(ev.NewUser != nil && event != kheops.EventNewUser) ||
			((ev.RemovedStudy != nil || ev.RemoveAllSeries) && event != kheops.EventRemoveSeries) {
			t.Fatalf("fields of another event kind set for %q", event)
		}
		if !ev.EventTime.IsZero() && ev.EventTime.Location().String() != "UTC" {
			t.Fatal("event time not in UTC")
		}
	})
}
