package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main runs a program's run function the way every example runs it: with a
// context that Ctrl-C (SIGINT) or SIGTERM ends, the command-line arguments
// without the program name, standard output and standard error; then it
// exits with the code run returns. A program that needs more (the
// environment, a second Ctrl-C that kills) closes over it:
//
//	func main() { cli.Main(run) }
//	func main() {
//		cli.Main(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
//			return run(ctx, args, os.Getenv, stdout, stderr)
//		})
//	}
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
