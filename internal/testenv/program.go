package testenv

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
)

// Run calls an example program's run function (the one its main hands to
// cli.Main) with args and returns its exit code and what it printed.
func Run(ctx context.Context, run func(ctx context.Context, args []string, stdout, stderr io.Writer) int, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// BusyAddr returns a 127.0.0.1 address that is in use until the test ends,
// for checking how a program reports a listen address it cannot have.
func BusyAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}
