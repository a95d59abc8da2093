package testenv

import (
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Process is a peer program started by a test (an Orthanc, an nginx, a
// storescp, ...).
type Process struct {
	Cmd    *exec.Cmd
	Output *Buffer       // everything it printed on stdout and stderr
	Exited chan struct{} // closed when it has exited
	stop   func()
}

// Stop ends the process with its stop signal, kills it after 15 s, and
// waits for it. It is also done when the test ends; calling it twice is
// harmless.
func (p *Process) Stop() { p.stop() }

// StartProcess starts cmd with its output captured, calls ready every
// 50 ms until it returns true, and stops the process with sig when the test
// ends. The test fails, with the program's output, if the process exits
// before it is ready or is not ready within timeout.
func StartProcess(t testing.TB, cmd *exec.Cmd, sig os.Signal, timeout time.Duration, ready func() bool) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, Output: new(Buffer), Exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Output, p.Output
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", cmd.Path, err)
	}
	go func() { _ = cmd.Wait(); close(p.Exited) }()
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(sig)
			select {
			case <-p.Exited:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-p.Exited
			}
		})
	}
	t.Cleanup(p.stop)
	deadline := time.Now().Add(timeout)
	for !ready() {
		select {
		case <-p.Exited:
			t.Fatalf("testenv: %s exited before it was ready:\n%s", cmd.Path, p.Output.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s not ready within %v:\n%s", cmd.Path, timeout, p.Output.String())
		}
	}
	return p
}
