// Package auraapi writes HTTP answers shaped like the Aura API's (a Laravel
// application; see docs/aura.md, "Errors"): {"error":{"message":...}} for authentication
// failures, {"message":...} for others, and Laravel's validation body
// {"message":...,"errors":{"field":[...]}} for 422. It is shared by the
// server side of uploadtoken and by auratest.
package auraapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// WriteJSON writes v as compact JSON (no HTML escaping) with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"message":"Server Error"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// AuthError writes {"error":{"message":msg}}, the shape of HMAC and token
// failures (401, 403).
func AuthError(w http.ResponseWriter, status int, msg string) {
	type inner struct {
		Message string `json:"message"`
	}
	WriteJSON(w, status, struct {
		Error inner `json:"error"`
	}{inner{msg}})
}

// Message writes {"message":msg}.
func Message(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, struct {
		Message string `json:"message"`
	}{msg})
}

// Field is one invalid field and its messages, in the order Laravel reports.
type Field struct {
	Name     string
	Messages []string
}

// Validation writes Laravel's 422 body. Its top-level message is the first
// field message followed by "(and N more error[s])" as Laravel does.
func Validation(w http.ResponseWriter, fields []Field) {
	var buf bytes.Buffer
	total := 0
	first := ""
	for _, f := range fields {
		for _, m := range f.Messages {
			if first == "" {
				first = m
			}
			total++
		}
	}
	msg := first
	if total > 1 {
		plural := "error"
		if total > 2 {
			plural = "errors"
		}
		msg = fmt.Sprintf("%s (and %d more %s)", first, total-1, plural)
	}
	buf.WriteString(`{"message":`)
	writeString(&buf, msg)
	buf.WriteString(`,"errors":{`)
	for i, f := range fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeString(&buf, f.Name)
		buf.WriteString(`:[`)
		for j, m := range f.Messages {
			if j > 0 {
				buf.WriteByte(',')
			}
			writeString(&buf, m)
		}
		buf.WriteByte(']')
	}
	buf.WriteString("}}\n")
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusUnprocessableEntity)
	_, _ = w.Write(buf.Bytes())
}

func writeString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	buf.Write(b)
}
