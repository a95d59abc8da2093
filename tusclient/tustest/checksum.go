package tustest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
)

// checksumAlgorithms are the algorithms checksumHandler verifies, in the
// order it announces them.
var checksumAlgorithms = []string{"sha1", "sha256", "sha512", "md5"}

// maxChecksumBody is the largest request body checksumHandler buffers to
// verify; larger checksummed bodies get 413.
const maxChecksumBody = 64 << 20

// checksumHandler adds the Tus checksum extension to a Tus 1.0 server that
// lacks it (tusd): it is a faithful implementation of the extension in
// front of next, which keeps every other rule of the protocol.
//
//   - OPTIONS responses gain "checksum" in Tus-Extension and a
//     Tus-Checksum-Algorithm header.
//   - A PATCH (or a creation-with-upload POST) carrying Upload-Checksum is
//     read completely first. A malformed header or an unsupported algorithm
//     gets 400 Bad Request, a digest that does not match the body gets 460
//     Checksum Mismatch; in both cases the chunk is discarded and next never
//     sees the request, so the upload and its offset are unchanged. A body
//     that does not arrive completely is discarded too. A matching body is
//     passed on to next unchanged.
//   - Requests without Upload-Checksum, and requests whose Tus-Resumable is
//     not 1.0.0 (next answers those with 412), pass through untouched.
type checksumHandler struct {
	next http.Handler
}

func (h *checksumHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	if o := r.Header.Get("X-HTTP-Method-Override"); method == http.MethodPost && o != "" {
		method = o
	}
	if method == http.MethodOptions {
		h.next.ServeHTTP(&optionsWriter{ResponseWriter: w}, r)
		return
	}
	sum := r.Header.Get("Upload-Checksum")
	carriesData := method == http.MethodPatch ||
		(method == http.MethodPost && r.Header.Get("Content-Type") == "application/offset+octet-stream")
	if sum == "" || !carriesData || r.Header.Get("Tus-Resumable") != "1.0.0" {
		h.next.ServeHTTP(w, r)
		return
	}
	algo, want, err := parseUploadChecksum(sum)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	hh := newHash(algo)
	if hh == nil {
		fail(w, http.StatusBadRequest, fmt.Sprintf("unsupported checksum algorithm %q", algo))
		return
	}
	if r.ContentLength > maxChecksumBody {
		fail(w, http.StatusRequestEntityTooLarge, "checksummed body too large")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxChecksumBody+1))
	if err != nil || (r.ContentLength >= 0 && int64(len(body)) != r.ContentLength) {
		// The chunk did not arrive whole, so it cannot be verified: drop it.
		fail(w, http.StatusBadRequest, "incomplete body")
		return
	}
	if len(body) > maxChecksumBody {
		fail(w, http.StatusRequestEntityTooLarge, "checksummed body too large")
		return
	}
	if r.Context().Value(corruptKey{}) != nil && len(body) > 0 {
		body[len(body)/2] ^= 0x01
	}
	hh.Write(body)
	if subtle.ConstantTimeCompare(hh.Sum(nil), want) != 1 {
		fail(w, 460, "checksum mismatch")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	h.next.ServeHTTP(w, r)
}

func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Tus-Resumable", "1.0.0")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

var errChecksumHeader = errors.New(`tustest: Upload-Checksum must be "<algorithm> <base64 digest>"`)

// parseUploadChecksum splits an Upload-Checksum value into the algorithm
// name and the decoded digest. The name must be non-empty ASCII without
// upper-case letters or spaces; the digest standard padded Base64 of a
// non-empty value; exactly one space separates them.
func parseUploadChecksum(v string) (algo string, digest []byte, err error) {
	algo, enc, ok := strings.Cut(v, " ")
	if !ok || algo == "" || enc == "" || strings.ContainsAny(enc, " \t\r\n") {
		return "", nil, errChecksumHeader
	}
	for i := 0; i < len(algo); i++ {
		c := algo[i]
		if c <= ' ' || c >= 0x7f || (c >= 'A' && c <= 'Z') {
			return "", nil, errChecksumHeader
		}
	}
	digest, err = base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil || len(digest) == 0 {
		return "", nil, errChecksumHeader
	}
	return algo, digest, nil
}

// hashes maps algorithm names to hashes. It is deliberately independent
// of tusclient's own mapping, so the server checks the client rather than
// repeating it.
var hashes = map[string]func() hash.Hash{
	"sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New, "md5": md5.New,
}

func newHash(algo string) hash.Hash {
	if f, ok := hashes[algo]; ok {
		return f()
	}
	return nil
}

// optionsWriter adds the checksum extension to an OPTIONS response.
type optionsWriter struct {
	http.ResponseWriter
	wrote bool
}

func (o *optionsWriter) WriteHeader(code int) {
	if !o.wrote {
		o.wrote = true
		h := o.Header()
		if ext := h.Get("Tus-Extension"); ext != "" {
			h.Set("Tus-Extension", ext+",checksum")
		} else {
			h.Set("Tus-Extension", "checksum")
		}
		h.Set("Tus-Checksum-Algorithm", strings.Join(checksumAlgorithms, ","))
	}
	o.ResponseWriter.WriteHeader(code)
}

func (o *optionsWriter) Write(b []byte) (int, error) {
	if !o.wrote {
		o.WriteHeader(http.StatusOK)
	}
	return o.ResponseWriter.Write(b)
}

func (o *optionsWriter) Unwrap() http.ResponseWriter { return o.ResponseWriter }
