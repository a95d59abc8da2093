package ohifbridge

import (
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/dicombridge/dicombridge/internal/httpx"
)

// Headers that pass the proxy, each way (see docs/ohif-bridge.md, "The
// DICOMweb proxy"). Everything else, cookies and the browser's
// Authorization included, stays behind.
var (
	proxyRequestHeaders  = []string{"Accept", "Accept-Encoding", "Content-Type", "Range", "If-None-Match", "If-Modified-Since"}
	proxyResponseHeaders = []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified", "Cache-Control", "X-Total-Count", "Warning"}
)

// proxyRoute reports which methods the DICOMweb path rest (below
// ISSUER/dicomweb/, still escaped) accepts; nil if none: the proxy is not
// a way into the rest of the KHEOPS API. Segments are limited to the
// characters of DICOMweb paths (UIDs, frame lists, resource names), so no
// dot-segment or escaped slash can climb out of the DICOMweb root.
func proxyRoute(rest string) []string {
	segs := strings.Split(rest, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || len(s) > 256 {
			return nil
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == ',' || c == '-' || c == '_') {
				return nil
			}
		}
	}
	switch {
	case len(segs) > 12:
		return nil
	case segs[0] == "wado" && len(segs) == 1:
		return []string{http.MethodGet, http.MethodHead}
	case segs[0] != "studies":
		return nil
	case len(segs) <= 2:
		return []string{http.MethodGet, http.MethodHead, http.MethodPost}
	default:
		return []string{http.MethodGet, http.MethodHead}
	}
}

// serveProxy forwards a DICOMweb request to the launch's KHEOPS with the
// session's token, streaming both bodies.
func (b *Bridge) serveProxy(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), b.basePath+pathDICOMweb+"/")
	methods := proxyRoute(rest)
	if methods == nil {
		http.NotFound(w, r)
		return
	}
	allowed := false
	for _, m := range methods {
		allowed = allowed || r.Method == m
	}
	if !allowed {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	s := b.sessionOf(w, r)
	if s == nil {
		return
	}
	target, err := url.Parse(strings.TrimRight(s.KHEOPS.DICOMwebEndpoint, "/") + "/" + rest)
	if err != nil {
		http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		return
	}
	target.RawQuery = r.URL.RawQuery
	if r.ContentLength > b.maxBody {
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, b.maxBody)
	}
	rp := &httputil.ReverseProxy{
		// ReverseProxy would otherwise write to the standard logger; the
		// bridge logs only to Options.Logger.
		ErrorLog: log.New(io.Discard, "", 0),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = ""
			pr.Out.Header = copyHeaders(pr.In.Header, proxyRequestHeaders)
		},
		// The session's transport adds the KHEOPS token and refuses any
		// origin but the launch's KHEOPS; ReverseProxy follows no
		// redirect.
		Transport: s.KHEOPS.Transport(b.hc.Transport),
		ModifyResponse: func(resp *http.Response) error {
			resp.Header = copyHeaders(resp.Header, proxyResponseHeaders)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
				return
			}
			if b.log != nil {
				b.log.InfoContext(r.Context(), "ohifbridge: proxy request failed", "url", httpx.RedactURL(target), "error", err.Error())
			}
			http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		},
	}
	rp.ServeHTTP(w, r)
}

// copyHeaders returns the named headers of h.
func copyHeaders(h http.Header, names []string) http.Header {
	out := make(http.Header, len(names))
	for _, n := range names {
		if v := h.Values(n); len(v) > 0 {
			out[http.CanonicalHeaderKey(n)] = append([]string(nil), v...)
		}
	}
	return out
}
