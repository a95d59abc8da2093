package dicomnet

import (
	"context"
	"fmt"
	"github.com/dicombridge/dicombridge/dicomgen"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStorescuPydicomCorpus has DCMTK's storescu send every Part 10 file
// of the pydicom corpus with a storage SOP class, each proposed in its own
// transfer syntax, through a relay that records the wire, and checks that
// the server kept each one with the right meta and the dataset byte for
// byte as sent.
func TestStorescuPydicomCorpus(t *testing.T) {
	corpus := testenv.PydicomTestFiles(t)
	v := newVault(t)
	host, port := serve(t, &Server{AETitle: "GATEWAY", CallingAETitles: []string{"STORESCU"}, Handler: v})
	tp := newTap(t, fmt.Sprintf("%s:%d", host, port))
	paths, _ := filepath.Glob(filepath.Join(corpus, "*.dcm"))
	stored, identical := map[string]int{}, 0
	for _, p := range paths {
		name := filepath.Base(p)
		f, err := os.Open(p)
		require.NoError(t, err)
		m, err := readFileMeta(bufioReader(f))
		f.Close()
		if err != nil || !strings.HasPrefix(m.MediaStorageSOPClassUID, storageRoot) {
			continue
		}
		before := len(v.Calls())
		args := append([]string{"-R", "-aet", "STORESCU", "-aec", "GATEWAY"}, proposeFor(m.TransferSyntaxUID)...)
		thost, tport, _ := strings.Cut(tp.addr, ":")
		out, err := dcmtk(t, "storescu", append(args, thost, tport, p)...)
		sent := tp.datasets(t)
		calls := v.Calls()
		if err != nil {
			t.Logf("%s (%s): storescu refused: %v\n%s", name, m.TransferSyntaxUID, err, out)
			assert.Len(t, calls, before, "%s: a refused file must not be stored", name)
			continue
		}
		require.Len(t, calls, before+1, name)
		require.Len(t, sent, 1, name)
		c := calls[before]
		require.NotEmpty(t, c.path, name)
		ts, class, inst, got := datasetPart(t, c.path)
		assert.Equal(t, m.TransferSyntaxUID, ts, "%s: negotiated syntax", name)
		assert.Equal(t, c.req.SOPClassUID, class)
		assert.Equal(t, c.req.SOPInstanceUID, inst)
		if assert.Equal(t, len(sent[0]), len(got), name) {
			assert.True(t, string(sent[0]) == string(got), "%s: dataset differs from what was sent", name)
		}
		if _, _, _, file := datasetPart(t, p); string(file) == string(got) {
			identical++
		}
		stored[ts]++
	}
	t.Logf("stored byte for byte as sent, per transfer syntax: %v; %d identical to the source file too", stored, identical)
	total := 0
	for _, n := range stored {
		total += n
	}
	// pydicom 2.3.1's corpus: 53 files storescu can send, in 11 syntaxes
	// (explicit/implicit/big endian, deflated, JPEG baseline, extended,
	// lossless, JPEG-LS, JPEG 2000 both, RLE).
	assert.GreaterOrEqual(t, total, 50)
	assert.GreaterOrEqual(t, len(stored), 11)
	assert.GreaterOrEqual(t, identical, 30)
}

// TestEchoscu: DCMTK's echoscu is answered, and rejected with the reason
// the standard gives for an unknown called or calling AE title.
func TestEchoscu(t *testing.T) {
	host, port := serve(t, &Server{AETitle: "GATEWAY", CallingAETitles: []string{"ECHOSCU", "OTHER"}})
	for _, tc := range []struct {
		name, calling, called, want string
		ok                          bool
	}{
		{"accepted", "ECHOSCU", "GATEWAY", "", true},
		{"unknown called AE title", "ECHOSCU", "PACS", "Called AE Title Not Recognized", false},
		{"unknown calling AE title", "INTRUDER", "GATEWAY", "Calling AE Title Not Recognized", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := dcmtk(t, "echoscu", "-v", "-aet", tc.calling, "-aec", tc.called, host, portArg(port))
			if tc.ok {
				require.NoError(t, err, out)
				assert.Contains(t, out, "Received Echo Response (Success)")
				return
			}
			require.Error(t, err, out)
			assert.Contains(t, out, "Result: Rejected Permanent, Source: Service User")
			assert.Contains(t, out, tc.want)
		})
	}
}

// genSyntaxes are the transfer syntaxes dicomgen writes: native in three
// encodings and two encapsulated ones.
var genSyntaxes = []string{dicomgen.ExplicitVRLittleEndian, dicomgen.ImplicitVRLittleEndian,
	dicomgen.ExplicitVRBigEndian, dicomgen.JPEGBaseline, dicomgen.RLELossless}

// TestStorescuGeneratedStudies: storescu sends a generated study series
// by series, one association per transfer syntax with several instances
// each, and every dataset is kept byte for byte as sent and as written.
func TestStorescuGeneratedStudies(t *testing.T) {
	dir := t.TempDir()
	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{
		Studies: 3, SeriesPerStudy: len(genSyntaxes), InstancesPerSeries: 4, Seed: 18, TransferSyntaxes: genSyntaxes,
	})
	require.NoError(t, err)
	v := newVault(t)
	host, port := serve(t, &Server{AETitle: "GATEWAY", CallingAETitles: []string{"STORESCU"}, Handler: v})
	tp := newTap(t, fmt.Sprintf("%s:%d", host, port))
	thost, tport, _ := strings.Cut(tp.addr, ":")
	bySyntax := map[string][]dicomgen.File{}
	for _, f := range files {
		bySyntax[f.TransferSyntaxUID] = append(bySyntax[f.TransferSyntaxUID], f)
	}
	for _, ts := range genSyntaxes {
		t.Run(ts, func(t *testing.T) {
			group := bySyntax[ts]
			require.Len(t, group, 12)
			before := len(v.Calls())
			// 4 KiB PDUs: every dataset arrives in several fragments.
			args := append([]string{"--max-send-pdu", "4096", "-aet", "STORESCU", "-aec", "GATEWAY"}, proposeFor(ts)...)
			args = append(args, thost, tport)
			for _, f := range group {
				args = append(args, f.Path)
			}
			out, err := dcmtk(t, "storescu", args...)
			require.NoError(t, err, out)
			sent := tp.datasets(t)
			calls := v.Calls()[before:]
			require.Len(t, calls, len(group))
			require.Len(t, sent, len(group))
			for i, f := range group {
				c := calls[i]
				require.NotEmpty(t, c.path)
				gotTS, class, inst, got := datasetPart(t, c.path)
				assert.Equal(t, ts, gotTS)
				assert.Equal(t, f.SOPClassUID, class)
				assert.Equal(t, f.SOPInstanceUID, inst)
				assert.Equal(t, "STORESCU", c.req.CallingAETitle)
				assert.True(t, string(sent[i]) == string(got), "%s: dataset differs from what was sent", f.Name)
				_, _, _, file := datasetPart(t, f.Path)
				assert.True(t, string(file) == string(got), "%s: dataset differs from the file", f.Name)
			}
		})
	}
}

// TestStorescuUnsupportedSOPClass: a server that takes CT only rejects
// the MR presentation context; storescu stores nothing.
func TestStorescuUnsupportedSOPClass(t *testing.T) {
	dir := t.TempDir()
	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{Modalities: []string{"MR"}})
	require.NoError(t, err)
	v := newVault(t)
	host, port := serve(t, &Server{AETitle: "GATEWAY", CallingAETitles: []string{"STORESCU"}, Handler: v,
		SOPClasses: []string{dicomgen.CTImageStorage}})
	out, err := dcmtk(t, "storescu", "-R", "-aet", "STORESCU", "-aec", "GATEWAY", host, portArg(port), files[0].Path)
	require.Error(t, err, out)
	assert.Contains(t, out, "No Acceptable Presentation Contexts")
	assert.Empty(t, v.Calls())
}

// TestStorescuKilledMidDataset: storescu is killed (SIGKILL) while its
// dataset is arriving; the handler's Data fails, nothing is kept, and the
// server goes on serving.
func TestStorescuKilledMidDataset(t *testing.T) {
	bin := testenv.LookPath(t, "storescu", "apt-get install dcmtk")
	path, _ := bigInstance(t, t.TempDir(), 64<<20)
	v := newVault(t)
	v.started, v.gate = make(chan struct{}), make(chan struct{})
	host, port := serve(t, &Server{AETitle: "GATEWAY", CallingAETitles: []string{"STORESCU"}, Handler: v})
	cmd := exec.Command(bin, "-aet", "STORESCU", "-aec", "GATEWAY", host, portArg(port), path)
	require.NoError(t, cmd.Start())
	select {
	case <-v.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the dataset did not start arriving")
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	close(v.gate)
	c := v.only(t)
	assert.Empty(t, c.path, "a partial dataset was kept")
	assert.ErrorIs(t, c.err, ErrAborted)
	assert.Equal(t, StatusProcessingFailure, c.status)
	left, _ := filepath.Glob(filepath.Join(v.dir, "*"))
	assert.Empty(t, left)
	out, err := dcmtk(t, "echoscu", "-aet", "STORESCU", "-aec", "GATEWAY", host, portArg(port))
	assert.NoError(t, err, out)
}

// TestStorescuLargeInstance: storescu sends a 48 MiB instance; it is
// kept whole and byte for byte while the server's heap stays under 8 MiB.
func TestStorescuLargeInstance(t *testing.T) {
	path, sop := bigInstance(t, t.TempDir(), 48<<20)
	v := newVault(t)
	host, port := serve(t, &Server{AETitle: "GATEWAY", CallingAETitles: []string{"STORESCU"}, Handler: v})
	runtime.GC()
	stop := heapPeak()
	out, err := dcmtk(t, "storescu", "-aet", "STORESCU", "-aec", "GATEWAY", host, portArg(port), path)
	peak := stop()
	require.NoError(t, err, out)
	calls := v.Calls()
	require.Len(t, calls, 1)
	require.NotEmpty(t, calls[0].path)
	_, _, gotSOP, got := datasetPart(t, calls[0].path)
	_, _, _, want := datasetPart(t, path)
	assert.Equal(t, sop, gotSOP)
	assert.True(t, string(want) == string(got), "dataset differs")
	t.Logf("server heap peak while storescu sent 48 MiB: %.1f MiB", float64(peak)/(1<<20))
	assert.Less(t, peak, uint64(8<<20))
}
