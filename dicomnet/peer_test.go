package dicomnet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/dicomio"
	"github.com/dicombridge/dicombridge/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vault is the StoreHandler of the tests: it keeps an instance (as a
// Part 10 file named after its arrival number) only once its dataset
// arrived whole, as a durable gateway would, and records every call.
type vault struct {
	dir string

	mu    sync.Mutex // guards calls and n
	calls []vaultCall
	n     int
	// started, if set, is closed once a dataset's first MiB has been
	// written; the handler then waits for gate to be closed.
	started, gate chan struct{}
}

type vaultCall struct {
	req    StoreRequest
	path   string // "" when nothing was kept
	status Status
	err    error
}

func newVault(t *testing.T) *vault { return &vault{dir: t.TempDir()} }

// only waits for the handler's one call (30 s at most) and returns it.
func (v *vault) only(t *testing.T) vaultCall {
	t.Helper()
	require.Eventually(t, func() bool { return len(v.Calls()) == 1 }, 30*time.Second, 10*time.Millisecond, "one call to the handler")
	return v.Calls()[0]
}

func (v *vault) Store(ctx context.Context, req *StoreRequest) Status {
	v.mu.Lock()
	v.n++
	name := filepath.Join(v.dir, fmt.Sprintf("%05d.dcm", v.n))
	v.mu.Unlock()
	call := vaultCall{req: *req, status: StatusSuccess}
	call.req.Data = nil
	defer func() {
		v.mu.Lock()
		v.calls = append(v.calls, call)
		v.mu.Unlock()
	}()
	f, err := os.CreateTemp(v.dir, "partial-*")
	if err != nil {
		call.status, call.err = StatusOutOfResources, err
		return call.status
	}
	defer os.Remove(f.Name())
	var w io.Writer = f
	if v.started != nil {
		w = &signalWriter{w: f, c: v.started, gate: v.gate}
	}
	_, err = req.WritePart10(w)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		call.status, call.err = StatusProcessingFailure, err
		return call.status
	}
	call.path = name
	return StatusSuccess
}

func (v *vault) Calls() []vaultCall {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]vaultCall(nil), v.calls...)
}

// signalWriter signals c once when more than the meta group was written.
type signalWriter struct {
	w       io.Writer
	c, gate chan struct{}
	n       int64
	done    bool
}

func (s *signalWriter) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	if !s.done && s.n > 1<<20 {
		s.done = true
		close(s.c)
		<-s.gate
	}
	return s.w.Write(p)
}

// bigInstance writes a Secondary Capture Part 10 file of about size bytes
// (most of it pixel data) in explicit VR little endian, without holding
// it, and returns its path and SOP instance UID.
func bigInstance(t *testing.T, dir string, size int64) (path, sopInstance string) {
	t.Helper()
	sopInstance = "1.2.826.0.1.3680043.10.1.18." + strconv.FormatInt(size, 10)
	path = filepath.Join(dir, "big.dcm")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	bw := bufio.NewWriter(f)
	w := dicomio.NewWriter(bw)
	require.NoError(t, w.WriteMeta(dicomio.Meta{MediaStorageSOPClassUID: secondaryCapture, MediaStorageSOPInstanceUID: sopInstance, TransferSyntaxUID: explicitVRLittleEndian}))
	require.NoError(t, w.WriteElement(0x00080016, dicomio.VRUI, []byte(secondaryCapture)))
	require.NoError(t, w.WriteElement(0x00080018, dicomio.VRUI, []byte(sopInstance)))
	n := uint32(size &^ 1)
	require.NoError(t, w.WriteFrom(dicomio.TagPixelData, dicomio.MakeVR("OW"), n, io.LimitReader(pattern{}, int64(n))))
	require.NoError(t, w.Close())
	require.NoError(t, bw.Flush())
	return path, sopInstance
}

const secondaryCapture = "1.2.840.10008.5.1.4.1.1.7"

// pattern is an endless, cheap, non-constant byte stream.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return len(p), nil
}

// serve runs srv on a free port of 127.0.0.1 until the test ends.
func serve(t *testing.T, srv *Server) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		assert.ErrorIs(t, <-done, ErrServerClosed)
	})
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// datasetPart returns a Part 10 file's meta and the bytes after its meta
// group.
func datasetPart(t *testing.T, path string) (metaTS, sopClass, sopInstance string, data []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	br := bufio.NewReader(bytes.NewReader(b))
	m, err := readFileMeta(br)
	require.NoError(t, err, path)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	return m.TransferSyntaxUID, m.MediaStorageSOPClassUID, m.MediaStorageSOPInstanceUID, rest
}

// dcmtk runs a DCMTK tool and returns its combined output and error.
func dcmtk(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	bin := testenv.LookPath(t, name, "apt-get install dcmtk")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// proposeFor is storescu's option that proposes a file's own transfer
// syntax first, so that it sends the file without converting it.
func proposeFor(ts string) []string {
	switch ts {
	case implicitVRLittleEndian:
		return []string{"-xi"}
	case explicitVRLittleEndian:
		return []string{"-xe"}
	case "1.2.840.10008.1.2.2":
		return []string{"-xb"}
	}
	opt := map[string]string{
		"1.2.840.10008.1.2.1.99": "-xd",
		"1.2.840.10008.1.2.4.50": "-xy", "1.2.840.10008.1.2.4.51": "-xx",
		"1.2.840.10008.1.2.4.57": "-xs", "1.2.840.10008.1.2.4.70": "-xs",
		"1.2.840.10008.1.2.4.80": "-xt", "1.2.840.10008.1.2.4.81": "-xu",
		"1.2.840.10008.1.2.4.90": "-xv", "1.2.840.10008.1.2.4.91": "-xw",
		"1.2.840.10008.1.2.5": "-xr",
	}[ts]
	if opt == "" {
		return nil
	}
	return []string{opt}
}

func portArg(p int) string { return strconv.Itoa(p) }

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 32<<10) }

// tap is a TCP relay to target that records what the client sends, so a
// test can compare what the server kept with what went over the wire.
type tap struct {
	addr string
	mu   sync.Mutex // guards sent
	sent bytes.Buffer
}

func newTap(t *testing.T, target string) *tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tp := &tap{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			wg.Go(func() {
				_, _ = io.Copy(io.MultiWriter(s, tp), c)
				s.(*net.TCPConn).CloseWrite()
			})
			wg.Go(func() { _, _ = io.Copy(c, s); c.Close() })
		}
	})
	return tp
}

func (tp *tap) Write(p []byte) (int, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.sent.Write(p)
}

// datasets returns the datasets the client sent, in order: the data PDVs of
// its P-DATA-TF PDUs, joined up to each fragment flagged last. It reads the
// recording with its own few lines, not the package's decoder.
func (tp *tap) datasets(t *testing.T) [][]byte {
	t.Helper()
	tp.mu.Lock()
	b := append([]byte(nil), tp.sent.Bytes()...)
	tp.sent.Reset()
	tp.mu.Unlock()
	var out [][]byte
	var cur []byte
	for len(b) >= 6 {
		end := 6 + int(uint32(b[2])<<24|uint32(b[3])<<16|uint32(b[4])<<8|uint32(b[5]))
		require.LessOrEqual(t, end, len(b), "truncated PDU in the recording")
		for body := b[6:end]; b[0] == 4 && len(body) >= 6; {
			n := int(uint32(body[0])<<24 | uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3]))
			if body[5]&1 == 0 {
				cur = append(cur, body[6:4+n]...)
				if body[5]&2 != 0 {
					out, cur = append(out, cur), nil
				}
			}
			body = body[4+n:]
		}
		b = b[end:]
	}
	return out
}
