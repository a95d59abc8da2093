package dicomgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// interopOptions give every patient (so every character set), every
// modality and every transfer syntax.
var interopOptions = Options{Studies: len(patients), SeriesPerStudy: len(allSyntaxes), InstancesPerSeries: 1,
	Rows: 24, Columns: 40, TransferSyntaxes: allSyntaxes, Seed: 11}

// TestPydicomReads has pydicom (Debian's python3-pydicom) read every file
// and compares what it decodes, names in every character set included,
// with what Write reported.
func TestPydicomReads(t *testing.T) {
	t.Parallel()
	py := testenv.DebianPython(t, "pydicom")
	files, err := Write(context.Background(), t.TempDir(), interopOptions)
	require.NoError(t, err)
	args := []string{filepath.Join("testdata", "pydicom_read.py")}
	for _, f := range files {
		args = append(args, f.Path)
	}
	out, err := exec.Command(py, args...).Output()
	require.NoError(t, err, "pydicom: %s", stderrOf(err))
	sc := bufio.NewScanner(bytes.NewReader(out))
	i := 0
	for ; sc.Scan(); i++ {
		require.Less(t, i, len(files))
		f := files[i]
		var got struct {
			Path            string `json:"path"`
			TransferSyntax  string `json:"transfer_syntax"`
			MetaSOPInstance string `json:"meta_sop_instance"`
			SOPClass        string `json:"sop_class"`
			SOPInstance     string `json:"sop_instance"`
			Study           string `json:"study"`
			Series          string `json:"series"`
			Modality        string `json:"modality"`
			PatientName     string `json:"patient_name"`
			PatientID       string `json:"patient_id"`
			Institution     string `json:"institution"`
			Charset         string `json:"charset"`
			Rows            int    `json:"rows"`
			Columns         int    `json:"columns"`
			BitsAllocated   int    `json:"bits_allocated"`
			Fragments       int    `json:"fragments"`
			PixelBytes      int    `json:"pixel_bytes"`
			Encapsulated    bool   `json:"encapsulated"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &got))
		encapsulated := f.TransferSyntaxUID == JPEGBaseline || f.TransferSyntaxUID == RLELossless
		want := [12]string{f.Path, f.TransferSyntaxUID, f.SOPInstanceUID, f.SOPClassUID, f.SOPInstanceUID, f.StudyInstanceUID,
			f.SeriesInstanceUID, f.Modality, f.PatientName, f.PatientID, f.InstitutionName, f.CharacterSet}
		assert.Equal(t, want, [12]string{got.Path, got.TransferSyntax, got.MetaSOPInstance, got.SOPClass, got.SOPInstance, got.Study,
			got.Series, got.Modality, got.PatientName, got.PatientID, got.Institution, got.Charset}, f.Name)
		assert.Equal(t, [3]int{24, 40}, [3]int{got.Rows, got.Columns}, f.Name)
		assert.Equal(t, encapsulated, got.Encapsulated, f.Name)
		if encapsulated {
			assert.Equal(t, 1, got.Fragments, f.Name)
			assert.Equal(t, map[bool]int{true: 8, false: 16}[f.TransferSyntaxUID == JPEGBaseline], got.BitsAllocated, f.Name)
		} else {
			assert.Equal(t, 24*40*2, got.PixelBytes, f.Name)
			assert.Equal(t, 16, got.BitsAllocated, f.Name)
		}
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, len(files), i, "pydicom read every file")
}

// TestDCMTKReads has DCMTK's dcmdump parse every file with no warning,
// compares the names it converts to UTF-8, and decodes the encapsulated
// pixel data with dcmdrle and dcmdjpeg: RLE must give back the exact
// pixels, JPEG pixels close to them.
func TestDCMTKReads(t *testing.T) {
	t.Parallel()
	dump := testenv.LookPath(t, "dcmdump", "apt-get install dcmtk")
	tools := map[string]string{
		RLELossless:  testenv.LookPath(t, "dcmdrle", "apt-get install dcmtk"),
		JPEGBaseline: testenv.LookPath(t, "dcmdjpeg", "apt-get install dcmtk"),
	}
	o, err := interopOptions.withDefaults()
	require.NoError(t, err)
	dir := t.TempDir()
	files, err := Write(context.Background(), dir, o)
	require.NoError(t, err)
	value := func(out, tg string) string {
		m := regexp.MustCompile(`(?m)^\(` + tg + `\) \w\w \[(.*)\]`).FindStringSubmatch(out)
		if m == nil {
			return "<missing>"
		}
		return m[1]
	}
	for i, f := range files {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			// DCMTK converts with the C library's iconv, which lacks ISO
			// 2022 IR 87: for that set compare the bytes as stored.
			name, institution := f.PatientName, f.InstitutionName
			out := ""
			if strings.Contains(f.CharacterSet, "ISO 2022") {
				out = run(t, dump, f.Path)
				p := newInstance(o, i/o.SeriesPerStudy, 0, 0).patient
				name, institution = encode(name, p.charset), encode(institution, p.charset)
				assert.Contains(t, name, "\x1b$B", "JIS X 0208 designated")
			} else {
				out = run(t, dump, "+U8", f.Path)
			}
			assert.Equal(t, name, value(out, "0010,0010"))
			assert.Equal(t, institution, value(out, "0008,0080"))
			assert.Equal(t, f.SOPInstanceUID, value(out, "0008,0018"))
			assert.Contains(t, out, "(0002,0010) UI =") // the transfer syntax, by name

			// The pixels, decoded by DCMTK to explicit VR little endian.
			native := f.Path
			if tool := tools[f.TransferSyntaxUID]; tool != "" {
				native = filepath.Join(t.TempDir(), "native.dcm")
				run(t, tool, f.Path, native)
			}
			if f.TransferSyntaxUID == ExplicitVRBigEndian || f.TransferSyntaxUID == ImplicitVRLittleEndian {
				return // dcmdump +W writes these in the file's own order; the LE cases cover the pixels
			}
			raw := t.TempDir()
			run(t, dump, "+W", raw, native)
			entries, err := os.ReadDir(raw)
			require.NoError(t, err)
			require.Len(t, entries, 1)
			got, err := os.ReadFile(filepath.Join(raw, entries[0].Name()))
			require.NoError(t, err)
			st, se := i/o.SeriesPerStudy, i%o.SeriesPerStudy
			img := newInstance(o, st, se, 0).image(o)
			if f.TransferSyntaxUID != JPEGBaseline {
				assert.Equal(t, words(img, binary.LittleEndian), got, "pixels")
				return
			}
			require.Len(t, got, len(img))
			var diff int
			for k, v := range img {
				diff += max(int(got[k])-int(eight(v)), int(eight(v))-int(got[k]))
			}
			assert.Less(t, float64(diff)/float64(len(img)), 4.0, "mean JPEG error")
		})
	}
}

// run runs a DCMTK tool and fails on a non-zero exit or any warning.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %s: %s", filepath.Base(name), strings.Join(args, " "), stderr.String())
	assert.Empty(t, stderr.String(), "%s warns", filepath.Base(name))
	return string(out)
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
