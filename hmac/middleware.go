package hmac

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

type appIDKey struct{}

// Middleware verifies each request with v before calling next, and answers
// like Aura when verification fails, with a JSON body
// {"error":{"message":"..."}} that never contains the expected signature,
// a secret or a derived key:
//
//	401  ErrMissingSignature, ErrMalformed, ErrUnknownApp (with WWW-Authenticate: AURA-HMAC-SHA256)
//	403  ErrBadSignature, ErrStale, ErrReplay, ErrNonCanonicalPath
//	413  ErrBodyTooLarge
//	400  the body could not be read
//	500  ErrInternal (secret lookup or nonce store failed; v misconfigured)
//
// On success next sees the request with the body readable from its start
// and the app id in its context ([AppIDFromContext]). Rejections are logged
// to v.Logger when set.
func Middleware(v *Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appID, claimed, err := v.verify(r)
		if err != nil {
			status, msg := classify(err)
			if v != nil && v.Logger != nil {
				level := slog.LevelInfo
				if status >= 500 {
					level = slog.LevelError
				}
				v.Logger.LogAttrs(r.Context(), level, "hmac: request rejected",
					slog.Int("status", status), slog.String("app_id", claimed),
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.String("error", err.Error()))
			}
			writeError(w, status, msg)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), appIDKey{}, appID)))
	})
}

// AppIDFromContext returns the app id [Middleware] stored in ctx after a
// request verified.
func AppIDFromContext(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(appIDKey{}).(string)
	return id, ok
}

// classify maps a Verify error to the status and message Middleware sends.
// Messages are the sentinels' fixed texts, never err.Error(), which may
// quote the request.
func classify(err error) (int, string) {
	for _, c := range []struct {
		err    error
		status int
	}{
		{ErrInternal, http.StatusInternalServerError}, // first: a server fault is never the client's
		{ErrMissingSignature, http.StatusUnauthorized},
		{ErrMalformed, http.StatusUnauthorized},
		{ErrUnknownApp, http.StatusUnauthorized},
		{ErrBadSignature, http.StatusForbidden},
		{ErrStale, http.StatusForbidden},
		{ErrReplay, http.StatusForbidden},
		{ErrNonCanonicalPath, http.StatusForbidden},
		{ErrBodyTooLarge, http.StatusRequestEntityTooLarge},
	} {
		if errors.Is(err, c.err) {
			return c.status, strings.TrimPrefix(c.err.Error(), "hmac: ")
		}
	}
	return http.StatusBadRequest, "could not read the request"
}

func writeError(w http.ResponseWriter, status int, msg string) {
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Message = msg
	b, _ := json.Marshal(body) // cannot fail for a string field
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", Algorithm)
	}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
