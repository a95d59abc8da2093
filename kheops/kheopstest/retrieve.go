package kheopstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
)

// serveInstance is WADO-RS GET
// ROOT/api/studies/{study}/series/{series}/instances/{instance}: the
// instance as it was stored, as the one part of a multipart/related
// response of type application/dicom, which is what a viewer asks for
// first when it opens an image. Who may read it is decided exactly as for
// the study's metadata (the same handler runs the check); an instance
// outside the series the caller can see is 404.
func (s *Server) serveInstance(w http.ResponseWriter, r *http.Request) {
	var data []byte
	check := &statusWriter{header: http.Header{}}
	s.serveStudy(check, r, func(se *series) []map[string]attribute {
		if se.uid == r.PathValue("series") {
			if in, ok := se.instances[r.PathValue("instance")]; ok {
				data = in.Data // never modified once stored
			}
		}
		return nil
	})
	switch {
	case check.status != http.StatusOK:
		w.WriteHeader(check.status)
		return
	case data == nil:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("kheopstest: no randomness: " + err.Error())
	}
	boundary := hex.EncodeToString(b[:])
	head := fmt.Sprintf("--%s\r\nContent-Type: application/dicom\r\n\r\n", boundary)
	tail := fmt.Sprintf("\r\n--%s--\r\n", boundary)
	w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+boundary)
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+len(data)+len(tail)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(head))
	_, _ = w.Write(data)
	_, _ = w.Write([]byte(tail))
}

// statusWriter is a ResponseWriter that keeps only the status.
type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header { return w.header }

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
