package uploader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/dicombridge/dicombridge/internal/auraclient"
)

// Wire constants of the reference client, made explicit (docs/aura.md, "Uploader endpoints").
const (
	// initMode is the "mode" of every init body: the reference client
	// hard-codes "bulk" whatever its caller passes (docs/aura.md, "Uploader endpoints").
	initMode = "bulk"
	// initType is the "type" of every init body.
	initType = "uploader"
	// defaultSource is the init "source" when InitRequest.Source is empty.
	defaultSource = "standalone-uploader"
	// lifecycleMode is the "mode" of start, complete, error and cancel.
	lifecycleMode = "uploader"
)

// Endpoint paths, relative to the API base URL (which ends in /api).
const (
	pathConfig   = "/uploader/config"
	pathInit     = "/uploader/upload/init"
	pathStart    = "/uploader/upload/start"
	pathComplete = "/uploader/upload/complete"
	pathError    = "/uploader/upload/error"
	pathCancel   = "/uploader/upload/cancel"
	pathSubmit   = "/uploader/manage/submit"
	pathWithdraw = "/uploader/manage/withdraw"
)

// ServerConfig is the answer of GET /uploader/config (docs/aura.md, "Uploader endpoints").
type ServerConfig struct {
	Lift Lift
	// Mode is the server's mode ("bulk" in Aura's README). It becomes the
	// Tus Upload-Metadata "mode" (docs/aura.md, "Tus upload"), unlike the lifecycle calls,
	// which always send lifecycleMode.
	Mode string
}

// Lift tells the uploader where and how to send the zip over Tus.
type Lift struct {
	Endpoint string // the Tus creation URL
	Token    string // bearer credential for the Tus server only; never printed
	Bucket   string // the Tus Upload-Metadata "bucket"
}

// String describes the lift without its token.
func (l Lift) String() string {
	return fmt.Sprintf("{Endpoint:%s Token:%s Bucket:%s}", l.Endpoint, redactLift(l.Token), l.Bucket)
}

// Format prints the redacted form for every verb.
func (l Lift) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", l.String())
		return
	}
	_, _ = f.Write([]byte(l.String()))
}

func redactLift(tok string) string {
	if tok == "" {
		return ""
	}
	return "…#" + auraclient.Fingerprint(tok)
}

// ErrServerConfig is matched (errors.Is) by every [*ConfigError].
var ErrServerConfig = errors.New("uploader: invalid server config")

// ConfigError reports a /uploader/config answer the uploader cannot use.
// Message is the reference client's text (docs/aura.md, "Uploader endpoints"), e.g. "Server config
// missing or invalid lift.endpoint"; Detail says more when there is more.
type ConfigError struct {
	Message string
	Detail  string
}

func (e *ConfigError) Error() string {
	if e.Detail == "" {
		return "uploader: " + e.Message
	}
	return "uploader: " + e.Message + " (" + e.Detail + ")"
}

// Is makes errors.Is(err, ErrServerConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrServerConfig }

// The reference client's validation messages (src/index.ts:128-150).
const (
	msgMissingLift     = "Server config missing lift configuration"
	msgInvalidEndpoint = "Server config missing or invalid lift.endpoint"
	msgInvalidToken    = "Server config missing or invalid lift.token"
	msgInvalidBucket   = "Server config missing or invalid lift.bucket"
	msgInvalidMode     = "Server config missing or invalid mode"
)

// parseServerConfig decodes and validates a /uploader/config body, checking
// in the reference client's order: lift, lift.endpoint, lift.token,
// lift.bucket, mode, each a non-empty string. Beyond the reference, the
// endpoint must be an absolute http or https URL, and https when base (the
// API URL the config came from, may be nil) is https, so that the lift
// token is never sent in clear to a server the API did not vouch for.
func parseServerConfig(data []byte, base *url.URL) (*ServerConfig, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return nil, &ConfigError{Message: msgMissingLift, Detail: "body is not a JSON object"}
	}
	var lift map[string]json.RawMessage
	if raw, ok := top["lift"]; !ok || json.Unmarshal(raw, &lift) != nil || lift == nil {
		return nil, &ConfigError{Message: msgMissingLift}
	}
	cfg := &ServerConfig{}
	var ok bool
	if cfg.Lift.Endpoint, ok = nonEmptyString(lift["endpoint"]); !ok {
		return nil, &ConfigError{Message: msgInvalidEndpoint}
	}
	if err := checkEndpoint(cfg.Lift.Endpoint, base); err != "" {
		return nil, &ConfigError{Message: msgInvalidEndpoint, Detail: err}
	}
	if cfg.Lift.Token, ok = nonEmptyString(lift["token"]); !ok {
		return nil, &ConfigError{Message: msgInvalidToken}
	}
	if strings.ContainsAny(cfg.Lift.Token, "\r\n\x00") {
		return nil, &ConfigError{Message: msgInvalidToken, Detail: "contains line breaks"}
	}
	if cfg.Lift.Bucket, ok = nonEmptyString(lift["bucket"]); !ok {
		return nil, &ConfigError{Message: msgInvalidBucket}
	}
	if cfg.Mode, ok = nonEmptyString(top["mode"]); !ok {
		return nil, &ConfigError{Message: msgInvalidMode}
	}
	return cfg, nil
}

func nonEmptyString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil || s == "" {
		return "", false
	}
	return s, true
}

// checkEndpoint returns why endpoint is unusable, or "".
func checkEndpoint(endpoint string, base *url.URL) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "not an absolute http or https URL"
	}
	if u.User != nil {
		return "must not carry user info"
	}
	if base != nil && base.Scheme == "https" && u.Scheme != "https" {
		return "plain http endpoint for an https API"
	}
	return ""
}

// InitRequest is the body of POST /uploader/upload/init (docs/aura.md, "Uploader endpoints"). Its
// JSON is built key by key exactly as the reference client builds it:
//
//	{"upload_id":…,"studies":{"<StudyUID>":{…},…},"mode":"bulk",
//	 "type":"uploader","source":…,"patient_id":…|null,"context":…}
type InitRequest struct {
	// UploadID is the session's UUID v4, the same in every call, the Tus
	// metadata and the zip name.
	UploadID string
	// Studies in the order they were first seen; each is keyed by its UID.
	Studies []Study
	// Source is sent as "source"; empty means "standalone-uploader".
	Source string
	// PatientID is the Aurabox patient id, if known; empty sends null.
	PatientID string
	// Context is extra metadata (patient matching, referral); nil omits the
	// key. It is encoded with encoding/json (pass a json.RawMessage or a
	// struct to fix the key order; Go maps are sorted).
	Context any
}

// Study is one entry of the init "studies" object. Missing study-level
// values are sent as "" (docs/aura.md, "Uploader endpoints").
type Study struct {
	UID             string   // study_uid, and the key in "studies"
	Description     string   // study_description
	InstitutionName string   // institution_name
	PatientID       string   // patient_id (DICOM PatientID)
	PatientName     string   // patient_name, raw PN such as "DOE^JOHN"
	Date            string   // study_date
	Time            string   // study_time
	Modalities      []string // de-duplicated, first-seen order; [] when none
	Series          []Series // in first-seen order; series_count is len(Series)
	Images          int      // number of files in the study
}

// Series is one entry of a study's "series" object. Missing values are sent
// as JSON null, unlike the study level (docs/aura.md, "Uploader endpoints").
type Series struct {
	UID              string // series_instance_uid, and the key in "series"
	Modality         string
	Description      string // series_description
	BodyPartExamined string // body_part_examined
	Date             string // series_date
	Time             string // series_time
	StudyDate        string // study_date
	Number           string // series_number, as the DICOM string
}

// ErrInvalidInit is wrapped by errors about an InitRequest that cannot be
// sent (missing upload id, empty or duplicate UIDs).
var ErrInvalidInit = errors.New("uploader: invalid init request")

// Body returns the exact bytes Init sends.
func (r InitRequest) Body() ([]byte, error) {
	if r.UploadID == "" {
		return nil, fmt.Errorf("%w: empty upload id", ErrInvalidInit)
	}
	// Validate everything and fix the key orders before writing anything.
	studyOrder, err := order(len(r.Studies), func(i int) string { return r.Studies[i].UID }, func(i int) error {
		return fmt.Errorf("%w: study %d has no UID", ErrInvalidInit, i)
	}, func(uid string) error { return fmt.Errorf("%w: study %s listed twice", ErrInvalidInit, uid) })
	if err != nil {
		return nil, err
	}
	seriesOrder := make([][]int, len(r.Studies))
	size := 256
	for i := range r.Studies {
		st := &r.Studies[i]
		seriesOrder[i], err = order(len(st.Series), func(j int) string { return st.Series[j].UID }, func(j int) error {
			return fmt.Errorf("%w: study %s: series %d has no UID", ErrInvalidInit, st.UID, j)
		}, func(uid string) error {
			return fmt.Errorf("%w: study %s: series %s listed twice", ErrInvalidInit, st.UID, uid)
		})
		if err != nil {
			return nil, err
		}
		size += 320 + 400*len(st.Series)
	}
	var ctxJSON []byte
	if r.Context != nil {
		if ctxJSON, err = marshalJSValue(r.Context); err != nil {
			return nil, fmt.Errorf("%w: context: %v", ErrInvalidInit, err)
		}
	}

	var buf bytes.Buffer
	buf.Grow(size + len(ctxJSON))
	o := beginObject(&buf)
	o.str("upload_id", r.UploadID)
	studies := o.object("studies")
	for _, i := range studyOrder {
		so := studies.object(r.Studies[i].UID)
		r.Studies[i].write(&so, seriesOrder[i])
	}
	studies.end()
	o.str("mode", initMode)
	o.str("type", initType)
	src := r.Source
	if src == "" {
		src = defaultSource
	}
	o.str("source", src)
	if r.PatientID == "" {
		o.raw("patient_id", []byte("null"))
	} else {
		o.str("patient_id", r.PatientID)
	}
	if ctxJSON != nil {
		o.raw("context", ctxJSON)
	}
	o.end()
	return buf.Bytes(), nil
}

// order checks n keyed items (no empty or repeated key) and returns their
// indexes in JavaScript's enumeration order (see jsKeyOrder).
func order(n int, key func(int) string, empty func(int) error, dup func(string) error) ([]int, error) {
	keys := make([]string, n)
	index := make(map[string]int, n)
	for i := 0; i < n; i++ {
		k := key(i)
		if k == "" {
			return nil, empty(i)
		}
		if _, seen := index[k]; seen {
			return nil, dup(k)
		}
		index[k] = i
		keys[i] = k
	}
	out := make([]int, n)
	for i, k := range jsKeyOrder(keys) {
		out[i] = index[k]
	}
	return out, nil
}

// write writes the study's members into o, its series in the given order.
func (st *Study) write(o *jsObject, seriesOrder []int) {
	o.str("study_uid", st.UID)
	o.str("study_description", st.Description)
	o.str("institution_name", st.InstitutionName)
	o.str("patient_id", st.PatientID)
	o.str("patient_name", st.PatientName)
	o.str("study_date", st.Date)
	o.str("study_time", st.Time)
	o.strings("modalities", st.Modalities)
	series := o.object("series")
	for _, j := range seriesOrder {
		se := &st.Series[j]
		s := series.object(se.UID)
		s.str("study_instance_uid", st.UID)
		s.str("series_instance_uid", se.UID)
		s.strOrNull("modality", se.Modality)
		s.strOrNull("series_description", se.Description)
		s.strOrNull("body_part_examined", se.BodyPartExamined)
		s.strOrNull("series_date", se.Date)
		s.strOrNull("series_time", se.Time)
		s.strOrNull("study_date", se.StudyDate)
		s.strOrNull("series_number", se.Number)
		s.end()
	}
	series.end()
	o.int("images", st.Images)
	o.int("series_count", len(st.Series))
	o.end()
}

// InitResponse is the answer of init: {"studies":[{"id":"…"}]}. The
// reference client only shows the last id; the ids are parsed on a best
// effort basis (strings or numbers), and an unparsable body leaves
// StudyIDs empty rather than failing an init the server accepted.
type InitResponse struct {
	StudyIDs []string
}

// parseInitResponse extracts the study ids of an init answer.
func parseInitResponse(data []byte) *InitResponse {
	var r struct {
		Studies []struct {
			ID json.RawMessage `json:"id"`
		} `json:"studies"`
	}
	out := &InitResponse{}
	if json.Unmarshal(data, &r) != nil {
		return out
	}
	for _, s := range r.Studies {
		var str string
		if json.Unmarshal(s.ID, &str) == nil {
			out.StudyIDs = append(out.StudyIDs, str)
			continue
		}
		var n json.Number
		if json.Unmarshal(s.ID, &n) == nil {
			out.StudyIDs = append(out.StudyIDs, n.String())
		}
	}
	return out
}

// lifecycleBody builds {"upload_id":…,<middle>,"mode":"uploader"} for
// start/complete (assembly_id), error (message) and cancel (nothing).
func lifecycleBody(uploadID, key, value string) []byte {
	var buf bytes.Buffer
	o := beginObject(&buf)
	o.str("upload_id", uploadID)
	if key != "" {
		o.str(key, value)
	}
	o.str("mode", lifecycleMode)
	o.end()
	return buf.Bytes()
}

// manageBody builds {"upload_id":…} plus key with an already-encoded value
// when value is not nil: the submit and withdraw bodies.
func manageBody(uploadID, key string, value []byte) []byte {
	var buf bytes.Buffer
	o := beginObject(&buf)
	o.str("upload_id", uploadID)
	if value != nil {
		o.raw(key, value)
	}
	o.end()
	return buf.Bytes()
}

// ManageResult is Aura's answer to Submit and Withdraw:
// {"success","upload_id","status","message"}.
type ManageResult struct {
	UploadID string // the upload the answer is about
	Status   string // "submitted" or "withdrawn"
	Message  string // Aura's human-readable text; may be empty
}

// ErrRefused is matched (errors.Is) by the error of a Submit or Withdraw
// that Aura answered with 2xx but "success": false, or with a body that is
// not a manage answer.
var ErrRefused = errors.New("uploader: manage call not accepted")

// parseManageResult decodes a manage answer; "success" must be true.
func parseManageResult(path string, data []byte) (*ManageResult, error) {
	var r struct {
		Success  *bool           `json:"success"`
		UploadID json.RawMessage `json:"upload_id"`
		Status   json.RawMessage `json:"status"`
		Message  json.RawMessage `json:"message"`
	}
	op := strings.TrimPrefix(path, "/uploader/manage/")
	if json.Unmarshal(data, &r) != nil {
		return nil, fmt.Errorf("%w: %s: answer is not a JSON object", ErrRefused, op)
	}
	res := &ManageResult{}
	res.UploadID, _ = nonEmptyString(r.UploadID)
	res.Status, _ = nonEmptyString(r.Status)
	res.Message, _ = nonEmptyString(r.Message)
	res.Message = truncate(scrub(res.Message), 1024)
	if r.Success == nil || !*r.Success {
		msg := res.Message
		if msg == "" {
			msg = "success is not true"
		}
		return res, fmt.Errorf("%w: %s: %s", ErrRefused, op, msg)
	}
	return res, nil
}
