// Command shareservice is a drop-in replacement for orthanc-token-service
// and orthanc-share-landing (orthanc-share) and for the token part of
// orthanc-auth-service, configured by the same environment variables. It
// serves both APIs and the landing page on one address:
//
//	PUT  /shares, POST /shares/validate                   (orthanc-share)
//	PUT  /tokens/{type}, POST /tokens/validate|decode     (orthanc-auth-service)
//	POST /tokens/revoke, POST /user/get-profile
//	GET  /share-landing/?token=...                        (public, no Basic auth)
//
// Run it next to Orthanc:
//
//	SECRET_KEY=$(openssl rand -base64 48) USERS='{"orthanc":"..."}' \
//	PUBLIC_ORTHANC_ROOT=https://pacs.example.org/orthanc/ SERVER_ID=orthanc-public \
//	go run ./examples/shareservice
//
// See README.md for every variable; -h lists them.
//
// Exit status: 0 after a clean shutdown (SIGINT, SIGTERM) or -h, 1 when the
// server fails (e.g. LISTEN is in use), 2 for bad usage or a configuration
// error (a missing or weak SECRET_KEY, bad USERS, ...). Failures are one
// line on standard error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/share"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := command(ctx, os.Args[1:], os.Getenv, os.ReadFile, os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// environment lists the variables configure reads, for -h.
var environment = []cli.Var{
	{Name: "SECRET_KEY", Help: "signs the tokens, at least 32 bytes (or /run/secrets/SECRET_KEY); required"},
	{Name: "PREVIOUS_SECRET_KEY", Help: "a former key, still accepted for verification"},
	{Name: "USERS", Help: `Basic users of the API, {"user":"password",...}; required unless ALLOW_ANONYMOUS=true`},
	{Name: "ALLOW_ANONYMOUS", Help: "true: serve the API without authentication (when USERS is empty)"},
	{Name: "LISTEN", Help: "address to listen on (default 127.0.0.1:8000)"},
	{Name: "SERVER_ID", Help: "the plugin's WebServiceIdentifier; new tokens are bound to it (or SERVER_IDENTIFIER)"},
	{Name: "PUBLIC_ORTHANC_ROOT", Help: "enables Osimis, Stone, VolView links"},
	{Name: "PUBLIC_ANONYMIZED_ORTHANC_ROOT", Help: "anonymized Osimis shares, with ANONYMIZED_SERVER_IDENTIFIER"},
	{Name: "PUBLIC_LANDING_ROOT", Help: "links point to the landing page"},
	{Name: "PUBLIC_OHIF_ROOT", Help: "OHIF links, with OHIF_DATA_SOURCE (dicom-web or dicom-json)"},
	{Name: "PUBLIC_MEDDREAM_ROOT", Help: "MedDream links, with MEDDREAM_TOKEN_SERVICE_URL"},
	{Name: "ORTHANC_URL", Help: "fills missing ids when minting, with ORTHANC_USERNAME and ORTHANC_PASSWORD"},
	{Name: "SHARES_TOKEN_VERSION", Help: "layout minted by PUT /shares: v3 (default) or v2"},
	{Name: "DENY_POST", Help: "true refuses POST with share tokens"},
	{Name: "MAX_VALIDITY", Help: "seconds (at least 1) the plugin may cache an answer (default 60)"},
	{Name: "TITLE_EXPIRED_TOKEN", Help: "texts of the landing page (also MESSAGE_EXPIRED_TOKEN, TITLE_/MESSAGE_INVALID_TOKEN)"},
	{Name: "LOG_LEVEL", Help: "debug for more logs"},
}

// command is the command line around run: -h, exit codes, one-line
// errors. ready, if not nil, receives the listening address.
func command(ctx context.Context, args []string, getenv func(string) string, readFile func(string) ([]byte, error),
	stdout, stderr io.Writer, ready func(addr string)) int {
	cmd := cli.New("shareservice", stdout, stderr)
	cmd.Synopsis = []string{"shareservice   (configured by environment variables only)"}
	cmd.About = "Serves orthanc-share's and orthanc-auth-service's token APIs and the share landing page on one address."
	cmd.Env = environment
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "clean shutdown (Ctrl-C, SIGTERM), or -h"},
		{Name: "1", Help: "the server failed (e.g. LISTEN is in use)"},
		{Name: "2", Help: "bad usage or a configuration error"},
	}
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	if cmd.Flags.NArg() > 0 {
		return cmd.Fail(cli.Usagef("unexpected argument %q; shareservice is configured by environment variables", cmd.Flags.Arg(0)))
	}
	// Check the configuration first, silently, so that its errors are
	// usage errors; run logs its warnings.
	if _, _, err := configure(getenv, readFile, slog.New(slog.DiscardHandler)); err != nil {
		return cmd.Fail(&cli.UsageError{Msg: err.Error(), Hint: "see 'shareservice -h' for the variables"})
	}
	if err := run(ctx, getenv, readFile, ready); err != nil && !errors.Is(err, context.Canceled) {
		return cmd.Fail(err)
	}
	return cli.ExitOK
}

// settings is what the environment configures besides share.Config.
type settings struct {
	listen string
	level  slog.Level
}

// secret reads name from the environment or, like the Python services,
// from the Docker secret /run/secrets/<name>.
func secret(name string, getenv func(string) string, readFile func(string) ([]byte, error)) string {
	if v := getenv(name); v != "" {
		return v
	}
	if b, err := readFile("/run/secrets/" + name); err == nil {
		return strings.TrimRight(string(b), "\r\n")
	}
	return ""
}

// configure builds the service configuration from environment variables.
func configure(getenv func(string) string, readFile func(string) ([]byte, error), log *slog.Logger) (share.Config, settings, error) {
	var cfg share.Config
	st := settings{listen: "127.0.0.1:8000", level: slog.LevelInfo}
	if v := getenv("LISTEN"); v != "" {
		st.listen = v
	}
	key := secret("SECRET_KEY", getenv, readFile)
	if key == "" {
		return cfg, st, errors.New("SECRET_KEY is required")
	}
	codecCfg := share.CodecConfig{Secret: []byte(key)}
	if prev := secret("PREVIOUS_SECRET_KEY", getenv, readFile); prev != "" {
		codecCfg.PreviousSecrets = [][]byte{[]byte(prev)}
		codecCfg.AllowShortPreviousSecrets = true
		if len(prev) < share.MinSecretLen {
			log.Warn("PREVIOUS_SECRET_KEY is shorter than 32 bytes: links signed with it can be forged by whoever guesses it; rotate them out")
		}
	}
	codec, err := share.NewCodec(codecCfg)
	if err != nil {
		if errors.Is(err, share.ErrWeakSecret) {
			return cfg, st, fmt.Errorf("SECRET_KEY must be at least %d bytes (try: openssl rand -base64 48); to keep links of a shorter key valid, move it to PREVIOUS_SECRET_KEY", share.MinSecretLen)
		}
		return cfg, st, err
	}
	cfg.Codec = codec

	if users := getenv("USERS"); users != "" {
		if err := json.Unmarshal([]byte(users), &cfg.Users); err != nil {
			return cfg, st, errors.New(`USERS must be a JSON object {"user":"password",...}`)
		}
	}
	if len(cfg.Users) == 0 {
		if !isTrue(getenv("ALLOW_ANONYMOUS")) {
			return cfg, st, errors.New("USERS is empty: set USERS, or ALLOW_ANONYMOUS=true if the service is protected otherwise")
		}
		cfg.AllowAnonymous = true
		log.Warn("serving the token API without authentication (ALLOW_ANONYMOUS=true)")
	}

	sid, sidOld := getenv("SERVER_ID"), getenv("SERVER_IDENTIFIER")
	if sid != "" && sidOld != "" && sid != sidOld {
		return cfg, st, errors.New("SERVER_ID and SERVER_IDENTIFIER differ")
	}
	cfg.ServerID = sid
	if sid == "" {
		cfg.ServerID = sidOld
	}
	cfg.AnonymizedServerID = getenv("ANONYMIZED_SERVER_IDENTIFIER")

	cfg.Links = share.Links{
		OrthancRoot:           getenv("PUBLIC_ORTHANC_ROOT"),
		AnonymizedOrthancRoot: getenv("PUBLIC_ANONYMIZED_ORTHANC_ROOT"),
		OHIFRoot:              getenv("PUBLIC_OHIF_ROOT"),
		OHIFDataSource:        getenv("OHIF_DATA_SOURCE"),
		LandingRoot:           getenv("PUBLIC_LANDING_ROOT"),
		MedDreamRoot:          getenv("PUBLIC_MEDDREAM_ROOT"),
	}
	if u := getenv("MEDDREAM_TOKEN_SERVICE_URL"); u != "" {
		cfg.MedDream = &share.MedDreamClient{TokenServiceURL: u}
	}
	if u := getenv("ORTHANC_URL"); u != "" {
		cfg.Orthanc = &share.OrthancClient{URL: u, Username: getenv("ORTHANC_USERNAME"), Password: secret("ORTHANC_PASSWORD", getenv, readFile)}
	}
	cfg.Pages = share.LandingPages{
		ExpiredTitle: getenv("TITLE_EXPIRED_TOKEN"), ExpiredMessage: getenv("MESSAGE_EXPIRED_TOKEN"),
		InvalidTitle: getenv("TITLE_INVALID_TOKEN"), InvalidMessage: getenv("MESSAGE_INVALID_TOKEN"),
	}

	switch v := strings.ToLower(getenv("SHARES_TOKEN_VERSION")); v {
	case "", "v3", "latest":
	case "v2":
		cfg.SharesVersion = share.V2
	default:
		return cfg, st, fmt.Errorf("SHARES_TOKEN_VERSION %q: use v2 or v3", v)
	}
	cfg.DenyPost = isTrue(getenv("DENY_POST"))
	if v := getenv("MAX_VALIDITY"); v != "" {
		// share.Config takes 0 for its default (60 s): refuse it here
		// rather than cache grants for a minute when none was asked for.
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return cfg, st, fmt.Errorf("MAX_VALIDITY %q is not a number of seconds of at least 1", v)
		}
		cfg.MaxValidity = time.Duration(n) * time.Second
	}
	if strings.EqualFold(getenv("LOG_LEVEL"), "debug") {
		st.level = slog.LevelDebug
	}
	return cfg, st, nil
}

func isTrue(v string) bool {
	b, _ := strconv.ParseBool(v)
	return b
}

// run serves until ctx ends. ready, if not nil, receives the listening
// address.
func run(ctx context.Context, getenv func(string) string, readFile func(string) ([]byte, error), ready func(addr string)) error {
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg, st, err := configure(getenv, readFile, log)
	if err != nil {
		return err
	}
	level.Set(st.level)
	cfg.Logger = log
	svc, err := share.NewService(cfg)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/share-landing/", svc.Landing())
	mux.Handle("/", svc)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", st.listen)
	if err != nil {
		return err
	}
	log.Info("shareservice listening", "addr", ln.Addr().String(), "server_id", cfg.ServerID)
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
