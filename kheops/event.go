package kheops

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The event names KHEOPS sends in the X-Kheops-Event header.
const (
	EventNewSeries    = "new_series"    // series were added to the album
	EventNewUser      = "new_user"      // a user joined the album
	EventRemoveSeries = "remove_series" // series were removed from the album
	EventDeleteAlbum  = "delete_album"  // the album was deleted
)

// Sentinel errors for the reasons a delivery is refused. [Verify],
// [ParseEvent] and [WebhookHandler] return (or log) errors wrapping them;
// test with errors.Is.
var (
	// ErrMissingSignature: a secret is configured but the delivery has no
	// X-Kheops-Signature header. The handler answers 401.
	ErrMissingSignature = errors.New("kheops: webhook signature missing")
	// ErrBadSignature: the signature is not 64 hex digits, or does not
	// match the body (tampered body, or another secret). The handler
	// answers 403.
	ErrBadSignature = errors.New("kheops: webhook signature does not match")
	// ErrMalformed: the delivery is not a KHEOPS event (no X-Kheops-Event
	// header, a body that is not a JSON object, a field of the wrong
	// type, an unreadable event_time). The handler answers 400.
	ErrMalformed = errors.New("kheops: malformed webhook delivery")
	// ErrTooLarge: the body is larger than the limit. The handler answers
	// 413.
	ErrTooLarge = errors.New("kheops: webhook body too large")
	// ErrNoSecret: no secret is configured and unsigned deliveries are not
	// allowed. The handler answers 500: it is a configuration error.
	ErrNoSecret = errors.New("kheops: no webhook secret configured")
)

// WebhookEvent is one delivery from KHEOPS: the headers that identify it,
// the raw body and the decoded body. Which of the event-specific fields
// is set depends on Event; an event this package does not know yet is
// delivered with the common fields only.
type WebhookEvent struct {
	// Event is the X-Kheops-Event header, e.g. [EventNewSeries].
	Event string
	// Delivery is the X-Kheops-Delivery header: one id per event, the
	// same on every retry of it. delete_album deliveries carry none, so
	// it is empty for them.
	Delivery string
	// Attempt is n from the X-Kheops-Attempt header "n/5" (1 for the
	// first try), or 0 when the header is absent or unreadable.
	Attempt int
	// Body is the request body exactly as received (and signed).
	Body []byte

	// Host is the KHEOPS root URL that sent the event.
	Host string
	// AlbumID is the album the event happened in.
	AlbumID string
	// EventTime is when the event happened, in UTC.
	EventTime time.Time
	// Source is who caused the event; nil if the body has none.
	Source *User
	// IsManualTrigger is true for a delivery an album admin triggered by
	// hand (KHEOPS's webhook trigger operation) rather than a real change.
	IsManualTrigger bool
	// ImportSource says how series of a new_series event arrived when
	// KHEOPS says it (for example "send" when they were shared).
	ImportSource string

	// UpdatedStudy is set for new_series: the study with the new series.
	UpdatedStudy *Study
	// NewUser is set for new_user: the user who joined.
	NewUser *User
	// RemoveAllSeries is set for remove_series when the whole study was
	// removed.
	RemoveAllSeries bool
	// RemovedStudy is set for remove_series: the study with the removed
	// series.
	RemovedStudy *Study
}

// wireEvent is the JSON body KHEOPS sends, all events together.
type wireEvent struct {
	Host            string `json:"host"`
	AlbumID         string `json:"album_id"`
	EventTime       string `json:"event_time"`
	Source          *User  `json:"source"`
	IsManualTrigger bool   `json:"is_manual_trigger"`
	ImportSource    string `json:"import_source"`
	UpdatedStudy    *Study `json:"updated_study"`
	NewUser         *User  `json:"new_user"`
	RemoveAllSeries bool   `json:"remove_all_series"`
	RemovedStudy    *Study `json:"removed_study"`
}

// Header names KHEOPS sets on a delivery.
const (
	headerEvent     = "X-Kheops-Event"
	headerDelivery  = "X-Kheops-Delivery"
	headerAttempt   = "X-Kheops-Attempt"
	headerSignature = "X-Kheops-Signature"
)

// maxHeaderLen bounds the event and delivery header values kept in a
// WebhookEvent (KHEOPS's are 13 and 30 characters).
const maxHeaderLen = 256

// ParseEvent decodes a delivery from its headers and body. It does not
// verify the signature: call [Verify] first (the handler does). The body
// is kept as given in WebhookEvent.Body, without copying.
//
// Only X-Kheops-Event is required. The body must have the members of
// that event (updated_study for new_series, new_user for new_user,
// removed_study for remove_series) and none of another known event's, so
// that a signed body cannot be relabelled as another event. Other fields
// that KHEOPS leaves out stay zero; fields this package does not know are
// ignored. An unknown event keeps the common fields only. Errors wrap
// [ErrMalformed].
func ParseEvent(h http.Header, body []byte) (*WebhookEvent, error) {
	ev := &WebhookEvent{
		Event:    h.Get(headerEvent),
		Delivery: h.Get(headerDelivery),
		Attempt:  parseAttempt(h.Get(headerAttempt)),
		Body:     body,
	}
	if ev.Event == "" {
		return nil, fmt.Errorf("%w: no %s header", ErrMalformed, headerEvent)
	}
	if len(ev.Event) > maxHeaderLen || len(ev.Delivery) > maxHeaderLen {
		return nil, fmt.Errorf("%w: header longer than %d bytes", ErrMalformed, maxHeaderLen)
	}
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrMalformed)
	}
	var w wireEvent
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.EventTime != "" {
		t, err := parseLocalDateTime(w.EventTime)
		if err != nil {
			return nil, fmt.Errorf("%w: event_time: %v", ErrMalformed, err)
		}
		ev.EventTime = t
	}
	if err := w.matches(ev.Event); err != nil {
		return nil, err
	}
	ev.Host, ev.AlbumID, ev.Source = w.Host, w.AlbumID, w.Source
	ev.IsManualTrigger, ev.ImportSource = w.IsManualTrigger, w.ImportSource
	switch ev.Event {
	case EventNewSeries:
		ev.UpdatedStudy = w.UpdatedStudy
	case EventNewUser:
		ev.NewUser = w.NewUser
	case EventRemoveSeries:
		ev.RemoveAllSeries, ev.RemovedStudy = w.RemoveAllSeries, w.RemovedStudy
	}
	return ev, nil
}

// matches checks that the body has the members of the event named in the
// header and none of another known event's. The signature covers the body
// only, so without this check a captured new_series delivery could be sent
// again labelled delete_album and pass as a signed album deletion.
func (w *wireEvent) matches(event string) error {
	has := map[string]bool{
		EventNewSeries:    w.UpdatedStudy != nil,
		EventNewUser:      w.NewUser != nil,
		EventRemoveSeries: w.RemovedStudy != nil || w.RemoveAllSeries,
	}
	if _, known := has[event]; !known && event != EventDeleteAlbum {
		return nil // a newer event: no members are known
	}
	for e, present := range has {
		if present != (e == event) {
			return fmt.Errorf("%w: the body does not match event %q", ErrMalformed, event)
		}
	}
	return nil
}

// parseAttempt reads n from "n/5"; 0 when the value is not of that form.
func parseAttempt(v string) int {
	n, _, ok := strings.Cut(v, "/")
	if !ok || len(n) > 3 {
		return 0
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 {
		return 0
	}
	return i
}

// parseLocalDateTime reads a Java LocalDateTime string, which KHEOPS
// writes in UTC without a zone: "2025-01-02T10:11:12" with 0 to 9
// fractional digits, or "2025-01-02T10:11" when seconds and fraction are
// zero.
func parseLocalDateTime(s string) (time.Time, error) {
	layout := "2006-01-02T15:04:05"
	if len(s) == len("2006-01-02T15:04") {
		layout = "2006-01-02T15:04"
	} else if len(s) > len(layout) && (s[len(layout)] != '.' || len(s) > len(layout)+10) {
		return time.Time{}, fmt.Errorf("unexpected format %q", truncate(s))
	}
	t, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("unexpected format %q", truncate(s))
	}
	return t, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Verify checks a delivery's X-Kheops-Signature value against its body:
// signature must be the hex HMAC-SHA256 of body keyed with secret's UTF-8
// bytes, as KHEOPS computes it. KHEOPS sends lower-case hex; upper-case
// is accepted too, since both encode the same MAC. The MACs are compared
// in constant time. It returns nil, or an error wrapping
// [ErrMissingSignature] (signature empty), [ErrBadSignature] (not 64 hex
// digits, or no match) or [ErrNoSecret] (secret empty). Neither the
// secret nor the signature appears in the error.
func Verify(secret string, body []byte, signature string) error {
	if secret == "" {
		return ErrNoSecret
	}
	if signature == "" {
		return ErrMissingSignature
	}
	got := make([]byte, sha256.Size)
	if len(signature) != 2*sha256.Size {
		return fmt.Errorf("%w: not %d hex digits", ErrBadSignature, 2*sha256.Size)
	}
	if _, err := hex.Decode(got, []byte(signature)); err != nil {
		return fmt.Errorf("%w: not hex", ErrBadSignature)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}
