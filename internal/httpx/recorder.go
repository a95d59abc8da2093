package httpx

import "net/http"

// StatusRecorder wraps an http.ResponseWriter and remembers the status of
// the response (200 once a body is written without an explicit status; 0
// if nothing was written). It unwraps for http.ResponseController, so
// handlers beneath it can still set deadlines or flush. The SDK's test
// servers use it to record what they answered.
type StatusRecorder struct {
	http.ResponseWriter
	Status int
}

// WriteHeader records code and passes it on.
func (r *StatusRecorder) WriteHeader(code int) {
	if r.Status == 0 {
		r.Status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and passes b on.
func (r *StatusRecorder) Write(b []byte) (int, error) {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (r *StatusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
