package deid

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/bench/internal/corpus"
	"github.com/dicombridge/dicombridge/deid"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/orthanctest"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

// fullOptions is the 1 GB corpus bench/dicomscan uses too: 2,000 CT-like
// slices of 512 × 512 × 16 bits in one study of 4 series.
var fullOptions = dicomgen.Options{Studies: 1, SeriesPerStudy: 4, InstancesPerSeries: 500, Rows: 512, Columns: 512, Seed: 2000}

// smallOptions is the corpus of TestHarness: 2 series of 10 small slices.
var smallOptions = dicomgen.Options{Studies: 1, SeriesPerStudy: 2, InstancesPerSeries: 10, Rows: 128, Columns: 128, Seed: 7}

// runner de-identifies (or copies) the files of a corpus into out and
// returns the time the work itself took (Orthanc's upload is not
// counted).
type runner struct {
	name string
	run  func(tb testing.TB, c *corpus.Corpus, out string) time.Duration
}

var runners = []runner{
	{"copy", runCopy},
	{"deid", runDeid},
	{"gdcmanon", runGdcmanon},
	{"orthanc", runOrthanc},
}

// outPath is where a file of the corpus goes under out.
func outPath(c *corpus.Corpus, out, p string) (string, error) {
	rel, err := filepath.Rel(c.Dir, p)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(out, rel)
	return dst, os.MkdirAll(filepath.Dir(dst), 0o755)
}

// runCopy is the floor: every file read and written again, through a
// user-space buffer (no copy_file_range), with GOMAXPROCS workers.
func runCopy(tb testing.TB, c *corpus.Corpus, out string) time.Duration {
	start := time.Now()
	err := corpus.Parallel(c.Files, runtime.GOMAXPROCS(0), func(p string) error {
		return withFiles(c, out, p, func(dst io.Writer, src io.Reader) error {
			buf := make([]byte, 256<<10)
			_, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf)
			return err
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// runDeid applies the Basic Profile to every file with GOMAXPROCS workers.
func runDeid(tb testing.TB, c *corpus.Corpus, out string) time.Duration {
	p, err := deid.New(deid.Config{Key: bytes.Repeat([]byte{1}, deid.MinKeySize)})
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	err = corpus.Parallel(c.Files, runtime.GOMAXPROCS(0), func(path string) error {
		return withFiles(c, out, path, func(dst io.Writer, src io.Reader) error {
			_, err := p.Apply(context.Background(), dst, src)
			return err
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// withFiles opens p and its output file (buffered) and calls fn.
func withFiles(c *corpus.Corpus, out, p string, fn func(dst io.Writer, src io.Reader) error) error {
	dst, err := outPath(c, out, p)
	if err != nil {
		return err
	}
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	err = fn(w, in)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// runGdcmanon runs gdcmanon -e (GDCM's Basic Profile, which also encrypts
// the original attributes into the file with a certificate), one process
// per series directory, GOMAXPROCS at a time.
func runGdcmanon(tb testing.TB, c *corpus.Corpus, out string) time.Duration {
	bin := testenv.LookPath(tb, "gdcmanon", "apt-get install libgdcm-tools")
	openssl := testenv.LookPath(tb, "openssl", "apt-get install openssl")
	dir := tb.TempDir()
	key, cert := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	if b, err := exec.Command(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
		"-days", "1", "-subj", "/CN=dicombridge-bench").CombinedOutput(); err != nil {
		tb.Fatalf("openssl: %v: %s", err, b)
	}
	series, err := os.ReadDir(c.Dir)
	if err != nil {
		tb.Fatal(err)
	}
	var dirs []string
	for _, s := range series {
		dirs = append(dirs, filepath.Join(c.Dir, s.Name()))
	}
	start := time.Now()
	err = corpus.Parallel(dirs, runtime.GOMAXPROCS(0), func(d string) error {
		dst, err := outPath(c, out, filepath.Join(d, "x"))
		if err != nil {
			return err
		}
		if b, err := exec.Command(bin, "-e", "-c", cert, "-r", "--continue", "-i", d, "-o", filepath.Dir(dst)).CombinedOutput(); err != nil {
			return fmt.Errorf("gdcmanon %s: %v: %s", d, err, b)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// runOrthanc uploads the corpus to a real Orthanc (not timed), then times
// POST /studies/{id}/anonymize (Basic Profile 2021b, synchronous), which
// writes the anonymized copy into Orthanc's storage. out is not used.
func runOrthanc(tb testing.TB, c *corpus.Corpus, _ string) time.Duration {
	o := orthanctest.Start(tb, "", map[string]any{"ConcurrentJobs": runtime.GOMAXPROCS(0)})
	var study string
	err := corpus.Parallel(c.Files, runtime.GOMAXPROCS(0), func(p string) error {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		resp, err := http.Post(o.URL+"instances", "application/dicom", bytes.NewReader(data))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("POST /instances: %d %s", resp.StatusCode, b)
		}
		if i := bytes.Index(b, []byte(`"ParentStudy" : "`)); i >= 0 {
			study = string(b[i+17 : i+17+44])
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	resp, err := http.Post(o.URL+"studies/"+study+"/anonymize", "application/json", strings.NewReader(`{"DicomVersion":"2021b"}`))
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(fmt.Sprintf(`"InstancesCount" : %d`, len(c.Files)))) {
		tb.Fatalf("anonymize: %d %s", resp.StatusCode, b)
	}
	return time.Since(start)
}

// countFiles counts the regular files under dir.
func countFiles(tb testing.TB, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestHarness runs every runner once on a small corpus and checks that
// each wrote one output per input (Orthanc checks its own count), so that
// the benchmark below measures real work. It is what CI runs.
func TestHarness(t *testing.T) {
	c := corpus.Get(t, "deid-small", smallOptions)
	for _, r := range runners {
		out := t.TempDir()
		d := r.run(t, c, out)
		if r.name != "orthanc" {
			if n := countFiles(t, out); n != len(c.Files) {
				t.Errorf("%s wrote %d files for %d inputs", r.name, n, len(c.Files))
			}
		}
		t.Logf("%-8s %d files in %v", r.name, len(c.Files), d)
	}
}

// BenchmarkDeid de-identifies the 1 GB corpus with deid, gdcmanon and
// Orthanc, next to a plain read-and-write copy of the same files, in one
// run. Compare the MB/s: the target is deid at half the copy or better.
//
//	go test ./deid -run '^$' -bench . -benchtime 1x -timeout 90m
func BenchmarkDeid(b *testing.B) {
	c := corpus.Get(b, "ct2000", fullOptions)
	for _, r := range runners {
		b.Run(r.name, func(b *testing.B) {
			b.SetBytes(c.Bytes)
			var total time.Duration
			for range b.N {
				out := b.TempDir()
				total += r.run(b, c, out)
			}
			b.ReportMetric(float64(c.Bytes)*float64(b.N)/total.Seconds()/1e6, "MB/s-work")
		})
	}
}
