package tusclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/internal/atomicfile"
)

// Record is what a [Store] keeps about an unfinished upload, so that a
// later [Upload.Run] (in this process or after a restart) resumes it
// instead of starting again.
type Record struct {
	// Endpoint is the creation URL the upload was made at. A record made at
	// another endpoint is ignored.
	Endpoint string `json:"endpoint"`
	// URL is the upload URL. With parallel uploads it is the final
	// (concatenated) upload, empty until the parts are concatenated.
	URL string `json:"url,omitempty"`
	// Size is the upload length, or -1 for a stream of unknown length.
	Size int64 `json:"size"`
	// Parts are the partial uploads of a parallel upload, in order.
	Parts []PartRecord `json:"parts,omitempty"`
	// Created is when the upload was created.
	Created time.Time `json:"created"`
}

// PartRecord is one partial upload of a parallel upload; URL is empty
// until the part is created.
type PartRecord struct {
	URL    string `json:"url"`
	Start  int64  `json:"start"`
	Length int64  `json:"length"`
}

// Store keeps [Record]s by fingerprint, a string the caller chooses to
// identify the data (for a file: its absolute path, size and modification
// time). Implementations must be safe for concurrent use.
type Store interface {
	// Get returns the record for fingerprint; ok is false if there is none.
	Get(ctx context.Context, fingerprint string) (r Record, ok bool, err error)
	// Put stores r under fingerprint, replacing any earlier record.
	Put(ctx context.Context, fingerprint string, r Record) error
	// Delete removes the record; removing a missing record is not an error.
	Delete(ctx context.Context, fingerprint string) error
}

// MemoryStore is a [Store] in memory: uploads resume within one process
// (after a failed Run, or in a new [Upload] for the same data). The zero
// value is ready to use. It is safe for concurrent use.
type MemoryStore struct {
	mu sync.Mutex        // guards m
	m  map[string]Record // fingerprint → record
}

// Get implements [Store].
func (s *MemoryStore) Get(_ context.Context, fp string) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[fp]
	r.Parts = append([]PartRecord(nil), r.Parts...)
	return r, ok, nil
}

// Put implements [Store].
func (s *MemoryStore) Put(_ context.Context, fp string, r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Record{}
	}
	r.Parts = append([]PartRecord(nil), r.Parts...)
	s.m[fp] = r
	return nil
}

// Delete implements [Store].
func (s *MemoryStore) Delete(_ context.Context, fp string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, fp)
	return nil
}

// FileStore is a [Store] in a directory: one small JSON file per
// fingerprint, named by the SHA-256 of the fingerprint, written atomically
// (temporary file, fsync, rename), so a process killed at any moment leaves
// either the old or the new record. Uploads resume after a process restart.
// It is safe for concurrent use, also by several processes sharing the
// directory (the last writer of a fingerprint wins).
type FileStore struct {
	dir string
}

// maxRecordFile bounds what FileStore reads from a record file.
const maxRecordFile = 1 << 20

// NewFileStore returns a FileStore in dir, creating it (mode 0700) if
// needed.
func NewFileStore(dir string) (*FileStore, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty FileStore directory", ErrInvalidConfig)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	return &FileStore{dir: dir}, nil
}

// path returns the file that holds fingerprint's record.
func (s *FileStore) path(fingerprint string) string {
	sum := sha256.Sum256([]byte(fingerprint))
	return filepath.Join(s.dir, "tus-"+hex.EncodeToString(sum[:])+".json")
}

// Get implements [Store]. A file that cannot be decoded is an error naming
// the file (delete it to start that upload again); nothing is removed.
func (s *FileStore) Get(ctx context.Context, fp string) (Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, false, err
	}
	p := s.path(fp)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("%w: %w", ErrStore, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecordFile+1))
	if err != nil {
		return Record{}, false, fmt.Errorf("%w: %w", ErrStore, err)
	}
	r, err := decodeRecord(b)
	if err != nil {
		return Record{}, false, fmt.Errorf("%w: %s: %w", ErrStore, p, err)
	}
	return r, true, nil
}

// decodeRecord parses a record file strictly.
func decodeRecord(b []byte) (Record, error) {
	if len(b) > maxRecordFile {
		return Record{}, fmt.Errorf("record file larger than %d bytes", maxRecordFile)
	}
	var f struct {
		Version int `json:"v"`
		Record
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return Record{}, fmt.Errorf("corrupt record: %w", err)
	}
	if f.Version != 1 {
		return Record{}, fmt.Errorf("unknown record version %d", f.Version)
	}
	r := f.Record
	if r.Endpoint == "" || r.Size < -1 {
		return Record{}, fmt.Errorf("corrupt record: endpoint %q, size %d", r.Endpoint, r.Size)
	}
	var next int64
	for i, p := range r.Parts {
		if p.Start != next || p.Length < 0 {
			return Record{}, fmt.Errorf("corrupt record: part %d", i)
		}
		next += p.Length
	}
	if len(r.Parts) > 0 && next != r.Size {
		return Record{}, fmt.Errorf("corrupt record: parts cover %d of %d bytes", next, r.Size)
	}
	if len(r.Parts) == 0 {
		r.Parts = nil
	}
	r.Created = r.Created.UTC()
	return r, nil
}

func encodeRecord(r Record) ([]byte, error) {
	return json.Marshal(struct {
		Version int `json:"v"`
		Record
	}{1, r})
}

// Put implements [Store].
func (s *FileStore) Put(ctx context.Context, fp string, r Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := encodeRecord(r)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	p := s.path(fp)
	if err := atomicfile.Write(p, b); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	return nil
}

// Delete implements [Store].
func (s *FileStore) Delete(ctx context.Context, fp string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := os.Remove(s.path(fp))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	return nil
}
