// Package gatewaybench measures how fast the gateway receives: storescu
// (dcmtk) sends the same generated study to dcmtk's storescp and to the
// gateway, in one benchmark run, over loopback; the gateway runs in a
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

// benchInstances is the size of the benchmark's study: 1000 (the
// README's figures), or GATEWAY_BENCH_INSTANCES.
func benchInstances() int {
	if n, err := strconv.Atoi(os.Getenv("GATEWAY_BENCH_INSTANCES")); err == nil && n >= 4 {
		return n
	}
	return 1000
}

// study writes the generated study of n CT instances (256×256, 16 bits,
// four series) that storescu sends, and returns its directory and size.
func study(tb testing.TB, n int) (string, int64) {
	dir := filepath.Join(tb.TempDir(), "study")
	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{SeriesPerStudy: 4, InstancesPerSeries: n / 4, Rows: 256, Columns: 256, Seed: 31})
	require.NoError(tb, err)
	var size int64
	for _, f := range files {
		size += f.Size
	}
	return dir, size
}

// peer is one receiver under test.
type peer struct {
	name  string
	start func(tb testing.TB, port int, dir string) *testenv.Process
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

func gatewayPeer(noSync bool) func(tb testing.TB, port int, dir string) *testenv.Process {
	return func(tb testing.TB, port int, dir string) *testenv.Process {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GATEWAY_BENCH_CHILD=1", "GATEWAY_BENCH_SPOOL="+dir,
			fmt.Sprintf("GATEWAY_BENCH_ADDR=127.0.0.1:%d", port))
		if noSync {
			cmd.Env = append(cmd.Env, "GATEWAY_BENCH_NOSYNC=1")
		}
		return testenv.StartProcess(tb, cmd, syscall.SIGTERM, 30*time.Second, listening(port))
	}
}

func storescpPeer(tb testing.TB, port int, dir string) *testenv.Process {
	bin := testenv.LookPath(tb, "storescp", "apt-get install dcmtk")
	cmd := exec.Command(bin, "-od", dir, strconv.Itoa(port))
	cmd.Env = dcmtkEnv()
	return testenv.StartProcess(tb, cmd, syscall.SIGTERM, 30*time.Second, listening(port))
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
func peakRSS(tb testing.TB, pid int) float64 {
	tb.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		testenv.Unsupported(tb, "/proc", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			require.NoError(tb, err)
			return float64(kb) / 1024
		}
	}
	tb.Fatal("no VmHWM")
	return 0
}

// countFiles counts the instances received under dir: storescp names
// them CT.<SOPInstanceUID>, the gateway <SOPInstanceUID>.dcm.
func countFiles(tb testing.TB, dir string) int {
	tb.Helper()
	n := 0
	require.NoError(tb, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
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

var peers = []peer{
	{"storescp", storescpPeer},
	{"gateway-fsync", gatewayPeer(false)},
	{"gateway-nofsync", gatewayPeer(true)},
}

// receive starts p with an empty spool, sends the study with storescu,
// stops p, and returns storescu's wall time (start to release), p's peak
// RSS in MiB (0 for storescp, which is not measured) and how many
// instances p stored.
func receive(tb testing.TB, p peer, study string) (time.Duration, float64, int) {
	storescu := testenv.LookPath(tb, "storescu", "apt-get install dcmtk")
	port := testenv.FreePort(tb)
	dir := tb.TempDir()
	proc := p.start(tb, port, dir)
	send := exec.Command(storescu, "+sd", "+r", "-aec", "GATEWAY", "127.0.0.1", strconv.Itoa(port), study)
	send.Env = dcmtkEnv()
	begin := time.Now()
	out, err := send.CombinedOutput()
	elapsed := time.Since(begin)
	require.NoError(tb, err, "storescu to %s: %s", p.name, out)
	rss := 0.0
	if strings.HasPrefix(p.name, "gateway") {
		rss = peakRSS(tb, proc.Cmd.Process.Pid)
	}
	proc.Stop()
	n := countFiles(tb, dir)
	require.NoError(tb, os.RemoveAll(dir))
	return elapsed, rss, n
}

// TestHarness sends a study of 40 instances to each receiver once and
// checks that every instance arrived and that the gateway's peak RSS
// stays under 64 MiB, so that the benchmark below measures real work. It
// is what CI runs.
func TestHarness(t *testing.T) {
	const n = 40
	dir, _ := study(t, n)
	for _, p := range peers {
		d, rss, got := receive(t, p, dir)
		assert.Equal(t, n, got, "%s received", p.name)
		if rss > 0 {
			assert.Less(t, rss, 64.0, "%s peak RSS (MiB)", p.name)
		}
		t.Logf("%-16s %d instances in %v", p.name, n, d)
	}
}

// BenchmarkReceive sends the same study of 1,000 CT instances (132 MB)
// with storescu to storescp, to the gateway with an fsync per instance
// (its default) and to the gateway without, and reports instances/s,
// MB/s and the gateway's peak RSS. Compare the receivers' rates: the
// target was the gateway with fsync at 0.8× storescp or better (missed,
// see README.md). From bench/:
//
//	go test ./gateway -run '^$' -bench . -benchtime 1x -count 3 -timeout 60m
func BenchmarkReceive(b *testing.B) {
	n := benchInstances()
	dir, size := study(b, n)
	for _, p := range peers {
		b.Run(p.name, func(b *testing.B) {
			b.SetBytes(size)
			var total time.Duration
			peak := 0.0
			for range b.N {
				d, rss, got := receive(b, p, dir)
				require.Equal(b, n, got, "%s received", p.name)
				total += d
				peak = max(peak, rss)
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "inst/s")
			b.ReportMetric(float64(size)*float64(b.N)/total.Seconds()/1e6, "MB/s-work")
			if peak > 0 {
				b.ReportMetric(peak, "peak-RSS-MiB")
			}
		})
	}
}
