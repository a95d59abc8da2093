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
// Ctrl-C or SIGTERM, 1 if it could not make its temporary directory, 2 for
// bad usage (and a panic if it cannot listen on 127.0.0.1).
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
	defer stop()
	if code := run(ctx, os.Args[1:], os.Stdout, os.Stderr); code != 0 {
		stop()
		os.Exit(code)
	}
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
	// The directory is made here, not by tustest.NewServer, so that a
	// failure to make it (the one failure to start that is likely: a
	// missing or full TMPDIR) exits 1 with a message; NewServer panics if
	// it cannot listen on 127.0.0.1, as auratest does in examples/fakeaura.
	dir, err := os.MkdirTemp("", "localtus-")
	if err != nil {
		fmt.Fprintf(stderr, "localtus: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	opts := []tustest.Option{tustest.WithDir(dir)}
	if *checksum {
		opts = append(opts, tustest.WithChecksum())
	}
	srv := tustest.NewServer(opts...)
	defer srv.Close()
	fmt.Fprintf(stdout, "export TUS_ENDPOINT=%s\n", srv.URL)
	fmt.Fprintln(stderr, "localtus: serving; Ctrl-C stops and deletes the uploads")
	<-ctx.Done()
	return 0
}
