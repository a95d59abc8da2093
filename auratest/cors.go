package auratest

import (
	"net/http"
	"slices"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/dicombridge/dicombridge/internal/auraapi"
)

// CORS as the real widget needs it (docs/aura.md, "CORS"): every API and Tus call from a
// browser is preceded by a preflight.
const (
	// apiAllowHeaders are the request headers the API lets a page send:
	// the widget's authorization, x-api-key and content-type, plus the
	// X-Aura-* headers of the reference example page's in-browser exchange.
	apiAllowHeaders = "authorization, content-type, x-api-key, x-aura-nonce, x-aura-timestamp"
	// apiAllowMethods are the API's methods.
	apiAllowMethods = "GET, POST, OPTIONS"
	// corsMaxAge is how long a browser may cache a preflight, in seconds.
	corsMaxAge = "86400"
)

// The Tus endpoint's CORS values are tusd's own defaults, which include
// every Tus request header (Upload-Length, Upload-Offset, Tus-Resumable,
// Upload-Metadata, …) and expose every Tus response header (Location,
// Upload-Offset, …).
var (
	tusAllowHeaders  = tusd.DefaultCorsConfig.AllowHeaders
	tusAllowMethods  = tusd.DefaultCorsConfig.AllowMethods
	tusExposeHeaders = tusd.DefaultCorsConfig.ExposeHeaders
)

// originAllowed reports whether origin may use the server.
func (s *Server) originAllowed(origin string) bool {
	return slices.Contains(s.cfg.origins, "*") || slices.Contains(s.cfg.origins, origin)
}

// apiCORS answers preflights and adds CORS headers to API answers. A
// preflight from a foreign origin gets 403; an actual request from one is
// served without CORS headers, so the browser withholds the answer.
func (s *Server) apiCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		allowed := s.originAllowed(origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				auraapi.Message(w, http.StatusForbidden, "Origin not allowed.")
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", apiAllowMethods)
			h.Set("Access-Control-Allow-Headers", apiAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		next.ServeHTTP(w, r)
	})
}

// tusCORS does for Tus what tusd's own CORS handling does (which is turned
// off so that this one also covers the fake's own answers: the lift-token
// 401 and injected failures): reflect an allowed origin, answer preflight
// headers, expose the Tus headers, and refuse other origins with 403.
func (s *Server) tusCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		if !s.originAllowed(origin) {
			h.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte("ERR_ORIGIN_NOT_ALLOWED: request origin is not allowed\n"))
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Vary", "Origin")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", tusAllowMethods)
			h.Set("Access-Control-Allow-Headers", tusAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
		} else {
			h.Set("Access-Control-Expose-Headers", tusExposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}
