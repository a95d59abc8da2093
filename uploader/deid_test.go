package uploader_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/deid"
	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

func profile(t *testing.T, b byte) *deid.Profile {
	t.Helper()
	p, err := deid.New(deid.Config{Key: bytes.Repeat([]byte{b}, deid.MinKeySize)})
	require.NoError(t, err)
	return p
}

// deidExpected de-identifies every file under dir with p into a new
// directory and maps each archive entry name the uploader must produce,
// "<new StudyInstanceUID>/<new SOPInstanceUID>.dcm", to that copy.
func deidExpected(t *testing.T, p *deid.Profile, dir string) map[string]string {
	t.Helper()
	res, err := dicomscan.Scan(context.Background(), dir)
	require.NoError(t, err)
	out := t.TempDir()
	want := map[string]string{}
	for _, st := range res.Studies {
		for _, se := range st.Series {
			for _, in := range se.Instances {
				src, err := os.Open(in.Path)
				require.NoError(t, err)
				var buf bytes.Buffer
				r, err := p.Apply(context.Background(), &buf, src)
				src.Close()
				require.NoError(t, err, in.Path)
				path := filepath.Join(out, r.SOPInstanceUID+".dcm")
				require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
				want[r.StudyInstanceUID+"/"+r.SOPInstanceUID+".dcm"] = path
			}
		}
	}
	return want
}

// identities lists what identifies the originals under dir: UIDs, patient
// names and IDs, institutions, accession numbers, descriptions, and the
// names of the folders and files.
func identities(t *testing.T, dir string) []string {
	t.Helper()
	res, err := dicomscan.Scan(context.Background(), dir)
	require.NoError(t, err)
	var ids []string
	add := func(v ...string) {
		for _, s := range v {
			if len(s) >= 4 {
				ids = append(ids, s)
			}
		}
	}
	for _, st := range res.Studies {
		add(st.StudyInstanceUID, st.PatientID, st.PatientName, st.InstitutionName, st.AccessionNumber, st.StudyDescription)
		for _, se := range st.Series {
			add(se.SeriesInstanceUID, se.SeriesDescription)
			for _, in := range se.Instances {
				add(in.SOPInstanceUID)
				for _, part := range strings.Split(in.Name, "/") {
					add(strings.TrimSuffix(part, ".dcm"))
				}
			}
		}
	}
	return ids
}

// treeDigest hashes every file under dir with its name and mode.
func treeDigest(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		io.WriteString(h, p+info.Mode().String()+info.ModTime().String())
		h.Write(data)
		return nil
	}))
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// TestDeidentifiedUpload: with Uploader.Deidentify the zip holds exactly
// the de-identified copies, under names made of the new UIDs, and neither
// the zip (names and bytes) nor the init body Aura received carries any
// original identifier; the sources are untouched.
func TestDeidentifiedUpload(t *testing.T) {
	t.Parallel()
	corpus := testenv.PydicomTestFiles(t)
	dir := filepath.Join(t.TempDir(), "DOE^JOHN 1970")
	src, _ := copyTree(t, sampleDir, sampleFiles)
	require.NoError(t, os.Rename(src, dir))
	ct, err := os.ReadFile(filepath.Join(corpus, "CT_small.dcm"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "CompressedSamples CT1.dcm"), ct, 0o644))
	before := treeDigest(t, dir)
	ids := identities(t, dir)
	require.Contains(t, ids, "CompressedSamples^CT1")
	require.Contains(t, ids, "JFK IMAGING CENTER")

	aura := newServer(t)
	u, rec := newUploader(t, aura, t.TempDir())
	p := profile(t, 1)
	u.Deidentify = p
	res, err := u.Upload(context.Background(), dir)
	require.NoError(t, err)
	assert.Equal(t, 4, res.Studies)
	assert.Equal(t, len(sampleFiles)+1, res.Instances)

	want := deidExpected(t, p, dir)
	checkZip(t, aura, res.UploadID, want)
	initBody := body(t, aura, auratest.EndpointInit)
	up, ok := aura.Upload(res.UploadID)
	require.True(t, ok)
	zr, err := up.OpenZip()
	require.NoError(t, err)
	defer zr.Close()
	for _, id := range ids {
		assert.NotContains(t, initBody, id, "init body")
		for _, f := range zr.File {
			assert.NotContains(t, f.Name, id, "entry name")
			rc, err := f.Open()
			require.NoError(t, err)
			data, err := io.ReadAll(rc)
			rc.Close()
			require.NoError(t, err)
			assert.False(t, bytes.Contains(data, []byte(id)), "%s holds %q", f.Name, id)
		}
	}
	// The init body announces the de-identified studies: the new UIDs
	// and pseudonyms of the copies, as OnStudies reported them.
	require.Len(t, rec.studies, 1)
	for _, st := range rec.studies[0] {
		assert.Contains(t, initBody, `"`+st.UID+`":{`)
		assert.Contains(t, initBody, `"patient_name":"`+st.PatientName+`"`)
	}
	assert.Equal(t, before, treeDigest(t, dir), "the sources changed")
}

// TestDeidentifiedResume: a de-identified upload paused after 2 MiB
// resumes, in a new Uploader with the same key, to the byte-identical
// archive, sending only the missing bytes; another key, or none, is
// refused before anything is sent.
func TestDeidentifiedResume(t *testing.T) {
	t.Parallel()
	aura := newServer(t)
	stateDir := t.TempDir()
	u, rec := newUploader(t, aura, stateDir)
	u.Deidentify = profile(t, 2)
	heldAt2MiB(aura, u)
	ctx, pause := context.WithCancel(context.Background())
	defer pause()
	s, err := u.Prepare(ctx, bigDir)
	require.NoError(t, err)
	rec.onProg = at2MiB(pause)
	_, err = s.Upload(ctx)
	checkPaused(t, aura, u, rec, s.UploadID(), err, context.Canceled)
	aura.ClearFailures()

	for name, p := range map[string]*deid.Profile{"another key": profile(t, 3), "no de-identification": nil} {
		seq := lastSeq(aura)
		other, _ := newUploader(t, aura, stateDir)
		other.Deidentify = p
		_, err := other.Resume(context.Background(), s.UploadID())
		assert.ErrorContains(t, err, "resume it with the same Uploader.Deidentify", name)
		assert.Zero(t, patchBytes(aura, seq), "%s: bytes sent", name)
	}

	seq := lastSeq(aura)
	u2, _ := newUploader(t, aura, stateDir)
	u2.Deidentify = profile(t, 2)
	res, err := u2.Resume(context.Background(), s.UploadID())
	require.NoError(t, err)
	assert.Equal(t, int64(2<<20), res.ResumedAt)
	assert.Equal(t, res.ArchiveBytes-2<<20, patchBytes(aura, seq), "the resume sends only the missing bytes")
	checkZip(t, aura, res.UploadID, deidExpected(t, u2.Deidentify, bigDir))
}
