package share

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultMaxValidity caps the validity (plugin cache time) of answers when
// [Config.MaxValidity] is 0. It is the constant the Python services send.
const defaultMaxValidity = 60 * time.Second

// defaultMaxBody bounds request bodies.
const defaultMaxBody = 64 << 10

// Config configures a [Service]. Codec is required; every other zero value
// is documented.
type Config struct {
	// Codec mints and verifies tokens (required).
	Codec *Codec

	// Users are the HTTP Basic users (name -> password) allowed to call
	// the service (the USERS variable); the authorization plugin logs in
	// with WebServiceUsername/WebServicePassword. Names and passwords are
	// compared in constant time. NewService refuses an empty Users unless
	// AllowAnonymous is set.
	Users map[string]string
	// AllowAnonymous serves requests without Basic auth, for a service
	// that sits behind your own authentication.
	AllowAnonymous bool

	// ServerID is the WebServiceIdentifier of the authorization plugin of
	// the standard Orthanc (SERVER_ID, SERVER_IDENTIFIER). When set,
	// tokens are minted bound to it, and unbound tokens validate only for
	// requests that carry it (as "server-id" or "identifier").
	ServerID string
	// AnonymizedServerID is the WebServiceIdentifier of the anonymized
	// Orthanc (ANONYMIZED_SERVER_IDENTIFIER). Anonymized shares are minted
	// bound to it and are valid only there; without it anonymized tokens
	// are refused (the Python services then let them work on the
	// standard Orthanc).
	AnonymizedServerID string

	// Links builds the URLs returned when minting and by the landing page.
	Links Links
	// SharesVersion is the payload layout minted by the old API, PUT
	// /shares: [Latest] ([V3]) by default, [V2] for a fleet where
	// orthanc-share 22.10.6 to 23.1.0 still verifies tokens. PUT /tokens
	// always mints V3.
	SharesVersion Version

	// AllowedTypes are the token types that grant Orthanc access; nil
	// means the viewer publications and instant links that viewers use
	// against Orthanc: osimis-, stone-, ohif- and volview-viewer-publication,
	// viewer-instant-link and download-instant-link. MedDream tokens are
	// left out (MedDream reads Orthanc on its own account; the share JWT
	// only feeds the landing page), and so is "invalid".
	AllowedTypes []Type
	// AllowPost lets share tokens POST at study level. The zero value
	// (false) refuses every POST, at every level, and is what a share
	// link should be: read-only.
	//
	// The authorization plugin sends every POST on a study, or on one of
	// its series or instances when CheckedLevel is "studies", as the same
	// study-level check with no URI, so the service cannot tell a harmless
	// POST from a destructive one. Setting AllowPost lets anyone holding a
	// link, for the shared study:
	//   - POST /studies/{id}/modify: rewrite its tags; with "KeepSource":
	//     false Orthanc deletes the shared study and keeps only the copy;
	//   - POST /studies/{id}/merge: pull series of another study (named by
	//     its Orthanc id) into the shared one, where the link can read them;
	//   - POST /studies/{id}/anonymize: create new studies in Orthanc;
	//   - and every other POST route Orthanc or a plugin offers under
	//     /studies/{id}, /series/{id} or /instances/{id} (e.g. /archive,
	//     /media, /split, /reconstruct, /export).
	// Set it only if a viewer you use needs POST (none of the supported
	// viewers did in our tests; see docs/orthanc.md, "POST"), and then
	// block those routes in a reverse proxy. PUT and DELETE are refused
	// whatever this says.
	AllowPost bool
	// MaxValidity caps how long the plugin may cache an answer; 0 means
	// defaultMaxValidity (60 s). A grant's validity is also capped by the
	// time the token has left, and a revocation takes effect within
	// MaxValidity.
	MaxValidity time.Duration
	// Revocations is where revoked tokens are kept; nil means a new
	// [MemoryRevocations] (fine for one process; use redisstore for
	// several).
	Revocations RevocationStore

	// Orthanc, if set, fills in missing ids when minting, and is where
	// the studies of anonymized shares are anonymized.
	Orthanc *OrthancClient
	// AnonymizedOrthanc is the REST API of the anonymized Orthanc, the one
	// whose plugin has AnonymizedServerID, when it has a database of its
	// own: the anonymized copies are moved there (and deleted from
	// Orthanc). Nil means the anonymized Orthanc shares Orthanc's
	// database (orthanc-share's layout), and the copies stay in it.
	//
	// A share with "anonymized": true is minted only when Orthanc is set:
	// each study is anonymized by Orthanc itself (POST
	// /studies/{id}/anonymize, its Basic Profile of the 2021b edition,
	// private tags removed), and the token and link name the copy, never
	// the original. Each share makes a new copy, with new UIDs. Orthanc's
	// profile does not look at pixel data: burned-in text stays. See
	// docs/orthanc.md, "Anonymized shares".
	AnonymizedOrthanc *OrthancClient
	// MedDream, if set, enables meddream-instant-link (and the landing of
	// meddream-viewer-publication).
	MedDream *MedDreamClient

	// Pages are the texts of the landing page.
	Pages LandingPages

	// Logger receives one debug record per decision and errors of
	// dependencies; nil means silent. Tokens and secrets are never logged.
	Logger *slog.Logger
}

// Service is the token service: an http.Handler that speaks both the old
// orthanc-share API and the orthanc-auth-service API, so it replaces
// either behind the Orthanc authorization plugin. Routes (all behind HTTP
// Basic unless AllowAnonymous):
//
//	PUT  /shares              mint (orthanc-share)
//	POST /shares/validate     validate (plugin 0.2 to 0.4, "identifier")
//	PUT  /tokens/{type}       mint (orthanc-auth-service)
//	POST /tokens/validate     validate (plugin 0.5 on, "server-id"); same handler
//	POST /tokens/decode       decode for the landing page / plugin
//	POST /tokens/revoke       revoke a token ({"token-value": ...})
//	POST /user/get-profile    an empty anonymous profile
//
// [Service.Landing] is the public landing page. Validation answers
// {"granted": bool, "validity": seconds} with status 200 for every bad or
// missing token. A Service is safe for concurrent use.
type Service struct {
	codec       *Codec
	users       []userDigest
	anonymous   bool
	serverID    string
	anonServer  string
	links       Links
	sharesVer   Version
	allowed     []Type
	allowPost   bool
	loose       bool
	maxValid    time.Duration
	revoked     RevocationStore
	orthanc     *OrthancClient
	anonOrthanc *OrthancClient
	meddream    *MedDreamClient
	pages       LandingPages
	log         *slog.Logger
	maxBody     int64
}

type userDigest struct{ name, pass [sha256.Size]byte }

// NewService checks cfg and returns a Service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Codec == nil {
		return nil, errors.New("share: Config.Codec is required")
	}
	if len(cfg.Users) == 0 && !cfg.AllowAnonymous {
		return nil, errors.New("share: Config.Users is empty; set users (USERS) or AllowAnonymous")
	}
	if err := cfg.Links.check(); err != nil {
		return nil, err
	}
	if cfg.AnonymizedOrthanc != nil && cfg.Orthanc == nil {
		return nil, errors.New("share: Config.AnonymizedOrthanc needs Config.Orthanc, the Orthanc that anonymizes")
	}
	if v := cfg.SharesVersion; v < Latest || v > V3 {
		return nil, fmt.Errorf("share: Config.SharesVersion %d is unknown", int(v))
	}
	s := &Service{
		codec: cfg.Codec, anonymous: cfg.AllowAnonymous,
		serverID: cfg.ServerID, anonServer: cfg.AnonymizedServerID,
		links: cfg.Links, sharesVer: cfg.SharesVersion.resolve(),
		allowed: cfg.AllowedTypes, allowPost: cfg.AllowPost,
		maxValid: cfg.MaxValidity, revoked: cfg.Revocations,
		orthanc: cfg.Orthanc, anonOrthanc: cfg.AnonymizedOrthanc, meddream: cfg.MedDream, pages: cfg.Pages.withDefaults(),
		log: cfg.Logger,
	}
	for name, pass := range cfg.Users {
		s.users = append(s.users, userDigest{sha256.Sum256([]byte(name)), sha256.Sum256([]byte(pass))})
	}
	if s.allowed == nil {
		s.allowed = defaultAllowedTypes
	}
	if s.maxValid <= 0 {
		s.maxValid = defaultMaxValidity
	}
	if s.revoked == nil {
		s.revoked = &MemoryRevocations{Now: cfg.Codec.now}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.maxBody = defaultMaxBody
	return s, nil
}

// authorized checks HTTP Basic credentials against every user in constant
// time (digests of equal length, no early exit).
func (s *Service) authorized(r *http.Request) bool {
	if s.anonymous {
		return true
	}
	name, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	n, p := sha256.Sum256([]byte(name)), sha256.Sum256([]byte(pass))
	match := 0
	for i := range s.users {
		match |= subtle.ConstantTimeCompare(n[:], s.users[i].name[:]) & subtle.ConstantTimeCompare(p[:], s.users[i].pass[:])
	}
	return match == 1
}

// ServeHTTP implements http.Handler.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var allow string
	var h func(http.ResponseWriter, *http.Request)
	switch p := r.URL.Path; {
	case p == "/shares/validate" || p == "/tokens/validate":
		allow, h = http.MethodPost, s.serveValidate
	case p == "/shares":
		allow, h = http.MethodPut, s.serveMintShares
	case p == "/tokens/decode":
		allow, h = http.MethodPost, s.serveDecode
	case p == "/tokens/revoke":
		allow, h = http.MethodPost, s.serveRevoke
	case p == "/user/get-profile":
		allow, h = http.MethodPost, s.serveProfile
	case strings.HasPrefix(p, "/tokens/") && !strings.Contains(p[len("/tokens/"):], "/"):
		allow, h = http.MethodPut, s.serveMintTokens
	default:
		writeDetail(w, http.StatusNotFound, "share: not found")
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="share", charset="UTF-8"`)
		writeDetail(w, http.StatusUnauthorized, "share: authentication required")
		return
	}
	if r.Method != allow {
		w.Header().Set("Allow", allow)
		writeDetail(w, http.StatusMethodNotAllowed, "share: method not allowed")
		return
	}
	h(w, r)
}

// Access is one validation request of the authorization plugin: the
// access to check and the token that came with it.
type Access struct {
	// Method is "get", "post", "put" or "delete" (any case).
	Method string
	// Level is the level of the accessed resource; "system" for URIs
	// that name no resource.
	Level Level
	// OrthancID and DicomUID identify the accessed resource.
	OrthancID, DicomUID string
	// ServerID is the plugin's WebServiceIdentifier ("server-id", or
	// "identifier" before plugin 0.5); empty when null.
	ServerID string
	// Token is the token value; a "Bearer " prefix is removed.
	Token string
}

// Decision is the answer to an [Access].
type Decision struct {
	Granted bool
	// Validity is how many seconds the plugin may cache the answer.
	Validity int
	// Reason wraps the sentinel error that caused a denial (nil when
	// granted). It never contains the token.
	Reason error
	// TokenID is the revocation id of the token, when it was decoded.
	TokenID string
}

// Check decides an access with the rules of the Python token services
// (see docs/orthanc.md, "Decision") and these fixes: POST, PUT and DELETE
// are refused (POST at study level only with [Config.AllowPost]);
// system-level accesses are refused; the token type must be allowed; a
// token bound to a server id is valid only there, and anonymized tokens
// only on the anonymized server; by default the ids must match one token
// entry at the requested level; revoked tokens are refused; and a grant's
// validity never exceeds the seconds the token has left.
func (s *Service) Check(ctx context.Context, a Access) Decision {
	maxValid := int(s.maxValid / time.Second)
	tok := stripBearer(a.Token)
	if tok == "" {
		return Decision{Validity: maxValid, Reason: ErrNoToken}
	}
	// Decode first, so that every denial of a token that decodes names
	// the token (TokenID) in the decision and the log.
	cl, err := s.codec.decodeShared(tok)
	if err != nil {
		v := maxValid
		if errors.Is(err, ErrNotYetValid) {
			v = 0
		}
		d := Decision{Validity: v, Reason: err}
		if cl != nil {
			d.TokenID = cl.revocationID
		}
		return d
	}
	d := Decision{Validity: maxValid, TokenID: cl.revocationID}
	switch m := strings.ToLower(a.Method); m {
	case "get":
	case "post":
		if !s.allowPost || a.Level != LevelStudy {
			d.Reason = fmt.Errorf("%w: post", ErrMethod)
			return d
		}
	default:
		d.Reason = fmt.Errorf("%w: %s", ErrMethod, m)
		return d
	}
	if a.Level == LevelSystem || (a.OrthancID == "" && a.DicomUID == "") {
		d.Reason = ErrSystemLevel
		return d
	}
	if !slices.Contains(s.allowed, cl.Type) {
		d.Reason = fmt.Errorf("%w: %s", ErrTokenType, cl.Type)
		return d
	}
	if err := s.checkServer(cl, a.ServerID); err != nil {
		d.Reason = err
		return d
	}
	if !s.matches(cl.Resources, a) {
		d.Reason = ErrResource
		return d
	}
	revoked, err := s.revoked.Revoked(ctx, cl.revocationID)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "share: revocation store failed; denying", slog.String("error", err.Error()))
		d.Reason, d.Validity = fmt.Errorf("share: revocation store: %w", err), 0
		return d
	}
	if revoked {
		d.Reason = ErrRevoked
		return d
	}
	d.Granted = true
	if e := cl.expiry(); !e.IsZero() {
		left := int(e.Sub(s.codec.now()) / time.Second)
		d.Validity = max(0, min(d.Validity, left))
	}
	return d
}

func (s *Service) checkServer(cl *Claims, reqServer string) error {
	// Like orthanc-auth-service with SERVER_ID: only the configured
	// servers are served at all, whatever the token says.
	if s.serverID != "" && reqServer != s.serverID && (s.anonServer == "" || reqServer != s.anonServer) {
		return fmt.Errorf("%w: server id does not match", ErrServerID)
	}
	switch {
	case cl.ServerID != "":
		if reqServer != cl.ServerID {
			return fmt.Errorf("%w: token is bound to another server", ErrServerID)
		}
	case cl.Anonymized:
		if s.anonServer == "" || reqServer != s.anonServer {
			return fmt.Errorf("%w: anonymized token outside the anonymized server", ErrServerID)
		}
	case s.serverID != "":
		if reqServer != s.serverID {
			return fmt.Errorf("%w: server id does not match", ErrServerID)
		}
	}
	return nil
}

// matches applies the Python rule (every id the whole list has must be
// matched by some entry; mixed lists never match), then, unless loose,
// requires one entry to match every id it has at the requested level.
func (s *Service) matches(rs []Resource, a Access) bool {
	if len(rs) == 0 {
		return false
	}
	allD, allO := true, true
	for _, r := range rs {
		allD = allD && r.DicomUID != ""
		allO = allO && r.OrthancID != ""
	}
	granted := false
	if a.DicomUID != "" && allD {
		if !slices.ContainsFunc(rs, func(r Resource) bool { return r.DicomUID == a.DicomUID }) {
			return false
		}
		granted = true
	}
	if a.OrthancID != "" && allO {
		if !slices.ContainsFunc(rs, func(r Resource) bool { return r.OrthancID == a.OrthancID }) {
			return false
		}
		granted = true
	}
	if !granted || s.loose {
		return granted
	}
	return slices.ContainsFunc(rs, func(r Resource) bool {
		return r.level() == a.Level &&
			(r.DicomUID == "" || r.DicomUID == a.DicomUID) &&
			(r.OrthancID == "" || r.OrthancID == a.OrthancID)
	})
}

// Revoke revokes token (which must verify; an expired token is accepted
// and revoked until its expiry) and returns its revocation id.
func (s *Service) Revoke(ctx context.Context, token string) (string, error) {
	cl, err := s.codec.Decode(stripBearer(token))
	if err != nil && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrNotYetValid) {
		return "", err
	}
	until := cl.expiry()
	if until.IsZero() {
		until = neverExpires
	}
	if err := s.revoked.Revoke(ctx, cl.revocationID, until); err != nil {
		return "", fmt.Errorf("share: revoking: %w", err)
	}
	return cl.revocationID, nil
}

// logDecision records d at debug level, without the token.
func (s *Service) logDecision(ctx context.Context, a *Access, d *Decision) {
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	reason := ""
	if d.Reason != nil {
		reason = d.Reason.Error()
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "share: validate",
		slog.Bool("granted", d.Granted), slog.Int("validity", d.Validity), slog.String("reason", reason),
		slog.String("token_id", d.TokenID), slog.String("method", a.Method), slog.String("level", string(a.Level)),
		slog.String("orthanc_id", a.OrthancID), slog.String("server_id", a.ServerID))
}

func (s *Service) serveValidate(w http.ResponseWriter, r *http.Request) {
	body, status := readBody(w, r, s.maxBody)
	if status != 0 {
		writeDecision(w, status, Decision{})
		return
	}
	a, err := parseAccess(body)
	if err != nil {
		writeDecision(w, http.StatusBadRequest, Decision{})
		return
	}
	if t := r.Header.Get("token"); t != "" {
		a.Token = t
	}
	d := s.Check(r.Context(), a)
	s.logDecision(r.Context(), &a, &d)
	writeDecision(w, http.StatusOK, d)
}

func writeDecision(w http.ResponseWriter, status int, d Decision) {
	b := make([]byte, 0, 40)
	if d.Granted {
		b = append(b, `{"granted":true,"validity":`...)
	} else {
		b = append(b, `{"granted":false,"validity":`...)
	}
	b = strconv.AppendInt(b, int64(d.Validity), 10)
	b = append(b, '}')
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var jsonContentType = []string{"application/json"}

// readBody reads the request body up to limit; status is non-zero (413 or
// 400) when it cannot.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int) {
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	var buf []byte
	if r.ContentLength > 0 {
		buf = make([]byte, 0, r.ContentLength)
	} else {
		buf = make([]byte, 0, 512)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				return nil, http.StatusRequestEntityTooLarge
			case errors.Is(err, io.EOF):
				return buf, 0
			default:
				return nil, http.StatusBadRequest
			}
		}
	}
}
