package dicomscan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/dicombridge/dicombridge/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reference is testdata/pydicom_reference.json: what pydicom 2.3.1 reads
// from every file of its own sample corpus, classified by the scanner's
// rules (see testdata/pydicom_reference.py, which TestPydicomReference
// reruns).
type reference struct {
	Pydicom string                `json:"pydicom"`
	Corpora map[string][]refEntry `json:"corpora"`
}

type refEntry struct {
	Path   string      `json:"path"`
	Status string      `json:"status"`
	TS     string      `json:"ts"`
	Attrs  *attributes `json:"attributes"`
	Forced *attributes `json:"forced"` // dcmread(force=True) of a file without preamble
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pydicom_reference.json"))
	require.NoError(t, err)
	var ref reference
	require.NoError(t, json.Unmarshal(b, &ref))
	return ref
}

// outcomeOf maps every file of a Result, by path relative to root, to its
// status and (for instances) its Instance.
func outcomeOf(t *testing.T, root string, res *Result) (map[string]string, map[string]*Instance) {
	t.Helper()
	status := make(map[string]string)
	insts := make(map[string]*Instance)
	rel := func(p string) string {
		r, err := filepath.Rel(root, p)
		require.NoError(t, err)
		return filepath.ToSlash(r)
	}
	for _, st := range res.Studies {
		for _, se := range st.Series {
			for _, in := range se.Instances {
				status[rel(in.Path)] = "instance"
				insts[rel(in.Path)] = in
			}
		}
	}
	for _, fe := range res.Skipped {
		switch {
		case errors.Is(fe, ErrNotDICOM):
			status[rel(fe.Path)] = "not_dicom"
		case errors.Is(fe, ErrDICOMDIR):
			status[rel(fe.Path)] = "dicomdir"
		case errors.Is(fe, ErrDuplicate):
			status[rel(fe.Path)] = "duplicate"
		default:
			status[rel(fe.Path)] = "skipped: " + fe.Reason()
		}
	}
	for _, fe := range res.Rejected {
		status[rel(fe.Path)] = "rejected"
	}
	for _, fe := range res.Errors {
		status[rel(fe.Path)] = "error: " + fe.Reason()
	}
	return status, insts
}

// TestPydicomCorpus scans pydicom's sample corpus (the files CI fetches
// from Debian's python3-pydicom) and checks every file against what
// pydicom reads from it, plus the exact counts.
func TestPydicomCorpus(t *testing.T) {
	t.Parallel()
	root := testenv.PydicomTestFiles(t)
	ref := loadReference(t)

	res, err := (&Scanner{}).Scan(context.Background(), root)
	require.NoError(t, err)
	count := func(target error, list []*FileError) int {
		n := 0
		for _, fe := range list {
			if errors.Is(fe, target) {
				n++
			}
		}
		return n
	}
	counts := map[string]int{
		"files":      res.Files,
		"studies":    len(res.Studies),
		"series":     res.Series(),
		"instances":  res.Instances(),
		"skipped":    len(res.Skipped),
		"not DICOM":  count(ErrNotDICOM, res.Skipped),
		"DICOMDIR":   count(ErrDICOMDIR, res.Skipped),
		"duplicates": count(ErrDuplicate, res.Skipped),
		"rejected":   len(res.Rejected),
		"errors":     len(res.Errors),
	}
	want := map[string]int{
		"files": 165, "studies": 25, "series": 32, "instances": 111,
		"skipped": 48, "not DICOM": 12, "DICOMDIR": 8, "duplicates": 28,
		"rejected": 6, "errors": 0,
	}
	assert.Equal(t, want, counts)
	var size int64
	for _, r := range ref.Corpora["test_files"] {
		if r.Status == "instance" {
			fi, err := os.Stat(filepath.Join(root, r.Path))
			require.NoError(t, err)
			size += fi.Size()
		}
	}
	assert.Equal(t, int64(782_575), size, "corpus size")
	assert.Equal(t, size, res.Size())
	compareWithReference(t, root, res, ref.Corpora["test_files"], false)

	t.Run("dicomdirtests", func(t *testing.T) {
		t.Parallel()
		// The numbers: 81 instances in 7 studies and 14 series.
		res, err := Scan(context.Background(), filepath.Join(root, "dicomdirtests"))
		require.NoError(t, err)
		got := [4]int{len(res.Studies), res.Series(), res.Instances(), len(res.Skipped)}
		assert.Equal(t, [4]int{7, 14, 81, 10}, got, "studies, series, instances, skipped")
		patients := map[string]bool{}
		for _, st := range res.Studies {
			patients[st.PatientID] = true
		}
		// The corpus's directory names suggest 4 patients; the files
		// hold 3 Patient IDs (the directory names 98892001 and 98892003
		// are one patient, Doe^Peter).
		assert.Len(t, patients, 3)
	})

	t.Run("AllowNoPreamble", func(t *testing.T) {
		t.Parallel()
		res, err := (&Scanner{AllowNoPreamble: true}).Scan(context.Background(), root)
		require.NoError(t, err)
		// rtstruct.dcm and ExplVR_LitEndNoMeta.dcm join;
		// ExplVR_BigEndNoMeta.dcm is a copy of the latter.
		assert.Equal(t, 113, res.Instances())
		compareWithReference(t, root, res, ref.Corpora["test_files"], true)
	})
}

// TestCharsetCorpus checks text decoding by Specific Character Set against
// pydicom on its charset samples (Latin, Greek, Cyrillic, Arabic, Hebrew,
// UTF-8, GB18030, ISO 2022 Japanese and Korean).
func TestCharsetCorpus(t *testing.T) {
	t.Parallel()
	root := filepath.Join(filepath.Dir(testenv.PydicomTestFiles(t)), "charset_files")
	ref := loadReference(t)
	res, err := Scan(context.Background(), root)
	require.NoError(t, err)
	assert.Equal(t, 13, res.Instances())
	compareWithReference(t, root, res, ref.Corpora["charset_files"], false)
}

func compareWithReference(t *testing.T, root string, res *Result, ref []refEntry, noPreamble bool) {
	t.Helper()
	status, insts := outcomeOf(t, root, res)
	assert.Len(t, status, len(ref), "files in the result against the reference")
	sops := map[string]bool{}
	for _, r := range ref {
		want, attrs := r.Status, r.Attrs
		if noPreamble && r.Forced != nil {
			attrs = r.Forced
			switch {
			case attrs.StudyInstanceUID == "" || attrs.SeriesInstanceUID == "":
				want = "rejected"
			case sops[attrs.SOPInstanceUID]:
				want = "duplicate"
			default:
				want = "instance"
			}
		} else if noPreamble && want == "duplicate" && !sops[attrs.SOPInstanceUID] {
			want = "instance"
		}
		if want == "instance" {
			sops[attrs.SOPInstanceUID] = true
		}
		if !assert.Equal(t, want, status[r.Path], "%s: pydicom's verdict, then ours", r.Path) {
			continue
		}
		if want != "instance" {
			continue
		}
		in := insts[r.Path]
		assert.Equal(t, *attrs, in.attrs, "%s: attributes", r.Path)
		if r.Forced == nil {
			assert.Equal(t, r.TS, in.TransferSyntaxUID, "%s: transfer syntax", r.Path)
		}
	}
}

// TestPydicomReference reruns testdata/pydicom_reference.py with Debian's
// pydicom (installed, or the package CI unpacks for the corpus) and checks
// that it still produces the committed reference, so the expected values
// above are pydicom's, not ours.
func TestPydicomReference(t *testing.T) {
	t.Parallel()
	files := testenv.PydicomTestFiles(t)
	data := filepath.Dir(files)                      // .../pydicom/data
	sitePackages := filepath.Dir(filepath.Dir(data)) // .../dist-packages
	py := testenv.DebianPython(t)
	cmd := exec.Command(py, filepath.Join("testdata", "pydicom_reference.py"), data)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+sitePackages, "PYTHONWARNINGS=ignore")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s", stderr.Bytes())
	want, err := os.ReadFile(filepath.Join("testdata", "pydicom_reference.json"))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(out), "pydicom_reference.py output differs from testdata/pydicom_reference.json; regenerate it:\n"+
		"  /usr/bin/python3 testdata/pydicom_reference.py /usr/lib/python3/dist-packages/pydicom/data > testdata/pydicom_reference.json")
}
