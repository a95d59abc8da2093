// Command gateway receives DICOM instances from modalities and PACS
// (C-STORE) into a spool directory and uploads each study to Aura once it
// has been quiet, with github.com/dicombridge/dicombridge/gateway.
//
//	gateway -listen ADDR -ae TITLE -spool DIR -allow-calling AE,... [flags]
//	gateway -spool DIR -status
//
// An instance is answered Success only once it is on disk (fsync), so
// neither a crash nor kill -9 loses what a sender was told is stored; the
// next start finishes what the spool holds (an interrupted upload is
// resumed, a completed one is not repeated). A failed upload stays in the
// spool and is retried with growing waits. -status lists what is pending.
//
// -deidentify KEYFILE de-identifies every study as it is uploaded (package
// deid: the Basic Application Level Confidentiality Profile with keyed,
// deterministic pseudonyms, so an interrupted upload resumes); the spool
// keeps the originals, on this machine.
//
// Credentials come from the environment only, as for examples/upload:
// AURA_API_KEY and either AURA_UPLOAD_TOKEN or AURA_APP_ID with
// AURA_APP_SECRET. -no-upload keeps the studies in the spool and needs
// none.
//
// Standard error logs one line per study received, queued, uploaded or
// failed (with -v, one per association too). Exit status: 0 stopped by
// Ctrl-C or SIGTERM (or -status, -h), 1 could not start (the address is
// in use, another gateway holds the spool), 2 bad usage or missing
// credentials.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dicombridge/dicombridge/deid"
	"github.com/dicombridge/dicombridge/dicomnet"
	"github.com/dicombridge/dicombridge/gateway"
	"github.com/dicombridge/dicombridge/internal/auraenv"
	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/uploader"
)

type options struct {
	listen, ae, spool, api, allow string
	deidKey                       string
	quiet, retry                  time.Duration
	noUpload, status, noSync      bool
	verbose                       bool
	maxAssociations               int
}

func main() {
	cli.Main(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return run(ctx, args, os.Getenv, stdout, stderr)
	})
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var o options
	cmd := cli.New("gateway", stdout, stderr)
	cmd.Synopsis = []string{"gateway -listen ADDR -ae TITLE -spool DIR -allow-calling AE,... [flags]", "gateway -spool DIR -status"}
	cmd.About = "Receives DICOM instances (C-STORE, C-ECHO) into a spool directory, answering Success only once each is on disk, " +
		"and uploads each study to Aura once it has been quiet for -quiet. A restart finishes what the spool holds."
	cmd.Env = auraenv.Vars
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "stopped by Ctrl-C or SIGTERM (or -status, -h)"},
		{Name: "1", Help: "could not start: the address is in use, another gateway holds the spool"},
		{Name: "2", Help: "bad usage or missing credentials"},
	}
	cmd.Kinds = []cli.Kind{
		{Match: cli.Is(gateway.ErrLocked), Hint: "stop the other gateway, or give this one another -spool"},
	}
	fs := cmd.Flags
	fs.StringVar(&o.listen, "listen", "", "`ADDR` to receive on, host:port (e.g. :11112)")
	fs.StringVar(&o.ae, "ae", "", "the gateway's AE `TITLE` (called AE title), 1 to 16 characters")
	fs.StringVar(&o.spool, "spool", "", "spool `DIR`: received studies wait there until uploaded (patient data: mode 0700)")
	fs.StringVar(&o.allow, "allow-calling", "", "calling AE titles allowed to send, comma-separated (`AE,...`); * admits any AE title that reaches the port")
	fs.DurationVar(&o.quiet, "quiet", gateway.DefaultQuiet, "upload a study once it received nothing for this `DURATION`")
	fs.DurationVar(&o.retry, "retry", 30*time.Second, "first wait before retrying a failed upload (`DURATION`), doubled at each failure up to 30m")
	fs.StringVar(&o.api, "api", getenv("AURA_API_URL"), "Aura API base `URL`, ending in /api (default $AURA_API_URL)")
	fs.StringVar(&o.deidKey, "deidentify", "", "de-identify every study before it leaves (PS3.15 Basic Profile, keyed pseudonyms) with the secret key in `KEYFILE` (at least 32 bytes); the spool keeps the originals")
	fs.BoolVar(&o.noUpload, "no-upload", false, "keep the studies in the spool, upload nothing (needs no -api nor credentials)")
	fs.BoolVar(&o.status, "status", false, "list the studies in -spool and exit (works while a gateway runs on it)")
	fs.BoolVar(&o.noSync, "no-fsync", false, "acknowledge instances before they are on disk (benchmarks only: a power loss can lose acknowledged instances)")
	fs.IntVar(&o.maxAssociations, "max-associations", 0, "associations served at once (0: dicomnet's default, 32)")
	fs.BoolVar(&o.verbose, "v", false, "log every association too")
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	if len(cmd.Args()) > 0 {
		return cmd.Fail(cli.Usagef("unexpected argument %q", cmd.Args()[0]))
	}
	if o.spool == "" {
		return cmd.Fail(cli.Usagef("-spool is required"))
	}
	if o.status {
		if err := cli.Paths(o.spool); err != nil {
			return cmd.Fail(err)
		}
		return cmd.Fail(status(o.spool, stdout))
	}
	var calling []string
	for _, a := range strings.Split(o.allow, ",") {
		if a = strings.TrimSpace(a); a != "" {
			calling = append(calling, a)
		}
	}
	switch {
	case o.listen == "":
		return cmd.Fail(cli.Usagef("-listen is required"))
	case o.ae == "":
		return cmd.Fail(cli.Usagef("-ae is required"))
	case len(calling) == 0:
		return cmd.Fail(&cli.UsageError{Msg: "-allow-calling is required",
			Hint: "name the AE titles of the modalities and PACS that send (e.g. -allow-calling CT1,PACS), or * for any"})
	case o.quiet <= 0 || o.retry <= 0:
		return cmd.Fail(cli.Usagef("-quiet and -retry must be positive"))
	case o.noUpload && o.deidKey != "":
		return cmd.Fail(cli.Usagef("-deidentify applies to uploads: it excludes -no-upload"))
	case !o.noUpload && o.api == "":
		return cmd.Fail(&cli.UsageError{Msg: "-api (or AURA_API_URL) is required", Hint: "or use -no-upload to keep the studies in the spool"})
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	cfg := gateway.Config{Dir: o.spool, Quiet: o.quiet, RetryBase: o.retry, NoSync: o.noSync, Logger: logger}
	if !o.noUpload {
		tokens, err := auraenv.Tokens(o.api, getenv)
		if err != nil {
			return cmd.Fail(err)
		}
		u := &uploader.Uploader{
			API:    &uploader.API{BaseURL: o.api, APIKey: getenv("AURA_API_KEY"), Tokens: tokens},
			Logger: logger,
		}
		if o.deidKey != "" {
			key, err := os.ReadFile(o.deidKey)
			if err != nil {
				return cmd.Fail(cli.Usagef("-deidentify: %v", err))
			}
			if u.Deidentify, err = deid.New(deid.Config{Key: bytes.TrimRight(key, "\r\n")}); err != nil {
				return cmd.Fail(&cli.UsageError{Msg: "-deidentify: " + err.Error(), Hint: "make a key with: head -c 32 /dev/urandom > KEYFILE"})
			}
		}
		cfg.Uploader = &gateway.Aura{Uploader: u}
	}
	g, err := gateway.Open(ctx, cfg)
	if err != nil {
		return cmd.Fail(err)
	}
	defer g.Close()
	srv := &dicomnet.Server{AETitle: o.ae, Handler: g, MaxAssociations: o.maxAssociations}
	if len(calling) == 1 && calling[0] == "*" {
		srv.AnyCallingAETitle = true
	} else {
		srv.CallingAETitles = calling
	}
	if o.verbose {
		srv.Logger = logger
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return cmd.Fail(listenError(o.listen, err))
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	ran := make(chan error, 1)
	go func() { ran <- g.Run(runCtx) }()
	pending, _ := gateway.List(o.spool)
	fmt.Fprintf(stderr, "gateway: listening on %s as %s; spool %s (%d studies pending); Ctrl-C stops\n", ln.Addr(), o.ae, o.spool, len(pending))

	code := cli.ExitOK
	select {
	case <-ctx.Done():
	case err := <-served:
		code = cmd.Fail(err)
	}
	// Let the senders finish their associations, a while; then abort.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	stopRun() // an upload in progress pauses; the next start resumes it
	<-ran
	fmt.Fprintln(stderr, "gateway: stopped")
	return code
}

// status prints the studies of the spool, one line each.
func status(dir string, w io.Writer) error {
	studies, err := gateway.List(dir)
	if err != nil {
		return err
	}
	if len(studies) == 0 {
		fmt.Fprintln(w, "no study in the spool")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTUDY INSTANCE UID\tINSTANCES\tSIZE\tLAST RECEIVED\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
	for _, s := range studies {
		if s.Err != nil {
			fmt.Fprintf(tw, "%s\tdamaged\t\t\t\t\t\t\t%v\n", s.ID, s.Err)
			continue
		}
		next := ""
		if !s.NextAttempt.IsZero() && s.State == gateway.StateRetrying {
			next = s.NextAttempt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", s.ID, s.State, s.StudyInstanceUID, s.Instances,
			cli.Bytes(s.Bytes), s.LastReceived.Local().Format(time.DateTime), s.Attempts, next, s.LastError)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d studies in the spool\n", len(studies))
	return nil
}

// dropTime leaves the time out of log lines: a service manager adds its own.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// listenError says what to do when the address cannot be used.
func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s is in use: stop what listens there, or pick another -listen", addr)
	}
	return fmt.Errorf("listen on %s: %w", addr, err)
}
