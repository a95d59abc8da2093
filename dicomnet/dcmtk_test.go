package dicomnet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
