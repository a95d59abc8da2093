// Package corpus is the benchmarks' generated DICOM corpus: written once by
// dicomgen into a directory that later runs (and other benchmarks) reuse,
// and read once to warm the page cache.
package corpus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dicombridge/dicombridge/dicomgen"
)

// Corpus is a generated study on disk.
type Corpus struct {
	Dir   string   // the study directory
	Files []string // every file, in walk order
	Bytes int64    // their total size
}

var (
	mu    sync.Mutex // guards cache
	cache = map[string]*Corpus{}
)

// Get returns the corpus named name, generated with opts under
// $TMPDIR/dicombridge-bench-<name> (or $DICOMBRIDGE_BENCH_CORPUS when
// name is "ct2000", the 1 GB one), writing it unless a previous run left it
// complete, and reads every file once.
func Get(tb testing.TB, name string, opts dicomgen.Options) *Corpus {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if c := cache[name]; c != nil {
		return c
	}
	dir := filepath.Join(os.TempDir(), "dicombridge-bench-"+name)
	if d := os.Getenv("DICOMBRIDGE_BENCH_CORPUS"); d != "" && name == "ct2000" {
		dir = d
	}
	marker := filepath.Join(dir, "complete")
	want := fmt.Sprintf("%+v\n", opts)
	if b, err := os.ReadFile(marker); err != nil || string(b) != want {
		os.RemoveAll(dir)
		if _, err := dicomgen.Write(context.Background(), filepath.Join(dir, "study"), opts); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(marker, []byte(want), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	c := &Corpus{Dir: filepath.Join(dir, "study")}
	err := filepath.WalkDir(c.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		c.Files = append(c.Files, p)
		b, err := os.ReadFile(p) // warm the cache
		c.Bytes += int64(len(b))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	cache[name] = c
	return c
}

// Parallel runs fn over files with n goroutines and returns the first
// error.
func Parallel(files []string, n int, fn func(p string) error) error {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) {
					return
				}
				if err := fn(files[i]); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	return nil
}
