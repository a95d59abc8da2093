package uploader_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

// The engine end to end over loopback: config, scan, init, start, the zip
// streamed over Tus to auratest's tusd (filestore on disk), complete.
//
//	go test ./uploader -run '^$' -bench 'Engine' -benchtime 5x
//
// The study: 4 series of 100 CT-like slices of 256 × 256 (400 files,
// 52 MB). MB/s counts DICOM bytes. "pack" is one compression pass alone
// (dicomscan.Zip to io.Discard): the deflate engine makes one too (the
// fake's tusd offers creation-defer-length), and the target is deflate at
// 0.8× pack or better. "tus-floor" sends the deflated archive, prebuilt on
// disk, with tusclient alone: the ceiling of the transfer. cpu-ms/op is
// the CPU time of the whole process (client and fake server) per upload,
// which a machine shared with other work disturbs less than MB/s.
var (
	benchOnce  sync.Once
	benchDir   string
	benchFiles []dicomgen.File
	benchErr   error
)

func benchStudy(b *testing.B) string {
	benchOnce.Do(func() {
		benchDir = filepath.Join(testRoot, "bench", "study")
		benchFiles, benchErr = dicomgen.Write(context.Background(), benchDir, dicomgen.Options{Studies: 1, SeriesPerStudy: 4, InstancesPerSeries: 100,
			Rows: 256, Columns: 256, Seed: 9})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir
}

func BenchmarkEngine(b *testing.B) {
	dir := benchStudy(b)
	size := sampleSize(benchFiles)
	for _, bc := range []struct {
		name  string
		store bool
	}{{"deflate", false}, {"store", true}} {
		b.Run(bc.name, func(b *testing.B) {
			aura := auratest.NewServer(auratest.WithoutRateLimits())
			defer aura.Close()
			u := &uploader.Uploader{
				API: &uploader.API{BaseURL: aura.URL, APIKey: aura.APIKey, HTTPClient: aura.Client(),
					Tokens: aura.Exchanger().Source(uploadtoken.ExchangeRequest{})},
				Store: bc.store,
			}
			ctx := context.Background()
			b.SetBytes(size)
			b.ReportAllocs()
			var archive int64
			cpu := cpuTime()
			for b.Loop() {
				res, err := u.Upload(ctx, dir)
				if err != nil {
					b.Fatal(err)
				}
				archive = res.ArchiveBytes
			}
			b.ReportMetric(float64(len(benchFiles))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
			b.ReportMetric(float64(archive)/float64(size), "zip/src")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
	b.Run("pack", func(b *testing.B) {
		res, err := dicomscan.Scan(context.Background(), dir)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			if _, err := (&dicomscan.Zip{}).Write(context.Background(), io.Discard, res.Studies); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	})
	b.Run("tus-floor", func(b *testing.B) {
		aura := auratest.NewServer(auratest.WithoutRateLimits())
		defer aura.Close()
		res, err := dicomscan.Scan(context.Background(), dir)
		if err != nil {
			b.Fatal(err)
		}
		zpath := filepath.Join(b.TempDir(), "study.zip")
		f, err := os.Create(zpath)
		if err != nil {
			b.Fatal(err)
		}
		n, err := (&dicomscan.Zip{}).Write(context.Background(), f, res.Studies)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		api := &uploader.API{BaseURL: aura.URL, APIKey: aura.APIKey, HTTPClient: aura.Client(),
			Tokens: aura.Exchanger().Source(uploadtoken.ExchangeRequest{})}
		cfg, err := api.Config(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		c, err := tusclient.New(tusclient.Config{Endpoint: cfg.Lift.Endpoint, ChunkSize: 5 << 20,
			Header: map[string][]string{"Authorization": {"Bearer " + cfg.Lift.Token}}})
		if err != nil {
			b.Fatal(err)
		}
		zf, err := os.Open(zpath)
		if err != nil {
			b.Fatal(err)
		}
		defer zf.Close()
		b.SetBytes(size)
		for b.Loop() {
			up, err := c.NewUpload(zf, n, tusclient.UploadOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if err := up.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(benchFiles))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
	})
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
