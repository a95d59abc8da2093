package dicomscan

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"go.uber.org/goleak"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func generate(t testing.TB, dir string, o dicomgen.Options) []dicomgen.File {
	t.Helper()
	files, err := dicomgen.Write(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestScanGenerated checks every attribute the generator wrote, in every
// transfer syntax it writes.
func TestScanGenerated(t *testing.T) {
	t.Parallel()
	for _, ts := range []string{dicomgen.ExplicitVRLittleEndian, dicomgen.ImplicitVRLittleEndian,
		dicomgen.ExplicitVRBigEndian, dicomgen.JPEGBaseline} {
		t.Run(ts, func(t *testing.T) {
			t.Parallel()
			root := filepath.Join(t.TempDir(), "incoming")
			files := generate(t, root, dicomgen.Options{Studies: 3, SeriesPerStudy: 2, InstancesPerSeries: 3, TransferSyntaxes: []string{ts}, Seed: 3})
			res, err := Scan(context.Background(), root)
			if err != nil {
				t.Fatal(err)
			}
			if got := [5]int{len(res.Studies), res.Series(), res.Instances(), res.Files, len(res.Skipped) + len(res.Rejected) + len(res.Errors)}; got != [5]int{3, 6, 18, 18, 0} {
				t.Fatalf("studies, series, instances, files, others = %v", got)
			}
			i := 0
			for _, st := range res.Studies {
				if want := []string{files[i].Modality}; !reflect.DeepEqual(st.Modalities, want) {
					t.Errorf("Modalities %q, want %q", st.Modalities, want)
				}
				if st.PatientName != files[i].PatientName || st.PatientID != files[i].PatientID || st.StudyInstanceUID != files[i].StudyInstanceUID {
					t.Errorf("study %q %q %q, want %q %q %q", st.StudyInstanceUID, st.PatientName, st.PatientID,
						files[i].StudyInstanceUID, files[i].PatientName, files[i].PatientID)
				}
				for _, se := range st.Series {
					for _, in := range se.Instances {
						f := files[i]
						i++
						got := [8]string{in.Name, in.StudyInstanceUID, in.SeriesInstanceUID, in.SOPInstanceUID,
							in.SOPClassUID, in.PatientName, in.Modality, in.TransferSyntaxUID}
						want := [8]string{"incoming/" + f.Name, f.StudyInstanceUID, f.SeriesInstanceUID, f.SOPInstanceUID,
							f.SOPClassUID, f.PatientName, f.Modality, ts}
						if got != want || in.Size != f.Size || in.Path != f.Path {
							t.Errorf("instance\n got %q %d %s\nwant %q %d %s", got, in.Size, in.Path, want, f.Size, f.Path)
						}
						if in.InstitutionName != f.InstitutionName {
							t.Errorf("InstitutionName %q, want %q (charset %q)", in.InstitutionName, f.InstitutionName, f.CharacterSet)
						}
					}
				}
			}
		})
	}
}

// TestScanDeterministic: the Result does not depend on the number of
// workers.
func TestScanDeterministic(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	generate(t, root, dicomgen.Options{Studies: 4, SeriesPerStudy: 3, InstancesPerSeries: 5})
	var want []byte
	for _, workers := range []int{1, 3, 16} {
		res, err := (&Scanner{Workers: workers}).Scan(context.Background(), root)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = got
		} else if string(got) != string(want) {
			t.Errorf("Workers %d: result differs from Workers 1", workers)
		}
	}
}

// TestScanInputs covers every kind of input and outcome at once.
func TestScanInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	study1 := filepath.Join(dir, "study1")
	files := generate(t, study1, dicomgen.Options{SeriesPerStudy: 1, InstancesPerSeries: 3})
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// A .zip input holding two generated instances (one stored, one
	// deflated), a text file, and a member whose name repeats.
	var zb strings.Builder
	zw := zip.NewWriter(&zb)
	for i, m := range []uint16{zip.Store, zip.Deflate} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "in/zip/" + filepath.Base(files[i].Path), Method: m})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(read(files[i].Path))
	}
	for range 2 {
		w, _ := zw.Create("notes.txt")
		io.WriteString(w, "hello")
	}
	zw.Close()
	other := generate(t, filepath.Join(dir, "gen2"), dicomgen.Options{Seed: 99})
	write("archive.zip", []byte(zb.String()))
	write("broken.zip", []byte("PK but not really a zip"))
	write("copy-of-first.dcm", read(files[0].Path))
	examCard := (&ds{}).str(0x00080016, "UI", sopClassRawData).str(0x00080018, "UI", "9.9.9").
		str(0x00181030, "LO", "ExamCard").str(0x0020000D, "UI", "9.9").str(0x0020000E, "UI", "9.9.1").bytes()
	write("examcard.dcm", part10(tsExplicitLE, examCard))
	write("no-series.dcm", part10(tsExplicitLE, (&ds{}).str(0x0020000D, "UI", "8.8").str(0x00080018, "UI", "8.8.8").bytes()))
	write("truncated.dcm", part10(tsExplicitLE, (&ds{}).instance("7.7", "7.7.1", "7.7.7").raw([]byte{0x20, 0}).bytes()))
	dicomdir := part10(tsExplicitLE, nil)
	write("DICOMDIR", []byte(strings.Replace(string(dicomdir), "1.2.840.10008.5.1.4.1.1.2\x00", "1.2.840.10008.1.3.10\x00\x00\x00\x00\x00\x00", 1)))
	write("readme.txt", []byte("not DICOM"))
	if err := os.Symlink(filepath.Join(dir, "gen2"), filepath.Join(dir, "link-to-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other[0].Path, filepath.Join(dir, "link-to-file.dcm")); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "does-not-exist")

	res, err := Scan(context.Background(), dir, missing, files[2].Path)
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct{ kind, reason string }
	got := map[string]outcome{}
	rel := func(p string) string {
		r, _ := filepath.Rel(dir, p)
		return filepath.ToSlash(r)
	}
	for _, st := range res.Studies {
		for _, se := range st.Series {
			for _, in := range se.Instances {
				got[rel(in.Path)+" as "+in.Name] = outcome{"instance", in.Member}
			}
		}
	}
	sentinels := []error{ErrNotDICOM, ErrDICOMDIR, ErrDuplicate, ErrNotRegular, ErrRejected, ErrMalformed, ErrTruncated, ErrArchive, fs.ErrNotExist}
	for kind, list := range map[string][]*FileError{"skipped": res.Skipped, "rejected": res.Rejected, "error": res.Errors} {
		for _, fe := range list {
			var as *FileError
			if !errors.As(error(fe), &as) || !strings.HasPrefix(fe.Error(), "dicomscan: "+fe.Path+": ") {
				t.Errorf("%v: not a well-formed *FileError", fe)
			}
			reason := ""
			for _, s := range sentinels {
				if errors.Is(fe, s) {
					reason = strings.TrimPrefix(s.Error(), "dicomscan: ")
				}
			}
			got[rel(fe.Path)+" ("+kind+")"] = outcome{kind, reason}
		}
	}
	base := filepath.Base(dir)
	dup := outcome{"skipped", "duplicate SOP Instance UID"}
	// Walk order is lexical ("DICOMDIR" < "archive.zip" < ... < "study1"),
	// so the archive's copies come first and the files under study1 are
	// the duplicates, except IM00003, which the archive lacks.
	want := map[string]outcome{
		"archive.zip/in/zip/IM00001.dcm as in/zip/IM00001.dcm":                                    {"instance", "in/zip/IM00001.dcm"},
		"archive.zip/in/zip/IM00002.dcm as in/zip/IM00002.dcm":                                    {"instance", "in/zip/IM00002.dcm"},
		"gen2/study01/series01/IM00001.dcm as " + base + "/gen2/study01/series01/IM00001.dcm":     {"instance", ""},
		"study1/study01/series01/IM00003.dcm as " + base + "/study1/study01/series01/IM00003.dcm": {"instance", ""},
		"study1/study01/series01/IM00001.dcm (skipped)":                                           dup,
		"study1/study01/series01/IM00002.dcm (skipped)":                                           dup,
		"study1/study01/series01/IM00003.dcm (skipped)":                                           dup, // given again as an argument
		"copy-of-first.dcm (skipped)":                                                             dup,
		"link-to-file.dcm (skipped)":                                                              dup,
		"archive.zip/notes.txt (skipped)":                                                         {"skipped", "not a DICOM file"},
		"archive.zip/notes.txt (error)":                                                           {"error", "bad zip archive"}, // the repeated member name
		"broken.zip (error)":                                                                      {"error", "bad zip archive"},
		"examcard.dcm (rejected)":                                                                 {"rejected", "rejected"},
		"no-series.dcm (rejected)":                                                                {"rejected", "rejected"},
		"truncated.dcm (error)":                                                                   {"error", "truncated DICOM header"},
		"DICOMDIR (skipped)":                                                                      {"skipped", "DICOMDIR"},
		"readme.txt (skipped)":                                                                    {"skipped", "not a DICOM file"},
		"link-to-dir (skipped)":                                                                   {"skipped", "not a regular file"},
		"does-not-exist (error)":                                                                  {"error", "file does not exist"},
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range got {
			if want[k] != v {
				t.Errorf("%s: got %v, want %v", k, v, want[k])
			}
		}
		for k, v := range want {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: missing, want %v", k, v)
			}
		}
	}
	for _, fe := range res.Rejected {
		if strings.HasSuffix(fe.Path, "examcard.dcm") && fe.Reason() != `rejected: Raw Data Storage with Protocol Name "ExamCard" (Philips ExamCard)` {
			t.Errorf("ExamCard reason %q", fe.Reason())
		}
	}
	if res.Files != 19 {
		t.Errorf("Files = %d, want 19", res.Files)
	}
	if err := res.Err(); err == nil || len(err.(interface{ Unwrap() []error }).Unwrap()) != len(res.Errors) {
		t.Errorf("Err() = %v", err)
	}
	var fe *FileError
	if !errors.As(res.Err(), &fe) {
		t.Error("errors.As(res.Err(), *FileError) failed")
	}
}

// TestScanArchive scans a .zip input on its own: members are instances,
// named as in the archive.
func TestScanArchive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := generate(t, filepath.Join(dir, "src"), dicomgen.Options{SeriesPerStudy: 2, InstancesPerSeries: 2, Seed: 5})
	zpath := filepath.Join(dir, "upload.ZIP")
	out, err := os.Create(zpath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(out)
	for i, f := range files {
		m := []uint16{zip.Store, zip.Deflate}[i%2]
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: m, Modified: time.Unix(1700000000, 0)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(f.Path)
		w.Write(b)
	}
	zw.Close()
	out.Close()
	res, err := Scan(context.Background(), zpath)
	if err != nil {
		t.Fatal(err)
	}
	if res.Instances() != 4 || len(res.Errors)+len(res.Skipped) != 0 {
		t.Fatalf("instances %d, errors %v, skipped %v", res.Instances(), res.Errors, res.Skipped)
	}
	in := res.Studies[0].Series[0].Instances[0]
	if in.Archive != zpath || in.Member != files[0].Name || in.Name != files[0].Name ||
		in.Path != zpath+"/"+files[0].Name || in.Size != files[0].Size || in.SOPInstanceUID != files[0].SOPInstanceUID ||
		!in.ModTime.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("instance %+v", in)
	}
}

// TestScanArchiveMemberLimit: a compressed .zip member is a stream whose
// size is only declared by the archive, so the header reader stops after
// the stream limit (maxStream, lowered here) like for a deflated dataset.
// It used to trust the declared size and inflate any amount of data to
// skip an element: a tiny archive declaring gigabytes kept a worker busy
// for as long as the archive said. A stored member is read by seeking, and
// is not limited.
func TestScanArchiveMemberLimit(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	zpath := filepath.Join(t.TempDir(), "in.zip")
	out, err := os.Create(zpath)
	if err != nil {
		t.Fatal(err)
	}
	member := func(sopUID string, skipped int) []byte {
		d := (&ds{}).header(0x00090010, "OB", uint32(skipped)).raw(make([]byte, skipped))
		return part10(tsExplicitLE, d.instance(study, series, sopUID).bytes())
	}
	zw := zip.NewWriter(out)
	for i, m := range []struct {
		name    string
		method  uint16
		skipped int
	}{
		{"bomb.dcm", zip.Deflate, 2 * limit},
		{"stored.dcm", zip.Store, 2 * limit},
		{"small.dcm", zip.Deflate, limit / 2},
	} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: m.method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(member(fmt.Sprintf("%s.%d", sop, i), m.skipped))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	res, err := (&Scanner{streamLimit: limit}).Scan(context.Background(), zpath)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 || res.Errors[0].Path != zpath+"/bomb.dcm" || !errors.Is(res.Errors[0], ErrMalformed) {
		t.Errorf("errors %v, want ErrMalformed for bomb.dcm", res.Errors)
	}
	if res.Instances() != 2 {
		t.Errorf("%d instances, want stored.dcm and small.dcm", res.Instances())
	}
}

// TestScanArchiveOverlappingMembers: members whose data overlap (every
// central-directory entry pointing at one compressed stream, the trick of
// non-recursive zip bombs) make the whole archive an ErrArchive, read no
// further; an honest archive with the same members scans.
func TestScanArchiveOverlappingMembers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	body := part10(tsExplicitLE, (&ds{}).instance(study, series, sop+".1").bytes())
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"a.dcm", "b.dcm", "c.dcm"} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	honest := filepath.Join(dir, "honest.zip")
	if err := os.WriteFile(honest, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// Point every central-directory record at the first member's local
	// header (offset 0): same name length, same sizes and CRC, so
	// archive/zip accepts it, and three members share one stream.
	bomb := bytes.Clone(buf.Bytes())
	sig := []byte{'P', 'K', 1, 2}
	n := 0
	for i := bytes.Index(bomb, sig); i >= 0; {
		binary.LittleEndian.PutUint32(bomb[i+42:], 0)
		n++
		j := bytes.Index(bomb[i+4:], sig)
		if j < 0 {
			break
		}
		i += 4 + j
	}
	if n != 3 {
		t.Fatalf("patched %d central-directory records, want 3", n)
	}
	bombPath := filepath.Join(dir, "bomb.zip")
	if err := os.WriteFile(bombPath, bomb, 0o644); err != nil {
		t.Fatal(err)
	}

	res, err := Scan(context.Background(), honest)
	if err != nil || len(res.Errors) != 0 || len(res.Skipped) != 2 {
		// b.dcm and c.dcm repeat a.dcm's SOP Instance UID: skipped as duplicates.
		t.Fatalf("honest archive: %v, errors %v, skipped %v", err, res.Errors, res.Skipped)
	}
	res, err = Scan(context.Background(), bombPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 || res.Errors[0].Path != bombPath || !errors.Is(res.Errors[0], ErrArchive) ||
		!strings.Contains(res.Errors[0].Error(), "overlapping") || res.Instances() != 0 {
		t.Fatalf("bomb archive: errors %v, %d instances; want one ErrArchive for the archive", res.Errors, res.Instances())
	}
}

// TestScanLinkedRoot: an argument that is a link to a directory is
// walked (links inside are not followed), with names under the link's name.
func TestScanLinkedRoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	generate(t, filepath.Join(dir, "real"), dicomgen.Options{InstancesPerSeries: 2})
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "real"), link); err != nil {
		t.Skip("no symbolic links:", err)
	}
	var logs strings.Builder
	s := Scanner{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	res, err := s.Scan(context.Background(), link, filepath.Join(dir, "nothing-here"))
	if err != nil {
		t.Fatal(err)
	}
	in := res.Studies[0].Series[0].Instances[0]
	if res.Instances() != 2 || in.Name != "link/study01/series01/IM00001.dcm" || in.Path != filepath.Join(link, "study01/series01/IM00001.dcm") {
		t.Errorf("%d instances, first %q at %q", res.Instances(), in.Name, in.Path)
	}
	if !strings.Contains(logs.String(), "nothing-here") || !strings.Contains(logs.String(), "level=DEBUG") {
		t.Errorf("log: %q", logs.String())
	}
}

// TestScanNotRegular: a named pipe is reported, never opened (opening a
// FIFO would block the scan).
func TestScanNotRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := mkfifo(fifo); err != nil {
		t.Skip("no named pipes here:", err)
	}
	res, err := Scan(context.Background(), dir, fifo)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 2 || !errors.Is(res.Skipped[0], ErrNotRegular) || !errors.Is(res.Skipped[1], ErrNotRegular) {
		t.Errorf("skipped %v", res.Skipped)
	}
}

// TestStudyRules: study fields from the first file, the description from
// the first that has one, series fields from their first file, one
// modality per series, in order (spec §6.5).
func TestStudyRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, series, sop, modality, desc, seriesDesc, patient string) {
		d := (&ds{}).str(0x00080018, "UI", sop).str(0x00080060, "CS", modality)
		if desc != "" {
			d.str(0x00081030, "LO", desc)
		}
		d.str(0x0008103E, "LO", seriesDesc).str(0x00100010, "PN", patient).
			str(0x0020000D, "UI", "1.1").str(0x0020000E, "UI", series)
		if err := os.WriteFile(filepath.Join(dir, name), part10(tsExplicitLE, d.bytes()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file("a", "1.1.1", "1.1.1.1", "CT", "", "first", "First^Patient")
	file("b", "1.1.2", "1.1.2.1", "PR", "Chest", "second", "Second^Name")
	file("c", "1.1.1", "1.1.1.2", "MR", "Other", "ignored", "Third^Name")
	file("d", "1.1.3", "1.1.3.1", "CT", "", "third", "X")
	res, err := Scan(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	st := res.Studies[0]
	if st.PatientName != "First^Patient" || st.StudyDescription != "Chest" || !reflect.DeepEqual(st.Modalities, []string{"CT", "PR"}) {
		t.Errorf("study %+v", st)
	}
	if se := st.Series[0]; se.Modality != "CT" || se.SeriesDescription != "first" || len(se.Instances) != 2 {
		t.Errorf("series %+v", se)
	}
	if st.Instances() != 4 || len(st.Series) != 3 {
		t.Errorf("%d instances in %d series", st.Instances(), len(st.Series))
	}
}

func TestScanProgress(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	generate(t, root, dicomgen.Options{SeriesPerStudy: 2, InstancesPerSeries: 10})
	var calls []Progress
	s := Scanner{OnProgress: func(p Progress) { calls = append(calls, p) }}
	res, err := s.Scan(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != res.Files || res.Files != 20 {
		t.Fatalf("%d progress calls for %d files", len(calls), res.Files)
	}
	for i, p := range calls {
		if p.Done != i+1 || p.Found < p.Done || p.Path == "" {
			t.Errorf("call %d: %+v", i, p)
		}
	}
}

func TestScanCancel(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	generate(t, root, dicomgen.Options{InstancesPerSeries: 50})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Scan(ctx, root); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled before: err = %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	s := Scanner{Workers: 2, OnProgress: func(p Progress) {
		if p.Done == 5 {
			cancel()
		}
	}}
	if _, err := s.Scan(ctx, root); !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "dicomscan: ") {
		t.Errorf("canceled during: err = %v", err)
	}
}

// TestCrossCheckSuyashkumar compares the UIDs the scanner reads with
// suyashkumar/dicom's full parser (behind recover: it panics on some
// inputs) on every instance of the pydicom corpus it can parse.
func TestCrossCheckSuyashkumar(t *testing.T) {
	t.Parallel()
	root := testenv.PydicomTestFiles(t)
	res, err := Scan(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, st := range res.Studies {
		for _, se := range st.Series {
			for _, in := range se.Instances {
				ds, ok := suyashParse(in.Path)
				if !ok {
					continue
				}
				checked++
				for tg, want := range map[tag.Tag]string{tag.StudyInstanceUID: in.StudyInstanceUID,
					tag.SeriesInstanceUID: in.SeriesInstanceUID, tag.SOPInstanceUID: in.SOPInstanceUID} {
					e, err := ds.FindElementByTag(tg)
					if err != nil {
						t.Errorf("%s: suyashkumar/dicom has no %v", in.Path, tg)
						continue
					}
					if got := strings.TrimRight(strings.Join(dicom.MustGetStrings(e.Value), `\`), "\x00 "); got != want {
						t.Errorf("%s: %v = %q, we read %q", in.Path, tg, got, want)
					}
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d of %d instances cross-checked", checked, res.Instances())
	}
}

func suyashParse(path string) (ds dicom.Dataset, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ds, err := dicom.ParseFile(path, nil, dicom.SkipPixelData())
	return ds, err == nil
}
