package dicomgen

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

func TestWrite(t *testing.T) {
	t.Parallel()
	for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, JPEGBaseline} {
		t.Run(ts, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			mt := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
			o := Options{Studies: 2, SeriesPerStudy: 2, InstancesPerSeries: 3, Rows: 32, Columns: 48, TransferSyntax: ts, Seed: 7, ModTime: mt}
			files, err := Write(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 12 {
				t.Fatalf("%d files, want 12", len(files))
			}
			uids := map[string]bool{}
			for _, f := range files {
				if uids[f.SOPInstanceUID] {
					t.Errorf("SOP Instance UID %s repeated", f.SOPInstanceUID)
				}
				uids[f.SOPInstanceUID] = true
				fi, err := os.Stat(f.Path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != f.Size || !fi.ModTime().Equal(mt) {
					t.Errorf("%s: size %d mtime %v, want %d %v", f.Name, fi.Size(), fi.ModTime(), f.Size, mt)
				}
			}
			if files[0].StudyInstanceUID == files[6].StudyInstanceUID || files[0].SeriesInstanceUID == files[3].SeriesInstanceUID ||
				files[0].StudyInstanceUID != files[5].StudyInstanceUID {
				t.Error("study/series UIDs do not group 2 x 2 x 3")
			}
			// suyashkumar/dicom reads back what it wrote.
			ds, err := dicom.ParseFile(files[0].Path, nil, dicom.SkipPixelData())
			if err != nil {
				t.Fatal(err)
			}
			for tg, want := range map[tag.Tag]string{
				tag.SOPInstanceUID:   files[0].SOPInstanceUID,
				tag.StudyInstanceUID: files[0].StudyInstanceUID,
				tag.Modality:         files[0].Modality,
				tag.PatientID:        files[0].PatientID,
			} {
				e, err := ds.FindElementByTag(tg)
				if err != nil {
					t.Fatalf("%v: %v", tg, err)
				}
				if got := dicom.MustGetStrings(e.Value)[0]; got != want {
					t.Errorf("%v = %q, want %q", tg, got, want)
				}
			}
			// The same options give the same bytes.
			again, err := Write(t.TempDir(), o)
			if err != nil {
				t.Fatal(err)
			}
			for i := range files {
				a, _ := os.ReadFile(files[i].Path)
				b, _ := os.ReadFile(again[i].Path)
				if !bytes.Equal(a, b) {
					t.Fatalf("%s differs between two runs", files[i].Name)
				}
			}
		})
	}
}

func TestNativeSize(t *testing.T) {
	t.Parallel()
	files, err := Write(t.TempDir(), Options{Rows: 512, Columns: 512})
	if err != nil {
		t.Fatal(err)
	}
	if s := files[0].Size; s < 512*512*2 || s > 512*512*2+4096 {
		t.Errorf("a 512x512 slice is %d bytes, want 512 KiB plus a header", s)
	}
}
