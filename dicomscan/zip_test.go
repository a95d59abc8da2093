package dicomscan

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/testenv"
)

// mixedStudies scans three studies: one native (deflated in the zip), one
// JPEG (stored), and one of larger native slices (streamed, not compressed
// ahead, when Zip.aheadLimit is smallAhead).
func mixedStudies(t *testing.T) (*Result, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "in")
	mt := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	generate(t, filepath.Join(root, "native"), dicomgen.Options{SeriesPerStudy: 2, InstancesPerSeries: 4, Seed: 1, ModTime: mt})
	generate(t, filepath.Join(root, "jpeg"), dicomgen.Options{SeriesPerStudy: 1, InstancesPerSeries: 3, Seed: 2, ModTime: mt,
		TransferSyntaxes: []string{dicomgen.JPEGBaseline}})
	generate(t, filepath.Join(root, "large"), dicomgen.Options{InstancesPerSeries: 2, Seed: 3, ModTime: mt, Rows: 128, Columns: 128})
	res, err := Scan(context.Background(), root)
	require.NoError(t, err)
	require.Len(t, res.Studies, 3)
	require.Equal(t, 13, res.Instances())
	return res, root
}

// smallAhead makes the 32 KiB slices of mixedStudies "large": streamed
// rather than compressed ahead (the real limit is 4 MiB, too slow to
// reach under the race detector).
const smallAhead = 16 << 10

func sha(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

// TestZipRoundTrip unzips the archive and compares every entry with its
// source: name, method, time and SHA-256.
func TestZipRoundTrip(t *testing.T) {
	t.Parallel()
	res, _ := mixedStudies(t)
	var buf bytes.Buffer
	var progress []ZipProgress
	z := Zip{aheadLimit: smallAhead, OnProgress: func(p ZipProgress) { progress = append(progress, p) }}
	n, err := z.Write(context.Background(), &buf, res.Studies)
	require.NoError(t, err)
	assert.Equal(t, int64(buf.Len()), n, "Write's count")
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	entries := z.Entries(res.Studies)
	require.Len(t, entries, res.Instances(), "planned entries")
	require.Len(t, zr.File, len(entries), "entries in the zip")
	for i, f := range zr.File {
		e := entries[i]
		in := e.Instance
		wantName := in.attrs.StudyInstanceUID + "/" + strings.ReplaceAll(in.Name, "/", "-")
		assert.Equal(t, wantName, f.Name, "entry %d", i)
		assert.Equal(t, wantName, e.Name, "planned entry %d", i)
		wantMethod := zip.Deflate
		if strings.Contains(in.Name, "jpeg/") {
			wantMethod = zip.Store
		}
		assert.Equal(t, wantMethod, f.Method, f.Name)
		assert.NotZero(t, f.Flags&0x8, "%s: no data descriptor", f.Name)
		assert.True(t, f.Modified.Equal(in.ModTime), "%s: modified %v, want %v", f.Name, f.Modified, in.ModTime)
		rc, err := f.Open()
		require.NoError(t, err)
		got, err := io.ReadAll(rc) // also checks the CRC-32
		rc.Close()
		require.NoError(t, err, "%s", f.Name)
		src, err := os.ReadFile(in.Path)
		require.NoError(t, err)
		assert.Equal(t, sha(src), sha(got), "%s: SHA-256 differs from %s", f.Name, in.Path)
	}
	require.Len(t, progress, len(entries), "progress calls")
	last := progress[len(progress)-1]
	assert.Equal(t, last.TotalEntries, last.Entries)
	assert.Equal(t, res.Size(), last.BytesRead)
	assert.Equal(t, res.Size(), last.TotalBytes)
	assert.LessOrEqual(t, last.BytesWritten, n)
}

// TestZipDeterministic: the same files and settings give the same bytes,
// whatever the number of workers; Store gives an archive whose size Size
// predicts exactly.
func TestZipDeterministic(t *testing.T) {
	t.Parallel()
	res, _ := mixedStudies(t)
	write := func(z Zip) []byte {
		var buf bytes.Buffer
		_, err := z.Write(context.Background(), &buf, res.Studies)
		require.NoError(t, err)
		return buf.Bytes()
	}
	tests := []struct {
		name string
		a, b Zip
		same bool
	}{
		{"workers 1 and 8", Zip{Workers: 1}, Zip{Workers: 8}, true},
		{"compressed ahead or streamed", Zip{}, Zip{aheadLimit: smallAhead}, true},
		{"level 6, workers 2 and 3", Zip{Level: 6, Workers: 2}, Zip{Level: 6, Workers: 3}, true},
		{"store, twice", Zip{Store: true}, Zip{Store: true}, true},
		{"fixed time, twice", Zip{Modified: time.Unix(1e9, 0)}, Zip{Modified: time.Unix(1e9, 0), Workers: 1}, true},
		{"levels 1 and 9 differ", Zip{Level: 1}, Zip{Level: 9}, false},
		{"times differ", Zip{Modified: time.Unix(1e9, 0)}, Zip{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := write(tt.a), write(tt.b)
			assert.Equal(t, tt.same, bytes.Equal(a, b), "equal archives (%d and %d bytes)", len(a), len(b))
		})
	}
	t.Run("Size", func(t *testing.T) {
		z := Zip{Store: true}
		size, err := z.Size(res.Studies)
		require.NoError(t, err)
		assert.Equal(t, size, int64(len(write(z))), "Size() against the archive")
		_, err = (&Zip{}).Size(res.Studies)
		assert.ErrorIs(t, err, ErrSizeUnknown, "deflating Size()")
		jpeg := []*Study{res.Studies[0]} // "in/jpeg" comes first in walk order
		require.Equal(t, dicomgen.JPEGBaseline, res.Studies[0].Series[0].Instances[0].TransferSyntaxUID, "study order changed")
		size, err = (&Zip{}).Size(jpeg)
		require.NoError(t, err, "encapsulated only: Size()")
		var buf bytes.Buffer
		n, err := (&Zip{}).Write(context.Background(), &buf, jpeg)
		require.NoError(t, err)
		assert.Equal(t, size, n, "encapsulated only: Size() against Write")
	})
}

func TestZipChanged(t *testing.T) {
	t.Parallel()
	for _, change := range []string{"grown", "shrunk", "removed", "replaced by a FIFO"} {
		t.Run(change, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			generate(t, root, dicomgen.Options{InstancesPerSeries: 5})
			res, err := Scan(context.Background(), root)
			require.NoError(t, err)
			victim := res.Studies[0].Series[0].Instances[3].Path
			switch change {
			case "grown":
				f, _ := os.OpenFile(victim, os.O_APPEND|os.O_WRONLY, 0)
				f.Write([]byte("xx"))
				f.Close()
			case "shrunk":
				os.Truncate(victim, 100)
			case "removed":
				os.Remove(victim)
			case "replaced by a FIFO":
				// Opening it for reading used to block Write until a
				// writer came, whatever ctx said.
				os.Remove(victim)
				if err := mkfifo(victim); err != nil {
					testenv.Unsupported(t, "named pipes", err)
				}
			}
			err = writeUnblocking(t, res.Studies, victim)
			var fe *FileError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, victim, fe.Path)
			if change == "replaced by a FIFO" {
				assert.ErrorIs(t, err, ErrNotRegular)
			}
			if change != "removed" {
				assert.ErrorIs(t, err, ErrChanged)
			} else {
				assert.ErrorIs(t, err, os.ErrNotExist)
			}
		})
	}
}

// writeUnblocking runs Zip.Write and returns its error. If Write is still
// blocked after a minute (opening fifo, a named pipe), it opens fifo for
// writing to release it and fails the test.
func writeUnblocking(t *testing.T, studies []*Study, fifo string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := (&Zip{}).Write(context.Background(), io.Discard, studies)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		<-done
		require.FailNow(t, "Write blocked opening "+fifo)
		return nil
	}
}

func TestZipCancel(t *testing.T) {
	t.Parallel()
	res, _ := mixedStudies(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	z := Zip{OnProgress: func(p ZipProgress) {
		if p.Entries == 2 {
			cancel()
		}
	}}
	_, err := z.Write(ctx, io.Discard, res.Studies)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = (&Zip{Level: 10}).Write(context.Background(), io.Discard, res.Studies)
	assert.Error(t, err, "level 10 accepted")
}

// TestZipFromArchive zips instances found inside a .zip input.
func TestZipFromArchive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := generate(t, filepath.Join(dir, "src"), dicomgen.Options{InstancesPerSeries: 4, Seed: 8})
	zpath := filepath.Join(dir, "in.zip")
	out, _ := os.Create(zpath)
	zw := zip.NewWriter(out)
	for i, f := range files {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "dir/" + filepath.Base(f.Path), Method: []uint16{zip.Store, zip.Deflate}[i%2]})
		b, _ := os.ReadFile(f.Path)
		w.Write(b)
	}
	zw.Close()
	out.Close()
	res, err := Scan(context.Background(), zpath)
	require.NoError(t, err)
	require.Equal(t, 4, res.Instances())
	var buf bytes.Buffer
	_, err = (&Zip{}).Write(context.Background(), &buf, res.Studies)
	require.NoError(t, err)
	zr, _ := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	for i, f := range zr.File {
		rc, _ := f.Open()
		got, _ := io.ReadAll(rc)
		rc.Close()
		src, _ := os.ReadFile(files[i].Path)
		assert.Equal(t, files[i].StudyInstanceUID+"/dir-"+filepath.Base(files[i].Path), f.Name)
		assert.Equal(t, sha(src), sha(got), "%s: SHA-256", f.Name)
	}
}

// TestZipArchiveReplacedByFIFO: a .zip input replaced by a named pipe
// between the scan and the zip makes Write fail, not hang: opening it used
// to block until a writer came, whatever ctx said.
func TestZipArchiveReplacedByFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := generate(t, filepath.Join(dir, "src"), dicomgen.Options{InstancesPerSeries: 2, Seed: 9})
	zpath := filepath.Join(dir, "in.zip")
	out, _ := os.Create(zpath)
	zw := zip.NewWriter(out)
	for _, f := range files {
		w, _ := zw.Create(filepath.Base(f.Path))
		b, _ := os.ReadFile(f.Path)
		w.Write(b)
	}
	zw.Close()
	out.Close()
	res, err := Scan(context.Background(), zpath)
	require.NoError(t, err)
	require.Equal(t, 2, res.Instances())
	os.Remove(zpath)
	if err := mkfifo(zpath); err != nil {
		testenv.Unsupported(t, "named pipes", err)
	}
	err = writeUnblocking(t, res.Studies, zpath)
	var fe *FileError
	assert.ErrorAs(t, err, &fe)
	assert.ErrorIs(t, err, ErrArchive)
}

func TestEntries(t *testing.T) {
	t.Parallel()
	in := func(name, sop string) *Instance {
		return &Instance{Name: name, SOPInstanceUID: sop}
	}
	study := func(uid string, ins ...*Instance) *Study {
		return &Study{StudyInstanceUID: uid, Series: []*Series{{Instances: ins}}}
	}
	studies := []*Study{
		study("1.2.3",
			in("folder/sub/file.dcm", "1.1"),
			in("folder-sub/file.dcm", "1.2"),  // same name once '/' becomes '-'
			in("folder/sub-file.dcm", "1.3"),  // and again
			in("folder/sub/file.dcm", ""),     // no SOP UID: a counter
			in("IM0001", "1.5"),               //
			in("IM0001", "1.6"),               // no extension
			in("1.2.3.4", "1.7"),              // a UID-like name has no extension
			in("1.2.3.4", "1.8"),              //
			in("", "1.9"),                     // empty: the SOP Instance UID
			in("..", "1.10"),                  //
			in(`win\path\x.DCM`, "1.11"),      // backslashes too
			in(`win\path\x.DCM`, "a/b"),       // a hostile SOP UID stays one component
			in("folder/sub/file.dcm", "1.13"), //
		),
		study("1.2.4", in("folder/sub/file.dcm", "2.1")), // another study: no collision
		study("../../etc", in("passwd", "3.1")),
		study("", in("x", "4.1")),
		// Different studies whose UIDs become the same folder get
		// different folders.
		study("5/6", in("a.dcm", "5.1")),
		study("5-6", in("a.dcm", "5.2")),
		study("_", in("x", "4.2")),
		// Names a Windows extractor would misread (issue 11 §5).
		study("C:", in("CON.dcm", "6.1"), in("con.DCM", "6.2"), in("a:b|c?.dcm", "6.3"), in("trailing. ", "6.4")),
		study("c_", in("x", "7.1")), // collides with "C:" once portable, ignoring case
		study("1.2.3.", in("LPT1", "8.1"), in("nul.tar.gz", "8.2"), in("IM\x01\x7f", "8.3"), in("IM1.dcm", "8.4"), in("im1.DCM", "8.5")),
	}
	want := []string{
		"1.2.3/folder-sub-file.dcm",
		"1.2.3/folder-sub-file_1.2.dcm",
		"1.2.3/folder-sub-file_1.3.dcm",
		"1.2.3/folder-sub-file_2.dcm",
		"1.2.3/IM0001",
		"1.2.3/IM0001_1.6",
		"1.2.3/1.2.3.4",
		"1.2.3/1.2.3.4_1.8",
		"1.2.3/1.9",
		"1.2.3/1.10",
		"1.2.3/win-path-x.DCM",
		"1.2.3/win-path-x_a-b.DCM",
		"1.2.3/folder-sub-file_1.13.dcm",
		"1.2.4/folder-sub-file.dcm",
		"..-..-etc/passwd",
		"_/x",
		"5-6/a.dcm",
		"5-6_2/a.dcm",
		"__2/x",
		"C_/_CON.dcm",
		"C_/_con_6.2.DCM",
		"C_/a_b_c_.dcm",
		"C_/trailing__",
		"c__2/x",
		"1.2.3_/_LPT1",
		"1.2.3_/_nul.tar.gz",
		"1.2.3_/IM__",
		"1.2.3_/IM1.dcm",
		"1.2.3_/im1_8.5.DCM",
	}
	got := (&Zip{}).Entries(studies)
	names := make([]string, len(got))
	for i, e := range got {
		names[i] = e.Name
	}
	assert.Equal(t, want, names)
	seen := make(map[string]bool)
	for i, e := range got {
		folded := strings.ToLower(e.Name)
		assert.False(t, seen[folded], "entry %d: %q is already in the archive (ignoring case)", i, e.Name)
		seen[folded] = true
		for _, part := range strings.Split(e.Name, "/") {
			assert.True(t, isPortable(part), "entry %d: %q is not portable", i, part)
		}
	}
	assert.Equal(t, names, func() []string { // deterministic
		var again []string
		for _, e := range (&Zip{}).Entries(studies) {
			again = append(again, e.Name)
		}
		return again
	}())
}
