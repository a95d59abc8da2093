package tusbench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	gotus "github.com/eventials/go-tus"

	"github.com/dicombridge/dicombridge/tusclient"
	"github.com/dicombridge/dicombridge/tusclient/tustest"
)

const rssLimitMiB = 64

// TestPeakRSS uploads files of 64 MiB and 1 GiB from a child process that
// runs only the client (tusd stays in this process) and reads the child's
// peak resident set (VmHWM). tusclient must stay under 64 MiB whatever the
// size; go-tus is measured for comparison (from an *os.File, and from a
// plain io.Reader, which it reads into memory whole).
func TestPeakRSS(t *testing.T) {
	dir := benchDir(t)
	srv := tustest.NewServer(tustest.WithDir(filepath.Join(dir, "store")))
	t.Cleanup(srv.Close)
	type row struct {
		client string
		size   int64
		rss    float64
	}
	var rows []row
	for _, size := range []int64{64 << 20, 1 << 30} {
		path := dataFile(t, dir, size)
		for _, client := range []string{"tusclient", "tusclient-stream", "gotus-file", "gotus-reader"} {
			if client == "gotus-reader" && size > 256<<20 {
				continue // it would hold the whole file in memory; see the 64 MiB row
			}
			rss, url := childRSS(t, client, srv.URL, path)
			verifyAndDrop(t, srv, filepath.Join(dir, "store"), url, size)
			rows = append(rows, row{client, size, rss})
			if strings.HasPrefix(client, "tusclient") && rss > rssLimitMiB {
				t.Errorf("%s uploading %d MiB: peak RSS %.1f MiB, limit %d MiB", client, size>>20, rss, rssLimitMiB)
			}
		}
		os.Remove(path)
	}
	var b strings.Builder
	b.WriteString("\n| client | file | peak RSS (VmHWM) |\n|---|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d MiB | %.1f MiB |\n", r.client, r.size>>20, r.rss)
	}
	t.Log(b.String())
}

// childRSS runs rssChild in a new process and returns its VmHWM in
// MiB and the upload URL it printed.
func childRSS(t *testing.T, client, endpoint, path string) (float64, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "TUSBENCH_CHILD="+client, "TUSBENCH_ENDPOINT="+endpoint, "TUSBENCH_FILE="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", client, err, out)
	}
	var kb int64 = -1
	var url string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "RESULT VmHWM "); ok {
			kb, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(line, "RESULT URL "); ok {
			url = v
		}
	}
	if kb < 0 || url == "" {
		t.Fatalf("child %s printed no result:\n%s", client, out)
	}
	return float64(kb) / 1024, url
}

// rssChild is the child process of TestPeakRSS: TestMain runs it, instead
// of the tests, when TUSBENCH_CHILD names the client to measure.
func rssChild(client string) error {
	f, err := os.Open(os.Getenv("TUSBENCH_FILE"))
	if err != nil {
		return err
	}
	defer f.Close()
	st, _ := f.Stat()
	endpoint := os.Getenv("TUSBENCH_ENDPOINT")
	var url string
	switch client {
	case "tusclient", "tusclient-stream":
		c, err := tusclient.New(tusclient.Config{Endpoint: endpoint})
		if err != nil {
			return err
		}
		var up *tusclient.Upload
		if client == "tusclient" {
			up, err = c.NewUpload(f, st.Size(), tusclient.UploadOptions{})
		} else {
			up, err = c.NewStreamUpload(bufio.NewReader(f), -1, tusclient.UploadOptions{})
		}
		if err != nil {
			return err
		}
		if err := up.Run(context.Background()); err != nil {
			return err
		}
		url = up.URL()
	case "gotus-file", "gotus-reader":
		cfg := gotus.DefaultConfig()
		cfg.ChunkSize = 8 << 20 // tusclient's default chunk size
		c, err := gotus.NewClient(endpoint, cfg)
		if err != nil {
			return err
		}
		var u *gotus.Upload
		if client == "gotus-file" {
			u, err = gotus.NewUploadFromFile(f)
		} else {
			u = gotus.NewUpload(bufio.NewReader(f), st.Size(), nil, "")
		}
		if err != nil {
			return err
		}
		up, err := c.CreateUpload(u)
		if err != nil {
			return err
		}
		if err := up.Upload(); err != nil {
			return err
		}
		url = up.Url()
	default:
		return fmt.Errorf("unknown client %q", client)
	}
	hwm, err := vmHWM()
	if err != nil {
		return err
	}
	fmt.Printf("RESULT URL %s\nRESULT VmHWM %d\n", url, hwm)
	return nil
}

// vmHWM returns the process's peak resident set in kB.
func vmHWM() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return n, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

func TestMain(m *testing.M) {
	if client := os.Getenv("TUSBENCH_CHILD"); client != "" { // a child of TestPeakRSS
		if err := rssChild(client); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
