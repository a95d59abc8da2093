package reportprovider

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"

	"github.com/dicombridge/dicombridge/internal/origin"
)

// fragmentScript moves the implicit-flow fragment into a same-origin form
// POST: the server never sees a fragment otherwise. It first removes the
// fragment from the address bar and history. It is a constant (nothing is
// interpolated into it), so its hash in the Content-Security-Policy below
// is all the page needs: no 'unsafe-inline', no event-handler attributes.
const fragmentScript = `(function(){` +
	`var h=location.hash.slice(1);` +
	`history.replaceState(null,"",location.pathname+location.search);` +
	`if(!h){document.getElementById("m").textContent="The launch parameters are missing. Open the report provider from KHEOPS again.";return;}` +
	`document.getElementById("v").value=h;` +
	`document.getElementById("f").submit();` +
	`})();`

var (
	fragmentScriptHash = func() string {
		sum := sha256.Sum256([]byte(fragmentScript))
		return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
	}()

	// fragmentPageCSP allows exactly the one script, a POST to this
	// origin, and nothing else: no other scripts, styles, images, frames,
	// base URL or connections.
	fragmentPageCSP = "default-src 'none'; script-src '" + fragmentScriptHash +
		"'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

	fragmentPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Opening report provider</title></head>
<body><p id="m">Opening the report provider&hellip;</p>
<form id="f" method="post"><input type="hidden" id="v" name="fragment"></form>
<noscript>JavaScript is needed to receive this launch from KHEOPS.</noscript>
<script>` + fragmentScript + `</script>
</body></html>
`
)

// maxFragmentForm bounds the POST body of the fragment page.
const maxFragmentForm = maxFragmentLen + 1024

// LaunchHandler receives launches at the redirect_uri. For the code flow it
// reads the query of a GET. For the implicit flow a GET returns a small page
// (strict CSP, one hashed script) that POSTs the fragment back to the same
// URL; the POST must be same-origin. Both paths then call
// [Provider.Complete] and pass the session to onSession, which should start
// a fresh application session (never join an existing one) and redirect to
// a URL without launch parameters. Any site can send a browser to the
// redirect_uri with launch parameters it obtained itself (KHEOPS has no
// state parameter), so show the user and study before any write. Failures go to onError; nil onError
// answers with a short status text and no details. Responses carry
// Cache-Control: no-store and Referrer-Policy: no-referrer, so the code
// does not leak through caches or Referer.
func (p *Provider) LaunchHandler(onSession func(http.ResponseWriter, *http.Request, *Session), onError func(http.ResponseWriter, *http.Request, error)) http.Handler {
	if onError == nil {
		onError = func(w http.ResponseWriter, _ *http.Request, err error) {
			code := ErrorStatus(err)
			http.Error(w, http.StatusText(code), code)
		}
	}
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		if p.log != nil {
			p.log.InfoContext(r.Context(), "reportprovider: launch refused", "error", err.Error())
		}
		onError(w, r, err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		var l *Launch
		var err error
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			q := r.URL.Query()
			_, hasCode := q["code"]
			_, hasTok := q["access_token"]
			switch {
			case hasTok:
				err = fmt.Errorf("%w: access_token must not be sent in the query", ErrInvalidLaunch)
			case hasCode && r.Method == http.MethodHead:
				// A HEAD (link checkers, previews) must not spend the code.
				h.Set("Allow", "GET, POST")
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			case hasCode:
				l, err = ParseLaunch(q)
			case p.cfg.ResponseType == ResponseTypeToken:
				h.Set("Content-Type", "text/html; charset=utf-8")
				h.Set("Content-Security-Policy", fragmentPageCSP)
				h.Set("X-Frame-Options", "DENY")
				if r.Method == http.MethodGet {
					_, _ = w.Write([]byte(fragmentPage))
				}
				return
			default:
				err = fmt.Errorf("%w: code is missing", ErrInvalidLaunch)
			}
		case http.MethodPost:
			l, err = p.parsePostedFragment(w, r)
		default:
			h.Set("Allow", "GET, HEAD, POST")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		s, err := p.Complete(r.Context(), l)
		if err != nil {
			fail(w, r, err)
			return
		}
		onSession(w, r, s)
	})
}

// parsePostedFragment reads the form the fragment page posts. A browser
// marks a cross-site POST with Sec-Fetch-Site or Origin; either one naming
// another site is refused, so another site cannot post a fragment here
// directly. That does not stop a forced launch: another site can still
// send the browser to the redirect_uri with its own fragment (or code), and
// the page posts that same-origin. KHEOPS sends no state to tell such a
// launch apart, which is why onSession must start a fresh session and show
// whose it is.
func (p *Provider) parsePostedFragment(w http.ResponseWriter, r *http.Request) (*Launch, error) {
	if p.cfg.ResponseType != ResponseTypeToken {
		return nil, fmt.Errorf("%w: POST is only used by the implicit flow", ErrInvalidLaunch)
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return nil, fmt.Errorf("%w: cross-site POST refused", ErrInvalidLaunch)
	}
	if o := r.Header.Get("Origin"); o != "" {
		ou, err := url.Parse(o)
		ru, err2 := url.Parse(p.cfg.RedirectURI)
		if err != nil || err2 != nil || !origin.Same(ou, ru) {
			return nil, fmt.Errorf("%w: cross-origin POST refused", ErrInvalidLaunch)
		}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, fmt.Errorf("%w: the fragment must be posted as a form", ErrInvalidLaunch)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFragmentForm)
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("%w: unreadable form", ErrInvalidLaunch)
	}
	frag := r.PostForm["fragment"]
	if len(frag) != 1 {
		return nil, fmt.Errorf("%w: exactly one fragment field is expected", ErrInvalidLaunch)
	}
	return parseFragment(frag[0])
}

// ErrorStatus maps an error from [Provider.Complete] to an HTTP status for
// the browser: 400 for a bad or replayed launch, 403 for an untrusted
// instance or a rejected token, 502 when KHEOPS failed or misbehaved.
func ErrorStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrInvalidLaunch), errors.Is(err, ErrReplayedLaunch):
		return http.StatusBadRequest
	case errors.Is(err, ErrUntrustedIssuer), errors.Is(err, ErrTokenRejected), errors.Is(err, ErrForbiddenDestination):
		return http.StatusForbidden
	case errors.Is(err, ErrCodeStoreFull):
		return http.StatusServiceUnavailable
	default:
		var oe *OAuthError
		if errors.As(err, &oe) {
			return http.StatusForbidden
		}
		return http.StatusBadGateway
	}
}
