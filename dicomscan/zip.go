package dicomscan

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/flate"
)

// Zip writes the instances of a scan as one zip archive, named as the Aura
// uploader names its entries: "<StudyInstanceUID>/<name>", where name is
// [Instance.Name] with every '/' (and '\') replaced by '-', both made
// portable and unique ([Zip.Entries]; docs/dicom.md, "Zip layout and
// names").
//
// The archive is deterministic: the same files with the same Zip settings
// give byte-identical output (with the same build of this package), so an
// interrupted upload can regenerate it and resume. Entries come in study,
// series, instance order; their times are the files' modification times
// (or [Zip.Modified]); compression is single-threaded per entry, whatever
// the number of workers.
//
// Instances with an encapsulated (compressed) transfer syntax are stored;
// the others are deflated with github.com/klauspost/compress/flate. Each
// source file is read once. Memory stays bounded whatever the study size:
// up to twice Workers entries of at most 4 MiB are compressed ahead in
// memory, larger files are streamed. Zip64 records are written when
// needed. Entries carry data descriptors (general purpose flag 0x0008) and
// UTF-8 names (flag 0x0800 when not ASCII), as the reference uploader's.
//
// The zero value deflates at level 1 with GOMAXPROCS workers. A Zip is
// safe for concurrent use if its fields are not changed.
type Zip struct {
	// Level is the Deflate level, 1 (fastest, the default when zero) to 9.
	Level int
	// Store stores every entry uncompressed. The archive size is then
	// known before writing (see [Zip.Size]) and writing runs at the
	// speed of the disk.
	Store bool
	// Modified, if not zero, is the time of every entry; otherwise each
	// entry has its file's modification time (UTC, to the second).
	Modified time.Time
	// Workers is the number of entries compressed in parallel. Zero means
	// runtime.GOMAXPROCS(0).
	Workers int
	// OnProgress, if set, is called after each entry is written. Calls
	// are serialized and come from the goroutine that called Write.
	OnProgress func(ZipProgress)
	// Open, if set, returns the bytes of an entry instead of its file:
	// a transformation of it, such as its de-identified copy. It must
	// return exactly Instance.Size bytes, the same ones at every call
	// (Write fails with [ErrChanged] otherwise); it is called from
	// several goroutines at once. Nil reads the file (or .zip member) the
	// scan found.
	Open func(ctx context.Context, in *Instance) (io.ReadCloser, error)

	aheadLimit int64 // tests: the largest entry compressed ahead; 0 means maxBuffered
}

// ZipProgress is reported to [Zip.OnProgress].
type ZipProgress struct {
	Entries, TotalEntries int   // entries written, entries in the archive
	BytesRead, TotalBytes int64 // source bytes read, source bytes in the archive
	BytesWritten          int64 // archive bytes written so far
}

// Entry is one planned entry of the archive.
type Entry struct {
	Name     string // "<StudyInstanceUID>/<name>", unique in the archive
	Method   uint16 // zip.Store or zip.Deflate
	Instance *Instance
}

// maxBuffered is the largest source compressed ahead in memory.
const maxBuffered = 4 << 20

// copyBufSize is the read size for sources.
const copyBufSize = 256 << 10

// Entries plans the archive: one entry per instance, in order, named
// "<folder>/<name>" as described in docs/dicom.md, "Zip layout and names".
// The folder is the study's Study Instance UID and the name the
// instance's [Instance.Name] with '/' and '\' replaced by '-', both made
// portable ([portableName]): no character Windows forbids in a name
// (< > : " | ? * and control characters) and no name it reserves (CON,
// PRN, AUX, NUL, COM0-9, LPT0-9, with or without an extension, in any
// case), nor a trailing dot or space. Names are unique in the archive,
// ignoring case as Windows and macOS extractors do: a study whose folder
// is taken by an earlier study gets "_2", "_3"...; a name taken earlier in
// its folder gets the SOP Instance UID appended before its extension
// ("IM1.dcm" becomes "IM1_1.2.3.dcm"), then a counter; an empty name, "."
// or ".." becomes the SOP Instance UID. The same studies always give the
// same names.
func (z *Zip) Entries(studies []*Study) []Entry {
	var out []Entry
	dirs := make(map[string]bool) // folders taken by earlier studies, folded
	used := make(map[string]bool) // entry names taken, folded
	for _, st := range studies {
		dir := portableName(st.StudyInstanceUID)
		for k := 2; dirs[foldName(dir)]; k++ {
			dir = portableName(st.StudyInstanceUID) + "_" + strconv.Itoa(k)
		}
		dirs[foldName(dir)] = true
		dir += "/"
		for _, se := range st.Series {
			for _, in := range se.Instances {
				name := dir + entryName(in, dir, used)
				used[foldName(name)] = true
				m := zip.Deflate
				if z.Store || in.Encapsulated() {
					m = zip.Store
				}
				out = append(out, Entry{Name: name, Method: m, Instance: in})
			}
		}
	}
	return out
}

// foldName is the key under which two names collide in a
// case-insensitive file system.
func foldName(s string) string { return strings.ToLower(s) }

// entryName returns the name of in under dir, unique among the used
// entry names (folded).
func entryName(in *Instance, dir string, used map[string]bool) string {
	n := in.Name
	if n == "" || n == "." || n == ".." {
		n = in.SOPInstanceUID
	}
	n = portableName(n)
	if !used[foldName(dir+n)] {
		return n
	}
	stem, ext := splitExt(n)
	if uid := in.SOPInstanceUID; uid != "" {
		c := stem + "_" + portableName(uid) + ext
		if !used[foldName(dir+c)] {
			return c
		}
	}
	for k := 2; ; k++ {
		c := stem + "_" + strconv.Itoa(k) + ext
		if !used[foldName(dir+c)] {
			return c
		}
	}
}

// portableName turns s into one path component that every common file
// system and zip extractor takes as a plain name, deterministically:
//
//   - '/' and '\' become '-' (the reference uploader's rule for '/');
//   - the characters Windows forbids in names (< > : " | ? *), control
//     characters (C0, DEL, C1) and bytes that are not UTF-8 become '_';
//   - trailing dots and spaces, which Windows drops, become '_';
//   - a name Windows reserves for a device (CON, PRN, AUX, NUL, CONIN$,
//     CONOUT$, COM0-9, LPT0-9 and COM or LPT with a superscript digit),
//     alone or before an extension, in any case, gets a '_' in front;
//   - "" becomes "_", and "." and ".." become "-" and "--".
//
// A portable name is returned unchanged (so portableName is idempotent),
// which keeps the names of ordinary files and UIDs as they were.
// See docs/dicom.md, "Zip layout and names".
func portableName(s string) string {
	switch s {
	case "":
		return "_"
	case ".", "..":
		return strings.Repeat("-", len(s))
	}
	var b []byte // nil while s needs no change
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		var repl byte
		switch {
		case r == '/' || r == '\\':
			repl = '-'
		case r == utf8.RuneError && n == 1,
			r < 0x20, r == 0x7f, 0x80 <= r && r <= 0x9f,
			r < utf8.RuneSelf && strings.IndexByte(`<>:"|?*`, byte(r)) >= 0:
			repl = '_'
		}
		if repl != 0 && b == nil {
			b = append(make([]byte, 0, len(s)+1), s[:i]...)
		}
		switch {
		case repl != 0:
			b = append(b, repl)
		case b != nil:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	if b == nil {
		b = []byte(s)
		if !needsTrailFix(s) && !reservedName(s) {
			return s
		}
	}
	for i := len(b) - 1; i >= 0 && (b[i] == '.' || b[i] == ' '); i-- {
		b[i] = '_'
	}
	if reservedName(string(b)) {
		return "_" + string(b)
	}
	return string(b)
}

func needsTrailFix(s string) bool {
	return s != "" && (s[len(s)-1] == '.' || s[len(s)-1] == ' ')
}

// reservedName reports whether Windows takes name as a device: the part
// before the first '.', without trailing spaces, is a reserved device
// name in any case.
func reservedName(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	base = strings.TrimRight(base, " ")
	switch len(base) {
	case 3:
		for _, r := range []string{"CON", "PRN", "AUX", "NUL"} {
			if strings.EqualFold(base, r) {
				return true
			}
		}
	case 4, 5: // a digit is one byte, a superscript digit two
		if p := base[:3]; strings.EqualFold(p, "COM") || strings.EqualFold(p, "LPT") {
			switch base[3:] {
			case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "\u00b9", "\u00b2", "\u00b3":
				return true
			}
		}
	case 6, 7:
		return strings.EqualFold(base, "CONIN$") || strings.EqualFold(base, "CONOUT$")
	}
	return false
}

// splitExt splits a file extension of up to 5 characters holding a letter
// (".dcm", ".IMA", ".dicom"), so that "1.2.3" has none.
func splitExt(n string) (string, string) {
	i := strings.LastIndexByte(n, '.')
	if i <= 0 || len(n)-i > 6 {
		return n, ""
	}
	ext := n[i:]
	if !strings.ContainsFunc(ext, func(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }) {
		return n, ""
	}
	return n[:i], ext
}

// Size returns the exact size of the archive Write would produce, which
// is known in advance only if every entry is stored ([Zip.Store], or only
// encapsulated instances); otherwise it returns [ErrSizeUnknown]. It
// trusts the sizes recorded by the scan; Write fails with [ErrChanged] if
// a file no longer has that size.
func (z *Zip) Size(studies []*Study) (int64, error) {
	var off, cd uint64
	entries := z.Entries(studies)
	for _, e := range entries {
		if e.Method != zip.Store {
			return 0, ErrSizeUnknown
		}
		n := uint64(len(e.Name))
		size := uint64(e.Instance.Size)
		zip64 := size >= math32
		local := 30 + n + extTimeLen + size + 16
		if zip64 {
			local += 8
		}
		central := 46 + n + extTimeLen
		if zip64 || off >= math32 {
			central += 28
		}
		off += local
		cd += central
	}
	total := off + cd + 22
	if len(entries) >= 0xFFFF || cd >= math32 || off >= math32 {
		total += 56 + 20
	}
	return int64(total), nil
}

const (
	math32     = 1<<32 - 1
	extTimeLen = 9 // the extended-timestamp extra field
)

// Write writes the archive of studies to w and returns the number of bytes
// written. It stops at the first error: a file that cannot be read or has
// changed size since the scan ([ErrChanged]), both as a [*FileError], a
// write error, or the end of ctx. On error the output is incomplete.
func (z *Zip) Write(ctx context.Context, w io.Writer, studies []*Study) (int64, error) {
	level := z.Level
	if level == 0 {
		level = flate.BestSpeed
	}
	if level < flate.BestSpeed || level > flate.BestCompression {
		return 0, fmt.Errorf("dicomscan: zip level %d out of range 1-9", z.Level)
	}
	workers := z.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	entries := z.Entries(studies)
	limit := z.aheadLimit
	if limit == 0 {
		limit = maxBuffered
	}
	zw := &zipWriter{z: z, level: level, cw: &countWriter{w: w}, src: newSources()}
	zw.src.custom = z.Open
	defer zw.src.close()
	zw.zw = zip.NewWriter(zw.cw)
	zw.progress.TotalEntries = len(entries)
	for _, e := range entries {
		zw.progress.TotalBytes += e.Instance.Size
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Entries small enough are compressed ahead by the workers, at most
	// 2*workers at a time; the rest are streamed here, in order.
	type result struct {
		buf *bytes.Buffer
		crc uint32
		n   int64
		err error
	}
	ahead := make([]chan result, len(entries))
	for i, e := range entries {
		if e.Method == zip.Deflate && e.Instance.Size <= limit {
			ahead[i] = make(chan result, 1)
		}
	}
	type task struct {
		i   int
		out chan result
	}
	tasks := make(chan task)
	window := make(chan struct{}, 2*workers)
	bufs := make(chan *bytes.Buffer, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &compressor{level: level}
			for t := range tasks {
				var buf *bytes.Buffer
				select {
				case buf = <-bufs:
					buf.Reset()
				default:
					buf = new(bytes.Buffer)
				}
				crc, n, err := c.compress(ctx, zw.src, entries[t.i].Instance, buf)
				t.out <- result{buf, crc, n, err}
			}
		}()
	}
	wg.Add(1)
	go func() { // the producer: hands out small deflated entries in order
		defer wg.Done()
		defer close(tasks)
		for i := range entries {
			if ahead[i] == nil {
				continue
			}
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case tasks <- task{i, ahead[i]}:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: stops the producer and workers

	for i, e := range entries {
		if err := ctx.Err(); err != nil {
			return zw.cw.n, fmt.Errorf("dicomscan: zip stopped: %w", context.Cause(ctx))
		}
		var err error
		if ch := ahead[i]; ch != nil {
			var r result
			select {
			case r = <-ch:
			case <-ctx.Done():
				return zw.cw.n, fmt.Errorf("dicomscan: zip stopped: %w", context.Cause(ctx))
			}
			<-window
			err = r.err
			if err == nil {
				err = zw.writeRaw(e, r.buf.Bytes(), r.crc, r.n)
			}
			select {
			case bufs <- r.buf:
			default:
			}
		} else {
			err = zw.stream(ctx, e)
		}
		if err != nil {
			return zw.cw.n, err
		}
		zw.progress.Entries++
		zw.progress.BytesRead += e.Instance.Size
		zw.progress.BytesWritten = zw.cw.n
		if z.OnProgress != nil {
			z.OnProgress(zw.progress)
		}
	}
	if err := zw.zw.Close(); err != nil {
		return zw.cw.n, fmt.Errorf("dicomscan: zip: %w", err)
	}
	return zw.cw.n, nil
}

type zipWriter struct {
	z        *Zip
	level    int
	cw       *countWriter
	zw       *zip.Writer
	src      *sources
	stream1  *compressor
	buf      []byte // copy buffer of stored entries
	progress ZipProgress
}

// header builds the local and central header of an entry. All entries
// have a data descriptor, so the local header is the same whether the
// entry was compressed ahead or streamed.
func (zw *zipWriter) header(e Entry) *zip.FileHeader {
	t := zw.z.Modified
	if t.IsZero() {
		t = e.Instance.ModTime
	}
	t = t.UTC().Truncate(time.Second)
	fh := &zip.FileHeader{
		Name:           e.Name,
		Method:         e.Method,
		Flags:          0x8,
		CreatorVersion: 20,
		ReaderVersion:  20,
	}
	if !isASCIIString(e.Name) && utf8.ValidString(e.Name) {
		fh.Flags |= 0x800
	}
	// The MS-DOS fields are set directly: setting Modified instead makes
	// archive/zip add its own timestamp field and convert the time, and
	// this package writes one UTC extended timestamp of its own (below).
	//lint:ignore SA1019 the deprecated MS-DOS fields are what the zip format stores; see above
	fh.ModifiedDate, fh.ModifiedTime = msDosTime(t)
	var ext [extTimeLen]byte
	binary.LittleEndian.PutUint16(ext[0:], 0x5455) // extended timestamp
	binary.LittleEndian.PutUint16(ext[2:], 5)
	ext[4] = 1 // modification time present
	binary.LittleEndian.PutUint32(ext[5:], uint32(t.Unix()))
	fh.Extra = ext[:]
	return fh
}

func (zw *zipWriter) finish(fh *zip.FileHeader, crc uint32, comp, raw int64) {
	fh.CRC32 = crc
	fh.CompressedSize64, fh.UncompressedSize64 = uint64(comp), uint64(raw)
	// archive/zip writes the central directory's sizes from the 32-bit
	// fields, which CreateRaw filled in before the sizes were known.
	//lint:ignore SA1019 the central directory reads the deprecated 32-bit fields; see above
	fh.CompressedSize, fh.UncompressedSize = uint32(min(comp, math32)), uint32(min(raw, math32))
	if comp >= math32 || raw >= math32 {
		fh.ReaderVersion, fh.CreatorVersion = 45, 45
	}
}

// writeRaw writes an entry compressed ahead.
func (zw *zipWriter) writeRaw(e Entry, data []byte, crc uint32, n int64) error {
	fh := zw.header(e)
	zw.finish(fh, crc, int64(len(data)), n)
	w, err := zw.zw.CreateRaw(fh)
	if err != nil {
		return fmt.Errorf("dicomscan: zip: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("dicomscan: zip: %w", err)
	}
	return nil
}

// stream writes an entry while reading its source: stored entries, and
// deflated ones too large to compress ahead. The CRC and sizes go into
// the data descriptor, which archive/zip writes from fh when the next
// entry starts (CreateRaw keeps fh).
func (zw *zipWriter) stream(ctx context.Context, e Entry) error {
	fh := zw.header(e)
	w, err := zw.zw.CreateRaw(fh)
	if err != nil {
		return fmt.Errorf("dicomscan: zip: %w", err)
	}
	cw := &countWriter{w: w}
	var crc uint32
	var n int64
	if e.Method == zip.Store {
		if zw.buf == nil {
			zw.buf = make([]byte, copyBufSize)
		}
		crc, n, err = copyEntry(ctx, zw.src, e.Instance, cw, zw.buf)
	} else {
		if zw.stream1 == nil {
			zw.stream1 = &compressor{level: zw.level}
		}
		crc, n, err = zw.stream1.compress(ctx, zw.src, e.Instance, cw)
	}
	if err != nil {
		return err
	}
	zw.finish(fh, crc, cw.n, n)
	return nil
}

// compressor deflates entries; one per goroutine.
type compressor struct {
	level int
	fw    *flate.Writer
	buf   []byte
}

func (c *compressor) compress(ctx context.Context, src *sources, in *Instance, w io.Writer) (uint32, int64, error) {
	if c.fw == nil {
		fw, err := flate.NewWriter(w, c.level)
		if err != nil {
			return 0, 0, fmt.Errorf("dicomscan: zip: %w", err)
		}
		c.fw = fw
		c.buf = make([]byte, copyBufSize)
	} else {
		c.fw.Reset(w)
	}
	crc, n, err := copyEntry(ctx, src, in, c.fw, c.buf)
	if err != nil {
		return 0, 0, err
	}
	if err := c.fw.Close(); err != nil {
		return 0, 0, fmt.Errorf("dicomscan: zip: %w", err)
	}
	return crc, n, nil
}

// copyEntry copies the source of in to w, checking its size against the
// scan, and returns its CRC-32 and length.
func copyEntry(ctx context.Context, src *sources, in *Instance, w io.Writer, buf []byte) (uint32, int64, error) {
	var r io.ReadCloser
	var err error
	if src.custom != nil {
		r, err = src.custom(ctx, in)
	} else {
		r, err = src.open(in)
	}
	if err != nil {
		return 0, 0, &FileError{Path: in.Path, Err: err}
	}
	defer r.Close()
	h := crc32.NewIEEE()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, fmt.Errorf("dicomscan: zip stopped: %w", context.Cause(ctx))
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			n += int64(m)
			if n > in.Size {
				return 0, 0, &FileError{Path: in.Path, Err: fmt.Errorf("%w: larger than the %d bytes scanned", ErrChanged, in.Size)}
			}
			h.Write(buf[:m])
			if _, err := w.Write(buf[:m]); err != nil {
				return 0, 0, fmt.Errorf("dicomscan: zip: %w", err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, 0, &FileError{Path: in.Path, Err: rerr}
		}
	}
	if n != in.Size {
		return 0, 0, &FileError{Path: in.Path, Err: fmt.Errorf("%w: %d bytes, %d when scanned", ErrChanged, n, in.Size)}
	}
	return h.Sum32(), n, nil
}

// sources opens instance files, keeping .zip inputs open until the archive
// is written. Safe for concurrent use; mu guards archives.
type sources struct {
	mu       sync.Mutex
	archives map[string]*archiveSource
	custom   func(context.Context, *Instance) (io.ReadCloser, error) // Zip.Open
}

type archiveSource struct {
	zr    *archive
	files map[string]*zip.File
	err   error
}

func newSources() *sources { return &sources{archives: make(map[string]*archiveSource)} }

func (s *sources) open(in *Instance) (io.ReadCloser, error) {
	if in.Archive == "" {
		// As in the scan: a FIFO that replaced the file since must not
		// block the open (and Write) beyond ctx.
		f, err := openFile(in.Path)
		if err != nil {
			return nil, err
		}
		if _, _, regular, err := f.stat(); err != nil || !regular {
			f.Close()
			if err == nil {
				err = fmt.Errorf("%w: %w", ErrChanged, ErrNotRegular)
			}
			return nil, err
		}
		return f, nil
	}
	s.mu.Lock()
	a := s.archives[in.Archive]
	if a == nil {
		a = &archiveSource{}
		a.zr, a.err = openArchive(in.Archive)
		if a.err == nil {
			a.files = make(map[string]*zip.File, len(a.zr.File))
			for _, f := range a.zr.File {
				if _, dup := a.files[f.Name]; !dup {
					a.files[f.Name] = f
				}
			}
		} else {
			a.err = fmt.Errorf("%w: %v", ErrArchive, a.err)
		}
		s.archives[in.Archive] = a
	}
	s.mu.Unlock()
	if a.err != nil {
		return nil, a.err
	}
	f := a.files[in.Member]
	if f == nil {
		return nil, fmt.Errorf("%w: member %q is gone", ErrChanged, in.Member)
	}
	return f.Open()
}

func (s *sources) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.archives {
		if a.zr != nil {
			a.zr.Close()
		}
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// msDosTime encodes t (UTC) as MS-DOS date and time, clamped to 1980.
func msDosTime(t time.Time) (date, tm uint16) {
	switch {
	case t.Year() < 1980:
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	case t.Year() > 2107:
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	date = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	tm = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, tm
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
