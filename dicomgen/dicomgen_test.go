package dicomgen

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

var allSyntaxes = []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, JPEGBaseline, RLELossless}

func TestWrite(t *testing.T) {
	t.Parallel()
	for _, ts := range allSyntaxes {
		t.Run(ts, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			mt := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
			o := Options{Studies: 3, SeriesPerStudy: 2, InstancesPerSeries: 3, Rows: 32, Columns: 48,
				TransferSyntaxes: []string{ts}, Seed: 7, ModTime: mt}
			files, err := Write(context.Background(), dir, o)
			require.NoError(t, err)
			require.Len(t, files, 18)
			uids := map[string]bool{}
			for _, f := range files {
				assert.False(t, uids[f.SOPInstanceUID], "SOP Instance UID %s repeated", f.SOPInstanceUID)
				uids[f.SOPInstanceUID] = true
				assert.Equal(t, ts, f.TransferSyntaxUID)
				fi, err := os.Stat(f.Path)
				require.NoError(t, err)
				assert.Equal(t, f.Size, fi.Size(), f.Name)
				assert.True(t, fi.ModTime().Equal(mt), "%s: mtime %v", f.Name, fi.ModTime())
			}
			assert.Equal(t, "study01/series01/IM00001.dcm", files[0].Name)
			assert.Equal(t, "study03/series02/IM00003.dcm", files[17].Name)
			assert.Equal(t, files[0].StudyInstanceUID, files[5].StudyInstanceUID, "one study holds 2 × 3 instances")
			assert.NotEqual(t, files[0].StudyInstanceUID, files[6].StudyInstanceUID)
			assert.Equal(t, files[0].SeriesInstanceUID, files[2].SeriesInstanceUID)
			assert.NotEqual(t, files[0].SeriesInstanceUID, files[3].SeriesInstanceUID)
			assert.Equal(t, []string{"CT", "MR", "NM"}, []string{files[0].Modality, files[6].Modality, files[12].Modality})
			assert.Equal(t, []string{CTImageStorage, MRImageStorage, NMImageStorage},
				[]string{files[0].SOPClassUID, files[6].SOPClassUID, files[12].SOPClassUID})

			// suyashkumar/dicom reads back what was written, pixel data included.
			for _, f := range []File{files[0], files[17]} {
				ds, err := dicom.ParseFile(f.Path, nil)
				require.NoError(t, err, f.Name)
				for tg, want := range map[tag.Tag]string{
					tag.SOPInstanceUID:    f.SOPInstanceUID,
					tag.StudyInstanceUID:  f.StudyInstanceUID,
					tag.SeriesInstanceUID: f.SeriesInstanceUID,
					tag.Modality:          f.Modality,
					tag.PatientID:         f.PatientID,
					tag.TransferSyntaxUID: ts,
				} {
					e, err := ds.FindElementByTag(tg)
					require.NoError(t, err, "%v", tg)
					assert.Equal(t, want, dicom.MustGetStrings(e.Value)[0], "%v", tg)
				}
				e, err := ds.FindElementByTag(tag.PixelData)
				require.NoError(t, err)
				px := dicom.MustGetPixelDataInfo(e.Value)
				assert.Equal(t, ts == JPEGBaseline || ts == RLELossless, px.IsEncapsulated)
			}

			// The same options give the same bytes.
			again, err := Write(context.Background(), t.TempDir(), o)
			require.NoError(t, err)
			for i := range files {
				a, err := os.ReadFile(files[i].Path)
				require.NoError(t, err)
				b, err := os.ReadFile(again[i].Path)
				require.NoError(t, err)
				require.True(t, bytes.Equal(a, b), "%s differs between two runs", files[i].Name)
			}
		})
	}
}

// TestSeed: another seed gives other UIDs, patients and pixels.
func TestSeed(t *testing.T) {
	t.Parallel()
	o := Options{Studies: 2, InstancesPerSeries: 2}
	a, err := Write(context.Background(), t.TempDir(), o)
	require.NoError(t, err)
	o.Seed = 1
	b, err := Write(context.Background(), t.TempDir(), o)
	require.NoError(t, err)
	for i := range a {
		assert.NotEqual(t, a[i].SOPInstanceUID, b[i].SOPInstanceUID)
		assert.NotEqual(t, a[i].StudyInstanceUID, b[i].StudyInstanceUID)
		assert.NotEqual(t, a[i].PatientID, b[i].PatientID)
	}
	assert.Equal(t, a[2].PatientID, b[0].PatientID, "patients rotate with the seed")
	// The UIDs are the documented UID(...) values.
	assert.Equal(t, [3]string{UID(1, "study", 1), UID(1, "series", 1, 0), UID(1, "instance", 1, 0, 1)},
		[3]string{b[3].StudyInstanceUID, b[3].SeriesInstanceUID, b[3].SOPInstanceUID})
}

// TestVariety: the defaults plus a mixed syntax list give every modality,
// every character set and native and encapsulated pixel data in one tree.
func TestVariety(t *testing.T) {
	t.Parallel()
	files, err := Write(context.Background(), t.TempDir(), Options{Studies: len(patients), SeriesPerStudy: len(allSyntaxes),
		TransferSyntaxes: allSyntaxes, Rows: 16, Columns: 16, Seed: -3})
	require.NoError(t, err)
	seen := map[string]map[string]bool{"modality": {}, "charset": {}, "syntax": {}, "patient": {}}
	for _, f := range files {
		seen["modality"][f.Modality] = true
		seen["charset"][f.CharacterSet] = true
		seen["syntax"][f.TransferSyntaxUID] = true
		seen["patient"][f.PatientID] = true
	}
	assert.Len(t, seen["modality"], 3)
	assert.Len(t, seen["syntax"], len(allSyntaxes))
	assert.Len(t, seen["patient"], len(patients))
	for _, cs := range []string{"", "ISO_IR 100", "ISO_IR 144", "ISO_IR 126", "ISO_IR 192", `\ISO 2022 IR 87`, "GB18030"} {
		assert.True(t, seen["charset"][cs], "character set %q missing", cs)
	}
}

func TestNativeSize(t *testing.T) {
	t.Parallel()
	files, err := Write(context.Background(), t.TempDir(), Options{Rows: 512, Columns: 512})
	require.NoError(t, err)
	s := files[0].Size
	assert.True(t, s >= 512*512*2 && s <= 512*512*2+4096, "a 512x512 slice is %d bytes, want 512 KiB plus a header", s)
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]Options{
		"modality":        {Modalities: []string{"CT", "US"}},
		"transfer syntax": {TransferSyntaxes: []string{"1.2.840.10008.1.2.4.90"}},
		"size":            {Rows: 1 << 15},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			_, err := Write(context.Background(), dir, o)
			require.ErrorIs(t, err, ErrUnsupported)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing written")
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Write(ctx, t.TempDir(), Options{Studies: 50})
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("unwritable", func(t *testing.T) {
		t.Parallel()
		file := t.TempDir() + "/file"
		require.NoError(t, os.WriteFile(file, nil, 0o644))
		_, err := Write(context.Background(), file, Options{})
		require.Error(t, err)
		assert.False(t, errors.Is(err, ErrUnsupported))
		assert.Contains(t, err.Error(), "dicomgen: ")
	})
}

func TestPackBits(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ in, want []byte }{
		"empty":            {nil, nil},
		"one":              {[]byte{7}, []byte{0, 7}},
		"run":              {[]byte{5, 5, 5}, []byte{254, 5}},
		"literal":          {[]byte{1, 2, 3}, []byte{2, 1, 2, 3}},
		"literal then run": {[]byte{1, 2, 3, 3, 3}, []byte{1, 1, 2, 254, 3}},
		"run of 130":       {bytes.Repeat([]byte{9}, 130), []byte{129, 9, 255, 9}},
		"literal of 129":   {seq(129), append(append([]byte{127}, seq(128)...), 0, 128)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := packBits(nil, c.in)
			assert.Equal(t, c.want, got)
			assert.Equal(t, c.in, unpackBits(t, got))
		})
	}
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// unpackBits decodes PackBits as PS3.5 G.3.2 describes it.
func unpackBits(t *testing.T, b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		h := int8(b[i])
		i++
		switch {
		case h >= 0:
			require.LessOrEqual(t, i+int(h)+1, len(b))
			out = append(out, b[i:i+int(h)+1]...)
			i += int(h) + 1
		case h != -128:
			require.Less(t, i, len(b))
			out = append(out, bytes.Repeat([]byte{b[i]}, 1-int(h))...)
			i++
		}
	}
	return out
}
