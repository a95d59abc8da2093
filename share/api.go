package share

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// This file holds the JSON bodies of the service's routes other than
// validation: minting (old and new API), decode, revoke and the profile.

// wireAccess is a validation request body of the authorization plugin.
// Unknown fields (uri, labels, token-key, ...) are ignored.
type wireAccess struct {
	Method     *string `json:"method"`
	Level      *string `json:"level"`
	OrthancID  *string `json:"orthanc-id"`
	DicomUID   *string `json:"dicom-uid"`
	ServerID   *string `json:"server-id"`
	Identifier *string `json:"identifier"`
	TokenValue *string `json:"token-value"`
}

var errNotObject = errors.New("share: body is not a JSON object")

// parseAccess reads a validation request body (compact or pretty-printed
// JSON, any key order).
func parseAccess(body []byte) (Access, error) {
	if a, ok := parseAccessFast(body); ok {
		return a, nil
	}
	return parseAccessJSON(body)
}

// parseAccessJSON is parseAccess with encoding/json only.
func parseAccessJSON(body []byte) (Access, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return Access{}, errNotObject
	}
	var w wireAccess
	if err := json.Unmarshal(body, &w); err != nil {
		return Access{}, fmt.Errorf("share: validation request: %w", err)
	}
	var a Access
	if w.Method != nil {
		a.Method = *w.Method
	}
	if w.Level != nil {
		a.Level = Level(*w.Level)
	}
	if w.OrthancID != nil {
		a.OrthancID = *w.OrthancID
	}
	if w.DicomUID != nil {
		a.DicomUID = *w.DicomUID
	}
	switch {
	case w.ServerID != nil:
		a.ServerID = *w.ServerID
	case w.Identifier != nil:
		a.ServerID = *w.Identifier
	}
	if w.TokenValue != nil {
		a.Token = *w.TokenValue
	}
	return a, nil
}

// wireShareRequest is the body of PUT /shares (orthanc-share). Before
// 22.10.6 a single study was given by top-level ids; both forms are read.
type wireShareRequest struct {
	ID            *string         `json:"id"`
	Studies       *[]wireResource `json:"studies"`
	DicomUID      *string         `json:"dicom-uid"`
	DicomUIDAlt   *string         `json:"dicom_uid"`
	OrthancID     *string         `json:"orthanc-id"`
	OrthancIDAlt  *string         `json:"orthanc_id"`
	Anonymized    *bool           `json:"anonymized"`
	Type          *string         `json:"type"`
	Expiration    *string         `json:"expiration-date"`
	ExpirationAlt *string         `json:"expiration_date"`
}

// wireTokenRequest is the body of PUT /tokens/{type}
// (orthanc-auth-service). Unknown fields (the plugin adds server-id) are
// ignored.
type wireTokenRequest struct {
	ID               *string         `json:"id"`
	Resources        *[]wireResource `json:"resources"`
	Type             *string         `json:"type"`
	Expiration       *string         `json:"expiration-date"`
	ExpirationAlt    *string         `json:"expiration_date"`
	ValidityDuration *int64          `json:"validity-duration"`
	ValidityDurAlt   *int64          `json:"validity_duration"`
}

type echoStudy struct {
	DicomUID  *string `json:"dicom-uid"`
	OrthancID *string `json:"orthanc-id"`
}

type echoResource struct {
	DicomUID  *string `json:"dicom-uid"`
	OrthancID *string `json:"orthanc-id"`
	URL       *string `json:"url"`
	Level     string  `json:"level"`
}

type shareEcho struct {
	ID         *string     `json:"id"`
	Studies    []echoStudy `json:"studies"`
	Anonymized bool        `json:"anonymized"`
	Type       Type        `json:"type"`
	Expiration *string     `json:"expiration-date"`
}

type tokenEcho struct {
	ID               *string        `json:"id"`
	Resources        []echoResource `json:"resources"`
	Type             Type           `json:"type"`
	Expiration       *string        `json:"expiration-date"`
	ValidityDuration *int           `json:"validity-duration"`
}

type mintResponse struct {
	Request any     `json:"request"`
	Token   string  `json:"token"`
	URL     *string `json:"url"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func expirationEcho(cl *Claims) *string {
	if cl.ExpiresAt.IsZero() {
		return nil
	}
	return nullable(formatPyTime(cl.ExpiresAt))
}

func echoResources(rs []Resource) []echoResource {
	out := make([]echoResource, len(rs))
	for i, r := range rs {
		out[i] = echoResource{nullable(r.DicomUID), nullable(r.OrthancID), nullable(r.URL), string(r.level())}
	}
	return out
}

// httpError is an error with the status it should be answered with.
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func badRequest(err error) error { return &httpError{http.StatusBadRequest, err} }

func (s *Service) serveMintShares(w http.ResponseWriter, r *http.Request) {
	var req wireShareRequest
	if !s.decodeBody(w, r, &req) {
		return
	}
	cl := Claims{Version: s.sharesVer}
	if req.Type == nil {
		writeDetail(w, http.StatusBadRequest, "share: type is required")
		return
	}
	cl.Type = Type(*req.Type)
	if !knownType(cl.Type, V2) {
		writeDetail(w, http.StatusBadRequest, fmt.Sprintf("share: type %q is not an orthanc-share type", cl.Type))
		return
	}
	if req.ID != nil {
		cl.ID = *req.ID
	}
	if req.Anonymized != nil {
		cl.Anonymized = *req.Anonymized
	}
	list := []wireResource{{DicomUID: req.DicomUID, DicomUIDAlt: req.DicomUIDAlt, OrthancID: req.OrthancID, OrthancIDAlt: req.OrthancIDAlt}}
	if req.Studies != nil {
		list = *req.Studies
	}
	var err error
	if cl.Resources, err = requestResources(list, false); err != nil {
		writeError(w, err)
		return
	}
	if cl.ExpiresAt, err = requestExpiration(req.Expiration, req.ExpirationAlt); err != nil {
		writeError(w, err)
		return
	}
	if cl.Anonymized {
		// Orthanc anonymizes and copies while the client waits: lift the
		// server's write timeout for this answer (best effort).
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(anonymizeTimeout + time.Minute))
	}
	token, link, minted, err := s.mint(r.Context(), cl, true)
	if err != nil {
		s.logMintError(r.Context(), err)
		writeError(w, err)
		return
	}
	echo := shareEcho{ID: nullable(minted.ID), Anonymized: minted.Anonymized, Type: minted.Type, Expiration: expirationEcho(&minted)}
	for _, r := range minted.Resources {
		echo.Studies = append(echo.Studies, echoStudy{nullable(r.DicomUID), nullable(r.OrthancID)})
	}
	writeJSON(w, http.StatusOK, mintResponse{Request: echo, Token: token, URL: nullable(link)})
}

func (s *Service) serveMintTokens(w http.ResponseWriter, r *http.Request) {
	pathType := Type(strings.TrimPrefix(r.URL.Path, "/tokens/"))
	var req wireTokenRequest
	if !s.decodeBody(w, r, &req) {
		return
	}
	cl := Claims{Version: V3, Type: pathType}
	if req.Type != nil && Type(*req.Type) != pathType {
		writeDetail(w, http.StatusBadRequest, "share: type in the body differs from the type in the path")
		return
	}
	if !knownType(cl.Type, V3) || cl.Type == typeInvalid {
		writeDetail(w, http.StatusBadRequest, fmt.Sprintf("share: unknown token type %q", cl.Type))
		return
	}
	if req.ID != nil {
		cl.ID = *req.ID
	}
	if req.Resources == nil {
		writeDetail(w, http.StatusBadRequest, "share: resources are required")
		return
	}
	var err error
	if cl.Resources, err = requestResources(*req.Resources, true); err != nil {
		writeError(w, err)
		return
	}
	if cl.ExpiresAt, err = requestExpiration(req.Expiration, req.ExpirationAlt); err != nil {
		writeError(w, err)
		return
	}
	vd := req.ValidityDuration
	if vd == nil {
		vd = req.ValidityDurAlt
	}
	// The plugin may send an uninitialised ValidityDuration (see
	// docs/orthanc.md, "Minting"):
	// an explicit expiration date wins, and a lone duration is bounded.
	if vd != nil && cl.ExpiresAt.IsZero() {
		if *vd < 0 || *vd > maxValidityDuration {
			writeDetail(w, http.StatusBadRequest, "share: validity-duration out of range")
			return
		}
		cl.ValidityDuration = int(*vd)
	}
	token, link, minted, err := s.mint(r.Context(), cl, false)
	if err != nil {
		s.logMintError(r.Context(), err)
		writeError(w, err)
		return
	}
	echo := tokenEcho{ID: nullable(minted.ID), Resources: echoResources(minted.Resources), Type: minted.Type, Expiration: expirationEcho(&minted)}
	if minted.ValidityDuration != 0 {
		echo.ValidityDuration = &minted.ValidityDuration
	}
	writeJSON(w, http.StatusOK, mintResponse{Request: echo, Token: token, URL: nullable(link)})
}

func (s *Service) logMintError(ctx context.Context, err error) {
	var he *httpError
	if errors.As(err, &he) && he.status < 500 {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelError, "share: minting failed", slog.String("error", err.Error()))
}

func requestResources(list []wireResource, levels bool) ([]Resource, error) {
	if len(list) == 0 {
		return nil, badRequest(fmt.Errorf("%w: no studies or resources", ErrInvalidShare))
	}
	if len(list) > maxResources {
		return nil, badRequest(fmt.Errorf("%w: more than %d resources", ErrInvalidShare, maxResources))
	}
	out := make([]Resource, len(list))
	for i, wr := range list {
		var err error
		r := &out[i]
		if r.DicomUID, err = pick(wr.DicomUID, wr.DicomUIDAlt, "dicom-uid"); err != nil {
			return nil, badRequest(fmt.Errorf("%w: resource %d: dicom-uid given twice", ErrInvalidShare, i))
		}
		if r.OrthancID, err = pick(wr.OrthancID, wr.OrthancIDAlt, "orthanc-id"); err != nil {
			return nil, badRequest(fmt.Errorf("%w: resource %d: orthanc-id given twice", ErrInvalidShare, i))
		}
		r.Level = LevelStudy
		if levels {
			if wr.URL != nil {
				r.URL = *wr.URL
			}
			if wr.Level != nil {
				r.Level = Level(*wr.Level)
			}
			if !validLevel(r.Level) || r.Level == LevelSystem {
				return nil, badRequest(fmt.Errorf("%w: resource %d: level %q", ErrInvalidShare, i, r.Level))
			}
		}
	}
	return out, nil
}

func requestExpiration(a, b *string) (t time.Time, err error) {
	v, err := pick(a, b, "expiration-date")
	if err != nil {
		return t, badRequest(fmt.Errorf("%w: expiration-date given twice", ErrInvalidShare))
	}
	if v == "" {
		return t, nil
	}
	if t, err = parsePyTime(v); err != nil {
		return t, badRequest(fmt.Errorf("%w: expiration-date is not an ISO-8601 date and time", ErrInvalidShare))
	}
	// A given date is range-checked, never taken for "no expiry": year 1
	// parses to Go's zero time, which Claims use for "never expires".
	if !expiryInRange(t) {
		return time.Time{}, badRequest(fmt.Errorf("%w: expiration-date is outside 1970-9999", ErrInvalidShare))
	}
	return t, nil
}

// mint completes cl (ids from Orthanc, server binding), then mints the JWT
// (or, for a MedDream instant link, fetches a MedDream token) and builds
// the link. legacy selects the orthanc-share behaviour: a link that cannot
// be built is an error, and MedDream links carry no study parameter.
func (s *Service) mint(ctx context.Context, cl Claims, legacy bool) (token, link string, minted Claims, err error) {
	if err := s.typeEnabled(&cl); err != nil {
		return "", "", Claims{}, badRequest(err)
	}
	if s.orthanc != nil {
		for i := range cl.Resources {
			if cl.Resources[i], err = s.orthanc.Complete(ctx, cl.Resources[i]); err != nil {
				if errors.Is(err, ErrNotFound) {
					return "", "", Claims{}, &httpError{http.StatusNotFound, err}
				}
				return "", "", Claims{}, &httpError{http.StatusBadGateway, err}
			}
		}
	}
	if cl.Type == MedDreamInstantLink {
		uids := make([]string, len(cl.Resources))
		for i, r := range cl.Resources {
			if r.DicomUID == "" || r.level() != LevelStudy {
				return "", "", Claims{}, badRequest(fmt.Errorf("%w: MedDream links need the dicom-uid of studies", ErrInvalidShare))
			}
			uids[i] = r.DicomUID
		}
		mt, err := s.meddream.Token(ctx, uids)
		if err != nil {
			return "", "", Claims{}, &httpError{http.StatusBadGateway, err}
		}
		link, err := s.links.medDreamURL(uids, mt, legacy)
		if err != nil {
			return "", "", Claims{}, badRequest(err)
		}
		cl.ExpiresAt, cl.ValidityDuration = time.Time{}, 0 // MedDream decides
		return mt, link, cl, nil
	}
	if cl.Anonymized {
		if cl.Resources, err = s.anonymizeShare(ctx, cl.Resources); err != nil {
			if errors.Is(err, ErrNotFound) {
				return "", "", Claims{}, &httpError{http.StatusNotFound, err}
			}
			var he *httpError
			if errors.As(err, &he) {
				return "", "", Claims{}, err
			}
			return "", "", Claims{}, &httpError{http.StatusBadGateway, err}
		}
		cl.ServerID = s.anonServer
	} else {
		cl.ServerID = s.serverID
	}
	token, minted, err = s.codec.Mint(cl)
	if err != nil {
		return "", "", Claims{}, badRequest(err)
	}
	link, err = s.links.URL(minted, token)
	if err != nil {
		if legacy {
			return "", "", Claims{}, badRequest(err)
		}
		link = "" // orthanc-auth-service answers "url": null
	}
	return token, link, minted, nil
}

// typeEnabled refuses share types whose links cannot work with this
// configuration, as the Python services do (they answer 500; we 400).
func (s *Service) typeEnabled(cl *Claims) error {
	l := &s.links
	disabled := func(what string) error {
		return fmt.Errorf("%w: %s shares are disabled (%s not configured)", ErrInvalidShare, cl.Type, what)
	}
	if cl.Anonymized {
		if s.anonServer == "" {
			return disabled("anonymized server id")
		}
		if cl.Type != OsimisViewerPublication {
			return fmt.Errorf("%w: %s cannot be anonymized", ErrInvalidShare, cl.Type)
		}
		if l.AnonymizedOrthancRoot == "" {
			return disabled("public anonymized Orthanc root")
		}
		if s.orthanc == nil {
			return disabled("Orthanc REST API, which anonymizes")
		}
		return nil
	}
	switch cl.Type {
	case OsimisViewerPublication, StoneViewerPublication, VolViewViewerPublication:
		if l.OrthancRoot == "" {
			return disabled("public Orthanc root")
		}
	case OHIFViewerPublication:
		if l.OHIFRoot == "" {
			return disabled("public OHIF root")
		}
	case MedDreamInstantLink:
		if s.meddream == nil || l.MedDreamRoot == "" {
			return disabled("MedDream token service and root")
		}
	case MedDreamViewerPublication:
		if l.LandingRoot == "" {
			return disabled("public landing root")
		}
	}
	return nil
}

// outcome is what a token leads to for a person opening it (landing page,
// decode route).
type outcome struct {
	claims   Claims
	code     string // "", "expired", "invalid", "unknown", "unavailable"
	status   int    // for the landing page
	redirect string
}

// follow decodes token and works out where it leads.
func (s *Service) follow(ctx context.Context, token string) outcome {
	token = stripBearer(token)
	if token == "" {
		return outcome{code: "invalid", status: http.StatusBadRequest}
	}
	cl, err := s.codec.Decode(token)
	switch {
	case errors.Is(err, ErrExpired):
		return outcome{claims: cl, code: "expired", status: http.StatusGone}
	case errors.Is(err, ErrSignature), errors.Is(err, ErrNotYetValid):
		return outcome{code: "invalid", status: http.StatusForbidden}
	case err != nil:
		return outcome{code: "invalid", status: http.StatusBadRequest}
	}
	revoked, err := s.revoked.Revoked(ctx, cl.revocationID)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "share: revocation store failed", slog.String("error", err.Error()))
		return outcome{claims: cl, code: "unknown", status: http.StatusServiceUnavailable}
	}
	if revoked {
		return outcome{claims: cl, code: "invalid", status: http.StatusForbidden}
	}
	o := outcome{claims: cl, status: http.StatusTemporaryRedirect}
	switch cl.Type {
	case MedDreamViewerPublication:
		if s.meddream == nil {
			return outcome{claims: cl, code: "unknown", status: http.StatusBadRequest}
		}
		uids := make([]string, len(cl.Resources))
		for i, r := range cl.Resources {
			uids[i] = r.DicomUID
		}
		// err is the function's: the check after the switch covers both
		// branches (a := here once hid MedDreamURL's error).
		var mt string
		if mt, err = s.meddream.Token(ctx, uids); err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "share: MedDream token service failed", slog.String("error", err.Error()))
			return outcome{claims: cl, code: "unknown", status: http.StatusBadGateway}
		}
		o.redirect, err = s.links.medDreamURL(uids, mt, cl.Version != V3)
	default:
		o.redirect, err = s.links.viewerURL(cl, token)
	}
	if err != nil {
		return outcome{claims: cl, code: "unknown", status: http.StatusBadRequest}
	}
	return o
}

type decodeResponse struct {
	TokenType   *string        `json:"token-type"`
	ErrorCode   *string        `json:"error-code"`
	RedirectURL *string        `json:"redirect-url"`
	Resources   []echoResource `json:"resources"`
}

func (s *Service) serveDecode(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TokenValue *string `json:"token-value"`
	}
	if !s.decodeBody(w, r, &req) {
		return
	}
	token := r.Header.Get("token")
	if token == "" && req.TokenValue != nil {
		token = *req.TokenValue
	}
	o := s.follow(r.Context(), token)
	resp := decodeResponse{TokenType: nullable(string(o.claims.Type)), ErrorCode: nullable(o.code), RedirectURL: nullable(o.redirect), Resources: []echoResource{}}
	if o.code == "" {
		resp.Resources = echoResources(o.claims.Resources)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Service) serveRevoke(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TokenValue *string `json:"token-value"`
	}
	if !s.decodeBody(w, r, &req) {
		return
	}
	token := r.Header.Get("token")
	if token == "" && req.TokenValue != nil {
		token = *req.TokenValue
	}
	if stripBearer(token) == "" {
		writeDetail(w, http.StatusBadRequest, ErrNoToken.Error())
		return
	}
	id, err := s.Revoke(r.Context(), token)
	switch {
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrSignature):
		writeDetail(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.log.LogAttrs(r.Context(), slog.LevelError, "share: revocation failed", slog.String("error", err.Error()))
		writeDetail(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Revoked bool   `json:"revoked"`
		TokenID string `json:"token-id"`
	}{true, id})
}

// serveProfile answers the plugin's user-profile request with a profile
// that grants nothing, so that the plugin falls back to resource-token
// validation (see docs/orthanc.md, "User profiles").
func (s *Service) serveProfile(w http.ResponseWriter, r *http.Request) {
	if _, status := readBody(w, r, s.maxBody); status != 0 {
		writeDetail(w, status, "share: unreadable body")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Name             string   `json:"name"`
		Permissions      []string `json:"permissions"`
		AuthorizedLabels []string `json:"authorized-labels"`
		Validity         int      `json:"validity"`
	}{"anonymous", []string{}, []string{}, int(s.maxValid.Seconds())})
}

// decodeBody reads a JSON object body into v, answering 400/413 itself on
// failure.
func (s *Service) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, status := readBody(w, r, s.maxBody)
	if status != 0 {
		writeDetail(w, status, "share: unreadable or too large body")
		return false
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		writeDetail(w, http.StatusBadRequest, errNotObject.Error())
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeDetail(w, http.StatusBadRequest, "share: body does not match the expected JSON fields")
		return false
	}
	return true
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	var he *httpError
	if errors.As(err, &he) {
		status = he.status
	}
	writeDetail(w, status, err.Error())
}

func writeDetail(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, struct {
		Detail string `json:"detail"`
	}{detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // plain structs: cannot fail
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	w.Header()["Content-Type"] = jsonContentType
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
