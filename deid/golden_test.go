package deid

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden de-identifies generated inputs (dicomgen studies in each of
// its syntaxes, the rich sample in each syntax, with and without options)
// and compares a dump of each output, and the SHA-256 of its bytes, with
// testdata/golden. Run with -update after a deliberate change.
func TestGolden(t *testing.T) {
	dir := t.TempDir()
	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{SeriesPerStudy: 5, Rows: 8, Columns: 8, Seed: 3,
		TransferSyntaxes: []string{dicomgen.ExplicitVRLittleEndian, dicomgen.ImplicitVRLittleEndian, dicomgen.ExplicitVRBigEndian, dicomgen.JPEGBaseline, dicomgen.RLELossless}})
	require.NoError(t, err)
	type input struct {
		name string
		data []byte
		cfg  Config
	}
	var inputs []input
	for i, f := range files {
		b, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		inputs = append(inputs, input{fmt.Sprintf("dicomgen-%d", i+1), b, Config{Key: testKey}})
	}
	for _, syn := range syntaxes {
		b := sample{ts: syn.ts, pixels: []byte{1, 2, 3, 4}, encapsulate: syn.encapsulate}.build(t)
		inputs = append(inputs, input{"rich-" + syn.name, b, Config{Key: testKey}}, input{"rich-options-" + syn.name, b, allOptions})
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			p, err := New(in.cfg)
			require.NoError(t, err)
			out, _ := apply(t, p, in.data)
			path := filepath.Join(t.TempDir(), "out.dcm")
			require.NoError(t, os.WriteFile(path, out, 0o644))
			var dump bytes.Buffer
			fmt.Fprintf(&dump, "sha256 %x\n", sha256.Sum256(out))
			require.NoError(t, dicomscan.Dump(&dump, path, false))
			golden := filepath.Join("testdata", "golden", in.name+".txt")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, dump.Bytes(), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), dump.String())
		})
	}
}
