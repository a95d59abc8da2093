package uploadbar

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/uploader"
)

// The bar shows packing then uploading with the files confirmed, and is
// full only once the server confirmed every byte.
func TestBar(t *testing.T) {
	var out bytes.Buffer
	b := New(&out)
	var states []uploader.State
	cb := b.Callbacks(uploader.Callbacks{OnState: func(s uploader.State) { states = append(states, s) }})
	cb.OnProgress(uploader.Progress{State: uploader.StatePacking, Bytes: 50, Sent: 50, TotalBytes: 100, Files: 5, TotalFiles: 10})
	cb.OnProgress(uploader.Progress{State: uploader.StatePacking, Bytes: 100, Sent: 100, TotalBytes: 100, Files: 10, TotalFiles: 10})
	cb.OnProgress(uploader.Progress{State: uploader.StateUploading, Bytes: 0, Sent: 80, TotalBytes: 80, Files: 0, TotalFiles: 10})
	if s := out.String(); !strings.Contains(s, "packing   10/10 files 100%") || strings.Contains(s, "uploading 0/10 files 100%") {
		t.Fatalf("before confirmation:\n%q", s)
	}
	cb.OnProgress(uploader.Progress{State: uploader.StateUploading, Bytes: 80, Sent: 80, TotalBytes: 80, Files: 10, TotalFiles: 10})
	cb.OnState(uploader.StateCompleting)
	cb.OnState(uploader.StateCompleted)
	if s := out.String(); !strings.Contains(s, "uploading 10/10 files 100%") || !strings.HasSuffix(s, "\n") {
		t.Fatalf("after confirmation:\n%q", s)
	}
	if len(states) != 2 {
		t.Errorf("states passed on: %v", states)
	}
}
