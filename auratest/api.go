package auratest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/auraapi"
	"github.com/dicombridge/dicombridge/internal/auraserver"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// apiHandler routes /api/... . Each route is, outside in: recording (so
// that preflights show in Calls), CORS, failure injection, method check, rate limit, API key, authentication
// (HMAC for the exchange, a scoped upload token for the rest), handler.
func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	route := func(ep Endpoint, method string, auth func(http.Handler) http.Handler, h http.HandlerFunc) {
		var inner http.Handler = h
		inner = auth(inner)
		if ep != EndpointSubmit && ep != EndpointWithdraw {
			// Aura's manage clients (.NET, Python) send the bearer token
			// alone; see docs/aura.md, "Manage endpoints".
			inner = s.requireAPIKey(inner)
		}
		inner = s.rateLimit(ep, inner)
		inner = requireMethod(method, inner)
		mux.Handle("/api/"+string(ep), s.record(ep, true, s.apiCORS(s.inject(ep, false, inner))))
	}
	exchange := &auraserver.ExchangeHandler{Issuer: s.issuer, OAuthShape: s.cfg.oauthShape, Logger: s.cfg.logger}
	route(EndpointExchange, http.MethodPost, func(h http.Handler) http.Handler {
		return hmac.Middleware(s.verifier, restoreBody(h))
	}, exchange.ServeHTTP)
	scoped := func(scope string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler { return auraserver.RequireScope(s.issuer, scope, h) }
	}
	route(EndpointConfig, http.MethodGet, scoped(uploadtoken.ScopeIntegrationRead), s.serveConfig)
	route(EndpointInit, http.MethodPost, scoped(uploadtoken.ScopeUploadInit), s.serveInit)
	route(EndpointStart, http.MethodPost, scoped(uploadtoken.ScopeUploadManage), s.serveStart)
	route(EndpointComplete, http.MethodPost, scoped(uploadtoken.ScopeUploadManage), s.serveComplete)
	route(EndpointError, http.MethodPost, scoped(uploadtoken.ScopeUploadManage), s.serveError)
	route(EndpointCancel, http.MethodPost, scoped(uploadtoken.ScopeUploadManage), s.serveCancel)
	route(EndpointSubmit, http.MethodPost, scoped(uploadtoken.ScopeUploadManage), s.serveSubmit)
	route(EndpointWithdraw, http.MethodPost, scoped(uploadtoken.ScopeUploadManage), s.serveWithdraw)
	mux.Handle("/", s.record(endpointUnknown, true, s.apiCORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auraapi.Message(w, http.StatusNotFound, "Not Found")
	}))))
	return mux
}

// restoreBody hands the handler the body as recorded, whatever an earlier
// layer (the HMAC verifier) did to r.Body.
func restoreBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b := bodyFrom(r.Context()); b != nil {
			r.Body = http.NoBody
			if len(b) > 0 {
				r.Body = readCloser{bytes.NewReader(b)}
			}
		}
		next.ServeHTTP(w, r)
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func requireMethod(method string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			auraapi.Message(w, http.StatusMethodNotAllowed,
				"The "+r.Method+" method is not supported for route api/"+strings.TrimPrefix(r.URL.Path, "/api/")+". Supported methods: "+method+".")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireAPIKey checks X-Api-Key in constant time: 401 as Aura answers a
// bad service key.
func (s *Server) requireAPIKey(next http.Handler) http.Handler {
	want := []byte(s.cfg.apiKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("X-Api-Key")
		if got == "" {
			auraapi.AuthError(w, http.StatusUnauthorized, "Missing API key.")
			return
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			auraapi.AuthError(w, http.StatusUnauthorized, "Invalid API key.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// rateGroup maps an endpoint to its budget: the lifecycle endpoints share
// one (docs/aura.md, "Rate limits").
func rateGroup(ep Endpoint) Endpoint {
	switch ep {
	case EndpointExchange, EndpointConfig, EndpointTus:
		return ep
	}
	return "uploader/upload"
}

func (s *Server) rate(ep Endpoint) uploadtoken.Rate {
	if r, ok := s.cfg.rates[rateGroup(ep)]; ok {
		return r
	}
	switch ep {
	case EndpointExchange:
		return auraserver.ExchangeRate
	case EndpointConfig:
		return auraserver.ConfigRate
	}
	return auraserver.LifecycleRate
}

// rateLimit applies the endpoint's budget per credential: the API key for
// the exchange, the upload token for the rest. It runs before the token is
// checked, so a refused request does not use up one of its max_uses.
func (s *Server) rateLimit(ep Endpoint, next http.Handler) http.Handler {
	if s.cfg.noLimits {
		return next
	}
	group := string(rateGroup(ep))
	key := func(r *http.Request) string {
		cred := auraserver.BearerToken(r)
		if ep == EndpointExchange || cred == "" {
			cred = r.Header.Get("X-Api-Key")
		}
		return group + ":" + cred // RateLimit hashes it before the limiter sees it
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uploadtoken.RateLimit(s.cfg.limiter, s.rate(ep), key, next).ServeHTTP(w, r)
	})
}

// serveConfig answers GET /uploader/config with a fresh lift token, the
// bucket "uploads" and the mode "bulk" of Aura's documentation.
func (s *Server) serveConfig(w http.ResponseWriter, r *http.Request) {
	lift := "lift_" + randomString(48)
	s.mu.Lock()
	s.liftTokens[lift] = struct{}{}
	s.mu.Unlock()
	type liftJSON struct {
		Endpoint string `json:"endpoint"`
		Token    string `json:"token"`
		Bucket   string `json:"bucket"`
	}
	auraapi.WriteJSON(w, http.StatusOK, struct {
		Lift liftJSON `json:"lift"`
		Mode string   `json:"mode"`
	}{liftJSON{s.TusURL, lift, "uploads"}, "bulk"})
}

// Session is the server's view of one upload_id.
type Session struct {
	UploadID   string
	AssemblyID string   // from start
	State      string   // the last of States
	States     []string // the states (StateInitialized, …) in the order reached
	Init       []byte   // the init body as received
	StudyIDs   []string // the ids init answered
	Message    string   // from error
}

// Session states.
const (
	StateInitialized = "initialized"
	StateStarted     = "started"
	StateCompleted   = "completed"
	StateFailed      = "failed"
	StateCancelled   = "cancelled"
	StateSubmitted   = "submitted" // by manage/submit, after completed
	StateWithdrawn   = "withdrawn" // by manage/withdraw, after submitted
)

// Session returns the state of an upload_id.
func (s *Server) Session(uploadID string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[uploadID]
	if !ok {
		return Session{}, false
	}
	return ss.clone(), true
}

// Sessions returns every session, in init order.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Session, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.sessions[id].clone())
	}
	return out
}

func (ss *Session) clone() Session {
	c := *ss
	c.States = slices.Clone(ss.States)
	c.Init = slices.Clone(ss.Init)
	c.StudyIDs = slices.Clone(ss.StudyIDs)
	return c
}

func (ss *Session) moveTo(state string) {
	ss.State = state
	ss.States = append(ss.States, state)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// fields collects Laravel-style validation errors in order.
type fields []auraapi.Field

func (f *fields) add(name, msg string) {
	for i := range *f {
		if (*f)[i].Name == name {
			(*f)[i].Messages = append((*f)[i].Messages, msg)
			return
		}
	}
	*f = append(*f, auraapi.Field{Name: name, Messages: []string{msg}})
}

// decodeObject parses the recorded body as a JSON object of raw members.
func decodeObject(r *http.Request, errs *fields) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(bodyFrom(r.Context()), &m); err != nil || m == nil {
		errs.add("body", "The request body must be a JSON object.")
		return nil
	}
	return m
}

// str validates a required string member; label is Laravel's spelling.
func str(m map[string]json.RawMessage, key, label string, errs *fields) string {
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		errs.add(key, "The "+label+" field is required.")
		return ""
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		errs.add(key, "The "+label+" field must be a string.")
		return ""
	}
	if v == "" {
		errs.add(key, "The "+label+" field is required.")
	}
	return v
}

func (s *Server) serveInit(w http.ResponseWriter, r *http.Request) {
	var errs fields
	m := decodeObject(r, &errs)
	if m == nil {
		auraapi.Validation(w, errs)
		return
	}
	id := str(m, "upload_id", "upload id", &errs)
	if id != "" && !uuidRE.MatchString(id) {
		errs.add("upload_id", "The upload id field must be a valid UUID.")
	}
	var studies map[string]json.RawMessage
	var studyKeys []string
	if raw, ok := m["studies"]; !ok || string(raw) == "null" {
		errs.add("studies", "The studies field is required.")
	} else if json.Unmarshal(raw, &studies) != nil {
		errs.add("studies", "The studies field must be an array.")
	} else if len(studies) == 0 {
		errs.add("studies", "The studies field is required.")
	} else {
		studyKeys = objectKeys(raw)
		for _, k := range studyKeys {
			var st map[string]json.RawMessage
			if json.Unmarshal(studies[k], &st) != nil || st == nil {
				errs.add("studies."+k, "The studies."+k+" field must be an array.")
			}
		}
	}
	str(m, "mode", "mode", &errs)
	str(m, "type", "type", &errs)
	str(m, "source", "source", &errs)
	if raw, ok := m["patient_id"]; !ok {
		errs.add("patient_id", "The patient id field must be present.")
	} else if string(raw) != "null" {
		var v string
		if json.Unmarshal(raw, &v) != nil {
			errs.add("patient_id", "The patient id field must be a string.")
		}
	}
	if raw, ok := m["context"]; ok && string(raw) != "null" {
		var v map[string]json.RawMessage
		if json.Unmarshal(raw, &v) != nil {
			errs.add("context", "The context field must be an array.")
		}
	}
	if len(errs) > 0 {
		auraapi.Validation(w, errs)
		return
	}
	// Check and create under one lock: of concurrent inits of one id,
	// exactly one creates the session.
	s.mu.Lock()
	if _, taken := s.sessions[id]; taken {
		s.mu.Unlock()
		errs.add("upload_id", "The upload id has already been taken.")
		auraapi.Validation(w, errs)
		return
	}
	ss := &Session{UploadID: id, Init: slices.Clone(bodyFrom(r.Context()))}
	for range studyKeys {
		s.studySeq++
		ss.StudyIDs = append(ss.StudyIDs, "study_"+strconv.Itoa(s.studySeq))
	}
	ss.moveTo(StateInitialized)
	s.sessions[id] = ss
	s.order = append(s.order, id)
	ids := slices.Clone(ss.StudyIDs)
	s.mu.Unlock()
	type studyJSON struct {
		ID string `json:"id"`
	}
	out := struct {
		Studies []studyJSON `json:"studies"`
	}{Studies: []studyJSON{}}
	for _, id := range ids {
		out.Studies = append(out.Studies, studyJSON{id})
	}
	auraapi.WriteJSON(w, http.StatusOK, out)
}

// objectKeys returns the member names of a JSON object in body order.
func objectKeys(raw json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}

// lifecycle validates a start/complete/error/cancel body and moves the
// session; extra is "assembly_id" or "message" (or "").
func (s *Server) lifecycle(w http.ResponseWriter, r *http.Request, extra, label string, move func(ss *Session, value string) string) {
	var errs fields
	m := decodeObject(r, &errs)
	if m == nil {
		auraapi.Validation(w, errs)
		return
	}
	id := str(m, "upload_id", "upload id", &errs)
	value := ""
	if extra != "" {
		value = str(m, extra, label, &errs)
	}
	str(m, "mode", "mode", &errs)
	if len(errs) > 0 {
		auraapi.Validation(w, errs)
		return
	}
	s.transition(w, id, func(ss *Session) string { return move(ss, value) }, func(state string) any {
		return struct {
			Success  bool   `json:"success"`
			UploadID string `json:"upload_id"`
			Status   string `json:"status"`
		}{true, id, state}
	})
}

// transition applies move to the session of id under the lock; move
// returns why it refuses, or "". A refusal (or an unknown id) is answered
// as a 422 about upload_id, like Aura's validation errors; success with
// answer(the new state).
func (s *Server) transition(w http.ResponseWriter, id string, move func(*Session) string, answer func(state string) any) {
	s.mu.Lock()
	ss, ok := s.sessions[id]
	msg, state := "The selected upload id is invalid.", ""
	if ok {
		msg = move(ss)
		state = ss.State
	}
	s.mu.Unlock()
	if msg != "" {
		auraapi.Validation(w, []auraapi.Field{{Name: "upload_id", Messages: []string{msg}}})
		return
	}
	auraapi.WriteJSON(w, http.StatusOK, answer(state))
}

func finished(ss *Session) bool {
	switch ss.State {
	case StateCompleted, StateFailed, StateCancelled, StateSubmitted, StateWithdrawn:
		return true
	}
	return false
}

func (s *Server) serveStart(w http.ResponseWriter, r *http.Request) {
	s.lifecycle(w, r, "assembly_id", "assembly id", func(ss *Session, assembly string) string {
		if ss.State != StateInitialized {
			return "The upload has already been started or has finished."
		}
		ss.AssemblyID = assembly
		ss.moveTo(StateStarted)
		return ""
	})
}

// serveComplete accepts complete only for a started upload whose Tus
// upload (the one with its upload_id metadata) has all its bytes: Aura
// processes the file on complete, and the real widget sends complete even
// when the Tus upload failed or was cancelled. So when a page sends cancel
// and complete together, the outcome does not depend on their order:
// cancel is accepted and complete refused.
func (s *Server) serveComplete(w http.ResponseWriter, r *http.Request) {
	var probe struct {
		UploadID string `json:"upload_id"`
	}
	_ = json.Unmarshal(bodyFrom(r.Context()), &probe)
	up, found := s.Upload(probe.UploadID)
	received := found && up.Complete && !up.Terminated
	s.lifecycle(w, r, "assembly_id", "assembly id", func(ss *Session, assembly string) string {
		if ss.State != StateStarted {
			return "The upload has not been started or has already finished."
		}
		if assembly != ss.AssemblyID {
			return "The assembly id does not match the started upload."
		}
		if !received {
			return "The upload's file has not been received."
		}
		ss.moveTo(StateCompleted)
		return ""
	})
}

func (s *Server) serveError(w http.ResponseWriter, r *http.Request) {
	s.lifecycle(w, r, "message", "message", func(ss *Session, msg string) string {
		if finished(ss) {
			return "The upload has already finished."
		}
		ss.Message = msg
		ss.moveTo(StateFailed)
		return ""
	})
}

func (s *Server) serveCancel(w http.ResponseWriter, r *http.Request) {
	s.lifecycle(w, r, "", "", func(ss *Session, _ string) string {
		if finished(ss) {
			return "The upload has already finished."
		}
		ss.moveTo(StateCancelled)
		return ""
	})
}

// manage validates a submit/withdraw body ({"upload_id", key?}; key's
// value must be of kind "object" or "string" when present), moves the
// session from the state from to the state to, and answers
// {"success","upload_id","status","message"} as Aura does.
func (s *Server) manage(w http.ResponseWriter, r *http.Request, key, kind, from, to, refusal, done string) {
	var errs fields
	m := decodeObject(r, &errs)
	if m == nil {
		auraapi.Validation(w, errs)
		return
	}
	id := str(m, "upload_id", "upload id", &errs)
	if raw, ok := m[key]; ok && string(raw) != "null" {
		var obj map[string]json.RawMessage
		var text string
		if (kind == "object" && json.Unmarshal(raw, &obj) != nil) || (kind == "string" && json.Unmarshal(raw, &text) != nil) {
			errs.add(key, "The "+key+" field must be "+map[string]string{"object": "an array.", "string": "a string."}[kind])
		}
	}
	if len(errs) > 0 {
		auraapi.Validation(w, errs)
		return
	}
	s.transition(w, id, func(ss *Session) string {
		if ss.State != from {
			return refusal
		}
		ss.moveTo(to)
		return ""
	}, func(state string) any {
		return struct {
			Success  bool   `json:"success"`
			UploadID string `json:"upload_id"`
			Status   string `json:"status"`
			Message  string `json:"message"`
		}{true, id, state, done}
	})
}

func (s *Server) serveSubmit(w http.ResponseWriter, r *http.Request) {
	s.manage(w, r, "metadata", "object", StateCompleted, StateSubmitted,
		"The upload must be completed before it can be submitted.", "Upload submitted.")
}

func (s *Server) serveWithdraw(w http.ResponseWriter, r *http.Request) {
	s.manage(w, r, "reason", "string", StateSubmitted, StateWithdrawn,
		"Only a submitted upload can be withdrawn.", "Upload withdrawn.")
}
