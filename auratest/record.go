package auratest

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/dicombridge/dicombridge/internal/auraclient"
	"github.com/dicombridge/dicombridge/internal/httpx"
)

// Endpoint names one route of the fake, for [Server.Fail] and
// [Server.CallsTo].
type Endpoint string

// The routes (relative to the API base URL) and the Tus server.
const (
	EndpointExchange Endpoint = "auth/exchange"
	EndpointConfig   Endpoint = "uploader/config"
	EndpointInit     Endpoint = "uploader/upload/init"
	EndpointStart    Endpoint = "uploader/upload/start"
	EndpointComplete Endpoint = "uploader/upload/complete"
	EndpointError    Endpoint = "uploader/upload/error"
	EndpointCancel   Endpoint = "uploader/upload/cancel"
	EndpointSubmit   Endpoint = "uploader/manage/submit"
	EndpointWithdraw Endpoint = "uploader/manage/withdraw"
	EndpointTus      Endpoint = "tus"
)

// endpointUnknown is recorded for requests to no route.
const endpointUnknown Endpoint = ""

// Call is one request the server received, recorded after it answered.
type Call struct {
	Seq      int      // 1, 2, … across both listeners
	Endpoint Endpoint // "" for a request to no route
	Method   string   // OPTIONS for a browser's CORS preflight
	Path     string   // as received, e.g. "/api/uploader/upload/init"
	// Header is a copy with secrets redacted: "Authorization: Bearer
	// aubt_…#1a2b3c4d" (compare with Token.Redacted()), the HMAC signature,
	// X-Api-Key and the lift token likewise; every other header as sent.
	Header http.Header
	// Body is the request body as received, for API calls (at most 1 MiB).
	// Tus requests record only BodySize.
	Body     []byte
	BodySize int64
	Status   int  // the answer's status; 0 if the connection was dropped
	Injected bool // answered (or delayed, or cut) by an injected Failure
}

// Calls returns every recorded call (CORS preflights included), in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallsTo returns the recorded calls of one endpoint, in order. CORS
// preflights (Method "OPTIONS") are included; filter on Method if they are
// not wanted.
func (s *Server) CallsTo(ep Endpoint) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Endpoint == ep {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the recorded calls.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
}

// maxRecordedBody bounds what is kept of an API request body.
const maxRecordedBody = httpx.DefaultMaxBody

// recordingWriter remembers the status and whether anything was written. It
// unwraps for http.ResponseController (tusd sets read deadlines) and can
// swallow the handler's answer, to simulate a dropped connection.
type recordingWriter struct {
	http.ResponseWriter
	status  int
	swallow bool
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	if !w.swallow {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.swallow {
		f.Flush()
	}
}

func (w *recordingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingReader counts the body bytes the handler read.
type countingReader struct {
	io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// record wraps next so that every request is recorded once it is answered.
// With captureBody, the body is read (bounded) first and handed on intact.
func (s *Server) record(ep Endpoint, captureBody bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := Call{
			Endpoint: ep,
			Method:   r.Method,
			Path:     r.URL.Path,
			Header:   redactHeader(r.Header),
		}
		c.Header.Set("Host", r.Host)
		var counter *countingReader
		if captureBody && r.Body != nil {
			body, err := httpx.ReadLimited(r.Body, maxRecordedBody)
			if err != nil {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				c.Status = http.StatusRequestEntityTooLarge
				s.addCall(r, c)
				return
			}
			c.Body, c.BodySize = body, int64(len(body))
			r.Body = io.NopCloser(bytes.NewReader(body))
			r = r.WithContext(withBody(r.Context(), body))
		} else if r.Body != nil {
			counter = &countingReader{ReadCloser: r.Body}
			r.Body = counter
		}
		rw := &recordingWriter{ResponseWriter: w}
		info := &callInfo{}
		r = r.WithContext(withCallInfo(r.Context(), info))
		defer func() {
			if counter != nil {
				c.BodySize = counter.n
			}
			c.Status = rw.status
			if rw.swallow {
				c.Status = 0
			}
			c.Injected = info.injected
			s.addCall(r, c)
		}()
		next.ServeHTTP(rw, r)
		if rw.status == 0 && !rw.swallow {
			rw.status = http.StatusOK
		}
	})
}

func (s *Server) addCall(r *http.Request, c Call) {
	s.mu.Lock()
	c.Seq = len(s.calls) + 1
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if s.cfg.onCall != nil {
		s.cfg.onCall(c)
	}
	if l := s.cfg.logger; l != nil {
		l.LogAttrs(r.Context(), slog.LevelInfo, "auratest: call",
			slog.String("endpoint", string(c.Endpoint)), slog.String("method", c.Method),
			slog.String("path", c.Path), slog.Int("status", c.Status), slog.Bool("injected", c.Injected))
	}
}

// redactHeader copies h with credentials replaced by fingerprints.
func redactHeader(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for _, k := range []string{"X-Api-Key", "Cookie", "Proxy-Authorization"} {
		if vs := out.Values(k); len(vs) > 0 {
			red := make([]string, len(vs))
			for i, v := range vs {
				red[i] = auraclient.Redact(v)
			}
			out[k] = red
		}
	}
	if vs := out.Values("Authorization"); len(vs) > 0 {
		red := make([]string, len(vs))
		for i, v := range vs {
			red[i] = redactAuthorization(v)
		}
		out["Authorization"] = red
	}
	return out
}

// redactAuthorization keeps the scheme and non-secret parts of an
// Authorization value: "Bearer aubt_…#fp", or the HMAC header with its
// signature replaced by a fingerprint.
func redactAuthorization(v string) string {
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok {
		return auraclient.Redact(v)
	}
	if scheme == "AURA-HMAC-SHA256" {
		parts := strings.Split(rest, ",")
		for i, p := range parts {
			if k, val, ok := strings.Cut(p, "="); ok && strings.TrimSpace(k) == "Signature" {
				parts[i] = k + "=" + auraclient.Redact(val)
			}
		}
		return scheme + " " + strings.Join(parts, ",")
	}
	return scheme + " " + auraclient.Redact(rest)
}
