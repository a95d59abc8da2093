package reportprovider

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/dicomweb"
	"github.com/dicombridge/dicombridge/internal/httpx"
	"github.com/dicombridge/dicombridge/internal/origin"
)

// Session is the outcome of a checked launch: who launched the provider,
// for which studies, and the token to reach them. Every field comes from
// KHEOPS (introspection, userinfo, its configuration document), not from
// the launch URL. Printing or logging a Session never shows the token.
//
// KHEOPS issues no refresh token: when Expiry passes, the user must launch
// the provider again from KHEOPS.
type Session struct {
	Issuer           string    // the KHEOPS root URL (an allowlisted Issuer.URL)
	ClientID         string    // this provider's client_id on the launching album
	Flow             string    // ResponseTypeCode or ResponseTypeToken
	AccessToken      Token     // bearer token for DICOMweb and userinfo
	Expiry           time.Time // from introspection
	Scope            []string  // "read", and "write" if the token may store
	StudyUIDs        []string  // the studies the token grants, from introspection
	AlbumID          string    // the album the provider is registered in
	User             UserInfo  // from userinfo
	DICOMwebEndpoint string    // base URL for QIDO-RS, WADO-RS and STOW-RS
	ReturnURI        string    // a safe link back to KHEOPS (issuer origin only)
}

// CanWrite reports whether the token carries the write scope needed for
// STOW-RS.
func (s *Session) CanWrite() bool { return slices.Contains(s.Scope, "write") }

// Expired reports whether the token has expired at now.
func (s *Session) Expired(now time.Time) bool { return !now.Before(s.Expiry) }

// String summarises the session without the token.
func (s *Session) String() string {
	return fmt.Sprintf("reportprovider.Session{issuer=%s client_id=%s user=%s studies=%d scope=%q expiry=%s}",
		s.Issuer, s.ClientID, s.User.Subject, len(s.StudyUIDs), strings.Join(s.Scope, " "), s.Expiry.UTC().Format(time.RFC3339))
}

// LogValue logs the session without the token.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("issuer", s.Issuer),
		slog.String("client_id", s.ClientID),
		slog.String("user", s.User.Subject),
		slog.Int("studies", len(s.StudyUIDs)),
		slog.String("scope", strings.Join(s.Scope, " ")),
		slog.Time("expiry", s.Expiry),
	)
}

// Transport returns a RoundTripper that sends the session's bearer token to
// the KHEOPS origin and refuses requests to any other origin, so that a
// URL taken from a response cannot carry the token elsewhere. It clones
// each request before adding the header, like x/oauth2's Transport. A nil
// base means http.DefaultTransport.
func (s *Session) Transport(base http.RoundTripper) http.RoundTripper {
	o := ""
	if u, err := url.Parse(s.DICOMwebEndpoint); err == nil && u.Host != "" {
		o = origin.Of(u)
	}
	return &bearerTransport{token: s.AccessToken, origin: o, base: base}
}

// Client returns a copy of base whose requests carry the bearer token, go
// only to the KHEOPS origin, and follow redirects only within it. A nil base
// gets a new client with timeouts (and its own connection pool): pass a
// shared client to reuse connections across sessions.
func (s *Session) Client(base *http.Client) *http.Client {
	var c http.Client
	if base != nil {
		c = *base
	} else {
		c = *httpx.NewClient(0)
	}
	c.Transport = s.Transport(c.Transport)
	c.CheckRedirect = sameOriginRedirect
	return &c
}

// DICOMweb returns a DICOMweb client (package dicomweb) for the session's
// endpoint, sending the token through [Session.Client](base): QIDO-RS,
// WADO-RS and STOW-RS limited to the studies the launch granted.
func (s *Session) DICOMweb(base *http.Client) *dicomweb.Client {
	return &dicomweb.Client{Endpoint: s.DICOMwebEndpoint, HTTPClient: s.Client(base)}
}

// bearerTransport adds "Authorization: Bearer" to a clone of each request
// to origin and refuses every other origin with [ErrForbiddenDestination].
type bearerTransport struct {
	token  Token
	origin string            // origin.Of the KHEOPS endpoint
	base   http.RoundTripper // nil: http.DefaultTransport
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.origin == "" || origin.Of(req.URL) != t.origin {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("%w: the session token is only sent to %s", ErrForbiddenDestination, t.origin)
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+string(t.token))
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

var albumIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// safeReturnURI returns a link back to KHEOPS that cannot be an open
// redirect: ROOT/albums/{album} for the album introspection reported, else
// the launch's return_uri if it is exactly such a link on the issuer's
// origin, else the issuer root. javascript:, other hosts, user info,
// queries and fragments are all dropped.
func safeReturnURI(is *issuer, albumID, raw string) string {
	if albumIDPattern.MatchString(albumID) {
		return is.URL + "/albums/" + albumID
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Opaque != "" ||
		u.RawQuery != "" || u.Fragment != "" || strings.Contains(raw, "#") || origin.Of(u) != is.origin {
		return is.URL
	}
	album, ok := strings.CutPrefix(u.EscapedPath(), is.path+"/albums/")
	if !ok || !albumIDPattern.MatchString(album) {
		return is.URL
	}
	return is.URL + "/albums/" + album
}
