// Command ohifbridge runs the KHEOPS → OHIF bridge: a KHEOPS report
// provider that is an OpenID Connect provider for the OHIF viewer, so that
// KHEOPS opens OHIF on a study with no token in any URL.
//
// Against a real KHEOPS and OHIF (see README.md):
//
//	go run ./examples/ohifbridge -public-url https://bridge.example -kheops https://demo.kheops.online \
//	    -ohif-origin https://ohif.example -key rp-key.pem
//
// Without them, -demo starts a fake KHEOPS in the same process and prints
// the URLs to open and the OHIF configuration to use:
//
//	go run ./examples/ohifbridge -demo
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/kheops/kheopstest"
	"github.com/dicombridge/dicombridge/ohifbridge"
	"github.com/dicombridge/dicombridge/reportprovider"
)

// Paths of the report provider's documents on the bridge.
const (
	configPath = "/kheops/configuration"
	jwksPath   = "/kheops/jwks"
	launchPath = "/kheops/launch"
)

// config is what the bridge needs, from the flags.
type config struct {
	PublicURL    string   // where KHEOPS and browsers reach the bridge, no trailing slash
	Issuer       string   // the OpenID issuer: OHIF's authority, exactly
	KHEOPS       []string // allowlisted KHEOPS root URLs
	OHIFOrigin   string
	LoginURL     string
	ClientID     string
	ViewerURL    string
	Mode         ohifbridge.Mode
	Key          *reportprovider.Key
	AllowHTTP    bool
	AllowPrivate bool
	Logger       *slog.Logger
}

// newBridge builds the bridge from c.
func newBridge(c config) (*ohifbridge.Bridge, error) {
	var issuers []reportprovider.Issuer
	for _, k := range c.KHEOPS {
		issuers = append(issuers, reportprovider.Issuer{URL: k, AllowHTTP: c.AllowHTTP, AllowPrivateNetwork: c.AllowPrivate})
	}
	origin := strings.TrimRight(c.OHIFOrigin, "/")
	login := c.LoginURL
	if login == "" {
		login = origin + "/login"
	}
	return ohifbridge.New(ohifbridge.Options{
		Issuer: c.Issuer,
		Provider: reportprovider.Options{
			ConfigurationURL: c.PublicURL + configPath,
			Configuration: reportprovider.Configuration{
				RedirectURI:  c.PublicURL + launchPath,
				ResponseType: reportprovider.ResponseTypeCode,
				JWKSURI:      c.PublicURL + jwksPath,
				ClientName:   "OHIF viewer",
			},
			Keys:    []*reportprovider.Key{c.Key},
			Issuers: issuers,
			Logger:  c.Logger,
		},
		Client: ohifbridge.Client{
			ID:                     c.ClientID,
			LoginURL:               login,
			RedirectURIs:           []string{origin + "/callback", origin + "/silent-refresh.html"},
			PostLogoutRedirectURIs: []string{origin + "/"},
			ViewerURL:              c.ViewerURL,
		},
		Mode:      c.Mode,
		AllowHTTP: c.AllowHTTP,
		Logger:    c.Logger,
	})
}

// readKey returns the report provider's signing key: read from a PEM file,
// or, without one, a new key kept in memory (KHEOPS fetches the JWKS on
// every code exchange, so it simply sees the new key after a restart).
func readKey(path string) (*reportprovider.Key, error) {
	if path == "" {
		return reportprovider.GenerateKey("bridge-1")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return reportprovider.ParseKeyPEM("bridge-1", data)
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() { cli.Main(run) }

// flags are the command-line flags.
type flags struct {
	listen, publicURL, issuer      string
	kheops                         list
	ohifOrigin, loginURL, clientID string
	viewerURL, mode, keyPath       string
	allowHTTP, allowPrivate, demo  bool
}

// declare binds the flags to f.
func (f *flags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "listen `address`")
	fs.StringVar(&f.publicURL, "public-url", "", "`URL` at which KHEOPS and browsers reach the bridge (default http://<listen>)")
	fs.StringVar(&f.issuer, "issuer", "", "OpenID issuer `URL`, to be OHIF's authority byte for byte (default <public-url>/oidc)")
	fs.Var(&f.kheops, "kheops", "KHEOPS root `URL` to accept launches from, e.g. https://demo.kheops.online (repeatable)")
	fs.StringVar(&f.ohifOrigin, "ohif-origin", "", "OHIF's `origin`, e.g. https://ohif.example: its /callback and /silent-refresh.html are the redirect URIs")
	fs.StringVar(&f.loginURL, "login-url", "", "OHIF's login-initiation `URL` (default <ohif-origin>/login)")
	fs.StringVar(&f.clientID, "client-id", "ohif-viewer", "OHIF's client_id")
	fs.StringVar(&f.viewerURL, "viewer-url", "", "target_link_uri `template` with {StudyInstanceUIDs} (default <ohif-origin>/viewer?StudyInstanceUIDs={StudyInstanceUIDs})")
	fs.StringVar(&f.mode, "mode", "proxy", "proxy: the KHEOPS token stays on the bridge, DICOMweb goes through <issuer>/dicomweb; direct: OHIF gets the KHEOPS token")
	fs.StringVar(&f.keyPath, "key", "", "RSA private key `file` (PEM) for the KHEOPS client assertions (default: a new key in memory)")
	fs.BoolVar(&f.allowHTTP, "allow-http", false, "accept http:// URLs (development only)")
	fs.BoolVar(&f.allowPrivate, "allow-private", false, "accept a KHEOPS on a private network address")
	fs.BoolVar(&f.demo, "demo", false, "start a fake KHEOPS in this process and print the URLs to open")
}

// check returns the mode, or a usage error.
func (f *flags) check(args []string) (ohifbridge.Mode, error) {
	modes := map[string]ohifbridge.Mode{"proxy": ohifbridge.Proxy, "direct": ohifbridge.Direct}
	mode, ok := modes[f.mode]
	switch {
	case !ok:
		return 0, cli.Usagef("-mode must be proxy or direct, not %q", f.mode)
	case len(args) > 0:
		return 0, cli.Usagef("unexpected argument %q", args[0])
	case len(f.kheops) == 0 && !f.demo:
		return 0, cli.Usagef("-kheops is required (or use -demo)")
	case f.ohifOrigin == "" && !f.demo:
		return 0, cli.Usagef("-ohif-origin is required (or use -demo)")
	}
	return mode, nil
}

var exitCodes = []cli.Var{
	{Name: "0", Help: "clean shutdown (Ctrl-C, SIGTERM), or -h"},
	{Name: "1", Help: "the server failed (address in use, unreadable key, ...)"},
	{Name: "2", Help: "bad usage"},
}

// run is the program: it serves until ctx ends, then gives requests in
// flight up to ten seconds to finish.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := cli.New("ohifbridge", stdout, stderr)
	cmd.Synopsis = []string{
		"ohifbridge -kheops KHEOPS_URL -ohif-origin URL [-public-url URL] [-listen ADDR] [-mode proxy|direct] [-key FILE]",
		"ohifbridge -demo [-ohif-origin URL]",
	}
	cmd.About = "Lets KHEOPS open the OHIF viewer on a study without a token in any URL: a KHEOPS report provider that is an OpenID Connect provider for OHIF."
	cmd.Exit = exitCodes
	var f flags
	f.declare(cmd.Flags)
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	mode, err := f.check(cmd.Args())
	if err != nil {
		return cmd.Fail(err)
	}
	key, err := readKey(f.keyPath)
	if err != nil {
		return cmd.Fail(fmt.Errorf("-key %s: %w", f.keyPath, err))
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return cmd.Fail(err)
	}
	defer ln.Close()
	if f.publicURL == "" {
		f.publicURL = "http://" + ln.Addr().String()
	}
	f.publicURL = strings.TrimRight(f.publicURL, "/")
	if f.issuer == "" {
		f.issuer = f.publicURL + "/oidc"
	}
	var fake *kheopstest.Server
	if f.demo {
		fake = kheopstest.NewServer(kheopstest.WithBasePath("/kheops"))
		defer fake.Close()
		f.kheops = list{fake.URL}
		f.allowHTTP, f.allowPrivate = true, true
		if f.ohifOrigin == "" {
			f.ohifOrigin = "http://localhost:3000" // OHIF's development server
		}
	}
	b, err := newBridge(config{PublicURL: f.publicURL, Issuer: f.issuer, KHEOPS: f.kheops, OHIFOrigin: f.ohifOrigin, LoginURL: f.loginURL,
		ClientID: f.clientID, ViewerURL: f.viewerURL, Mode: mode, Key: key, AllowHTTP: f.allowHTTP, AllowPrivate: f.allowPrivate, Logger: logger})
	if err != nil {
		return cmd.Fail(&cli.UsageError{Msg: err.Error(), Hint: "check -public-url, -issuer, -kheops and -ohif-origin"})
	}
	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, srv, ln) }()
	fmt.Fprintf(stdout, "configuration URL to register in KHEOPS: %s%s\n", f.publicURL, configPath)
	printOHIFConfig(stdout, f.issuer, f.clientID, mode, f.kheops[0])
	if fake != nil {
		launch, err := demoLaunch(ctx, fake, f.publicURL+configPath)
		if err != nil {
			return cmd.Fail(err)
		}
		fmt.Fprintf(stdout, "fake KHEOPS at %s\nopen this launch URL in a browser (valid 10 minutes); it leads to %s/login:\n%s\n", fake.URL, strings.TrimRight(f.ohifOrigin, "/"), launch)
	}
	if err := <-done; err != nil {
		return cmd.Fail(err)
	}
	logger.Info("shut down")
	return cli.ExitOK
}

// printOHIFConfig prints the oidc and dicomweb parts of OHIF's
// configuration that go with this bridge.
func printOHIFConfig(w io.Writer, issuer, clientID string, mode ohifbridge.Mode, kheopsRoot string) {
	root := strings.TrimRight(issuer, "/") + "/dicomweb"
	uriRoot := root + "/wado"
	if mode == ohifbridge.Direct {
		root = strings.TrimRight(kheopsRoot, "/") + "/api"
		uriRoot = root + "/wado"
	}
	fmt.Fprintf(w, `OHIF configuration (%s mode):
  oidc: [{ authority: '%s', client_id: '%s', redirect_uri: '/callback',
           response_type: 'code', scope: 'openid profile email', post_logout_redirect_uri: '/' }]
  dicomweb: { qidoRoot: '%s', wadoRoot: '%s', wadoUriRoot: '%s' }
`, mode, issuer, clientID, root, root, uriRoot)
}

// serve runs srv on ln until ctx ends, then shuts it down: no new
// connections, and requests in flight get up to ten seconds.
func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	shutdown := make(chan error, 1)
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- srv.Shutdown(sctx)
	})
	err := srv.Serve(ln)
	if !errors.Is(err, http.ErrServerClosed) {
		stop()
		return err
	}
	return <-shutdown
}

// demoLaunch seeds the fake KHEOPS with a user, an album and a study,
// registers the bridge and launches it.
func demoLaunch(ctx context.Context, fake *kheopstest.Server, confURL string) (string, error) {
	user := fake.AddUser(kheopstest.User{Sub: "demo-user", Name: "Demo User", Email: "demo@example.org"})
	album := fake.AddAlbum("", nil)
	if err := fake.AddMember(album, "demo-user", true); err != nil {
		return "", err
	}
	const study = "2.25.1234567890123456789"
	for i, m := range []string{"CT", "MR"} {
		se := fmt.Sprintf("%s.%d", study, i+1)
		if _, err := fake.AddInstance(album, kheopstest.NewInstance(kheopstest.InstanceSpec{StudyUID: study, SeriesUID: se, SOPInstanceUID: se + ".1",
			Modality: m, PatientName: "Demo^Patient", PatientID: "DEMO-1", StudyDescription: "Demo study", SeriesDescription: m + " series", SeriesNumber: i + 1})); err != nil {
			return "", err
		}
	}
	clientID, err := fake.Register(ctx, user, album, "OHIF viewer", confURL)
	if err != nil {
		return "", err
	}
	return fake.Launch(ctx, user, clientID, study)
}
