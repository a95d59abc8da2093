package deid

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/dicomio"
	"github.com/dicombridge/dicombridge/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pyFile is what testdata/pydicom_flatten.py reports of one file.
type pyFile struct {
	Path     string               `json:"path"`
	Error    string               `json:"error"`
	Meta     map[string]string    `json:"meta"`
	Elements map[string][2]string `json:"elements"`
}

// interopInputs gathers pydicom's sample corpus, studies dicomgen writes
// in each of its syntaxes, and the rich sample in each syntax.
func interopInputs(t *testing.T) (root string, inputs []string) {
	root = testenv.PydicomTestFiles(t)
	require.NoError(t, filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			inputs = append(inputs, path)
		}
		return err
	}))
	gen := t.TempDir()
	files, err := dicomgen.Write(context.Background(), gen, dicomgen.Options{Studies: 3, SeriesPerStudy: 5, InstancesPerSeries: 2, Rows: 16, Columns: 16,
		TransferSyntaxes: []string{dicomgen.ExplicitVRLittleEndian, dicomgen.ImplicitVRLittleEndian, dicomgen.ExplicitVRBigEndian, dicomgen.JPEGBaseline, dicomgen.RLELossless}, Seed: 5})
	require.NoError(t, err)
	for _, f := range files {
		inputs = append(inputs, f.Path)
	}
	for _, syn := range syntaxes {
		p := filepath.Join(gen, "rich-"+syn.name+".dcm")
		require.NoError(t, os.WriteFile(p, sample{ts: syn.ts, pixels: []byte{9, 8, 7, 6}, encapsulate: syn.encapsulate}.build(t), 0o644))
		inputs = append(inputs, p)
	}
	return root, inputs
}

// TestInterop de-identifies every input, has pydicom read every input and
// output completely and DCMTK's dcmdump parse every output, and checks
// each output element against the input by the profile: removed,
// emptied, UIDs replaced by the keyed ones, kept values and pixel data
// unchanged.
func TestInterop(t *testing.T) {
	py := testenv.DebianPython(t, "pydicom")
	dcmdump := testenv.LookPath(t, "dcmdump", "apt-get install dcmtk")
	root, inputs := interopInputs(t)
	p, err := New(Config{Key: testKey})
	require.NoError(t, err)
	outDir := t.TempDir()
	refused := map[string]string{}
	var pairs [][2]string
	for i, in := range inputs {
		f, err := os.Open(in)
		require.NoError(t, err)
		out := filepath.Join(outDir, fmt.Sprintf("%03d.dcm", i))
		o, err := os.Create(out)
		require.NoError(t, err)
		_, err = p.Apply(context.Background(), o, f)
		f.Close()
		require.NoError(t, o.Close())
		if err != nil {
			refused[strings.TrimPrefix(in, root+"/")] = sentinelName(err)
			continue
		}
		pairs = append(pairs, [2]string{in, out})
	}
	// What pydicom's corpus holds that is not a de-identifiable instance.
	assert.Equal(t, map[string]string{
		"ExplVR_BigEndNoMeta.dcm": "ErrNotDICOM", "ExplVR_LitEndNoMeta.dcm": "ErrNotDICOM", "MR_truncated.dcm": "ErrMalformed",
		"README.txt": "ErrNotDICOM", "dicomdirtests/DICOMDIR": "ErrDICOMDIR", "dicomdirtests/DICOMDIR-bigEnd": "ErrDICOMDIR",
		"dicomdirtests/DICOMDIR-empty.dcm": "ErrDICOMDIR", "dicomdirtests/DICOMDIR-implicit": "ErrDICOMDIR",
		"dicomdirtests/DICOMDIR-nooffset": "ErrDICOMDIR", "dicomdirtests/DICOMDIR-nopatient": "ErrDICOMDIR",
		"dicomdirtests/DICOMDIR-reordered": "ErrDICOMDIR", "dicomdirtests/README.txt": "ErrNotDICOM",
		"dicomdirtests/TINY_ALPHA/DICOMDIR": "ErrDICOMDIR", "dicomdirtests/TINY_ALPHA/README": "ErrNotDICOM",
		"meta_missing_tsyntax.dcm": "ErrNotDICOM", "no_meta.dcm": "ErrNotDICOM", "rtplan.dump": "ErrNotDICOM",
		"rtplan_truncated.dcm": "ErrMalformed", "rtstruct.dcm": "ErrNotDICOM", "rtstruct.dump": "ErrNotDICOM",
		"test1.json": "ErrNotDICOM", "test_PN.json": "ErrNotDICOM", "zipMR.gz": "ErrNotDICOM",
	}, filterRefused(refused))
	require.Greater(t, len(pairs), 150)

	args := []string{filepath.Join("testdata", "pydicom_flatten.py")}
	for _, pr := range pairs {
		args = append(args, pr[0], pr[1])
	}
	cmd := exec.Command(py, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	require.NoError(t, err, "pydicom: %s", stderr.String())
	var read []pyFile
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var f pyFile
		require.NoError(t, json.Unmarshal(sc.Bytes(), &f))
		read = append(read, f)
	}
	require.Len(t, read, 2*len(pairs))
	checked := 0
	for i, pr := range pairs {
		in, out := read[2*i], read[2*i+1]
		name := strings.TrimPrefix(pr[0], root+"/")
		if !assert.Empty(t, out.Error, "pydicom cannot read the output of %s", name) || in.Error != "" {
			continue // an input pydicom cannot read has nothing to compare with
		}
		assert.Equal(t, p.UID(in.Meta["sop_instance"]), out.Meta["sop_instance"], name)
		checkByProfile(t, p, name, in.Elements, out.Elements)
		checked++
	}
	t.Logf("%d outputs read by pydicom and checked element by element; %d inputs refused", checked, len(refused))
	assert.Equal(t, len(pairs), checked, "every input pydicom reads was compared")

	dump := []string{"-q", "-dc"}
	for _, pr := range pairs {
		dump = append(dump, pr[1])
	}
	dumped, err := exec.Command(dcmdump, dump...).CombinedOutput()
	assert.NoError(t, err, "dcmdump: %s", lastLines(dumped))
	assert.NotContains(t, string(dumped), "E: ", "dcmdump reports errors")
	assert.Equal(t, len(pairs), bytes.Count(dumped, []byte("(0012,0062) CS [YES")), "dcmdump read every output to the end of group 0012")
}

// lastLines is the end of a long output.
func lastLines(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// filterRefused keeps the corpus files among the refused inputs.
func filterRefused(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !strings.HasPrefix(k, "/") {
			out[k] = v
		}
	}
	return out
}

// sentinelName names the package error err wraps.
func sentinelName(err error) string {
	for name, e := range map[string]error{"ErrNotDICOM": ErrNotDICOM, "ErrBurnedIn": ErrBurnedIn, "ErrSyntax": ErrSyntax,
		"ErrTooDeep": ErrTooDeep, "ErrMalformed": ErrMalformed, "ErrTooLarge": ErrTooLarge, "ErrDICOMDIR": ErrDICOMDIR} {
		if errors.Is(err, e) {
			return name
		}
	}
	return err.Error()
}

// pathTags splits "(0008,1140)[0](0008,1155)" into its tags.
func pathTags(path string) []uint32 {
	var tags []uint32
	for _, part := range strings.Split(path, "(")[1:] {
		hex := strings.ReplaceAll(part[:9], ",", "")
		v, _ := strconv.ParseUint(hex, 16, 32)
		tags = append(tags, uint32(v))
	}
	return tags
}

// checkByProfile compares pydicom's view of an input and its output with
// what the profile's table asks for each element.
func checkByProfile(t *testing.T, p *Profile, name string, in, out map[string][2]string) {
	t.Helper()
	var paths []string
	for k := range in {
		paths = append(paths, k)
	}
	for k := range out {
		if _, ok := in[k]; !ok {
			paths = append(paths, k)
		}
	}
	sort.Strings(paths)
	for _, path := range paths {
		tags := pathTags(path)
		leaf := tags[len(tags)-1]
		iv, inOK := in[path]
		ov, outOK := out[path]
		top := len(tags) == 1
		if top && (leaf>>4 == 0x0012006 || leaf == tagLongitudinalModified) || len(tags) > 1 && tags[0] == tagMethodCodeSequence {
			continue // written by the profile
		}
		removedAbove, emptiedAbove, dummyAbove := false, false, false
		for _, anc := range tags[:len(tags)-1] {
			a := p.action(anc, true)
			removedAbove = removedAbove || a == actX || anc>>16%2 == 1
			emptiedAbove = emptiedAbove || a == actZ
			dummyAbove = dummyAbove || a == actD
		}
		a := p.action(leaf, iv[0] == "SQ" || ov[0] == "SQ")
		mustGo := removedAbove || emptiedAbove || a == actX || leaf>>16%2 == 1 || leaf&0xFFFF == 0 || leaf>>16 == 2
		if !outOK {
			assert.True(t, mustGo, "%s: %s was lost (action %v)", name, path, a)
			continue
		}
		if !assert.True(t, inOK, "%s: %s appeared", name, path) || !assert.False(t, mustGo, "%s: %s should be gone", name, path) {
			continue
		}
		if top && (leaf == tagPatientID || leaf == tagPatientName) {
			assert.Equal(t, p.pseudonym(in["(0010,0020)"][1]), ov[1], "%s: %s", name, path)
			continue
		}
		switch {
		case a == actZ && ov[0] == "SQ":
			assert.Equal(t, "0", ov[1], "%s: %s", name, path)
		case a == actZ:
			assert.Equal(t, "", ov[1], "%s: %s", name, path)
		case a == actU || a == actD && ov[0] == "UI" || dummyAbove && ov[0] == "UI" && a == actU:
			var want []string
			for _, u := range strings.Split(iv[1], `\`) {
				want = append(want, p.UID(u))
			}
			assert.Equal(t, strings.Join(want, `\`), ov[1], "%s: %s", name, path)
		case a == actD && ov[0] != "SQ":
			assert.NotEmpty(t, ov[1], "%s: %s", name, path)
			if dummyValues[ov[0]] != "" {
				assert.Equal(t, dummyValues[ov[0]], ov[1], "%s: %s", name, path)
			}
		case dummyAbove && dummyText(dicomio.MakeVR(ov[0])):
			assert.Equal(t, dummyValues[ov[0]], ov[1], "%s: %s", name, path)
		default: // kept: values, item counts and pixel data unchanged
			assert.Equal(t, iv, ov, "%s: %s", name, path)
		}
	}
}
