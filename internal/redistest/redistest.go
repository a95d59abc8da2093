// Package redistest starts a throw-away redis-server for tests: on
// 127.0.0.1 with a free port, no persistence (--save ” --appendonly no),
// its working directory in t.TempDir(), stopped by t.Cleanup. A missing
// binary skips the test locally and fails it under CI (internal/testenv).
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// Server is a running redis-server.
type Server struct {
	Addr string // "127.0.0.1:port"
	cmd  *exec.Cmd
}

// Start runs a new redis-server and waits until it answers PING.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testenv.LookPath(t, "redis-server", "apt-get install redis-server")
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := testenv.FreePort(t)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin,
			"--bind", "127.0.0.1",
			"--port", strconv.Itoa(port),
			"--save", "",
			"--appendonly", "no",
			"--dir", dir,
			"--protected-mode", "yes",
			"--loglevel", "warning",
		)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("redistest: start %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if err := waitPing(addr, exited, 10*time.Second); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%v; output: %s", err, out.String())
			continue // most likely the port was taken meanwhile
		}
		s := &Server{Addr: addr, cmd: cmd}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		return s
	}
	t.Fatalf("redistest: redis-server did not start: %v", lastErr)
	return nil
}

// waitPing polls addr with a raw RESP PING until it answers +PONG.
func waitPing(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "+PONG") {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no PONG from %s within %v", addr, timeout)
}
