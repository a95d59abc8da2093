package kheopstest

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

// pydicomUIDs asks Debian's pydicom for the UIDs of every file under dir.
const pydicomUIDs = `import sys, os, json, pydicom
out = {}
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(root, f)
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
            fm = getattr(ds, "file_meta", None)
            out[p] = {"study": str(ds.get("StudyInstanceUID", "")), "series": str(ds.get("SeriesInstanceUID", "")),
                      "sop": str(ds.get("SOPInstanceUID", "")), "class": str(ds.get("SOPClassUID", "")),
                      "name": str(ds.get("PatientName", "")),
                      "ts": str(fm.get("TransferSyntaxUID", "")) if fm is not None else ""}
        except Exception as e:
            out[p] = {"error": type(e).__name__}
print(json.dumps(out))`

func TestHeaderReaderAgreesWithPydicom(t *testing.T) {
	t.Parallel()
	dir := testenv.PydicomTestFiles(t)
	py := testenv.DebianPython(t, "pydicom")
	out, err := exec.Command(py, "-c", pydicomUIDs, dir).Output()
	require.NoError(t, err)
	var want map[string]map[string]string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	agreed, refused := 0, 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h, herr := readHeader(data) // must never panic
		w := want[p]
		if herr != nil {
			refused++
			// Acceptable refusals: not Part 10, or files pydicom cannot
			// read either / that lack a data set.
			if len(data) >= 132 && string(data[128:132]) == "DICM" && w["error"] == "" && w["sop"] != "" &&
				!strings.Contains(p, "truncated") {
				t.Errorf("%s: %v, but pydicom reads it (ts %s)", filepath.Base(p), herr, w["ts"])
			}
			return nil
		}
		if w["error"] != "" {
			return nil
		}
		got := map[string]string{"study": h.str(0x0020000D), "series": h.str(0x0020000E), "sop": h.str(0x00080018), "class": h.str(0x00080016)}
		for k, v := range got {
			assert.Equalf(t, w[k], v, "%s: %s = %q, pydicom says %q", filepath.Base(p), k, v, w[k])
		}
		if a, ok := jsonAttribute(h.elems[0x00100010]); ok && len(a.Value) > 0 && w["name"] != "" && !strings.Contains(w["name"], "=") {
			if got := a.Value[0].(map[string]string)["Alphabetic"]; got != w["name"] {
				t.Errorf("%s: PatientName %q, pydicom says %q", filepath.Base(p), got, w["name"])
			}
		}
		agreed++
		return nil
	})
	require.NoError(t, err)
	assert.Falsef(t, agreed < 100, "only %d files agreed (%d refused)", agreed, refused)
	t.Logf("%d files agree with pydicom, %d refused", agreed, refused)
}

func TestHeaderReaderRefusesHostileInput(t *testing.T) {
	t.Parallel()
	valid := NewInstance(InstanceSpec{StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPInstanceUID: "1.2.3.1.1"})
	hugeVL := append([]byte(nil), valid...)
	// Patch the last element's 16-bit length to 0xFFFE.
	hugeVL[len(hugeVL)-4], hugeVL[len(hugeVL)-3] = 0xFE, 0xFF
	deep := append([]byte(nil), valid...)
	for i := 0; i < 40; i++ { // (0008,1140) SQ of undefined length, nested
		deep = append(deep, 0x08, 0x00, 0x40, 0x11, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF)
	}
	for name, data := range map[string][]byte{
		"empty":            nil,
		"no DICM":          make([]byte, 200),
		"truncated":        valid[:len(valid)-3],
		"length too large": hugeVL,
		"deep nesting":     deep,
		"bad VR":           append(append([]byte(nil), valid...), 0x10, 0x00, 0x10, 0x00, 'x', '!', 2, 0, 'a', 'b'),
	} {
		if _, err := readHeader(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := readHeader(valid); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(func() error { _, err := readHeader(nil); return err }(), errNotPart10) {
		t.Error("empty input is not errNotPart10")
	}
}

func TestValidOID(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"1.2.3": true, "2.25.329800735698586629295641978511506172918": true, "0.39": true, "1.39.5": true, "2.999.1": true,
		"abc": false, "1": false, "3.1": false, "1.40": false, "0.40.1": false, "1..2": false, "1.2.": false, ".1.2": false, "1.2a": false, "": false,
	} {
		if got := validOID(s); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
}
