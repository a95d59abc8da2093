package tusclient

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Tus protocol header names and values.
const (
	tusVersion          = "1.0.0"
	hTusResumable       = "Tus-Resumable"
	hTusVersion         = "Tus-Version"
	hTusExtension       = "Tus-Extension"
	hTusMaxSize         = "Tus-Max-Size"
	hTusChecksumAlgo    = "Tus-Checksum-Algorithm"
	hUploadOffset       = "Upload-Offset"
	hUploadLength       = "Upload-Length"
	hUploadDeferLength  = "Upload-Defer-Length"
	hUploadMetadata     = "Upload-Metadata"
	hUploadChecksum     = "Upload-Checksum"
	hUploadConcat       = "Upload-Concat"
	hMethodOverride     = "X-HTTP-Method-Override"
	offsetOctetStream   = "application/offset+octet-stream"
	extCreation         = "creation"
	extCreationWithData = "creation-with-upload"
	extDeferLength      = "creation-defer-length"
	extTermination      = "termination"
	extChecksum         = "checksum"
	extConcatenation    = "concatenation"
)

var errBadNumber = errors.New("not a non-negative decimal integer")

// parseOffset parses an Upload-Offset, Upload-Length or Tus-Max-Size value:
// a non-negative decimal integer that fits in int64, with no sign, spaces or
// other characters.
func parseOffset(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, errBadNumber
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadNumber
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errBadNumber
	}
	return n, nil
}

// parseList splits a comma-separated header value (Tus-Extension,
// Tus-Version, Tus-Checksum-Algorithm) into trimmed, non-empty, lower-case
// tokens. Several header lines are joined.
func parseList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.ToLower(strings.Trim(t, " \t"))
			if t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// serverCaps is what a server announced in its OPTIONS response.
type serverCaps struct {
	// Versions lists Tus-Version, most preferred first.
	Versions []string
	// Extensions lists Tus-Extension (creation, termination, ...).
	Extensions []string
	// MaxSize is Tus-Max-Size, or 0 if the server sent none.
	MaxSize int64
	// ChecksumAlgorithms lists Tus-Checksum-Algorithm (sha1, md5, ...).
	ChecksumAlgorithms []string
	// Known is false when the server did not answer OPTIONS usefully (no
	// Tus-Version); the client then uses only the core protocol and
	// creation, and tries other extensions only when asked to.
	Known bool
}

// Has reports whether the server announced the extension.
func (c serverCaps) Has(ext string) bool {
	for _, e := range c.Extensions {
		if e == ext {
			return true
		}
	}
	return false
}

// HasChecksum reports whether the server announced the checksum extension
// and the algorithm.
func (c serverCaps) HasChecksum(algo string) bool {
	if !c.Has(extChecksum) {
		return false
	}
	for _, a := range c.ChecksumAlgorithms {
		if a == algo {
			return true
		}
	}
	return false
}

// parseCapabilities reads an OPTIONS response's headers. It never fails: a
// malformed Tus-Max-Size is ignored.
func parseCapabilities(h http.Header) serverCaps {
	c := serverCaps{
		Versions:           parseList(h.Values(hTusVersion)),
		Extensions:         parseList(h.Values(hTusExtension)),
		ChecksumAlgorithms: parseList(h.Values(hTusChecksumAlgo)),
	}
	if n, err := parseOffset(strings.TrimSpace(h.Get(hTusMaxSize))); err == nil {
		c.MaxSize = n
	}
	c.Known = len(c.Versions) > 0
	return c
}
