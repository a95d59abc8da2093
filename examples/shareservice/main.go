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
// shareservice -h lists every variable (README.md explains them); bad
// configuration exits 2 with one line on standard error.
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
	"strconv"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/share"
)

func main() {
	cli.Main(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return realMain(ctx, args, stdout, stderr, os.Getenv, os.ReadFile)
	})
}

// env documents the environment variables the program reads, for -h.
var env = [][2]string{
	{"SECRET_KEY", "HS256 key, at least 32 bytes (or the file /run/secrets/SECRET_KEY); required"},
	{"USERS", `JSON object of HTTP Basic users {"user":"password"}; required unless ALLOW_ANONYMOUS=true`},
	{"ALLOW_ANONYMOUS", "true serves the API without Basic auth (put your own authentication in front)"},
	{"SERVER_ID, SERVER_IDENTIFIER", "the plugin's WebServiceIdentifier; new tokens are bound to it"},
	{"ANONYMIZED_SERVER_IDENTIFIER", "WebServiceIdentifier of the anonymized Orthanc"},
	{"PUBLIC_ORTHANC_ROOT", "public Orthanc URL: Osimis, Stone and VolView links"},
	{"PUBLIC_ANONYMIZED_ORTHANC_ROOT", "public URL of the anonymized Orthanc"},
	{"PUBLIC_LANDING_ROOT", "public URL of the landing page; links then point to it"},
	{"PUBLIC_OHIF_ROOT, OHIF_DATA_SOURCE", "OHIF links (dicom-web, the default, or dicom-json)"},
	{"MEDDREAM_TOKEN_SERVICE_URL, PUBLIC_MEDDREAM_ROOT", "MedDream instant links and publications"},
	{"ORTHANC_URL, ORTHANC_USERNAME, ORTHANC_PASSWORD", "Orthanc REST API, to fill in missing ids when minting; anonymized shares are anonymized there"},
	{"ANONYMIZED_ORTHANC_URL, ANONYMIZED_ORTHANC_USERNAME, ANONYMIZED_ORTHANC_PASSWORD", "REST API of the anonymized Orthanc when it has its own database: anonymized copies are moved there"},
	{"PREVIOUS_SECRET_KEY", "an old key still accepted to verify (never to sign)"},
	{"SHARES_TOKEN_VERSION", "layout minted by PUT /shares: v3 (default) or v2"},
	{"ALLOW_POST", "true lets share links POST at study level: /modify (KeepSource false deletes the study), /merge, /anonymize; default refused"},
	{"DENY_POST", "obsolete: POST is refused by default; false is an error (use ALLOW_POST)"},
	{"MAX_VALIDITY", "seconds the plugin may cache an answer (default 60)"},
	{"TITLE_EXPIRED_TOKEN, MESSAGE_EXPIRED_TOKEN, TITLE_INVALID_TOKEN, MESSAGE_INVALID_TOKEN", "landing page texts (messages are HTML)"},
	{"LISTEN", "listen address (default 127.0.0.1:8000)"},
	{"LOG_LEVEL", "debug logs every decision (never tokens)"},
}

// configError is a problem with the configuration: exit status 2.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// realMain runs the program and returns its exit status. -h prints the
// usage and never starts the server, whatever the environment says.
func realMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, readFile func(string) ([]byte, error)) int {
	return command(ctx, args, getenv, readFile, stdout, stderr, nil)
}

// command is realMain with a ready callback that receives the listening
// address.
func command(ctx context.Context, args []string, getenv func(string) string, readFile func(string) ([]byte, error),
	stdout, stderr io.Writer, ready func(addr string)) int {
	cmd := cli.New("shareservice", stdout, stderr)
	cmd.Synopsis = []string{"shareservice [-h]   (configured by the environment)"}
	cmd.About = "Serves the share-token API for the Orthanc authorization plugin (orthanc-share and orthanc-auth-service " +
		"routes) and the landing page. See examples/shareservice/README.md and docs/orthanc.md."
	for _, v := range env {
		cmd.Env = append(cmd.Env, cli.Var{Name: v[0], Help: v[1]})
	}
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "stopped by SIGINT or SIGTERM, or -h"},
		{Name: "1", Help: "the server failed (e.g. LISTEN is in use)"},
		{Name: "2", Help: "bad arguments or configuration (one line on standard error)"},
	}
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	if cmd.Flags.NArg() > 0 {
		return cmd.Fail(cli.Usagef("unexpected argument %q; shareservice is configured by environment variables", cmd.Flags.Arg(0)))
	}
	err := run(ctx, getenv, readFile, stderr, ready)
	var ce *configError
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return cli.ExitOK
	case errors.As(err, &ce):
		return cmd.Fail(&cli.UsageError{Msg: ce.Error(), Hint: "see 'shareservice -h' for the variables"})
	}
	return cmd.Fail(err)
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
	if u := getenv("ANONYMIZED_ORTHANC_URL"); u != "" {
		if cfg.Orthanc == nil {
			return cfg, st, errors.New("ANONYMIZED_ORTHANC_URL needs ORTHANC_URL, the Orthanc that anonymizes")
		}
		cfg.AnonymizedOrthanc = &share.OrthancClient{URL: u, Username: getenv("ANONYMIZED_ORTHANC_USERNAME"),
			Password: secret("ANONYMIZED_ORTHANC_PASSWORD", getenv, readFile)}
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
	// POST is refused unless ALLOW_POST=true. DENY_POST (the old opt-out)
	// is still accepted when true; false no longer opens POST.
	if v := getenv("DENY_POST"); v != "" && !isTrue(v) {
		return cfg, st, errors.New("DENY_POST is gone: POST is refused by default; set ALLOW_POST=true to allow it (lets share links modify, merge and anonymize the shared study)")
	}
	cfg.AllowPost = isTrue(getenv("ALLOW_POST"))
	if cfg.AllowPost {
		log.Warn("ALLOW_POST=true: share links can POST /modify (KeepSource false deletes the study), /merge and /anonymize on the shared study; block those routes in the reverse proxy")
	}
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

// run serves until ctx ends, logging to logs. ready, if not nil, receives
// the listening address. Configuration problems are *configError.
func run(ctx context.Context, getenv func(string) string, readFile func(string) ([]byte, error), logs io.Writer, ready func(addr string)) error {
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	cfg, st, err := configure(getenv, readFile, log)
	if err != nil {
		return &configError{err}
	}
	level.Set(st.level)
	cfg.Logger = log
	svc, err := share.NewService(cfg)
	if err != nil {
		return &configError{err}
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
