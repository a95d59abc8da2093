// Package gatewaybench measures how fast the gateway receives: storescu
// (dcmtk) sends the same generated study to dcmtk's storescp and to the
// gateway, side by side in one run, over loopback; the gateway runs in a
// child process (this test binary) whose peak resident set is read from
// /proc. See README.md for the command and the numbers.
package gatewaybench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/dicomnet"
	"github.com/dicombridge/dicombridge/gateway"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

// TestMain runs the gateway instead of the tests when the test binary is
// started by startGateway.
func TestMain(m *testing.M) {
	if os.Getenv("GATEWAY_BENCH_CHILD") == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child serves the gateway (receive only: no uploader) on
// GATEWAY_BENCH_ADDR with the spool GATEWAY_BENCH_SPOOL until SIGTERM.
func child() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	g, err := gateway.Open(ctx, gateway.Config{Dir: os.Getenv("GATEWAY_BENCH_SPOOL"), Quiet: time.Hour,
		NoSync: os.Getenv("GATEWAY_BENCH_NOSYNC") == "1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer g.Close()
	srv := &dicomnet.Server{AETitle: "GATEWAY", AnyCallingAETitle: true, Handler: g}
	ln, err := net.Listen("tcp", os.Getenv("GATEWAY_BENCH_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { <-ctx.Done(); srv.Close() }()
	_ = srv.Serve(ln)
	return 0
}

// instances is the size of the study: 40 in CI (the harness works),
// GATEWAY_BENCH_INSTANCES for the real measure (1000 in the README).
func instances() int {
	if n, err := strconv.Atoi(os.Getenv("GATEWAY_BENCH_INSTANCES")); err == nil && n >= 4 {
		return n
	}
	return 40
}

// peer is one receiver under test.
type peer struct {
	name  string
	start func(t *testing.T, port int, dir string) *testenv.Process
}

func listening(port int) func() bool {
	return func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	}
}

func gatewayPeer(noSync bool) func(t *testing.T, port int, dir string) *testenv.Process {
	return func(t *testing.T, port int, dir string) *testenv.Process {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GATEWAY_BENCH_CHILD=1", "GATEWAY_BENCH_SPOOL="+dir,
			fmt.Sprintf("GATEWAY_BENCH_ADDR=127.0.0.1:%d", port))
		if noSync {
			cmd.Env = append(cmd.Env, "GATEWAY_BENCH_NOSYNC=1")
		}
		return testenv.StartProcess(t, cmd, syscall.SIGTERM, 30*time.Second, listening(port))
	}
}

func storescpPeer(t *testing.T, port int, dir string) *testenv.Process {
	bin := testenv.LookPath(t, "storescp", "apt-get install dcmtk")
	cmd := exec.Command(bin, "-od", dir, strconv.Itoa(port))
	cmd.Env = dcmtkEnv()
	return testenv.StartProcess(t, cmd, syscall.SIGTERM, 30*time.Second, listening(port))
}

// dcmtkEnv is the environment of storescp and storescu: Debian's DCMTK
// leaves Nagle's algorithm on unless TCP_NODELAY is set, and then every
// small PDU (a C-STORE response, a command) waits for the peer's delayed
// ACK, about 40 ms an instance: 200 instances took 9 s between storescu and
// storescp, 0.13 s with TCP_NODELAY=1 on both. Go's connections have
// TCP_NODELAY on by default, so without this the comparison measured
// DCMTK's socket option, not the receivers.
func dcmtkEnv() []string {
	return append(os.Environ(), "TCP_NODELAY=1")
}

// peakRSS reads VmHWM, the peak resident set, of a running process.
func peakRSS(t *testing.T, pid int) float64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		testenv.Unsupported(t, "/proc", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			require.NoError(t, err)
			return float64(kb) / 1024
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// countFiles counts the instances received under dir: storescp names
// them CT.<SOPInstanceUID>, the gateway <SOPInstanceUID>.dcm.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && (strings.HasSuffix(d.Name(), ".dcm") || strings.HasPrefix(d.Name(), "CT.")) {
			n++
		}
		return nil
	}))
	return n
}

// TestReceiveThroughput sends the same study with storescu to storescp,
// to the gateway with an fsync per instance (its default) and to the
// gateway without, three rounds in turn, and prints the median of each:
// instances/s, MB/s and, for the gateway, the peak RSS, which must stay
// under 64 MiB; every receiver must have stored every instance.
func TestReceiveThroughput(t *testing.T) {
	storescu := testenv.LookPath(t, "storescu", "apt-get install dcmtk")
	n := instances()
	root := t.TempDir()
	study := filepath.Join(root, "study")
	files, err := dicomgen.Write(context.Background(), study, dicomgen.Options{SeriesPerStudy: 4, InstancesPerSeries: n / 4, Rows: 256, Columns: 256, Seed: 31})
	require.NoError(t, err)
	var size int64
	for _, f := range files {
		size += f.Size
	}
	peers := []peer{
		{"storescp", storescpPeer},
		{"gateway (fsync)", gatewayPeer(false)},
		{"gateway (no fsync)", gatewayPeer(true)},
	}
	rounds := 3
	times := map[string][]time.Duration{}
	rss := map[string]float64{}
	for r := range rounds {
		for _, p := range peers {
			port := testenv.FreePort(t)
			dir := filepath.Join(root, fmt.Sprintf("%d-%s", r, strings.Fields(p.name)[0]+strconv.Itoa(len(p.name))))
			require.NoError(t, os.MkdirAll(dir, 0o700))
			proc := p.start(t, port, dir)
			begin := time.Now()
			send := exec.Command(storescu, "+sd", "+r", "-aec", "GATEWAY", "127.0.0.1", strconv.Itoa(port), study)
			send.Env = dcmtkEnv()
			out, err := send.CombinedOutput()
			elapsed := time.Since(begin)
			require.NoError(t, err, "storescu to %s: %s", p.name, out)
			if strings.HasPrefix(p.name, "gateway") {
				rss[p.name] = max(rss[p.name], peakRSS(t, proc.Cmd.Process.Pid))
			}
			proc.Stop()
			assert.Equal(t, n, countFiles(t, dir), "%s received", p.name)
			times[p.name] = append(times[p.name], elapsed)
			require.NoError(t, os.RemoveAll(dir))
		}
	}
	median := func(name string) time.Duration {
		d := slices.Clone(times[name])
		slices.Sort(d)
		return d[len(d)/2]
	}
	base := median("storescp")
	t.Logf("%d instances, %.1f MB, storescu over loopback, median of %d rounds", n, float64(size)/1e6, rounds)
	t.Logf("%-20s %10s %8s %8s %10s", "receiver", "inst/s", "MB/s", "ratio", "peak RSS")
	for _, p := range peers {
		d := median(p.name)
		mem := "-"
		if v, ok := rss[p.name]; ok {
			mem = fmt.Sprintf("%.1f MiB", v)
		}
		t.Logf("%-20s %10.0f %8.1f %7.2fx %10s", p.name, float64(n)/d.Seconds(), float64(size)/1e6/d.Seconds(), base.Seconds()/d.Seconds(), mem)
	}
	for name, v := range rss {
		assert.Less(t, v, 64.0, "%s peak RSS (MiB)", name)
	}
	// The target, 0.8× storescp with an fsync per instance, is not
	// met (about 0.5× here, README.md says why): the ratio is reported, not
	// asserted, so that the harness checks above still run in CI.
	if r := base.Seconds() / median("gateway (fsync)").Seconds(); r < 0.8 {
		t.Logf("gateway with fsync at %.2fx storescp: below the 0.8x target", r)
	}
}
