package dicomscan

import (
	"archive/zip"
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"

	benchcorpus "github.com/dicombridge/dicombridge/bench/internal/corpus"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/dicomscan"
)

// The corpus: one CT-like study of 2,000 slices of 512 × 512 × 16 bits.
var corpusOptions = dicomgen.Options{Studies: 1, SeriesPerStudy: 4, InstancesPerSeries: 500, Rows: 512, Columns: 512, Seed: 2000}

// corpus returns the benchmark corpus, writing it on first use (see
// bench/internal/corpus), and warms the page cache.
func corpus(tb testing.TB) (string, []string, int64) {
	tb.Helper()
	c := benchcorpus.Get(tb, "ct2000", corpusOptions)
	return c.Dir, c.Files, c.Bytes
}

// parallel runs fn over files with n goroutines.
func parallel(files []string, n int, fn func(p string) error) error {
	return benchcorpus.Parallel(files, n, fn)
}

// cpuTime returns the user+system CPU time of this process and its
// finished children.
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	d := func(tv syscall.Timeval) time.Duration { return time.Duration(tv.Nano()) }
	return d(self.Utime) + d(self.Stime) + d(children.Utime) + d(children.Stime)
}

// reportFiles reports files/s (wall clock) and the CPU time per file,
// which a machine shared with other work disturbs less.
func reportFiles(b *testing.B, files int, cpuStart time.Duration) {
	n := float64(b.N * files)
	b.ReportMetric(n/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(float64(cpuTime()-cpuStart)/1e3/n, "cpu-µs/file")
}

// BenchmarkScan compares header scans of the corpus.
func BenchmarkScan(b *testing.B) {
	dir, files, _ := corpus(b)
	workers := runtime.GOMAXPROCS(0)
	scan := func(w int) func(b *testing.B) {
		return func(b *testing.B) {
			s := dicomscan.Scanner{Workers: w}
			cpu0 := cpuTime()
			for b.Loop() {
				res, err := s.Scan(context.Background(), dir)
				if err != nil || res.Instances() != len(files) {
					b.Fatalf("%v: %d instances", err, res.Instances())
				}
			}
			reportFiles(b, len(files), cpu0)
		}
	}
	floor := func(n int) func(b *testing.B) {
		return func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				err := parallel(files, n, func(p string) error {
					f, err := os.Open(p)
					if err != nil {
						return err
					}
					var buf [4096]byte
					_, err = io.ReadFull(f, buf[:])
					f.Close()
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			reportFiles(b, len(files), cpu0)
		}
	}
	b.Run("dicomscan", scan(workers))
	b.Run("floor-4KiB", floor(workers))
	b.Run("dicomscan-1worker", scan(1))
	b.Run("floor-4KiB-1thread", floor(1))
	b.Run("suyashkumar-ParseFile-SkipPixelData", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			if err := parallel(files, workers, suyashParseFile); err != nil {
				b.Fatal(err)
			}
		}
		reportFiles(b, len(files), cpu0)
	})
	b.Run("suyashkumar-Next-early-stop", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			if err := parallel(files, workers, suyashEarlyStop); err != nil {
				b.Fatal(err)
			}
		}
		reportFiles(b, len(files), cpu0)
	})
	b.Run("pydicom", func(b *testing.B) {
		py := "/usr/bin/python3"
		if err := exec.Command(py, "-c", "import pydicom").Run(); err != nil {
			b.Skip("Debian's python3-pydicom is not installed:", err)
		}
		cpu0 := cpuTime()
		for b.Loop() {
			err := processes(files, workers, func(chunk []string) *exec.Cmd {
				cmd := exec.Command(py, "pydicom_scan.py")
				cmd.Stdin = strings.NewReader(strings.Join(chunk, "\n"))
				return cmd
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		reportFiles(b, len(files), cpu0)
	})
	b.Run("dcmdump", func(b *testing.B) {
		if _, err := exec.LookPath("dcmdump"); err != nil {
			b.Skip("dcmdump (dcmtk) is not installed")
		}
		cpu0 := cpuTime()
		for b.Loop() {
			err := processes(files, workers, func(chunk []string) *exec.Cmd {
				return exec.Command("dcmdump", append([]string{"-q", "-M", "+sb", "7fe0,0010"}, chunk...)...)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		reportFiles(b, len(files), cpu0)
	})
}

// processes splits files among n concurrent processes.
func processes(files []string, n int, cmd func(chunk []string) *exec.Cmd) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	per := (len(files) + n - 1) / n
	for i := range n {
		lo, hi := i*per, min((i+1)*per, len(files))
		if lo >= hi {
			continue
		}
		c := cmd(files[lo:hi])
		c.Stdout = io.Discard
		var stderr strings.Builder
		c.Stderr = &stderr
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(); err != nil {
				errs[i] = fmt.Errorf("%v: %v: %s", c.Args[0], err, stderr.String())
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func suyashParseFile(p string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("suyashkumar/dicom panicked on %s: %v", p, r)
		}
	}()
	_, err = dicom.ParseFile(p, nil, dicom.SkipPixelData())
	return err
}

func suyashEarlyStop(p string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("suyashkumar/dicom panicked on %s: %v", p, r)
		}
	}()
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	// A 64 KiB prefix keeps Next from reading the pixel data (spec
	// dependencies.md §3: Skip still reads every byte).
	n := min(fi.Size(), 64<<10)
	parser, err := dicom.NewParser(io.LimitReader(f, n), n, nil, dicom.SkipPixelData())
	if err != nil {
		return err
	}
	for {
		e, err := parser.Next()
		if err != nil {
			return nil // end of the prefix
		}
		if e.Tag.Group > 0x0020 {
			return nil
		}
	}
}

// BenchmarkZip compares writing the corpus as one archive, output
// discarded. MB/s counts source bytes.
func BenchmarkZip(b *testing.B) {
	dir, files, total := corpus(b)
	res, err := dicomscan.Scan(context.Background(), dir)
	if err != nil || res.Instances() != len(files) {
		b.Fatal(err)
	}
	var out countingDiscard
	ours := func(z dicomscan.Zip) func(b *testing.B) {
		return func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				out.n = 0
				if _, err := z.Write(context.Background(), &out, res.Studies); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.n)/float64(total), "ratio")
		}
	}
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(total)
		buf := make([]byte, 256<<10)
		for b.Loop() {
			for _, p := range files {
				f, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("dicomscan-store", ours(dicomscan.Zip{Store: true}))
	b.Run("dicomscan-deflate-L1", ours(dicomscan.Zip{Level: 1}))
	b.Run("dicomscan-deflate-L1-1worker", ours(dicomscan.Zip{Level: 1, Workers: 1}))
	b.Run("dicomscan-deflate-L6", ours(dicomscan.Zip{Level: 6}))
	b.Run("archive-zip-default-deflate", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			out.n = 0
			zw := zip.NewWriter(&out)
			for _, p := range files {
				w, err := zw.Create(filepath.Base(p))
				if err != nil {
					b.Fatal(err)
				}
				f, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				_, err = io.Copy(w, f)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := zw.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(out.n)/float64(total), "ratio")
	})
}

type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// BenchmarkPeakMemory scans and zips the corpus in a child process, to a
// temporary file, and reports the child's peak resident set size.
func BenchmarkPeakMemory(b *testing.B) {
	dir, _, _ := corpus(b)
	for _, mode := range []string{"deflate", "store"} {
		b.Run(mode, func(b *testing.B) {
			var peak float64
			for b.Loop() {
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), "DICOMBRIDGE_BENCH_CHILD="+dir, "DICOMBRIDGE_BENCH_MODE="+mode)
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				_, after, ok := strings.Cut(string(out), "maxrss-KiB=")
				if !ok {
					b.Fatalf("no maxrss in %s", out)
				}
				kib, err := strconv.Atoi(strings.Fields(after)[0])
				if err != nil {
					b.Fatal(err)
				}
				peak = max(peak, float64(kib)/1024)
			}
			b.ReportMetric(peak, "peak-RSS-MiB")
			if peak > 64 {
				b.Errorf("peak RSS %.1f MiB, target 64 MiB", peak)
			}
		})
	}
}

// childScanZip is the child of BenchmarkPeakMemory: TestMain runs it,
// instead of the tests, when DICOMBRIDGE_BENCH_CHILD names the corpus.
func childScanZip(dir string) error {
	res, err := dicomscan.Scan(context.Background(), dir)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "dicombridge-bench-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	z := dicomscan.Zip{Store: os.Getenv("DICOMBRIDGE_BENCH_MODE") == "store"}
	bw := bufio.NewWriterSize(f, 1<<20)
	n, err := z.Write(context.Background(), bw, res.Studies)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return err
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return err
	}
	fmt.Printf("instances=%d bytes=%d zip=%d maxrss-KiB=%d\n", res.Instances(), res.Size(), n, ru.Maxrss)
	return nil
}

func TestMain(m *testing.M) {
	if dir := os.Getenv("DICOMBRIDGE_BENCH_CHILD"); dir != "" { // a child of BenchmarkPeakMemory
		if err := childScanZip(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
