package auratest

import (
	"archive/zip"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/dicombridge/dicombridge/uploadtoken"
)

// tusHandler serves the Tus endpoint: CORS, recording, failure injection,
// the lift-token check, then tusd (filestore in the server's directory).
func (s *Server) tusHandler() http.Handler {
	inner := http.StripPrefix("/files/", s.tusd)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodOptions && !s.liftTokenOK(uploadtoken.BearerToken(r)) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Tus-Resumable", "1.0.0")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, "ERR_UNAUTHORIZED: missing or invalid lift token\n")
			return
		}
		if r.Method == http.MethodPost {
			s.serveTusCreate(w, r, inner)
			return
		}
		if r.Method == http.MethodDelete {
			inner.ServeHTTP(w, r)
			if rw, ok := w.(*recordingWriter); ok && rw.status == http.StatusNoContent {
				s.markTerminated(path.Base(r.URL.Path))
			}
			return
		}
		inner.ServeHTTP(w, r)
	})
	h = s.inject(EndpointTus, true, h)
	mux := http.NewServeMux()
	mux.Handle("/files/", s.tusCORS(s.record(EndpointTus, false, h)))
	mux.Handle("/", s.tusCORS(s.record(endpointUnknown, false, http.NotFoundHandler())))
	return mux
}

// liftTokenOK reports whether tok is a lift token /uploader/config handed out.
func (s *Server) liftTokenOK(tok string) bool {
	if tok == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := false
	for t := range s.liftTokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
			ok = true
		}
	}
	return ok
}

// serveTusCreate lets tusd create the upload, then remembers its metadata
// in header order (tusd keeps a map, which loses it).
func (s *Server) serveTusCreate(w http.ResponseWriter, r *http.Request, next http.Handler) {
	meta, metaErr := parseMetadata(r.Header.Get("Upload-Metadata"))
	next.ServeHTTP(w, r)
	loc := w.Header().Get("Location")
	if loc == "" {
		return
	}
	id := path.Base(loc)
	rec := &uploadRecord{id: id, url: loc, meta: meta, metaErr: metaErr, rawMeta: r.Header.Get("Upload-Metadata")}
	s.mu.Lock()
	if _, dup := s.uploads[id]; !dup {
		s.uploadSeq = append(s.uploadSeq, id)
	}
	s.uploads[id] = rec
	s.mu.Unlock()
}

func (s *Server) markTerminated(id string) {
	s.mu.Lock()
	if u, ok := s.uploads[id]; ok {
		u.terminated = true
	}
	s.mu.Unlock()
}

// uploadRecord is what the fake remembers of a Tus upload besides tusd.
type uploadRecord struct {
	id, url    string
	rawMeta    string
	meta       []MetaPair
	metaErr    error
	terminated bool
}

// MetaPair is one Upload-Metadata entry, its value decoded from Base64.
type MetaPair struct {
	Key, Value string
}

// parseMetadata decodes an Upload-Metadata header keeping its order.
func parseMetadata(h string) ([]MetaPair, error) {
	if strings.TrimSpace(h) == "" {
		return nil, nil
	}
	var out []MetaPair
	var firstErr error
	for _, item := range strings.Split(h, ",") {
		item = strings.TrimSpace(item)
		k, v, _ := strings.Cut(item, " ")
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("auratest: Upload-Metadata %q: value is not standard Base64", k)
		}
		out = append(out, MetaPair{Key: k, Value: string(dec)})
	}
	return out, firstErr
}

// Upload is a Tus upload the server received (complete or not).
type Upload struct {
	ID  string // tusd's id, the last segment of URL
	URL string // the Location the server answered
	// Metadata is the Upload-Metadata of the creation request in header
	// order, values decoded; MetadataHeader is the header as sent and
	// MetadataErr reports a value that was not standard Base64.
	Metadata       []MetaPair
	MetadataHeader string
	MetadataErr    error
	Size           int64 // Upload-Length
	Offset         int64 // bytes stored so far
	Complete       bool  // Offset == Size
	Terminated     bool  // deleted by a Tus DELETE
	Path           string
}

// Meta returns the value of one metadata key.
func (u Upload) Meta(key string) (string, bool) {
	for _, p := range u.Metadata {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// MetaKeys returns the metadata keys in the order they were sent.
func (u Upload) MetaKeys() []string {
	keys := make([]string, len(u.Metadata))
	for i, p := range u.Metadata {
		keys[i] = p.Key
	}
	return keys
}

// Open opens the stored bytes.
func (u Upload) Open() (io.ReadCloser, error) {
	if u.Terminated || u.Path == "" {
		return nil, errors.New("auratest: upload " + u.ID + " has no stored data")
	}
	return os.Open(u.Path)
}

// Bytes reads the stored bytes. Uploads can be large; prefer Open or Path.
func (u Upload) Bytes() ([]byte, error) {
	f, err := u.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// ZipEntry describes one member of an uploaded zip.
type ZipEntry struct {
	Name             string
	Method           uint16 // zip.Store or zip.Deflate
	Flags            uint16
	CRC32            uint32
	CompressedSize   uint64
	UncompressedSize uint64
}

// ZipEntries lists the members of the upload, which must be a complete zip.
func (u Upload) ZipEntries() ([]ZipEntry, error) {
	zr, err := u.OpenZip()
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out := make([]ZipEntry, 0, len(zr.File))
	for _, f := range zr.File {
		out = append(out, ZipEntry{
			Name: f.Name, Method: f.Method, Flags: f.Flags, CRC32: f.CRC32,
			CompressedSize: f.CompressedSize64, UncompressedSize: f.UncompressedSize64,
		})
	}
	return out, nil
}

// OpenZip opens the upload as a zip archive; the caller closes it.
func (u Upload) OpenZip() (*zip.ReadCloser, error) {
	if u.Terminated || u.Path == "" {
		return nil, errors.New("auratest: upload " + u.ID + " has no stored data")
	}
	if !u.Complete {
		return nil, fmt.Errorf("auratest: upload %s is incomplete (%d of %d bytes)", u.ID, u.Offset, u.Size)
	}
	zr, err := zip.OpenReader(u.Path)
	if err != nil {
		return nil, fmt.Errorf("auratest: upload %s: %w", u.ID, err)
	}
	return zr, nil
}

// Uploads returns every Tus upload created on the server, in creation order.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	recs := make([]uploadRecord, 0, len(s.uploadSeq))
	for _, id := range s.uploadSeq {
		recs = append(recs, *s.uploads[id])
	}
	s.mu.Unlock()
	out := make([]Upload, 0, len(recs))
	for _, rec := range recs {
		out = append(out, s.describe(rec))
	}
	return out
}

// Upload returns the Tus upload whose "upload_id" metadata is uploadID (the
// latest, if several).
func (s *Server) Upload(uploadID string) (Upload, bool) {
	ups := s.Uploads()
	for i := len(ups) - 1; i >= 0; i-- {
		if v, _ := ups[i].Meta("upload_id"); v == uploadID {
			return ups[i], true
		}
	}
	return Upload{}, false
}

func (s *Server) describe(rec uploadRecord) Upload {
	u := Upload{
		ID: rec.id, URL: rec.url, Terminated: rec.terminated,
		Metadata: slices.Clone(rec.meta), MetadataHeader: rec.rawMeta, MetadataErr: rec.metaErr,
	}
	if rec.terminated {
		return u
	}
	up, err := s.store.GetUpload(context.Background(), rec.id)
	if err != nil {
		return u
	}
	info, err := up.GetInfo(context.Background())
	if err != nil {
		return u
	}
	u.Size, u.Offset = info.Size, info.Offset
	u.Complete = !info.SizeIsDeferred && info.Offset == info.Size
	u.Path = info.Storage["Path"]
	return u
}
