package share

import (
	"bytes"
	"html/template"
	"net/http"
)

// LandingPages are the texts of the landing page, as the
// orthanc-share-landing variables TITLE_EXPIRED_TOKEN,
// MESSAGE_EXPIRED_TOKEN, TITLE_INVALID_TOKEN and MESSAGE_INVALID_TOKEN.
// Titles are text; messages are HTML written by the operator (the defaults
// contain <br/>) and are inserted as they are. Empty fields take the
// defaults of orthanc-share.
type LandingPages struct {
	ExpiredTitle, ExpiredMessage string
	InvalidTitle, InvalidMessage string
}

func (p LandingPages) withDefaults() LandingPages {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&p.ExpiredTitle, "Expired token")
	def(&p.ExpiredMessage, "Your token has expired.<br/>You should ask for a new one.")
	def(&p.InvalidTitle, "Invalid token")
	def(&p.InvalidMessage, "Your token is invalid.<br/>Please check that you have copied it entirely.")
	return p
}

var landingTmpl = template.Must(template.New("landing").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}</style>
</head>
<body><h1>{{.Title}}</h1><p>{{.Message}}</p></body>
</html>
`))

// Landing returns the landing page handler (orthanc-share-landing),
// meant to be public, without Basic auth: GET with ?token=... redirects
// (307) to the viewer when the token is valid, or, for a
// meddream-viewer-publication, to a fresh MedDream instant link. Otherwise
// it shows the expired page (410 Gone) or the invalid page (400 for a
// missing or malformed token, 403 for a bad signature or a revoked token);
// a failing MedDream service gives 502. The original answered 200 for
// these pages and 500 when the token was missing.
//
// Every answer carries Cache-Control: no-store and Referrer-Policy:
// no-referrer, so the token in the URL does not leak to the viewer's
// third parties through the Referer header.
func (s *Service) Landing() http.Handler {
	return http.HandlerFunc(s.serveLanding)
}

func (s *Service) serveLanding(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	o := s.follow(r.Context(), r.URL.Query().Get("token"))
	if o.code == "" {
		http.Redirect(w, r, o.redirect, http.StatusTemporaryRedirect)
		return
	}
	title, msg := s.pages.InvalidTitle, s.pages.InvalidMessage
	switch {
	case o.code == "expired":
		title, msg = s.pages.ExpiredTitle, s.pages.ExpiredMessage
	case o.status >= 500:
		title, msg = "Service unavailable", "The link could not be opened right now.<br/>Please try again later."
	}
	var buf bytes.Buffer
	_ = landingTmpl.Execute(&buf, struct {
		Title   string
		Message template.HTML
	}{title, template.HTML(msg)})
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(o.status)
	_, _ = w.Write(buf.Bytes())
}
