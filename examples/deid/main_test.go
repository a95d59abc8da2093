package main

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// corpusFiles are pydicom samples in every transfer syntax deid reads:
// explicit little and big endian, implicit, deflated, encapsulated
// (JPEG 2000), and RT objects that reference each other by UID.
var corpusFiles = []string{"CT_small.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm", "JPEG2000.dcm", "rtplan.dcm", "rtdose.dcm", "test-SR.dcm"}

// inputs builds the inputs of a run: a generated tree (with a text file
// that is not DICOM), a .zip of four corpus files and three plain corpus
// files. It returns the paths to give the program, the number of DICOM
// instances, and the files, for pixel comparisons.
func inputs(t *testing.T) (paths []string, instances int, originals []string) {
	t.Helper()
	corpus := testenv.PydicomTestFiles(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "DOE^JOHN")
	files, err := dicomgen.Write(context.Background(), tree, dicomgen.Options{Studies: 2, SeriesPerStudy: 2, InstancesPerSeries: 2, Seed: 7,
		TransferSyntaxes: []string{dicomgen.ExplicitVRLittleEndian, dicomgen.ImplicitVRLittleEndian, dicomgen.RLELossless}})
	require.NoError(t, err)
	for _, f := range files {
		originals = append(originals, f.Path)
	}
	require.NoError(t, os.WriteFile(filepath.Join(tree, "notes.txt"), []byte("not DICOM"), 0o644))
	zpath := filepath.Join(dir, "corpus.zip")
	zf, err := os.Create(zpath)
	require.NoError(t, err)
	zw := zip.NewWriter(zf)
	for _, name := range corpusFiles[:4] {
		data, err := os.ReadFile(filepath.Join(corpus, name))
		require.NoError(t, err)
		w, err := zw.Create("in/" + name)
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
		originals = append(originals, filepath.Join(corpus, name))
	}
	require.NoError(t, zw.Close())
	require.NoError(t, zf.Close())
	paths = []string{tree, zpath}
	for _, name := range corpusFiles[4:] {
		paths = append(paths, filepath.Join(corpus, name))
		originals = append(originals, filepath.Join(corpus, name))
	}
	return paths, len(files) + len(corpusFiles), originals
}

func keyFile(t *testing.T, b byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(p, []byte(strings.Repeat(string(rune('a'+b%26)), 40)+"\n"), 0o600))
	return p
}

// readback is what pydicom read in one file (testdata/readback.py).
type readback struct {
	Path                   string               `json:"path"`
	MetaSOPInstanceUID     string               `json:"meta_sop_instance_uid"`
	TransferSyntaxUID      string               `json:"transfer_syntax_uid"`
	SOPInstanceUID         string               `json:"sop_instance_uid"`
	SeriesInstanceUID      string               `json:"series_instance_uid"`
	StudyInstanceUID       string               `json:"study_instance_uid"`
	PatientID              string               `json:"patient_id"`
	PatientName            string               `json:"patient_name"`
	PatientIdentityRemoved string               `json:"patient_identity_removed"`
	DeidentificationMethod string               `json:"deidentification_method"`
	PixelSHA256            string               `json:"pixel_sha256"`
	UIDs                   []string             `json:"uids"`
	Attrs                  map[string][2]string `json:"attrs"`
}

// pydicomRead reads files with Debian's pydicom, failing the test if
// pydicom cannot read one.
func pydicomRead(t *testing.T, files ...string) map[string]readback {
	t.Helper()
	py := testenv.DebianPython(t, "pydicom")
	out := map[string]readback{}
	for len(files) > 0 {
		n := min(len(files), 200)
		cmd := exec.Command(py, append([]string{filepath.Join("testdata", "readback.py")}, files[:n]...)...)
		data, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("pydicom could not read an output: %s", ee.Stderr)
		}
		require.NoError(t, err)
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var r readback
			require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
			out[r.Path] = r
		}
		files = files[n:]
	}
	return out
}

// outputs lists the files under dir, relative, and their SHA-256.
func outputs(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(data)
		got[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	}))
	return got
}

func readMap(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	require.Equal(t, []string{"original_uid", "new_uid"}, rows[0])
	m := map[string]string{}
	for _, r := range rows[1:] {
		m[r[0]] = r[1]
	}
	return m
}

var outputName = regexp.MustCompile(`^2\.25\.[0-9]+/2\.25\.[0-9]+/2\.25\.[0-9]+\.dcm$`)

// TestDeidentify runs the program on a tree, a .zip and plain files, then
// checks every output with pydicom and dcmdump: one file per instance,
// named by its new UIDs only; the file meta follows the dataset; no
// original UID anywhere, every reference mapped consistently across
// files; the pixel data identical; the inputs untouched; and the same key
// gives the same bytes, another key unrelated UIDs.
func TestDeidentify(t *testing.T) {
	t.Parallel()
	paths, instances, originals := inputs(t)
	before := map[string]map[string]string{}
	for _, p := range paths {
		before[p] = outputs(t, filepath.Dir(p))
	}
	key := keyFile(t, 1)
	out := filepath.Join(t.TempDir(), "out")
	mapFile := filepath.Join(t.TempDir(), "uids.csv")
	code, stdout, stderr := runDeid(append([]string{"-key-file", key, "-out", out, "-map", mapFile}, paths...)...)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	m := regexp.MustCompile(`^de-identified ` + strconv.Itoa(instances) + ` instances \(([0-9]+) studies, ([0-9]+) series\) into ` + regexp.QuoteMeta(out) + "\n").FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	assert.Regexp(t, `(?m)^set aside: .*notes\.txt: `, stdout)
	assert.Contains(t, stdout, "it re-identifies the data, keep it at the site")
	for _, p := range paths {
		assert.Equal(t, before[p], outputs(t, filepath.Dir(p)), "input %s changed", p)
	}

	got := outputs(t, out)
	require.Len(t, got, instances)
	studies, series := map[string]bool{}, map[string]bool{}
	for rel := range got {
		studies[strings.Split(rel, "/")[0]] = true
		series[filepath.Dir(rel)] = true
	}
	assert.Equal(t, m[1], strconv.Itoa(len(studies)), "studies in the summary")
	assert.Equal(t, m[2], strconv.Itoa(len(series)), "series in the summary")
	var files []string
	for rel := range got {
		assert.Regexp(t, outputName, rel, "output name")
		files = append(files, filepath.Join(out, rel))
	}
	uids := readMap(t, mapFile)
	newUIDs := map[string]bool{}
	for orig, repl := range uids {
		assert.Regexp(t, `^2\.25\.[0-9]+$`, repl, "new UID of %s", orig)
		assert.False(t, newUIDs[repl], "two UIDs map to %s", repl)
		newUIDs[repl] = true
	}
	for rel := range got {
		for orig := range uids {
			assert.NotContains(t, rel, orig, "an original UID in a path")
		}
		assert.NotContains(t, rel, "DOE", "the input folder name in a path")
	}

	outs := pydicomRead(t, files...)
	origs := pydicomRead(t, originalsReadable(t, originals)...)
	byNew := map[string]readback{} // new SOP Instance UID -> the original
	kept := map[string]bool{}      // every UID of the originals
	for _, o := range origs {
		byNew[uids[o.SOPInstanceUID]] = o
		for _, u := range o.UIDs {
			kept[u] = true
		}
	}
	for path, r := range outs {
		rel, _ := filepath.Rel(out, path)
		assert.Equal(t, filepath.ToSlash(filepath.Join(r.StudyInstanceUID, r.SeriesInstanceUID, r.SOPInstanceUID+".dcm")), filepath.ToSlash(rel), "named by the new UIDs")
		assert.Equal(t, "YES", r.PatientIdentityRemoved, rel)
		assert.NotEmpty(t, r.DeidentificationMethod, rel)
		o, ok := byNew[r.SOPInstanceUID]
		if !assert.True(t, ok, "%s: no original maps to this SOP Instance UID", rel) {
			continue
		}
		assert.Equal(t, o.PixelSHA256, r.PixelSHA256, "%s: pixel data", rel)
		assert.Equal(t, o.TransferSyntaxUID, r.TransferSyntaxUID, "%s: transfer syntax", rel)
		// The file meta follows the dataset: the same new UID when the
		// original agreed; rtplan.dcm and rtdose.dcm of the corpus do not,
		// and keep disagreeing, each UID mapped.
		if o.MetaSOPInstanceUID == o.SOPInstanceUID {
			assert.Equal(t, r.SOPInstanceUID, r.MetaSOPInstanceUID, "%s: the file meta follows the dataset", rel)
		} else {
			assert.Equal(t, uids[o.MetaSOPInstanceUID], r.MetaSOPInstanceUID, "%s: the file meta's UID is mapped", rel)
		}
		for _, u := range r.UIDs {
			_, original := uids[u]
			assert.False(t, original, "%s: original UID %s left in the data", rel, u)
			// Kept: UIDs the table does not replace, such as coding
			// scheme UIDs, and the standard's own.
			assert.True(t, newUIDs[u] || kept[u] || strings.HasPrefix(u, "1.2.840.10008."), "%s: UID %s is neither mapped nor from the original", rel, u)
		}
	}
	// Every original patient is gone, and one original patient is one
	// pseudonym.
	pseudonyms := map[string]string{}
	for _, o := range origs {
		r := outs[findOutput(outs, uids[o.SOPInstanceUID])]
		if p, seen := pseudonyms[o.PatientID]; seen {
			assert.Equal(t, p, r.PatientID, "one patient, one pseudonym")
		}
		pseudonyms[o.PatientID] = r.PatientID
		if o.PatientID != "" {
			assert.NotEqual(t, o.PatientID, r.PatientID)
		}
		if o.PatientName != "" {
			assert.NotEqual(t, o.PatientName, r.PatientName)
		}
	}
	// dcmdump (dcmtk) reads every output too.
	dcmdump := testenv.LookPath(t, "dcmdump", "apt-get install dcmtk")
	for _, f := range files {
		if out, err := exec.Command(dcmdump, "-q", f).CombinedOutput(); err != nil {
			t.Errorf("dcmdump %s: %v\n%s", f, err, out)
		}
	}

	t.Run("same key, same bytes", func(t *testing.T) {
		again := filepath.Join(t.TempDir(), "again")
		code, stdout, _ := runDeid(append([]string{"-key-file", key, "-out", again, "-workers", "1"}, paths...)...)
		require.Equal(t, 0, code, stdout)
		assert.Equal(t, got, outputs(t, again))
	})
	t.Run("a second run into the same DIR finds the files there", func(t *testing.T) {
		code, stdout, _ := runDeid(append([]string{"-key-file", key, "-out", out}, paths...)...)
		require.Equal(t, 0, code, stdout)
		assert.Contains(t, stdout, "; "+strconv.Itoa(instances)+" were already there, identical\n")
		assert.Equal(t, got, outputs(t, out))
	})
	t.Run("another key, unrelated UIDs", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other")
		code, stdout, _ := runDeid(append([]string{"-key-file", keyFile(t, 2), "-out", other}, paths...)...)
		require.Equal(t, 0, code, stdout)
		for rel := range outputs(t, other) {
			for _, part := range strings.Split(strings.TrimSuffix(rel, ".dcm"), "/") {
				assert.False(t, newUIDs[part], "UID %s also made by the first key", part)
			}
		}
	})
	t.Run("an output with other content is never overwritten", func(t *testing.T) {
		// The dates option changes the content, not the UIDs.
		code, stdout, _ := runDeid(append([]string{"-key-file", key, "-out", out, "-profile", "basic,dates"}, paths...)...)
		assert.Equal(t, 1, code, stdout)
		assert.Contains(t, stdout, "exists with other content; it is never overwritten")
		assert.Equal(t, got, outputs(t, out))
	})
}

func findOutput(outs map[string]readback, sop string) string {
	for p, r := range outs {
		if r.SOPInstanceUID == sop {
			return p
		}
	}
	return ""
}

// originalsReadable returns the original files (the .zip members were
// copied from the corpus, so the corpus files stand for them).
func originalsReadable(t *testing.T, originals []string) []string {
	t.Helper()
	for _, p := range originals {
		_, err := os.Stat(p)
		require.NoError(t, err)
	}
	return originals
}

// TestBurnedIn: an image that declares burned-in annotation is refused,
// named in the summary, and nothing is written for it; the others are;
// -accept-burned-in de-identifies it.
func TestBurnedIn(t *testing.T) {
	t.Parallel()
	py := testenv.DebianPython(t, "pydicom")
	corpus := testenv.PydicomTestFiles(t)
	in := filepath.Join(t.TempDir(), "in")
	require.NoError(t, os.Mkdir(in, 0o755))
	burned := filepath.Join(in, "burned.dcm")
	script := `import pydicom, sys
ds = pydicom.dcmread(sys.argv[1])
ds.BurnedInAnnotation = "YES"
ds.save_as(sys.argv[2])`
	outp, err := exec.Command(py, "-c", script, filepath.Join(corpus, "CT_small.dcm"), burned).CombinedOutput()
	require.NoError(t, err, "%s", outp)
	data, err := os.ReadFile(filepath.Join(corpus, "MR_small.dcm"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(in, "mr.dcm"), data, 0o644))
	key := keyFile(t, 3)

	out := filepath.Join(t.TempDir(), "out")
	code, stdout, _ := runDeid("-key-file", key, "-out", out, in)
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "de-identified 1 instances (1 studies, 1 series)")
	assert.Contains(t, stdout, "failed: "+burned+": deid: refused: the image declares burned-in annotation")
	assert.Contains(t, stdout, "1 instances could not be de-identified; nothing was written for them\n")
	assert.Len(t, outputs(t, out), 1)

	code, stdout, _ = runDeid("-key-file", key, "-out", out, "-accept-burned-in", in)
	assert.Equal(t, 0, code, stdout)
	assert.Len(t, outputs(t, out), 2)
}

// TestUsage: bad usage exits 2 with one line on standard error, and
// writes nothing.
func TestUsage(t *testing.T) {
	t.Parallel()
	corpus := testenv.PydicomTestFiles(t)
	in := filepath.Join(t.TempDir(), "in")
	require.NoError(t, os.Mkdir(in, 0o755))
	data, err := os.ReadFile(filepath.Join(corpus, "CT_small.dcm"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(in, "ct.dcm"), data, 0o644))
	key := keyFile(t, 4)
	short := filepath.Join(t.TempDir(), "short")
	require.NoError(t, os.WriteFile(short, []byte("too short\n"), 0o600))
	existing := filepath.Join(t.TempDir(), "map.csv")
	require.NoError(t, os.WriteFile(existing, []byte("keep me"), 0o600))
	out := filepath.Join(t.TempDir(), "out")
	for _, tt := range []struct {
		name string
		args []string
		want string // regular expression for stderr
	}{
		{"no path", []string{"-key-file", key, "-out", out}, `no PATH to de-identify`},
		{"no key", []string{"-out", out, in}, `-key-file is required`},
		{"no out", []string{"-key-file", key, in}, `-out is required`},
		{"short key", []string{"-key-file", short, "-out", out, in}, `-key-file: the key must be at least 32 bytes; make one with: head -c 32 /dev/urandom > KEY`},
		{"missing key file", []string{"-key-file", short + "x", "-out", out, in}, `-key-file: open .*: no such file or directory`},
		{"missing input", []string{"-key-file", key, "-out", out, in + "x"}, `.*inx: no such file or directory`},
		{"unknown option", []string{"-key-file", key, "-out", out, "-profile", "basic,faces", in}, `-profile: unknown option "faces"`},
		{"bad safe private", []string{"-key-file", key, "-out", out, "-safe-private", "X:0028:01", in}, `invalid value "X:0028:01" for flag -safe-private`},
		{"out inside the input", []string{"-key-file", key, "-out", filepath.Join(in, "out"), in}, `-out .* is inside the input .*; deid never writes into an input`},
		{"input inside out", []string{"-key-file", key, "-out", filepath.Dir(in), in}, `the input .* is inside -out`},
		{"map inside the input", []string{"-key-file", key, "-out", out, "-map", filepath.Join(in, "m.csv"), in}, `-map .* is inside the input`},
		{"map exists", []string{"-key-file", key, "-out", out, "-map", existing, in}, `-map .* exists; it is never overwritten`},
		{"bad workers", []string{"-key-file", key, "-out", out, "-workers", "0", in}, `-workers must be at least 1`},
	} {
		code, stdout, stderr := runDeid(tt.args...)
		assert.Equal(t, 2, code, tt.name)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "%s: %q", tt.name, stderr)
		assert.Regexp(t, "^deid: "+tt.want, stderr, tt.name)
		assert.Empty(t, stdout, tt.name)
	}
	_, err = os.Stat(out)
	assert.ErrorIs(t, err, fs.ErrNotExist, "bad usage wrote the output directory")
	kept, err := os.ReadFile(existing)
	require.NoError(t, err)
	assert.Equal(t, "keep me", string(kept))
	entries, err := os.ReadDir(in)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "bad usage wrote into the input")

	code, stdout, _ := runDeid("-h")
	assert.Equal(t, 0, code)
	for _, want := range []string{"usage: deid -key-file KEY -out DIR", "-map file", "dates", "descriptors", "keep them at the site"} {
		assert.Contains(t, stdout, want)
	}
}

// runDeid runs the program in-process: exit code, stdout, stderr.
func runDeid(args ...string) (int, string, string) {
	return testenv.Run(context.Background(), run, args...)
}
