package tusclient

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestStores(t *testing.T) {
	t.Parallel()
	fs, err := NewFileStore(filepath.Join(t.TempDir(), "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Store{"memory": &MemoryStore{}, "file": fs} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rec := Record{Endpoint: "http://h/files/", URL: "http://h/files/1", Size: 10,
				Parts:   []PartRecord{{URL: "http://h/files/p", Start: 0, Length: 4}, {Start: 4, Length: 6}},
				Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			if _, ok, err := s.Get(ctx, "fp"); ok || err != nil {
				t.Fatalf("Get on empty store: %v %v", ok, err)
			}
			if err := s.Put(ctx, "fp", rec); err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.Get(ctx, "fp")
			if !ok || err != nil || !reflect.DeepEqual(got, rec) {
				t.Fatalf("Get = %+v %v %v", got, ok, err)
			}
			rec.URL = "http://h/files/2"
			if err := s.Put(ctx, "fp", rec); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := s.Get(ctx, "fp"); got.URL != rec.URL {
				t.Fatalf("Put did not replace: %+v", got)
			}
			if err := s.Delete(ctx, "fp"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "fp"); err != nil {
				t.Fatalf("Delete of a missing record: %v", err)
			}
			if _, ok, _ := s.Get(ctx, "fp"); ok {
				t.Fatal("record survived Delete")
			}
		})
	}
	entries, _ := os.ReadDir(fs.Dir())
	if len(entries) != 0 {
		t.Fatalf("FileStore left files behind: %v", entries)
	}
}

func TestFileStoreCorrupt(t *testing.T) {
	t.Parallel()
	fs, _ := NewFileStore(t.TempDir())
	if err := os.WriteFile(fs.Path("fp"), []byte(`{"v":1,"endpoint":`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := fs.Get(context.Background(), "fp")
	if !errors.Is(err, ErrStore) || !strings.Contains(err.Error(), fs.Path("fp")) {
		t.Fatalf("Get of a corrupt file: %v, want ErrStore naming the file", err)
	}
	if _, err := os.Stat(fs.Path("fp")); err != nil {
		t.Fatal("the corrupt file was removed")
	}
	if _, err := NewFileStore(""); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewFileStore(\"\"): %v", err)
	}
}

// FuzzDecodeRecord: record files from disk never panic the decoder, and
// whatever decodes is consistent and encodes back to the same record.
func FuzzDecodeRecord(f *testing.F) {
	good, _ := encodeRecord(Record{Endpoint: "http://h/", URL: "http://h/1", Size: 5,
		Parts: []PartRecord{{URL: "u", Length: 2}, {Start: 2, Length: 3}}})
	for _, s := range []string{string(good), `{"v":1,"endpoint":"e","size":-1}`, `{"v":2}`, `null`, `{"v":1,"endpoint":"e","size":3,"parts":[{"start":1,"length":3}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if r.Endpoint == "" || r.Size < -1 {
			t.Fatalf("accepted %+v", r)
		}
		var next int64
		for _, p := range r.Parts {
			if p.Start != next || p.Length < 0 {
				t.Fatalf("accepted inconsistent parts %+v", r.Parts)
			}
			next += p.Length
		}
		enc, err := encodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := decodeRecord(enc)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %+v -> %+v, %v", r, r2, err)
		}
	})
}
