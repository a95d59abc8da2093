package ohifbridge

import (
	"net/http"
	"net/url"

	"github.com/dicombridge/dicombridge/internal/origin"
)

// Headers a browser may send cross-origin (preflight answer).
const (
	corsHeaders      = "authorization, content-type, accept, range"
	corsProxyHeaders = corsHeaders + ", if-none-match, if-modified-since"
	corsExpose       = "content-type, content-length, content-range, content-encoding, etag, last-modified, x-total-count, warning, www-authenticate"
)

// allowedOrigin returns the request's Origin header if it is one of the
// OHIF origins, compared in origin.Of form (so https://ohif.example and
// https://ohif.example:443 are one origin); "" otherwise.
func (b *Bridge) allowedOrigin(r *http.Request) string {
	o := r.Header.Get("Origin")
	if o == "" || len(o) > 512 {
		return ""
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return ""
	}
	if !b.origins[origin.Of(u)] {
		return ""
	}
	return o
}

// cors answers preflights for the OHIF origins and adds
// Access-Control-Allow-Origin to their requests; other origins get no
// CORS header at all. methods lists what the endpoint accepts.
func (b *Bridge) cors(h http.Handler, methods, headers string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Add("Vary", "Origin")
		o := b.allowedOrigin(r)
		if r.Method == http.MethodOptions {
			hd.Add("Vary", "Access-Control-Request-Method")
			hd.Add("Vary", "Access-Control-Request-Headers")
			hd.Set("Allow", "OPTIONS, "+methods)
			if o != "" && r.Header.Get("Access-Control-Request-Method") != "" {
				hd.Set("Access-Control-Allow-Origin", o)
				hd.Set("Access-Control-Allow-Methods", methods)
				hd.Set("Access-Control-Allow-Headers", headers)
				hd.Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if o != "" {
			hd.Set("Access-Control-Allow-Origin", o)
			hd.Set("Access-Control-Expose-Headers", corsExpose)
		}
		h.ServeHTTP(w, r)
	})
}
