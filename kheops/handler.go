package kheops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// defaultMaxBodyBytes is the body limit of a WebhookHandler whose
// MaxBodyBytes is zero.
const defaultMaxBodyBytes = 1 << 20

// defaultDeliveryTTL covers KHEOPS's whole retry schedule (five attempts,
// 50 s of delays plus the time each attempt takes) with a wide margin.
const defaultDeliveryTTL = 10 * time.Minute

// WebhookHandler receives KHEOPS webhook deliveries: an http.Handler to
// mount at the URL registered in KHEOPS. For each POST it bounds and reads
// the body, verifies the signature, decodes the event, makes sure the
// delivery was not handed over before, and calls OnEvent. Its answers:
//
//	200  delivered to OnEvent, which returned nil; or a duplicate of a
//	     delivery already handed over (KHEOPS stops retrying)
//	400  not a KHEOPS event ([ErrMalformed])
//	401  no signature although a secret is set ([ErrMissingSignature])
//	403  wrong signature: tampered body or another secret ([ErrBadSignature])
//	405  not a POST
//	409  a duplicate of a delivery whose OnEvent is still running in this
//	     handler (KHEOPS retries later, and learns the outcome then)
//	413  body over MaxBodyBytes ([ErrTooLarge])
//	500  OnEvent failed (KHEOPS retries; the claim is released so the
//	     retry is handed over again), or no Secret and no AllowUnsigned
//	     ([ErrNoSecret])
//	503  the DeliveryStore failed (KHEOPS retries)
//
// The zero value refuses every delivery (it has no secret); set Secret.
// A WebhookHandler must not be copied after first use. See docs/kheops.md,
// "Webhooks".
type WebhookHandler struct {
	// Secret is the secret registered with the webhook in KHEOPS. When it
	// is set, every delivery must carry a valid X-Kheops-Signature.
	Secret string

	// AllowUnsigned, when Secret is empty, accepts deliveries without
	// verifying them. It is ignored when Secret is set. Risk: anyone who
	// can reach the URL can then make OnEvent run with an event of their
	// choosing (a forged new_series naming any study, a forged
	// delete_album); use it only behind another authentication, or in
	// tests. When false and Secret is empty, every delivery is refused.
	AllowUnsigned bool

	// OnEvent is called once per delivery, with the request's context.
	// KHEOPS waits for the answer, so OnEvent should be quick: record the
	// event or hand it to a queue and return. An error makes the handler
	// answer 500, so KHEOPS retries (at most five attempts in all). nil
	// acknowledges every verified delivery and does nothing else.
	OnEvent func(ctx context.Context, ev *WebhookEvent) error

	// Deliveries remembers which deliveries were handed over. nil means a
	// store in this handler's memory holding up to 10000 ids; with
	// several instances behind a load balancer use a shared store
	// (package redisstore), or each instance hands over its own copy of
	// the retries it receives.
	Deliveries DeliveryStore

	// DeliveryTTL is how long a delivery id is remembered. Zero means 10
	// minutes, which covers KHEOPS's retry schedule (about a minute).
	DeliveryTTL time.Duration

	// MaxBodyBytes bounds the request body; larger bodies are answered
	// 413. Zero or negative means 1 MiB.
	MaxBodyBytes int64

	// Logger receives one record per refused or failed delivery (never
	// the secret, the signature or the body). nil means silent.
	Logger *slog.Logger

	once     sync.Once
	mem      DeliveryStore       // the default store, made once
	mu       sync.Mutex          // guards inflight
	inflight map[string]struct{} // keys whose OnEvent is running here
}

// ServeHTTP implements http.Handler.
func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = defaultMaxBodyBytes
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, err)
		return
	}
	if int64(len(body)) > limit {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, ErrTooLarge)
		return
	}
	if h.Secret != "" || !h.AllowUnsigned {
		if err := Verify(h.Secret, body, r.Header.Get(headerSignature)); err != nil {
			h.refuse(w, r, statusOf(err), err)
			return
		}
	}
	ev, err := ParseEvent(r.Header, body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, err)
		return
	}

	key := deliveryKey(ev)
	if !h.enter(key) {
		h.log(r, slog.LevelInfo, "kheops: webhook delivery still being handled", ev, nil)
		http.Error(w, "delivery in progress", http.StatusConflict)
		return
	}
	defer h.leave(key)
	store := h.store()
	ttl := h.DeliveryTTL
	if ttl <= 0 {
		ttl = defaultDeliveryTTL
	}
	fresh, err := store.Claim(r.Context(), key, ttl)
	if err != nil {
		h.log(r, slog.LevelError, "kheops: webhook delivery store failed", ev, err)
		http.Error(w, "try again later", http.StatusServiceUnavailable)
		return
	}
	if !fresh {
		h.log(r, slog.LevelDebug, "kheops: duplicate webhook delivery acknowledged", ev, nil)
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := h.deliver(r, ev, store, key); err != nil {
		h.log(r, slog.LevelWarn, "kheops: webhook OnEvent failed", ev, err)
		http.Error(w, "event not processed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// deliver calls OnEvent and releases the claim when it fails or panics, so
// that KHEOPS's next attempt is handed over again.
func (h *WebhookHandler) deliver(r *http.Request, ev *WebhookEvent, store DeliveryStore, key string) (err error) {
	if h.OnEvent == nil {
		return nil
	}
	release := func() error {
		// A fresh context: the request's may be done, and a claim left
		// behind would swallow KHEOPS's retry.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		return store.Release(ctx, key)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = release()
			panic(p)
		}
	}()
	if err := h.OnEvent(r.Context(), ev); err != nil {
		return errors.Join(err, release())
	}
	return nil
}

// deliveryKey is the de-duplication key: the delivery id, or for
// deliveries without one (delete_album) the SHA-256 of the body, which
// holds the album id and the event time to the microsecond and which
// KHEOPS resends unchanged.
func deliveryKey(ev *WebhookEvent) string {
	if ev.Delivery != "" {
		return "id:" + ev.Delivery
	}
	sum := sha256.Sum256(ev.Body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrMissingSignature):
		return http.StatusUnauthorized
	case errors.Is(err, ErrBadSignature):
		return http.StatusForbidden
	case errors.Is(err, ErrNoSecret):
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

func (h *WebhookHandler) store() DeliveryStore {
	if h.Deliveries != nil {
		return h.Deliveries
	}
	h.once.Do(func() { h.mem = NewMemoryStore(0) })
	return h.mem
}

func (h *WebhookHandler) enter(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, busy := h.inflight[key]; busy {
		return false
	}
	if h.inflight == nil {
		h.inflight = map[string]struct{}{}
	}
	h.inflight[key] = struct{}{}
	return true
}

func (h *WebhookHandler) leave(key string) {
	h.mu.Lock()
	delete(h.inflight, key)
	h.mu.Unlock()
}

func (h *WebhookHandler) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	level := slog.LevelWarn
	if errors.Is(err, ErrNoSecret) {
		level = slog.LevelError
	}
	if h.Logger != nil {
		h.Logger.LogAttrs(r.Context(), level, "kheops: webhook delivery refused",
			slog.Int("status", status), slog.String("event", clip(r.Header.Get(headerEvent))),
			slog.String("delivery", clip(r.Header.Get(headerDelivery))), slog.String("error", err.Error()))
	}
	http.Error(w, http.StatusText(status), status)
}

func (h *WebhookHandler) log(r *http.Request, level slog.Level, msg string, ev *WebhookEvent, err error) {
	if h.Logger == nil {
		return
	}
	attrs := []slog.Attr{slog.String("event", ev.Event), slog.String("delivery", ev.Delivery), slog.Int("attempt", ev.Attempt)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	h.Logger.LogAttrs(r.Context(), level, msg, attrs...)
}

// clip bounds a header value before it is logged.
func clip(s string) string {
	if len(s) > maxHeaderLen {
		return s[:maxHeaderLen]
	}
	return s
}
