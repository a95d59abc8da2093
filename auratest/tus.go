package auratest

import (
	"archive/zip"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dicombridge/dicombridge/internal/auraserver"
)

// tusHandler serves the Tus endpoint: recording, CORS, failure injection,
// the lift-token check, then tusd (a tustest.Server, filestore in the
// server's directory).
func (s *Server) tusHandler() http.Handler {
	inner := s.tusd.Handler()
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodOptions && !s.liftTokenOK(auraserver.BearerToken(r)) {
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
	mux.Handle("/files/", s.record(EndpointTus, false, s.tusCORS(h)))
	mux.Handle("/", s.record(endpointUnknown, false, s.tusCORS(http.NotFoundHandler())))
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

// metaValue returns the value of key in m, or "".
func metaValue(m []MetaPair, key string) string {
	for _, p := range m {
		if p.Key == key {
			return p.Value
		}
	}
	return ""
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
	// Metadata is the Upload-Metadata of the creation request in header
	// order, values decoded; MetadataErr reports a value that was not
	// standard Base64.
	Metadata    []MetaPair
	MetadataErr error
	Size        int64 // Upload-Length
	Offset      int64 // bytes stored so far
	Complete    bool  // Offset == Size
	Terminated  bool  // deleted by a Tus DELETE

	path string // the stored bytes
}

// Open opens the stored bytes.
func (u Upload) Open() (io.ReadCloser, error) {
	if u.Terminated || u.path == "" {
		return nil, errors.New("auratest: the upload has no stored data")
	}
	return os.Open(u.path)
}

// ZipEntries lists the headers of the members of the upload, which must
// be a complete zip: names, methods, flags, CRC-32 and sizes as written.
func (u Upload) ZipEntries() ([]zip.FileHeader, error) {
	zr, err := u.OpenZip()
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out := make([]zip.FileHeader, 0, len(zr.File))
	for _, f := range zr.File {
		out = append(out, f.FileHeader)
	}
	return out, nil
}

// OpenZip opens the upload as a zip archive; the caller closes it.
func (u Upload) OpenZip() (*zip.ReadCloser, error) {
	if u.Terminated || u.path == "" {
		return nil, errors.New("auratest: the upload has no stored data")
	}
	if !u.Complete {
		return nil, fmt.Errorf("auratest: the upload is incomplete (%d of %d bytes)", u.Offset, u.Size)
	}
	zr, err := zip.OpenReader(u.path)
	if err != nil {
		return nil, fmt.Errorf("auratest: the upload: %w", err)
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
		if metaValue(ups[i].Metadata, "upload_id") == uploadID {
			return ups[i], true
		}
	}
	return Upload{}, false
}

func (s *Server) describe(rec uploadRecord) Upload {
	u := Upload{Terminated: rec.terminated, Metadata: slices.Clone(rec.meta), MetadataErr: rec.metaErr, path: filepath.Join(s.dir, rec.id)}
	if rec.terminated {
		return u
	}
	info, err := s.tusd.Info(rec.url)
	if err != nil {
		return u
	}
	u.Size, u.Offset, u.Complete = info.Size, info.Offset, info.Complete()
	return u
}
