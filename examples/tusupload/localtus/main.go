// Command localtus serves a Tus 1.0 server on 127.0.0.1 until Ctrl-C, for
// trying examples/tusupload without installing anything: it is tusd v2
// in-process (package tusclient/tustest, already a dependency of this
// module), storing uploads in a temporary directory that is removed on
// exit.
//
//	go run ./examples/tusupload/localtus [-checksum]
//
// It prints the creation endpoint as a shell line on standard output
// (export TUS_ENDPOINT=...) and logs nothing else. Exit status: 0 after
// Ctrl-C or SIGTERM, 1 if the server could not start, 2 for bad usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("localtus", flag.ContinueOnError)
	fs.SetOutput(stderr)
	checksum := fs.Bool("checksum", false, "offer the checksum extension (sha1, sha256, sha512, md5)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: localtus [-checksum]")
		fmt.Fprintln(stderr, "Serves a Tus 1.0 server (tusd, in-process) on 127.0.0.1 until Ctrl-C and prints its endpoint.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "localtus: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	srv, err := tustest.New(tustest.Options{Checksum: *checksum})
	if err != nil {
		fmt.Fprintf(stderr, "localtus: %v\n", err)
		return 1
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "export TUS_ENDPOINT=%s\n", srv.URL)
	fmt.Fprintln(stderr, "localtus: serving; Ctrl-C stops and deletes the uploads")
	<-ctx.Done()
	return 0
}
