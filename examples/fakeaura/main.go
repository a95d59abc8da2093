// Command fakeaura runs a fake Aura API on this machine until Ctrl-C, so
// that the uploader, a partner backend or the real Aura browser widget can
// be tried without an Aura account:
//
//	go run ./examples/fakeaura
//
// It starts package github.com/dicombridge/dicombridge/auratest (the SDK's
// real HMAC verifier and token issuer, and an in-process tusd) and prints
// the credentials it accepts as shell lines, ready to paste or to source
// from the -env file:
//
//	export AURA_API_URL=http://127.0.0.1:8787/api
//	export AURA_APP_ID=aura_pk_…
//	export AURA_APP_SECRET=aura_sk_…
//	export AURA_API_KEY=aura_au_…
//	# Tus endpoint: http://127.0.0.1:…/files/
//
// Every call it receives is logged on standard error as it happens, one
// line each, with no credential, token or signature.
//
// Browser pages: -allow-origin lets a page's origin call the API and Tus
// (CORS); by default no page may. -static DIR serves a folder on a second
// origin (-static-listen), which is allowed automatically and also serves
// /fakeaura.json (the API URL, the service API key and the token URL) and
// POST /api/upload-token (a fresh upload token, as a partner backend's
// endpoint would), so a page running the real widget works in one command.
//
// Exit status: 0 stopped by Ctrl-C or SIGTERM, 1 could not start (an
// address in use), 2 bad usage.
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
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

func main() { cli.Main(run) }

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// shutdownTimeout bounds how long a stop waits for calls in flight.
const shutdownTimeout = 5 * time.Second

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := cli.New("fakeaura", stdout, stderr)
	cmd.Synopsis = []string{"fakeaura [-listen ADDR] [-allow-origin ORIGIN]... [-static DIR [-static-listen ADDR]] [-env FILE]"}
	cmd.About = "Runs a fake Aura API (auratest) until Ctrl-C and prints the credentials it accepts as\n" +
		"'export' lines on standard output; logs every call on standard error."
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "stopped by Ctrl-C or SIGTERM"},
		{Name: "1", Help: "could not start (e.g. an address in use)"},
		{Name: "2", Help: "bad usage"},
	}
	f := cmd.Flags
	listen := f.String("listen", "127.0.0.1:8787", "`ADDR` (host:port) of the API; port 0 picks a free one")
	var origins listFlag
	f.Var(&origins, "allow-origin", "let a browser page from `ORIGIN` (e.g. http://localhost:5173) call the API and Tus; repeatable; * allows any")
	static := f.String("static", "", "serve the page folder `DIR` on a second origin (with /fakeaura.json and POST /api/upload-token)")
	staticListen := f.String("static-listen", "127.0.0.1:8788", "`ADDR` of the -static origin")
	envFile := f.String("env", "", "also write the export lines to `FILE` (mode 0600, removed at exit), for '. FILE' in another shell")
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	switch {
	case len(cmd.Args()) > 0:
		return cmd.Fail(cli.Usagef("unexpected argument %q", cmd.Args()[0]))
	case *static != "":
		if fi, err := os.Stat(*static); err != nil || !fi.IsDir() {
			return cmd.Fail(cli.Usagef("-static %s: not a directory", *static))
		}
	}
	for _, o := range origins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return cmd.Fail(cli.Usagef("-allow-origin %q: want scheme://host[:port], e.g. http://localhost:5173", o))
		}
	}

	// Listen first, so that the addresses printed are the real ones and a
	// busy port fails before anything else starts.
	apiLn, err := net.Listen("tcp", *listen)
	if err != nil {
		return cmd.Fail(startError(*listen, err))
	}
	defer apiLn.Close()
	var staticLn net.Listener
	if *static != "" {
		if staticLn, err = net.Listen("tcp", *staticListen); err != nil {
			return cmd.Fail(startError(*staticListen, err))
		}
		defer staticLn.Close()
		origins = append(origins, "http://"+staticLn.Addr().String())
	}
	if len(origins) == 0 {
		// auratest allows any origin when given none; an origin that no
		// browser sends keeps every page out instead.
		origins = append(origins, "")
	}

	calls := &callLog{w: stderr}
	logger := slog.New(calls)
	aura := auratest.NewServer(auratest.WithAllowedOrigins(origins...), auratest.WithOnCall(calls.call), auratest.WithLogger(logger))
	defer aura.Close()

	apiURL := "http://" + apiLn.Addr().String() + "/api"
	lines := []string{
		"export AURA_API_URL=" + apiURL,
		"export AURA_APP_ID=" + aura.AppID,
		"export AURA_APP_SECRET=" + aura.Secret,
		"export AURA_API_KEY=" + aura.APIKey,
		"# Tus endpoint: " + aura.TusURL,
	}
	servers := []*http.Server{{Handler: proxy(aura.URL, logger), ReadHeaderTimeout: 10 * time.Second}}
	listeners := []net.Listener{apiLn}
	if staticLn != nil {
		page := "http://" + staticLn.Addr().String() + "/"
		lines = append(lines, "# page: "+page+" (serving "+*static+")")
		servers = append(servers, &http.Server{Handler: staticHandler(*static, aura, apiURL, page), ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, staticLn)
	}
	if len(origins) > 0 && origins[0] != "" {
		lines = append(lines, "# browser origins allowed: "+strings.Join(slices.DeleteFunc(slices.Clone(origins), func(s string) bool { return s == "" }), " "))
	}
	text := strings.Join(lines, "\n") + "\n"
	if *envFile != "" {
		if err := os.WriteFile(*envFile, []byte(text), 0o600); err != nil {
			return cmd.Fail(err)
		}
		defer os.Remove(*envFile)
	}

	errc := make(chan error, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		wg.Go(func() {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		})
	}
	fmt.Fprint(stdout, text)
	fmt.Fprintln(stderr, "fakeaura: ready; every call is logged below; Ctrl-C stops")

	code := cli.ExitOK
	select {
	case <-ctx.Done():
	case err := <-errc:
		code = cmd.Fail(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(sctx)
	}
	wg.Wait()
	if code == cli.ExitOK {
		fmt.Fprintln(stderr, "fakeaura: stopped")
	}
	return code
}

// startError explains a listener that could not start.
func startError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s is in use: stop what listens there, or pick another address (port 0: any free port)", addr)
	}
	var ae *net.AddrError
	var oe *net.OpError
	if errors.As(err, &ae) || (errors.As(err, &oe) && oe.Op == "listen" && !errors.Is(err, syscall.EACCES)) {
		return cli.Usagef("%s: not a listen address (want host:port, e.g. 127.0.0.1:8787)", addr)
	}
	return fmt.Errorf("listen on %s: %w", addr, err)
}

// proxy forwards to the auratest API on its own port. Only the URL is
// rewritten: the outgoing request keeps the Host the client sent (Rewrite
// starts from a copy of the incoming one), which the HMAC signature covers.
func proxy(target string, logger *slog.Logger) http.Handler {
	u, _ := url.Parse(target) // auratest's URL always parses
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = u.Scheme, u.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.LogAttrs(r.Context(), slog.LevelWarn, "fakeaura: proxy", slog.String("error", err.Error()))
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

// staticHandler serves the page folder, the page's configuration and a
// token endpoint standing in for the partner backend.
func staticHandler(dir string, aura *auratest.Server, apiURL, page string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	mux.HandleFunc("GET /fakeaura.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"api_url":   apiURL,
			"api_key":   aura.APIKey,
			"token_url": page + "api/upload-token",
		})
	})
	exchanger := aura.Exchanger()
	mux.HandleFunc("POST /api/upload-token", func(w http.ResponseWriter, r *http.Request) {
		tok, err := exchanger.Exchange(r.Context(), uploadtoken.ExchangeRequest{TTL: time.Hour})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "upload token unavailable"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"token": tok.Value, "expires_at": tok.ExpiresAt, "scopes": tok.Scopes})
	})
	return mux
}

// callLog prints each call the fake answers as one line, as it happens:
// the time, the method, the path, the status and the endpoint, and for a
// browser's CORS preflight the origin and whether it was let in. Call
// headers are redacted by auratest, and none is printed anyway. As an
// slog.Handler it adds the verifier's reason for a refused signature; the
// other records (auratest's own call records, the issuer's) are dropped,
// since the call line says the same.
type callLog struct {
	mu sync.Mutex // guards writes to w
	w  io.Writer
}

func (l *callLog) call(c auratest.Call) {
	var b strings.Builder
	b.WriteString(time.Now().Format("15:04:05.000 "))
	fmt.Fprintf(&b, "%-7s %s %d", c.Method, c.Path, c.Status)
	origin := c.Header.Get("Origin")
	switch {
	case c.Method == http.MethodOptions && origin != "" && c.Header.Get("Access-Control-Request-Method") != "":
		fmt.Fprintf(&b, "  (CORS preflight from %s for %s", origin, c.Header.Get("Access-Control-Request-Method"))
		if c.Status == http.StatusForbidden {
			b.WriteString("; origin not allowed: see -allow-origin")
		}
		b.WriteString(")")
	case c.Endpoint != "":
		fmt.Fprintf(&b, "  (%s)", c.Endpoint)
	}
	if c.Injected {
		b.WriteString(" injected failure")
	}
	l.write(b.String())
}

func (l *callLog) write(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, line+"\n")
}

func (l *callLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *callLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *callLog) WithGroup(string) slog.Handler            { return l }

func (l *callLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "auratest: call" || r.Message == "uploadtoken: issued" {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Time.Format("15:04:05.000 "))
	b.WriteString("  ")
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Resolve())
		return true
	})
	l.write(b.String())
	return nil
}
