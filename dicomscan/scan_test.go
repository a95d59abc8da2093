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
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"go.uber.org/goleak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func generate(t testing.TB, dir string, o dicomgen.Options) []dicomgen.File {
	t.Helper()
	files, err := dicomgen.Write(context.Background(), dir, o)
	require.NoError(t, err)
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
			require.NoError(t, err)
			got := [5]int{len(res.Studies), res.Series(), res.Instances(), res.Files, len(res.Skipped) + len(res.Rejected) + len(res.Errors)}
			require.Equal(t, [5]int{3, 6, 18, 18, 0}, got, "studies, series, instances, files, others")
			i := 0
			for _, st := range res.Studies {
				assert.Equal(t, []string{files[i].Modality}, st.Modalities)
				assert.Equal(t, [3]string{files[i].StudyInstanceUID, files[i].PatientName, files[i].PatientID},
					[3]string{st.StudyInstanceUID, st.PatientName, st.PatientID}, "study UID, patient name, patient ID")
				for _, se := range st.Series {
					for _, in := range se.Instances {
						f := files[i]
						i++
						got := [8]string{in.Name, in.attrs.StudyInstanceUID, in.attrs.SeriesInstanceUID, in.SOPInstanceUID,
							in.attrs.SOPClassUID, in.attrs.PatientName, in.attrs.Modality, in.TransferSyntaxUID}
						want := [8]string{"incoming/" + f.Name, f.StudyInstanceUID, f.SeriesInstanceUID, f.SOPInstanceUID,
							f.SOPClassUID, f.PatientName, f.Modality, ts}
						assert.Equal(t, want, got, "instance")
						assert.Equal(t, f.Size, in.Size, "size of %s", f.Path)
						assert.Equal(t, f.Path, in.Path)
						assert.Equal(t, f.InstitutionName, in.attrs.InstitutionName, "InstitutionName (charset %q)", f.CharacterSet)
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
		require.NoError(t, err)
		got, err := json.Marshal(res)
		require.NoError(t, err)
		if want == nil {
			want = got
		} else {
			assert.Equal(t, string(want), string(got), "Workers %d: result differs from Workers 1", workers)
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
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return b
	}
	// A .zip input holding two generated instances (one stored, one
	// deflated), a text file, and a member whose name repeats.
	var zb strings.Builder
	zw := zip.NewWriter(&zb)
	for i, m := range []uint16{zip.Store, zip.Deflate} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "in/zip/" + filepath.Base(files[i].Path), Method: m})
		require.NoError(t, err)
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
	require.NoError(t, os.Symlink(filepath.Join(dir, "gen2"), filepath.Join(dir, "link-to-dir")))
	require.NoError(t, os.Symlink(other[0].Path, filepath.Join(dir, "link-to-file.dcm")))
	missing := filepath.Join(dir, "does-not-exist")

	res, err := Scan(context.Background(), dir, missing, files[2].Path)
	require.NoError(t, err)
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
			assert.ErrorAs(t, error(fe), &as)
			assert.True(t, strings.HasPrefix(fe.Error(), "dicomscan: "+fe.Path+": "), "%v: not a well-formed *FileError", fe)
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
	assert.Equal(t, want, got)
	for _, fe := range res.Rejected {
		if strings.HasSuffix(fe.Path, "examcard.dcm") {
			assert.Equal(t, `rejected: Raw Data Storage with Protocol Name "ExamCard" (Philips ExamCard)`, fe.Reason(), "ExamCard reason")
		}
	}
	assert.Equal(t, 19, res.Files)
	err = res.Err()
	require.Error(t, err)
	require.Implements(t, (*interface{ Unwrap() []error })(nil), err)
	assert.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), len(res.Errors), "Err() lists every error")
	var fe *FileError
	assert.ErrorAs(t, res.Err(), &fe)
}

// TestScanArchive scans a .zip input on its own: members are instances,
// named as in the archive.
func TestScanArchive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := generate(t, filepath.Join(dir, "src"), dicomgen.Options{SeriesPerStudy: 2, InstancesPerSeries: 2, Seed: 5})
	zpath := filepath.Join(dir, "upload.ZIP")
	out, err := os.Create(zpath)
	require.NoError(t, err)
	zw := zip.NewWriter(out)
	for i, f := range files {
		m := []uint16{zip.Store, zip.Deflate}[i%2]
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: m, Modified: time.Unix(1700000000, 0)})
		require.NoError(t, err)
		b, _ := os.ReadFile(f.Path)
		w.Write(b)
	}
	zw.Close()
	out.Close()
	res, err := Scan(context.Background(), zpath)
	require.NoError(t, err)
	require.Equal(t, 4, res.Instances())
	require.Empty(t, res.Errors)
	require.Empty(t, res.Skipped)
	in := res.Studies[0].Series[0].Instances[0]
	assert.Equal(t, zpath, in.Archive)
	assert.Equal(t, files[0].Name, in.Member)
	assert.Equal(t, files[0].Name, in.Name)
	assert.Equal(t, zpath+"/"+files[0].Name, in.Path)
	assert.Equal(t, files[0].Size, in.Size)
	assert.Equal(t, files[0].SOPInstanceUID, in.SOPInstanceUID)
	assert.True(t, in.ModTime.Equal(time.Unix(1700000000, 0)), "ModTime %v", in.ModTime)
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
	require.NoError(t, err)
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
		require.NoError(t, err)
		w.Write(member(fmt.Sprintf("%s.%d", sop, i), m.skipped))
	}
	require.NoError(t, zw.Close())
	out.Close()
	res, err := (&Scanner{streamLimit: limit}).Scan(context.Background(), zpath)
	require.NoError(t, err)
	if assert.Len(t, res.Errors, 1) {
		assert.Equal(t, zpath+"/bomb.dcm", res.Errors[0].Path)
		assert.ErrorIs(t, res.Errors[0], ErrMalformed)
	}
	assert.Equal(t, 2, res.Instances(), "want stored.dcm and small.dcm")
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
		require.NoError(t, err)
		w.Write(body)
	}
	require.NoError(t, zw.Close())
	honest := filepath.Join(dir, "honest.zip")
	require.NoError(t, os.WriteFile(honest, buf.Bytes(), 0o644))
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
	require.Equal(t, 3, n, "patched central-directory records")
	bombPath := filepath.Join(dir, "bomb.zip")
	require.NoError(t, os.WriteFile(bombPath, bomb, 0o644))

	res, err := Scan(context.Background(), honest)
	require.NoError(t, err)
	require.Empty(t, res.Errors, "honest archive")
	// b.dcm and c.dcm repeat a.dcm's SOP Instance UID: skipped as duplicates.
	require.Len(t, res.Skipped, 2, "honest archive")
	res, err = Scan(context.Background(), bombPath)
	require.NoError(t, err)
	require.Len(t, res.Errors, 1, "bomb archive")
	assert.Equal(t, bombPath, res.Errors[0].Path)
	assert.ErrorIs(t, res.Errors[0], ErrArchive)
	assert.ErrorContains(t, res.Errors[0], "overlapping")
	assert.Zero(t, res.Instances())
}

// TestScanLinkedRoot: an argument that is a link to a directory is
// walked (links inside are not followed), with names under the link's name.
func TestScanLinkedRoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	generate(t, filepath.Join(dir, "real"), dicomgen.Options{InstancesPerSeries: 2})
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "real"), link); err != nil {
		testenv.Unsupported(t, "symbolic links", err)
	}
	var logs strings.Builder
	s := Scanner{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	res, err := s.Scan(context.Background(), link, filepath.Join(dir, "nothing-here"))
	require.NoError(t, err)
	in := res.Studies[0].Series[0].Instances[0]
	assert.Equal(t, 2, res.Instances())
	assert.Equal(t, "link/study01/series01/IM00001.dcm", in.Name)
	assert.Equal(t, filepath.Join(link, "study01/series01/IM00001.dcm"), in.Path)
	assert.Contains(t, logs.String(), "nothing-here")
	assert.Contains(t, logs.String(), "level=DEBUG")
}

// TestScanNotRegular: a named pipe is reported, never opened (opening a
// FIFO would block the scan).
func TestScanNotRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := mkfifo(fifo); err != nil {
		testenv.Unsupported(t, "named pipes", err)
	}
	res, err := Scan(context.Background(), dir, fifo)
	require.NoError(t, err)
	require.Len(t, res.Skipped, 2)
	assert.ErrorIs(t, res.Skipped[0], ErrNotRegular)
	assert.ErrorIs(t, res.Skipped[1], ErrNotRegular)
}

// TestStudyRules: study fields from the first file, the description from
// the first that has one, series fields from their first file, one
// modality per series, in order (spec §6.5).
func TestStudyRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, series, sop, modality, desc, seriesDesc, patient string) {
		d := (&ds{}).str(0x00080018, "UI", sop).str(0x00080050, "SH", "ACC-"+name).str(0x00080060, "CS", modality)
		if desc != "" {
			d.str(0x00081030, "LO", desc)
		}
		d.str(0x0008103E, "LO", seriesDesc).str(0x00100010, "PN", patient).
			str(0x00100030, "DA", map[bool]string{true: "19700101", false: "19800101"}[name == "a"]).str(0x00100040, "CS", map[bool]string{true: "F", false: "M"}[name == "a"]).
			str(0x0020000D, "UI", "1.1").str(0x0020000E, "UI", series)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), part10(tsExplicitLE, d.bytes()), 0o644))
	}
	file("a", "1.1.1", "1.1.1.1", "CT", "", "first", "First^Patient")
	file("b", "1.1.2", "1.1.2.1", "PR", "Chest", "second", "Second^Name")
	file("c", "1.1.1", "1.1.1.2", "MR", "Other", "ignored", "Third^Name")
	file("d", "1.1.3", "1.1.3.1", "CT", "", "third", "X")
	res, err := Scan(context.Background(), dir)
	require.NoError(t, err)
	st := res.Studies[0]
	assert.Equal(t, "First^Patient", st.PatientName)
	assert.Equal(t, "ACC-a", st.AccessionNumber, "from the first file")
	assert.Equal(t, "19700101", st.PatientBirthDate, "from the first file")
	assert.Equal(t, "F", st.PatientSex, "from the first file")
	assert.Equal(t, "Chest", st.StudyDescription)
	assert.Equal(t, []string{"CT", "PR"}, st.Modalities)
	se := st.Series[0]
	assert.Equal(t, "CT", se.Modality)
	assert.Equal(t, "first", se.SeriesDescription)
	assert.Len(t, se.Instances, 2)
	assert.Equal(t, 4, st.Instances())
	assert.Len(t, st.Series, 3)
}

func TestScanProgress(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	generate(t, root, dicomgen.Options{SeriesPerStudy: 2, InstancesPerSeries: 10})
	var calls []Progress
	s := Scanner{OnProgress: func(p Progress) { calls = append(calls, p) }}
	res, err := s.Scan(context.Background(), root)
	require.NoError(t, err)
	require.Equal(t, 20, res.Files)
	require.Len(t, calls, res.Files, "progress calls")
	for i, p := range calls {
		assert.Equal(t, i+1, p.Done, "call %d", i)
		assert.GreaterOrEqual(t, p.Found, p.Done, "call %d", i)
		assert.NotEmpty(t, p.Path, "call %d", i)
	}
}

func TestScanCancel(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	generate(t, root, dicomgen.Options{InstancesPerSeries: 50})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Scan(ctx, root)
	assert.ErrorIs(t, err, context.Canceled, "canceled before")
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	s := Scanner{Workers: 2, OnProgress: func(p Progress) {
		if p.Done == 5 {
			cancel()
		}
	}}
	_, err = s.Scan(ctx, root)
	require.ErrorIs(t, err, context.Canceled, "canceled during")
	assert.True(t, strings.HasPrefix(err.Error(), "dicomscan: "), "err = %v", err)
}

// TestCrossCheckSuyashkumar compares the UIDs the scanner reads with
// suyashkumar/dicom's full parser (behind recover: it panics on some
// inputs) on every instance of the pydicom corpus it can parse.
func TestCrossCheckSuyashkumar(t *testing.T) {
	t.Parallel()
	root := testenv.PydicomTestFiles(t)
	res, err := Scan(context.Background(), root)
	require.NoError(t, err)
	checked := 0
	for _, st := range res.Studies {
		for _, se := range st.Series {
			for _, in := range se.Instances {
				ds, ok := suyashParse(in.Path)
				if !ok {
					continue
				}
				checked++
				for tg, want := range map[tag.Tag]string{tag.StudyInstanceUID: in.attrs.StudyInstanceUID,
					tag.SeriesInstanceUID: in.attrs.SeriesInstanceUID, tag.SOPInstanceUID: in.SOPInstanceUID} {
					e, err := ds.FindElementByTag(tg)
					if !assert.NoError(t, err, "%s: suyashkumar/dicom has no %v", in.Path, tg) {
						continue
					}
					got := strings.TrimRight(strings.Join(dicom.MustGetStrings(e.Value), `\`), "\x00 ")
					assert.Equal(t, got, want, "%s: %v (suyashkumar/dicom, then ours)", in.Path, tg)
				}
			}
		}
	}
	assert.GreaterOrEqual(t, checked, 100, "instances cross-checked of %d", res.Instances())
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
