package auratest

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/internal/auraapi"
)

// Failure describes how the server misbehaves on an endpoint, for
// [Server.Fail]. Its effects apply in this order: Delay, then (for Tus
// PATCH with CutAfter) forwarding that many body bytes to the store, then
// either dropping the connection (Abort) or answering Status.
type Failure struct {
	// Status is the status to answer instead of handling the request; 0
	// handles it normally (after Delay), which makes a pure delay.
	Status int
	// Body is the answer's body. Empty means {"message":"<status text>"}
	// on the API, and tusd's plain-text style on Tus.
	Body string
	// Header holds extra answer headers, e.g. Retry-After.
	Header http.Header
	// Delay is waited before anything else; a client that gives up (or
	// Close) ends it early. Use it to test timeouts and cancellation.
	Delay time.Duration
	// Times is how many matching requests are affected; 0 means every one
	// until ClearFailures.
	Times int
	// Skip lets this many matching requests through untouched first.
	Skip int
	// Method restricts the failure to one method, e.g. "PATCH" on Tus.
	Method string
	// Abort drops the connection without an answer: the client sees a
	// network error, not a status.
	Abort bool
	// CutAfter (Tus PATCH with Abort) lets the store keep this many bytes of
	// the body before the connection drops, as when a network fails
	// mid-chunk: the upload can then be resumed from that offset.
	CutAfter int64
}

// failure is an injected Failure and how often it has matched.
type failure struct {
	Failure
	seen int // matching requests so far, skipped ones included
}

// Fail makes the server misbehave on ep (see [Failure]). Several failures
// on one endpoint apply in the order they were added, each while it lasts.
func (s *Server) Fail(ep Endpoint, f Failure) {
	s.mu.Lock()
	s.failures[ep] = append(s.failures[ep], &failure{Failure: f})
	s.mu.Unlock()
}

// ClearFailures removes every injected failure.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	s.failures = map[Endpoint][]*failure{}
	s.mu.Unlock()
}

// takeFailure returns the Failure that applies to r on ep, if any, and
// counts the match.
func (s *Server) takeFailure(ep Endpoint, r *http.Request) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.failures[ep] {
		if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
			continue
		}
		if f.Times > 0 && f.seen >= f.Skip+f.Times {
			continue
		}
		f.seen++
		if f.seen <= f.Skip {
			return Failure{}, false
		}
		return f.Failure, true
	}
	return Failure{}, false
}

// inject applies the failure for ep, if one matches, before next. tus
// selects Tus-style bodies and enables CutAfter.
func (s *Server) inject(ep Endpoint, tus bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		f, ok := s.takeFailure(ep, r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if info := callInfoFrom(r.Context()); info != nil {
			info.injected = true
		}
		if err := s.sleep(r.Context(), f.Delay); err != nil {
			if rw, ok := w.(*recordingWriter); ok {
				rw.swallow = true
			}
			panic(http.ErrAbortHandler)
		}
		if f.Abort {
			rw, _ := w.(*recordingWriter)
			if tus && f.CutAfter > 0 && r.Method == http.MethodPatch {
				// Let the store take the first CutAfter bytes, as if the
				// network failed there, and hide its answer.
				r.Body = &cutReader{ReadCloser: r.Body, left: f.CutAfter}
				if rw != nil {
					rw.swallow = true
				}
				next.ServeHTTP(w, r)
			}
			if rw != nil {
				rw.swallow = true
			}
			panic(http.ErrAbortHandler)
		}
		if f.Status == 0 {
			next.ServeHTTP(w, r)
			return
		}
		// Read (a bounded part of) the body so the client gets the answer
		// rather than a reset while it is still sending.
		_, _ = io.CopyN(io.Discard, r.Body, 16<<20)
		for k, vs := range f.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		body := f.Body
		switch {
		case body != "":
			if w.Header().Get("Content-Type") == "" {
				ct := "application/json"
				if tus {
					ct = "text/plain; charset=utf-8"
				}
				w.Header().Set("Content-Type", ct)
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(f.Status)
			_, _ = io.WriteString(w, body)
		case tus:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(f.Status)
			_, _ = io.WriteString(w, "ERR_INJECTED: "+http.StatusText(f.Status)+"\n")
		default:
			msg := http.StatusText(f.Status)
			if msg == "" {
				msg = "Error"
			}
			auraapi.Message(w, f.Status, msg)
		}
	})
}

// cutReader ends a body with an error after left bytes.
type cutReader struct {
	io.ReadCloser
	left int64
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}

// Per-request values the wrappers share.
type (
	bodyKey     struct{}
	callInfoKey struct{}
	callInfo    struct{ injected bool }
)

func withBody(ctx context.Context, b []byte) context.Context {
	return context.WithValue(ctx, bodyKey{}, b)
}

func bodyFrom(ctx context.Context) []byte {
	b, _ := ctx.Value(bodyKey{}).([]byte)
	return b
}

func withCallInfo(ctx context.Context, i *callInfo) context.Context {
	return context.WithValue(ctx, callInfoKey{}, i)
}

func callInfoFrom(ctx context.Context) *callInfo {
	i, _ := ctx.Value(callInfoKey{}).(*callInfo)
	return i
}
