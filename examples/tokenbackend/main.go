// Command tokenbackend is the partner backend endpoint of Aura's Phase 1
// (the seed's "Your Backend Implementation"): POST /api/upload-token checks
// the caller's session, exchanges the app's HMAC credentials for an
// ephemeral upload token through the SDK, rate-limits per user, and
// answers {"token","expires_at","scopes"} for the browser widget or an
// upload client. One token serves every user while it has at least half
// its lifetime left (uploadtoken.CachingSource), so a busy site stays far
// below Aura's 10 exchanges a minute; see the README for the trade-off.
//
//	AURA_API_URL=https://aura.example.com/api AURA_APP_ID=aura_pk_… \
//	AURA_APP_SECRET=aura_sk_… AURA_API_KEY=aura_au_… go run ./examples/tokenbackend
//	curl -X POST -b session=alice http://127.0.0.1:8080/api/upload-token
//
// Secrets come from the environment only (AURA_API_KEY may also be given
// as SERVICE_API_KEY, the seed's name) and never appear in answers or
// logs. With -demo it runs against an in-process fake Aura instead.
//
// Exit status: 0 after a clean shutdown (SIGINT, SIGTERM) or -h, 1 when
// the server fails, 2 for bad usage or missing configuration. Failures are
// one line on standard error: the cause and a hint.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/hmac"
	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

const (
	exitOK     = cli.ExitOK
	exitFailed = cli.ExitFailed
	exitUsage  = cli.ExitUsage
)

func main() {
	cli.Main(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return run(ctx, args, os.Getenv, stdout, stderr)
	})
}

// config is what the endpoint needs.
type config struct {
	// Exchanger trades the app's HMAC credentials for upload tokens.
	Exchanger *uploadtoken.Client
	// TTL and Scopes of the tokens exchanged. A token is handed out while
	// at least TTL/2 of it is left, so every user gets one valid for at
	// least TTL/2 (long enough for the upload it starts).
	TTL    time.Duration
	Scopes []string
	// PerUser limits token requests per user.
	PerUser uploadtoken.Rate
	// User returns the logged-in user of a request, "" for none.
	User   func(*http.Request) string
	Logger *slog.Logger
}

// sessionUser is a PLACEHOLDER session check: any non-empty "session"
// cookie counts as a logged-in user, named by a fingerprint of the cookie
// (never the cookie itself, which is a credential and is logged nowhere).
// Replace it with your real session lookup (and its CSRF protection): only
// authenticated users may get tokens.
func sessionUser(r *http.Request) string {
	c, err := r.Cookie("session")
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return ""
	}
	return "session-" + fingerprint(c.Value)
}

// fingerprint is the first 8 hex digits of SHA-256(s): enough to tell
// sessions apart in logs, useless for recovering them.
func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// newHandler serves POST /api/upload-token.
func newHandler(cfg config) http.Handler {
	// One cached token for every user: Aura allows 10 exchanges a minute
	// per API key, so exchanging per request fails from the 11th visitor.
	tokens := cfg.Exchanger.Source(uploadtoken.ExchangeRequest{TTL: cfg.TTL, Scopes: cfg.Scopes})
	tokens.Margin = cfg.TTL / 2
	issue := func(w http.ResponseWriter, r *http.Request) {
		user := cfg.User(r)
		tok, err := tokens.Token(r.Context())
		if err != nil {
			// The error never holds the secret, the signature or a token.
			cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "upload token exchange failed",
				slog.String("user", user), slog.String("error", err.Error()))
			var ae *uploadtoken.APIError
			if errors.Is(err, uploadtoken.ErrRateLimited) && errors.As(err, &ae) {
				if ae.RetryAfter > 0 {
					w.Header().Set("Retry-After", strconv.Itoa(int((ae.RetryAfter+time.Second-1)/time.Second)))
				}
				writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "Too many token requests to Aura; try again later."})
				return
			}
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "Upload token unavailable."})
			return
		}
		cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "upload token issued",
			slog.String("user", user), slog.Any("token", tok)) // logs the redacted form
		writeJSON(w, http.StatusOK, struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
			Scopes    []string  `json:"scopes"`
		}{tok.Value, tok.ExpiresAt.UTC(), tok.Scopes})
	}
	limited := uploadtoken.RateLimit(&uploadtoken.MemoryLimiter{}, cfg.PerUser, func(r *http.Request) string {
		return "user:" + cfg.User(r)
	}, http.HandlerFunc(issue))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/upload-token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if cfg.User(r) == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized"})
			return
		}
		limited.ServeHTTP(w, r)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := cli.New("tokenbackend", stdout, stderr)
	cmd.Synopsis = []string{"tokenbackend [-listen ADDR] [-ttl D] [-per-user N]", "tokenbackend -demo"}
	cmd.About = "Serves POST /api/upload-token: checks the caller's session, exchanges the app's HMAC credentials " +
		"for an upload token, rate-limits per user. Secrets come from the environment only."
	cmd.Env = []cli.Var{
		{Name: "AURA_API_URL", Help: "Aura API base URL, ending in /api"},
		{Name: "AURA_APP_ID", Help: "the app's HMAC key id, aura_pk_…"},
		{Name: "AURA_APP_SECRET", Help: "the app's HMAC secret, aura_sk_…"},
		{Name: "AURA_API_KEY", Help: "the service API key, aura_au_… (SERVICE_API_KEY also accepted)"},
	}
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "clean shutdown (Ctrl-C, SIGTERM), or -h"},
		{Name: "1", Help: "the server failed"},
		{Name: "2", Help: "bad usage or missing configuration"},
	}
	fs := cmd.Flags
	listen := fs.String("listen", "127.0.0.1:8080", "`address` to listen on")
	demo := fs.Bool("demo", false, "exchange against an in-process fake Aura instead of AURA_API_URL")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the tokens exchanged (at most 24h); each is handed out while half of it is left")
	perUser := fs.Int("per-user", 5, "token requests allowed per user and minute")
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	switch {
	case fs.NArg() > 0:
		return cmd.Fail(cli.Usagef("unexpected argument %q", fs.Arg(0)))
	case *perUser < 1:
		return cmd.Fail(cli.Usagef("-per-user must be at least 1"))
	case *ttl < 2*time.Second || *ttl > uploadtoken.MaxTTL:
		return cmd.Fail(cli.Usagef("-ttl %v is out of range: Aura issues tokens for 2s to 24h", *ttl))
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	base, appID, secret, key := getenv("AURA_API_URL"), getenv("AURA_APP_ID"), getenv("AURA_APP_SECRET"), getenv("AURA_API_KEY")
	if key == "" {
		key = getenv("SERVICE_API_KEY")
	}
	if *demo {
		aura := auratest.NewServer()
		defer aura.Close()
		base, appID, secret, key = aura.URL, aura.AppID, aura.Secret, aura.APIKey
		fmt.Fprintf(stdout, "demo: exchanging against a fake Aura at %s\n", aura.URL)
		// What a browser widget needs besides the token: the API base URL
		// and the service API key (the fake's; it accepts any origin).
		fmt.Fprintf(stdout, "demo: widget apiBaseUrl=%s apiToken=%s\n", aura.URL, aura.APIKey)
	}
	var missing []string
	for name, v := range map[string]string{"AURA_API_URL": base, "AURA_APP_ID": appID, "AURA_APP_SECRET": secret, "AURA_API_KEY": key} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return cmd.Fail(&cli.UsageError{Msg: strings.Join(missing, ", ") + " not set",
			Hint: "set them in the environment, or try -demo"})
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cmd.Fail(cli.Usagef("AURA_API_URL: %q is not an absolute http or https URL", base))
	}

	h := newHandler(config{
		Exchanger: &uploadtoken.Client{BaseURL: base, APIKey: key, Signer: &hmac.Signer{AppID: appID, Secret: secret}, Logger: logger},
		TTL:       *ttl,
		Scopes:    []string{uploadtoken.ScopeUploadInit, uploadtoken.ScopeUploadManage, uploadtoken.ScopeIntegrationRead},
		PerUser:   uploadtoken.Rate{Limit: *perUser, Window: time.Minute},
		User:      sessionUser,
		Logger:    logger,
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return cmd.Fail(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	fmt.Fprintf(stdout, "listening on http://%s/api/upload-token\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return cmd.Fail(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return cmd.Fail(fmt.Errorf("shutdown: %w", err))
	}
	<-errc
	return exitOK
}
