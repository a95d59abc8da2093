package kheopstest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// validOID is the org.ietf.jgss.Oid check KHEOPS applies to study UIDs.
func validOID(s string) bool { return len(s) <= 1024 && dicomio.IsOID(s) }

// errorPage writes the small HTML error KHEOPS renders on /report.
func errorPage(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>Error</title></head><body><p>message='%s', detail='%s'</p></body></html>\n",
		html.EscapeString(http.StatusText(status)), html.EscapeString(detail))
}

// serveLaunch is POST ROOT/api/report: the KHEOPS UI's form submission
// that starts a provider.
func (s *Server) serveLaunch(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		errorPage(w, http.StatusUnsupportedMediaType, "form expected")
		return
	}
	f := r.PostForm
	studies := f["studyUID"]
	if len(studies) == 0 {
		errorPage(w, http.StatusBadRequest, "studyUID is required")
		return
	}
	for _, u := range studies {
		if !validOID(u) {
			errorPage(w, http.StatusBadRequest, "studyUID is not valid")
			return
		}
	}
	c := s.resolve(f.Get("access_token"))
	if c == nil {
		if claims, err := s.parseToken(f.Get("access_token")); err == nil {
			s.mu.Lock()
			_, known := s.users[claimString(claims, "sub")]
			s.mu.Unlock()
			if !known {
				errorPage(w, http.StatusNotFound, "User not found")
				return
			}
		}
		errorPage(w, http.StatusUnauthorized, "Bad access_token")
		return
	}
	// The user's own token or a capability token of scope user.
	if !c.userAccess() {
		errorPage(w, http.StatusForbidden, "token type not allowed")
		return
	}
	sub := c.sub
	p, ok := s.lookupProvider(f.Get("client_id"))
	if !ok {
		errorPage(w, http.StatusNotFound, "Client ID not found")
		return
	}
	s.mu.Lock()
	a := s.albums[p.album]
	member := s.canAccessLocked(c, a)
	allIn := member
	for _, u := range studies {
		if st := s.studies[u]; member && (st == nil || len(s.visibleSeriesLocked(c, st, []*album{a})) == 0) {
			allIn = false
		}
	}
	canWrite := member && s.allowedLocked(c, a, permAddSeries)
	s.mu.Unlock()
	if !member {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if !allIn {
		errorPage(w, http.StatusNotFound, "Study Not Found")
		return
	}
	capID := ""
	if c.cap != nil {
		capID = c.cap.id
	}
	// KHEOPS fetches the configuration twice: once for response_type, once
	// for redirect_uri.
	c1, err := s.providerConfiguration(r.Context(), p.url)
	if err != nil {
		errorPage(w, http.StatusBadRequest, "Error with the client config")
		return
	}
	c2, err := s.providerConfiguration(r.Context(), p.url)
	if err != nil {
		errorPage(w, http.StatusBadRequest, "Error with the client config")
		return
	}
	redirect := deref(c2.RedirectURI)
	confURI := s.ConfigurationURL()
	returnURI := s.root + "/albums/" + p.album
	var target string
	if deref(c1.ResponseType) == "code" {
		code := s.code(sub, p.clientID, studies, capID)
		base, frag, hasFrag := strings.Cut(redirect, "#")
		var b strings.Builder
		b.WriteString(base)
		switch {
		case !strings.Contains(base, "?"):
			b.WriteByte('?')
		case !strings.HasSuffix(base, "?") && !strings.HasSuffix(base, "&"):
			b.WriteByte('&')
		}
		b.WriteString("code=" + code)
		b.WriteString("&conf_uri=" + url.QueryEscape(confURI))
		b.WriteString("&client_id=" + p.clientID)
		b.WriteString("&return_uri=" + returnURI)
		for _, u := range studies {
			b.WriteString("&studyUID=" + u)
		}
		if hasFrag {
			b.WriteString("#" + frag)
		}
		target = b.String()
	} else {
		scope := "read"
		if canWrite {
			scope = "read write"
		}
		tok := s.rpToken(sub, p.clientID, scope, studies, capID)
		base, _, _ := strings.Cut(redirect, "#")
		var b strings.Builder
		b.WriteString(base)
		b.WriteString("#access_token=" + tok)
		b.WriteString("&token_type=bearer&expires_in=3600")
		b.WriteString("&scope=" + strings.ReplaceAll(scope, " ", "%20"))
		b.WriteString("&client_id=" + p.clientID)
		b.WriteString("&conf_uri=" + url.QueryEscape(confURI))
		b.WriteString("&return_uri=" + url.QueryEscape(returnURI))
		for _, u := range studies {
			b.WriteString("&studyUID=" + u)
		}
		target = b.String()
	}
	if s.cfg.launchAsRedirect {
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusFound)
		return
	}
	// Built by concatenation without escaping, like KHEOPS.
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "<!DOCTYPE html>\n<html><head><title>"+p.name+"</title>"+
		"<meta http-equiv=\"refresh\" content=\"0;URL='"+target+"'\"></head>"+
		"<body><a href=\""+target+"\">"+target+"</a></body></html>\n")
}

// ParseLaunchPage extracts the provider URL from the meta-refresh page a
// launch returns. It accepts the URL raw (as KHEOPS writes it) or with HTML
// entities.
func ParseLaunchPage(page []byte) (string, error) {
	s := string(page)
	const marker = `content="0;URL='`
	i := strings.Index(s, marker)
	if i < 0 {
		return "", errors.New("kheopstest: no meta refresh in the launch page")
	}
	s = s[i+len(marker):]
	j := strings.Index(s, `'"`)
	if j < 0 {
		return "", errors.New("kheopstest: unterminated meta refresh URL")
	}
	return html.UnescapeString(s[:j]), nil
}

// Launch starts a provider as the KHEOPS UI does: it POSTs the launch form
// with the user's token and returns the URL the browser is sent to.
func (s *Server) Launch(ctx context.Context, userToken, clientID string, studyUIDs ...string) (string, error) {
	form := url.Values{"access_token": {userToken}, "client_id": {clientID}, "studyUID": studyUIDs,
		"return_uri": {s.URL + "/albums"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/report", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := *s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := readAll(resp)
	if err != nil {
		return "", err
	}
	switch resp.StatusCode {
	case http.StatusFound:
		return resp.Header.Get("Location"), nil
	case http.StatusOK:
		return ParseLaunchPage(body)
	default:
		return "", apiError(resp, body)
	}
}

// parseForm reads an application/x-www-form-urlencoded body of at most
// 64 KiB into r.PostForm.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return errors.New("kheopstest: not a form")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	return r.ParseForm()
}

func readAll(resp *http.Response) ([]byte, error) {
	return io.ReadAll(io.LimitReader(resp.Body, 8<<20))
}
