package tusclient

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStores(t *testing.T) {
	t.Parallel()
	fs, err := NewFileStore(filepath.Join(t.TempDir(), "a", "b"))
	require.NoError(t, err)
	for name, s := range map[string]Store{"memory": &MemoryStore{}, "file": fs} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rec := Record{Endpoint: "http://h/files/", URL: "http://h/files/1", Size: 10,
				Parts:   []PartRecord{{URL: "http://h/files/p", Start: 0, Length: 4}, {Start: 4, Length: 6}},
				Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			_, ok, err := s.Get(ctx, "fp")
			require.NoError(t, err, "Get on empty store")
			require.False(t, ok, "Get on empty store")
			require.NoError(t, s.Put(ctx, "fp", rec))
			got, ok, err := s.Get(ctx, "fp")
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, rec, got)
			rec.URL = "http://h/files/2"
			require.NoError(t, s.Put(ctx, "fp", rec))
			got, _, _ = s.Get(ctx, "fp")
			assert.Equal(t, rec.URL, got.URL, "Put did not replace")
			require.NoError(t, s.Delete(ctx, "fp"))
			require.NoError(t, s.Delete(ctx, "fp"), "Delete of a missing record")
			_, ok, _ = s.Get(ctx, "fp")
			assert.False(t, ok, "record survived Delete")
		})
	}
	entries, _ := os.ReadDir(fs.dir)
	assert.Empty(t, entries, "FileStore left files behind")
}

func TestFileStoreCorrupt(t *testing.T) {
	t.Parallel()
	fs, _ := NewFileStore(t.TempDir())
	require.NoError(t, os.WriteFile(fs.path("fp"), []byte(`{"v":1,"endpoint":`), 0o600))
	_, _, err := fs.Get(context.Background(), "fp")
	require.ErrorIs(t, err, ErrStore, "Get of a corrupt file")
	assert.Contains(t, err.Error(), fs.path("fp"), "the error names the file")
	_, err = os.Stat(fs.path("fp"))
	assert.NoError(t, err, "the corrupt file was removed")
	_, err = NewFileStore("")
	assert.ErrorIs(t, err, ErrInvalidConfig)
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
		require.NotZerof(t, r.Endpoint, "accepted %+v", r)
		require.Falsef(t, r.Size < -1, "accepted %+v", r)
		var next int64
		for _, p := range r.Parts {
			require.EqualValuesf(t, next, p.Start, "accepted inconsistent parts %+v", r.Parts)
			require.Falsef(t, p.Length < 0, "accepted inconsistent parts %+v", r.Parts)
			next += p.Length
		}
		enc, err := encodeRecord(r)
		require.NoError(t, err)
		r2, err := decodeRecord(enc)
		require.NoErrorf(t, err, "round trip: %+v -> %+v, ", r, r2)
		require.Truef(t, reflect.DeepEqual(r, r2), "round trip: %+v -> %+v, ", r, r2)
	})
}
