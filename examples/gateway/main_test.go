package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/deid"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/orthanctest"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

// TestMain runs main() instead of the tests when the test binary is
// started as the gateway by startGateway: the gateway under test is a real
// child process, which a test can kill -9.
func TestMain(m *testing.M) {
	if os.Getenv("GATEWAY_AS_CLI") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

const (
	gatewayAE = "GATEWAY"
	senderAE  = "MODALITY"
)

// gw is a gateway running as a child process.
type gw struct {
	port  int
	spool string
	p     *testenv.Process
}

// startGateway runs the gateway on a free port with spool, uploading to
// aura (nil: -no-upload), and waits until it accepts connections.
func startGateway(t *testing.T, spool string, aura *auratest.Server, args ...string) *gw {
	t.Helper()
	g := &gw{port: testenv.FreePort(t), spool: spool}
	cmd := exec.Command(os.Args[0], append([]string{"-listen", fmt.Sprintf("127.0.0.1:%d", g.port), "-ae", gatewayAE,
		"-spool", spool, "-allow-calling", senderAE + ",ORTHANCTEST"}, args...)...)
	cmd.Env = append(os.Environ(), "GATEWAY_AS_CLI=1")
	if aura == nil {
		cmd.Args = append(cmd.Args, "-no-upload")
	} else {
		tok, err := aura.IssueToken(context.Background())
		require.NoError(t, err)
		cmd.Env = append(cmd.Env, "AURA_API_URL="+aura.URL, "AURA_API_KEY="+aura.APIKey, "AURA_UPLOAD_TOKEN="+tok.Value)
	}
	g.p = testenv.StartProcess(t, cmd, syscall.SIGTERM, 30*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", g.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway output:\n%s", g.p.Output.String())
		}
	})
	return g
}

// kill9 kills the gateway with SIGKILL and waits for it.
func (g *gw) kill9(t *testing.T) {
	t.Helper()
	require.NoError(t, g.p.Cmd.Process.Signal(syscall.SIGKILL))
	<-g.p.Exited
}

// spoolStatus runs "gateway -spool DIR -status" in this process.
func spoolStatus(t *testing.T, spool string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-spool", spool, "-status"}, func(string) string { return "" }, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	return out.String()
}

func dcmtk(t *testing.T, name string) string {
	t.Helper()
	return testenv.LookPath(t, name, "apt-get install dcmtk")
}

// storescu sends paths to the gateway and returns its output; it fails
// the test if storescu fails.
func (g *gw) storescu(t *testing.T, paths ...string) string {
	t.Helper()
	args := append([]string{"-v", "+sd", "+r", "-aet", senderAE, "-aec", gatewayAE, "127.0.0.1", strconv.Itoa(g.port)}, paths...)
	out, err := exec.Command(dcmtk(t, "storescu"), args...).CombinedOutput()
	require.NoError(t, err, "storescu: %s", out)
	return string(out)
}

// datasetPart returns the dataset of a Part 10 file: what follows the
// preamble, "DICM" and the File Meta group (explicit VR little endian).
func datasetPart(t *testing.T, b []byte) []byte {
	t.Helper()
	require.Greater(t, len(b), 132)
	require.Equal(t, "DICM", string(b[128:132]))
	i := 132
	for i+8 <= len(b) && binary.LittleEndian.Uint16(b[i:]) == 0x0002 {
		vr := string(b[i+4 : i+6])
		if slices.Contains([]string{"OB", "OW", "OF", "SQ", "UT", "UN"}, vr) {
			i += 12 + int(binary.LittleEndian.Uint32(b[i+8:]))
		} else {
			i += 8 + int(binary.LittleEndian.Uint16(b[i+6:]))
		}
	}
	return b[i:]
}

// metaUID reads a UI element of the File Meta group, e.g. 0x0003 for
// (0002,0003), the Media Storage SOP Instance UID; "" if absent.
func metaUID(b []byte, element uint16) string {
	head := b[:min(len(b), 1024)]
	i := bytes.Index(head, []byte{0x02, 0x00, byte(element), byte(element >> 8), 'U', 'I'})
	if i < 0 || i+8 > len(head) {
		return ""
	}
	n := int(binary.LittleEndian.Uint16(head[i+6:]))
	if i+8+n > len(head) {
		return ""
	}
	return strings.TrimRight(string(head[i+8:i+8+n]), "\x00 ")
}

func sopUID(t *testing.T, b []byte) string {
	t.Helper()
	uid := metaUID(b, 0x0003)
	require.NotEmpty(t, uid, "no (0002,0003)")
	return uid
}

// proposal is the storescu option that proposes each transfer syntax
// (and, with -R, nothing else but the uncompressed ones), so that a file
// is sent as it is encoded rather than converted.
var proposal = map[string]string{
	"1.2.840.10008.1.2":      "-xi",
	"1.2.840.10008.1.2.1":    "-xe",
	"1.2.840.10008.1.2.2":    "-xb",
	"1.2.840.10008.1.2.1.99": "-xd",
	"1.2.840.10008.1.2.4.50": "-xy",
	"1.2.840.10008.1.2.4.51": "-xx",
	"1.2.840.10008.1.2.4.70": "-xs",
	"1.2.840.10008.1.2.4.80": "-xt",
	"1.2.840.10008.1.2.4.81": "-xu",
	"1.2.840.10008.1.2.4.90": "-xv",
	"1.2.840.10008.1.2.4.91": "-xw",
	"1.2.840.10008.1.2.5":    "-xr",
}

var converting = regexp.MustCompile(`(?m)^I: Converting transfer syntax: (.+) -> (.+)$`)

// sendAsIs sends files to the gateway with storescu; see sendTo.
func (g *gw) sendAsIs(t *testing.T, files ...string) []string {
	t.Helper()
	return sendTo(t, gatewayAE, g.port, files...)
}

// sendTo sends files with storescu to the peer called ae on port, one run
// per transfer syntax with the option that proposes it, and returns the
// files acknowledged with Success. Files in a syntax storescu cannot
// propose are left out.
func sendTo(t *testing.T, ae string, port int, files ...string) []string {
	t.Helper()
	bySyntax := map[string][]string{}
	for _, p := range files {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		if opt := proposal[metaUID(b, 0x0010)]; opt != "" {
			bySyntax[opt] = append(bySyntax[opt], p)
		}
	}
	var acked []string
	for _, opt := range slices.Sorted(maps.Keys(bySyntax)) {
		args := append([]string{"-v", "-R", opt, "-nh", "-aet", senderAE, "-aec", ae, "127.0.0.1", strconv.Itoa(port)}, bySyntax[opt]...)
		out, _ := exec.Command(dcmtk(t, "storescu"), args...).CombinedOutput() // -nh: refusals are checked by the caller
		for _, m := range converting.FindAllStringSubmatch(string(out), -1) {
			assert.Equal(t, m[1], m[2], "storescu converted a file (%s):\n%s", opt, out)
		}
		acked = append(acked, acknowledged(string(out))...)
	}
	return acked
}

// uploaded returns the instances of every completed upload on aura, by
// SOP Instance UID, with how many times each was uploaded.
func uploaded(t *testing.T, aura *auratest.Server) (files map[string][]byte, count map[string]int) {
	t.Helper()
	return uploadedAfter(t, aura, 0)
}

// uploadedAfter is uploaded without the first skip completed uploads.
func uploadedAfter(t *testing.T, aura *auratest.Server, skip int) (files map[string][]byte, count map[string]int) {
	t.Helper()
	files, count = map[string][]byte{}, map[string]int{}
	n := 0
	for _, s := range aura.Sessions() {
		if s.State != auratest.StateCompleted {
			continue
		}
		if n++; n <= skip {
			continue
		}
		up, ok := aura.Upload(s.UploadID)
		require.True(t, ok)
		zr, err := up.OpenZip()
		require.NoError(t, err)
		for _, f := range zr.File {
			rc, err := f.Open()
			require.NoError(t, err)
			b, err := io.ReadAll(rc)
			rc.Close()
			require.NoError(t, err)
			uid := sopUID(t, b)
			files[uid] = b
			count[uid]++
			base := path.Base(f.Name) // the spool's name, or the de-identified one
			assert.True(t, strings.HasPrefix(base, "instances-"+uid) || base == uid+".dcm", f.Name)
		}
		zr.Close()
	}
	return files, count
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// completed counts the completed uploads on aura.
func completed(aura *auratest.Server) int {
	n := 0
	for _, s := range aura.Sessions() {
		if s.State == auratest.StateCompleted {
			n++
		}
	}
	return n
}

// TestEcho: echoscu gets an answer from an allowed calling AE title, and
// a rejection from any other.
func TestEcho(t *testing.T) {
	t.Parallel()
	g := startGateway(t, t.TempDir(), nil)
	echo := dcmtk(t, "echoscu")
	out, err := exec.Command(echo, "-aet", senderAE, "-aec", gatewayAE, "127.0.0.1", strconv.Itoa(g.port)).CombinedOutput()
	assert.NoError(t, err, "%s", out)
	out, err = exec.Command(echo, "-aet", "STRANGER", "-aec", gatewayAE, "127.0.0.1", strconv.Itoa(g.port)).CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "Calling AE Title Not Recognized")
	out, err = exec.Command(echo, "-aet", senderAE, "-aec", "OTHER", "127.0.0.1", strconv.Itoa(g.port)).CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "Called AE Title Not Recognized")
}

// TestStoreGeneratedStudy: storescu sends one generated study whose
// series are explicit and implicit VR little endian, explicit VR big
// endian, JPEG baseline and RLE; the gateway uploads it once, quiet, and
// every instance is in the zip with its dataset byte for byte as sent.
func TestStoreGeneratedStudy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{SeriesPerStudy: 5, InstancesPerSeries: 2, Seed: 21,
		TransferSyntaxes: []string{dicomgen.ExplicitVRLittleEndian, dicomgen.ImplicitVRLittleEndian, dicomgen.ExplicitVRBigEndian,
			dicomgen.JPEGBaseline, dicomgen.RLELossless}})
	require.NoError(t, err)
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	// One storescu per syntax: the quiet time must outlast the gaps.
	g := startGateway(t, t.TempDir(), aura, "-quiet", "3s")
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	require.Len(t, g.sendAsIs(t, paths...), len(files))
	waitFor(t, "an empty spool", 60*time.Second, func() bool {
		return strings.Contains(spoolStatus(t, g.spool), "no study in the spool")
	})
	require.Equal(t, 1, completed(aura), "one upload")
	got, count := uploaded(t, aura)
	require.Len(t, got, len(files))
	for _, f := range files {
		want, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		_, ok := got[f.SOPInstanceUID]
		require.True(t, ok, f.Name)
		assert.Equal(t, datasetPart(t, want), datasetPart(t, got[f.SOPInstanceUID]), "%s (%s)", f.Name, f.TransferSyntaxUID)
		assert.Contains(t, string(got[f.SOPInstanceUID][:400]), f.TransferSyntaxUID, f.Name)
		assert.Equal(t, 1, count[f.SOPInstanceUID])
	}
}

// pydicomRounds groups the pydicom corpus files storescu can send by SOP
// Instance UID: several files hold the same instance in different
// syntaxes, which must reach the gateway in different studies (rounds)
// lest one replace the other.
func pydicomRounds(t *testing.T) [][]string {
	t.Helper()
	dir := testenv.PydicomTestFiles(t)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	seen := map[string]int{}
	var rounds [][]string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".dcm") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		uid := metaUID(b, 0x0003)
		if len(b) < 132 || string(b[128:132]) != "DICM" || uid == "" {
			continue // no File Meta group: storescu needs one to send it as it is
		}
		r := seen[uid]
		seen[uid]++
		if r == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[r] = append(rounds[r], p)
	}
	return rounds
}

// sendingLine matches storescu -v's report of one file and its answer.
var sendingLine = regexp.MustCompile(`(?m)^I: Sending file: (.*)$`)

// TestStorePydicomCorpus sends the pydicom corpus (every file with a File
// Meta group), round by round, to the gateway and to dcmtk's storescp in
// bit-preserving mode (+B), which writes each dataset exactly as it came
// over the wire: every instance the gateway acknowledges reaches Aura with
// its dataset byte for byte as storescp received it from the same
// storescu, whatever its syntax (deflated, big endian, JPEG, JPEG 2000,
// JPEG-LS, RLE...); each round's instances are uploaded exactly once, and
// the instances the gateway refuses are the ones the upload's scanner
// would have set aside.
func TestStorePydicomCorpus(t *testing.T) {
	t.Parallel()
	rounds := pydicomRounds(t)
	aura := auratest.NewServer(auratest.WithoutRateLimits()) // one upload per study: dozens
	t.Cleanup(aura.Close)
	g := startGateway(t, t.TempDir(), aura, "-quiet", "300ms")
	ref := t.TempDir()
	scpPort := testenv.FreePort(t)
	testenv.StartProcess(t, exec.Command(dcmtk(t, "storescp"), "-aet", "STORESCP", "+B", "+xa", "-od", ref, strconv.Itoa(scpPort)),
		syscall.SIGTERM, 30*time.Second, func() bool {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", scpPort))
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	checked, refused := 0, 0
	for i, files := range rounds {
		before := completed(aura)
		acked := g.sendAsIs(t, files...)
		refused += len(files) - len(acked)
		if len(acked) == 0 {
			continue // files in syntaxes storescu cannot propose, or refused
		}
		require.Len(t, sendTo(t, "STORESCP", scpPort, acked...), len(acked), "round %d: storescp refused a file", i)
		want := map[string][]byte{}
		ents, err := os.ReadDir(ref)
		require.NoError(t, err)
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(ref, e.Name()))
			require.NoError(t, err)
			want[sopUID(t, b)] = b
			require.NoError(t, os.Remove(filepath.Join(ref, e.Name())))
		}
		waitFor(t, fmt.Sprintf("round %d uploaded", i), 60*time.Second, func() bool {
			return strings.Contains(spoolStatus(t, g.spool), "no study in the spool")
		})
		got, _ := uploadedAfter(t, aura, before)
		for _, p := range acked {
			uid := dumpUID(t, p, "0008,0018") // the dataset's: the File Meta group of a corpus file may disagree
			_, ok := want[uid]
			require.True(t, ok, "round %d: %s not received by storescp", i, p)
			if _, ok := got[uid]; !assert.True(t, ok, "round %d: %s acknowledged but not uploaded", i, p) {
				continue
			}
			assert.True(t, bytes.Equal(datasetPart(t, want[uid]), datasetPart(t, got[uid])),
				"round %d: %s: the uploaded dataset differs from the one storescp received", i, filepath.Base(p))
			checked++
		}
	}
	t.Logf("%d corpus files stored and checked in %d rounds; %d refused", checked, len(rounds), refused)
	assert.GreaterOrEqual(t, checked, 40)
}

// acknowledged returns the files storescu -v reports as stored with
// status Success.
func acknowledged(out string) []string {
	var files []string
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if m := sendingLine.FindStringSubmatch(line); m != nil {
			cur = m[1]
		}
		if strings.HasPrefix(line, "I: Received Store Response (Success)") && cur != "" {
			files = append(files, cur)
			cur = ""
		}
	}
	return files
}

// dumpUID asks dcmdump for a UID of a file's dataset, e.g. its SOP
// Instance UID (0008,0018).
func dumpUID(t *testing.T, p, tag string) string {
	t.Helper()
	out, err := exec.Command(dcmtk(t, "dcmdump"), "+P", tag, "-s", p).CombinedOutput()
	require.NoError(t, err, "%s", out)
	m := regexp.MustCompile(`\[([0-9.]+)\]`).FindSubmatch(out)
	require.NotNil(t, m, "%s: %s", p, out)
	return string(m[1])
}

// TestKill9MidStudy kills the gateway with SIGKILL while storescu sends a
// study, restarts it on the same spool, and checks that every instance
// acknowledged with Success reached Aura, in exactly one upload; then it
// kills it again in the middle of an upload's transfer and checks that the
// restart resumes that upload (same upload_id, one init, one complete)
// instead of uploading again.
func TestKill9MidStudy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{SeriesPerStudy: 2, InstancesPerSeries: 40, Rows: 256, Columns: 256, Seed: 22})
	require.NoError(t, err)
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	spool := t.TempDir()

	// 1. Killed mid-study: hold the upload back with a long quiet time.
	g := startGateway(t, spool, aura, "-quiet", "1h")
	cmd := exec.Command(dcmtk(t, "storescu"), "-v", "+sd", "+r", "-aet", senderAE, "-aec", gatewayAE, "127.0.0.1", strconv.Itoa(g.port), dir)
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	cmd.Stdout = cmd.Stderr
	require.NoError(t, cmd.Start())
	var out strings.Builder
	sc := bufio.NewScanner(pipe)
	acks := 0
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "I: Received Store Response (Success)") {
			if acks++; acks == 25 {
				g.kill9(t)
			}
		}
	}
	assert.Error(t, cmd.Wait(), "storescu should fail when the gateway dies")
	acked := acknowledged(out.String())
	require.GreaterOrEqual(t, len(acked), 25)
	require.Less(t, len(acked), len(files), "the kill came too late")
	t.Logf("%d of %d instances acknowledged before kill -9", len(acked), len(files))
	assert.Contains(t, spoolStatus(t, spool), "receiving")

	// 2. Restarted: the study is found, sealed after -quiet and uploaded
	// once, holding every acknowledged instance. The transfer is cut
	// after 300 kB, its retry held, and the gateway killed again.
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Abort: true, CutAfter: 300_000, Times: 1})
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Delay: time.Hour})
	g = startGateway(t, spool, aura, "-quiet", "200ms")
	waitFor(t, "300 kB on the Tus server", 30*time.Second, func() bool {
		ups := aura.Uploads()
		return len(ups) == 1 && ups[0].Offset == 300_000
	})
	assert.Contains(t, spoolStatus(t, spool), "uploading")
	g.kill9(t)
	aura.ClearFailures()

	// 3. Restarted again: the upload is resumed, not repeated.
	startGateway(t, spool, aura, "-quiet", "200ms")
	waitFor(t, "the upload", 60*time.Second, func() bool { return completed(aura) == 1 })
	waitFor(t, "an empty spool", 10*time.Second, func() bool { return strings.Contains(spoolStatus(t, spool), "no study in the spool") })
	assert.Equal(t, 1, len(aura.CallsTo(auratest.EndpointInit)), "one upload announced")
	assert.Equal(t, 1, len(aura.CallsTo(auratest.EndpointComplete)), "one upload completed")
	assert.Equal(t, 1, len(aura.Uploads()), "one Tus upload")
	fromZero := 0
	for _, c := range aura.CallsTo(auratest.EndpointTus) {
		if c.Method == "PATCH" && c.Header.Get("Upload-Offset") == "0" {
			fromZero++
		}
	}
	assert.Equal(t, 1, fromZero, "the resumed transfer sent again bytes the server held")
	got, count := uploaded(t, aura)
	for _, p := range acked {
		want, err := os.ReadFile(p)
		require.NoError(t, err)
		uid := sopUID(t, want)
		if _, ok := got[uid]; assert.True(t, ok, "%s acknowledged, not uploaded", p) {
			assert.Equal(t, datasetPart(t, want), datasetPart(t, got[uid]), p)
			assert.Equal(t, 1, count[uid], p)
		}
	}
}

// TestUploadRetried: Aura refuses the first upload; the study stays in
// the spool, -status lists it as retrying with the error, and the retry,
// after the back-off, uploads it.
func TestUploadRetried(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{InstancesPerSeries: 3, Seed: 23})
	require.NoError(t, err)
	var mu sync.Mutex
	var inits []time.Time // when each init was answered
	aura := auratest.NewServer(auratest.WithOnCall(func(c auratest.Call) {
		if c.Endpoint == auratest.EndpointInit {
			mu.Lock()
			inits = append(inits, time.Now())
			mu.Unlock()
		}
	}))
	t.Cleanup(aura.Close)
	aura.Fail(auratest.EndpointInit, auratest.Failure{Status: 400, Body: `{"message":"study refused for the test"}`, Times: 1})
	g := startGateway(t, t.TempDir(), aura, "-quiet", "2s", "-retry", "2s") // a quiet time a loaded machine does not reach mid-association
	g.storescu(t, dir)
	waitFor(t, "the study listed as retrying", 30*time.Second, func() bool { return strings.Contains(spoolStatus(t, g.spool), "retrying") })
	st := spoolStatus(t, g.spool)
	assert.Contains(t, st, "study refused for the test")
	assert.Regexp(t, `retrying\s+\S+\s+3\s+`, st)
	waitFor(t, "the upload", 30*time.Second, func() bool { return completed(aura) == 1 })
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, inits, 2)
	wait := inits[1].Sub(inits[0])
	assert.GreaterOrEqual(t, wait, 1600*time.Millisecond, "retried after %v; the back-off is 2 s ±20%%", wait)
}

// TestOrthancSends: Debian's Orthanc, with the gateway configured as a
// DICOM modality, sends a study to it through its REST API
// (POST /modalities/{name}/store); the gateway uploads it once and every
// instance is in the zip with its dataset byte for byte as generated.
func TestOrthancSends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{SeriesPerStudy: 3, InstancesPerSeries: 3, Seed: 24,
		TransferSyntaxes: []string{dicomgen.ExplicitVRLittleEndian, dicomgen.ImplicitVRLittleEndian, dicomgen.JPEGBaseline}})
	require.NoError(t, err)
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	g := startGateway(t, t.TempDir(), aura, "-quiet", "2s")
	orthanc := orthanctest.Start(t, "", map[string]any{
		"DicomModalities": map[string]any{"gateway": []any{gatewayAE, "127.0.0.1", g.port}},
	})
	var study string
	for _, f := range files {
		study = orthanc.Upload(t, f.Path).ParentStudy
	}
	var job map[string]any
	orthanc.Do(t, "POST", "modalities/gateway/store", "application/json", strings.NewReader(`"`+study+`"`), &job)
	waitFor(t, "the upload", 30*time.Second, func() bool { return completed(aura) == 1 })
	got, count := uploaded(t, aura)
	require.Len(t, got, len(files))
	for _, f := range files {
		want, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		_, ok := got[f.SOPInstanceUID]
		require.True(t, ok, f.Name)
		assert.True(t, bytes.Equal(datasetPart(t, want), datasetPart(t, got[f.SOPInstanceUID])), "%s (%s)", f.Name, f.TransferSyntaxUID)
		assert.Equal(t, 1, count[f.SOPInstanceUID])
	}
	assert.Contains(t, string(got[files[0].SOPInstanceUID][:400]), "ORTHANCTEST", "the calling AE title as Source Application Entity Title")
}

// TestDeidentify: with -deidentify KEYFILE, the study reaches Aura
// de-identified: every instance under the keyed UID deid gives its SOP
// Instance UID, without the patient's name; the spool kept the originals
// until the upload.
func TestDeidentify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{InstancesPerSeries: 3, Seed: 25})
	require.NoError(t, err)
	key := bytes.Repeat([]byte("k"), 32)
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, append(key, '\n'), 0o600))
	profile, err := deid.New(deid.Config{Key: key})
	require.NoError(t, err)
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	g := startGateway(t, t.TempDir(), aura, "-quiet", "2s", "-deidentify", keyFile)
	g.storescu(t, dir)
	waitFor(t, "the upload", 30*time.Second, func() bool { return completed(aura) == 1 })
	got, _ := uploaded(t, aura)
	require.Len(t, got, len(files))
	for _, f := range files {
		b, ok := got[profile.UID(f.SOPInstanceUID)]
		require.True(t, ok, "%s not uploaded under its de-identified UID", f.Name)
		assert.NotContains(t, string(b), f.SOPInstanceUID)
		assert.NotContains(t, string(b), f.PatientID)
	}
}
