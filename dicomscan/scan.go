package dicomscan

import (
	"archive/zip"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SOP Class and Protocol Name of the Aura uploader's reject rule (Philips
// ExamCards stored as Raw Data).
const (
	sopClassRawData  = "1.2.840.10008.5.1.4.1.1.66"
	protocolExamCard = "ExamCard"
)

// Scanner finds DICOM studies in files, directory trees and .zip archives.
// The zero value is ready to use; a Scanner is safe for concurrent use and
// may run several scans at once.
type Scanner struct {
	// Workers is the number of files read in parallel. Zero means
	// runtime.GOMAXPROCS(0).
	Workers int

	// AllowNoPreamble accepts datasets without the 128-byte preamble and
	// "DICM" prefix (not DICOM Part 10) when their first bytes look like
	// a DICOM dataset. The Aura uploader rejects such files, so the
	// default does too and reports them as not DICOM.
	AllowNoPreamble bool

	// OnProgress, if set, is called after each file is examined. Calls
	// are serialized (never concurrent) and come from the goroutine that
	// called Scan; a slow callback slows the scan.
	OnProgress func(Progress)

	// Logger, if set, receives a debug record for each file that is
	// skipped, rejected or in error. Nil means silent.
	Logger *slog.Logger

	streamLimit int64 // tests: the parser's limit on streams; 0 means maxStream
}

// Progress is reported to [Scanner.OnProgress].
type Progress struct {
	Found int    // files found so far (the walk runs ahead of the readers)
	Done  int    // files examined so far
	Path  string // the file just examined
}

// Instance is one DICOM file (one SOP instance) found by a scan.
type Instance struct {
	// Path is the file. For a member of a .zip input it is the archive's
	// path joined with the member's name, for display only.
	Path string `json:"path"`
	// Archive and Member locate a member of a .zip input; both are empty
	// for a plain file.
	Archive string `json:"archive,omitempty"`
	Member  string `json:"member,omitempty"`
	// Name is the file's name relative to what the scan was given, with
	// '/' separators, as the Aura uploader's relativePath: for a file
	// inside a directory argument "dir", "dir/sub/file.dcm"; for a file
	// argument, its base name; for a .zip member, its name in the
	// archive. The zip entry name is derived from it (see [Zip]).
	Name string `json:"name"`
	// Size is the file's size in bytes; ModTime its modification time.
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
	// TransferSyntaxUID is (0002,0010), or "" if the file has none.
	TransferSyntaxUID string `json:"transfer_syntax_uid"`
	// SOPInstanceUID is (0008,0018), or "" if the file has none. The
	// values the file shares with its study and series are on [Study] and
	// [Series].
	SOPInstanceUID string `json:"instance_uid"`

	attrs attributes // what the header held, for grouping and the rules
}

// Encapsulated reports whether the pixel data is compressed (any transfer
// syntax other than implicit VR little endian, explicit VR little and big
// endian), which [Zip] stores rather than deflates. A deflated dataset
// counts as compressed.
func (i *Instance) Encapsulated() bool {
	switch i.TransferSyntaxUID {
	case tsImplicitLE, tsExplicitLE, tsExplicitBE, "":
		return false
	}
	return true
}

// Series is one series of a study: the instances sharing a Series
// Instance UID. Its fields come from its first instance, in scan order.
type Series struct {
	SeriesInstanceUID string      `json:"series_instance_uid"`
	Modality          string      `json:"modality"`
	SeriesDescription string      `json:"series_description"`
	BodyPartExamined  string      `json:"body_part_examined"`
	SeriesDate        string      `json:"series_date"`
	SeriesTime        string      `json:"series_time"`
	StudyDate         string      `json:"study_date"`
	SeriesNumber      string      `json:"series_number"`
	Instances         []*Instance `json:"instances"`
}

// Study is one study: the series sharing a Study Instance UID. Its fields
// come from its first instance, in scan order, except StudyDescription,
// which is taken from the first instance that has one, as the Aura
// uploader does (docs/dicom.md, "Studies and series").
type Study struct {
	StudyInstanceUID string `json:"study_uid"`
	StudyDescription string `json:"study_description"`
	InstitutionName  string `json:"institution_name"`
	PatientID        string `json:"patient_id"`
	PatientName      string `json:"patient_name"`
	StudyDate        string `json:"study_date"`
	StudyTime        string `json:"study_time"`
	AccessionNumber  string `json:"accession_no"`
	PatientBirthDate string `json:"patient_birth_date"`
	PatientSex       string `json:"patient_sex"`
	// Modalities lists the series' modalities once each, in series
	// order, without empty ones.
	Modalities []string  `json:"modalities"`
	Series     []*Series `json:"series"`
}

// Instances returns the number of instances in the study.
func (s *Study) Instances() int {
	n := 0
	for _, se := range s.Series {
		n += len(se.Instances)
	}
	return n
}

// Size returns the total size of the study's files.
func (s *Study) Size() int64 {
	var n int64
	for _, se := range s.Series {
		for _, in := range se.Instances {
			n += in.Size
		}
	}
	return n
}

// Result is the outcome of a scan. Studies, series and instances are in
// scan order: the order in which the walk meets the files (arguments in
// the given order, directory entries in lexical order), whatever the
// number of workers, so the same files always give the same Result.
type Result struct {
	Studies []*Study `json:"studies"`
	// Skipped are files that are not instances to upload, by rule:
	// not DICOM ([ErrNotDICOM]), DICOMDIR ([ErrDICOMDIR]), a second copy
	// of an instance ([ErrDuplicate]) and non-regular files
	// ([ErrNotRegular]).
	Skipped []*FileError `json:"-"`
	// Rejected are DICOM files excluded with a reason ([ErrRejected]).
	Rejected []*FileError `json:"-"`
	// Errors are files that could not be read or parsed: I/O errors,
	// [ErrMalformed], [ErrTruncated], [ErrArchive].
	Errors []*FileError `json:"-"`
	// Files is the number of files examined (members of .zip inputs
	// included).
	Files int `json:"files"`
}

// Instances returns the number of instances in all studies.
func (r *Result) Instances() int {
	n := 0
	for _, s := range r.Studies {
		n += s.Instances()
	}
	return n
}

// Series returns the number of series in all studies.
func (r *Result) Series() int {
	n := 0
	for _, s := range r.Studies {
		n += len(s.Series)
	}
	return n
}

// Size returns the total size of all instances' files.
func (r *Result) Size() int64 {
	var n int64
	for _, s := range r.Studies {
		n += s.Size()
	}
	return n
}

// Study returns the study with the given Study Instance UID, or nil.
func (r *Result) Study(uid string) *Study {
	for _, s := range r.Studies {
		if s.StudyInstanceUID == uid {
			return s
		}
	}
	return nil
}

// Err returns nil if no file was in error, and otherwise one error
// listing them all (its Unwrap() []error returns the [*FileError]s).
func (r *Result) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	errs := make([]error, len(r.Errors))
	for i, e := range r.Errors {
		errs[i] = e
	}
	return &multiError{errs}
}

type multiError struct{ errs []error }

func (m *multiError) Error() string {
	if len(m.errs) == 1 {
		return m.errs[0].Error()
	}
	return fmt.Sprintf("dicomscan: %d files in error; first: %s", len(m.errs), m.errs[0].Error())
}

func (m *multiError) Unwrap() []error { return m.errs }

// Scan scans paths with a zero [Scanner].
func Scan(ctx context.Context, paths ...string) (*Result, error) {
	var s Scanner
	return s.Scan(ctx, paths...)
}

// job is one file to examine, in walk order.
type job struct {
	idx     int
	path    string // display path
	name    string // relative name for the zip entry
	archive string // .zip holding the member, or ""
	member  *zip.File
	err     error // set by the walker: nothing to read
}

type outcome struct {
	idx  int
	path string
	inst *Instance
	err  error
}

// Scan examines every file under paths (files, directories walked
// recursively without following links to directories, and .zip archives,
// whose members are examined in place) and groups the DICOM instances into
// studies and series. A problem with one file never stops the scan: it is
// recorded in the Result. Scan returns an error only if ctx ends, with
// the context's error.
func (s *Scanner) Scan(ctx context.Context, paths ...string) (*Result, error) {
	workers := s.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	jobs := make(chan []job, 2*workers)
	outs := make(chan []outcome, 2*workers)
	var found atomic.Int64
	var archives []*archive // closed when the scan ends; owned by the walker until it returns
	walkDone := make(chan struct{})
	go func() {
		defer close(walkDone)
		defer close(jobs)
		w := walker{ctx: ctx, jobs: jobs, found: &found}
		for _, p := range paths {
			if !w.walkRoot(p) {
				break
			}
		}
		w.flush()
		archives = w.archives
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := newParser()
			if s.streamLimit > 0 {
				p.limit = s.streamLimit
			}
			for batch := range jobs {
				if ctx.Err() != nil {
					continue // drain
				}
				res := make([]outcome, len(batch))
				for i, j := range batch {
					res[i] = s.examine(p, j)
				}
				outs <- res
			}
		}()
	}
	go func() {
		wg.Wait()
		close(outs)
	}()

	var results []outcome
	for batch := range outs {
		for _, o := range batch {
			results = append(results, o)
			if s.OnProgress != nil && ctx.Err() == nil {
				s.OnProgress(Progress{Found: int(found.Load()), Done: len(results), Path: o.path})
			}
		}
	}
	<-walkDone
	for _, a := range archives {
		a.Close()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dicomscan: scan stopped: %w", context.Cause(ctx))
	}
	return s.aggregate(results), nil
}

// batchSize is the number of files handed to a worker at once: enough to
// make channel hand-offs cheap next to the reads, few enough to keep all
// workers busy on small inputs.
const batchSize = 16

// walker lists files in a deterministic order and sends them as jobs.
type walker struct {
	ctx      context.Context
	jobs     chan<- []job
	found    *atomic.Int64
	archives []*archive
	batch    []job
	n        int
}

func (w *walker) send(j job) bool {
	j.idx = w.n
	w.n++
	w.found.Add(1)
	w.batch = append(w.batch, j)
	if len(w.batch) < batchSize {
		return true
	}
	return w.flush()
}

// flush hands the pending jobs to the workers; false if the scan ended.
func (w *walker) flush() bool {
	if len(w.batch) == 0 {
		return true
	}
	select {
	case w.jobs <- w.batch:
		w.batch = make([]job, 0, batchSize)
		return true
	case <-w.ctx.Done():
		return false
	}
}

// walkRoot walks one argument; it returns false when the scan is canceled.
func (w *walker) walkRoot(root string) bool {
	fi, err := os.Stat(root)
	if err != nil {
		return w.send(job{path: root, err: err})
	}
	if !fi.IsDir() {
		return w.file(root, filepath.Base(root), fi.Mode())
	}
	walkFrom := root
	if lfi, err := os.Lstat(root); err == nil && lfi.Mode()&fs.ModeSymlink != 0 {
		// An argument that links to a directory is followed (links met
		// during the walk are not): WalkDir follows "link/".
		walkFrom = filepath.Clean(root) + string(filepath.Separator)
	}
	prefix := ""
	if abs, err := filepath.Abs(root); err == nil {
		if b := filepath.Base(abs); b != "/" && b != "." && b != string(filepath.Separator) {
			prefix = filepath.ToSlash(b) + "/"
		}
	}
	// WalkDir joins names to the cleaned root: cut that prefix for the
	// relative name instead of calling filepath.Rel for every file.
	clean := filepath.Clean(root)
	if !strings.HasSuffix(clean, string(filepath.Separator)) {
		clean += string(filepath.Separator)
	}
	ok := true
	filepath.WalkDir(walkFrom, func(p string, d fs.DirEntry, err error) error {
		if !ok || w.ctx.Err() != nil {
			ok = false
			return filepath.SkipAll
		}
		if err != nil {
			ok = w.send(job{path: p, err: err})
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, found := strings.CutPrefix(p, clean)
		if !found {
			var err error
			if rel, err = filepath.Rel(root, p); err != nil {
				rel = d.Name()
			}
		}
		ok = w.file(p, prefix+filepath.ToSlash(rel), d.Type())
		return nil
	})
	return ok
}

func (w *walker) file(p, name string, mode fs.FileMode) bool {
	if mode&fs.ModeSymlink != 0 {
		fi, err := os.Stat(p)
		if err != nil {
			return w.send(job{path: p, err: err})
		}
		mode = fi.Mode()
	}
	if !mode.IsRegular() {
		return w.send(job{path: p, err: ErrNotRegular})
	}
	if strings.EqualFold(filepath.Ext(p), ".zip") {
		return w.archive(p)
	}
	return w.send(job{path: p, name: name})
}

// archive is an open .zip input.
type archive struct {
	*zip.Reader
	f *os.File
}

// openArchive opens a .zip input. Like the files the scan reads, it must
// be a regular file, and a FIFO that replaced it does not block the open.
func openArchive(p string) (*archive, error) {
	f, err := openNonBlocking(p)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = ErrNotRegular
	}
	var zr *zip.Reader
	if err == nil {
		zr, err = zip.NewReader(f, fi.Size())
	}
	if err == nil {
		err = checkMemberRanges(zr, fi.Size())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &archive{zr, f}, nil
}

// checkMemberRanges refuses an archive whose members' data overlap or run
// past its end. Zip files are only ever written with each member's data
// once; overlapping members are the trick of "non-recursive" zip bombs,
// where thousands of members inflate the same compressed stream, so that
// a small archive would cost the scan unbounded CPU (each member alone is
// bounded by the stream limit, but not their number).
func checkMemberRanges(zr *zip.Reader, size int64) error {
	type span struct{ start, end int64 }
	spans := make([]span, 0, len(zr.File))
	for _, f := range zr.File {
		off, err := f.DataOffset()
		if err != nil {
			return err
		}
		end := off + int64(f.CompressedSize64)
		if f.CompressedSize64 > uint64(size) || end > size {
			return fmt.Errorf("member %q extends past the end of the archive", f.Name)
		}
		spans = append(spans, span{off, end})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return errors.New("members share compressed data (overlapping entries, as in a zip bomb)")
		}
	}
	return nil
}

func (a *archive) Close() error { return a.f.Close() }

// archive sends the members of a .zip input, in the archive's order.
func (w *walker) archive(p string) bool {
	zr, err := openArchive(p)
	if err != nil {
		return w.send(job{path: p, err: fmt.Errorf("%w: %v", ErrArchive, err)})
	}
	w.archives = append(w.archives, zr)
	seen := make(map[string]bool, len(zr.File))
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") || f.Mode().IsDir() {
			continue
		}
		j := job{path: p + "/" + f.Name, name: path.Clean(f.Name), archive: p, member: f}
		if seen[f.Name] {
			j.err = fmt.Errorf("%w: member name %q repeated", ErrArchive, f.Name)
		}
		seen[f.Name] = true
		if !w.send(j) {
			return false
		}
	}
	return true
}

// examine reads the header of one file.
func (s *Scanner) examine(p *parser, j job) outcome {
	o := outcome{idx: j.idx, path: j.path, err: j.err}
	if o.err != nil {
		return o
	}
	in := &Instance{Path: j.path, Name: j.name}
	var err error
	if j.member != nil {
		err = s.examineMember(p, j, in)
	} else {
		err = s.examineFile(p, j, in)
	}
	if err != nil {
		o.err = err
		return o
	}
	in.TransferSyntaxUID = p.h.transferSyntax
	in.attrs = p.h.attributes(&p.cache)
	in.SOPInstanceUID = in.attrs.SOPInstanceUID
	o.inst = in
	return o
}

// file is an open source file: a descriptor on Unix, an os.File elsewhere.
type file interface {
	io.ReadSeekCloser
	stat() (size int64, mtime time.Time, regular bool, err error)
}

func (s *Scanner) examineFile(p *parser, j job, in *Instance) error {
	f, err := openFile(j.path)
	if err != nil {
		return err
	}
	defer f.Close()
	size, mtime, regular, err := f.stat()
	if err != nil {
		return err
	}
	if !regular {
		return ErrNotRegular
	}
	in.Size, in.ModTime = size, mtime
	return p.parse(f, f, size, s.AllowNoPreamble)
}

func (s *Scanner) examineMember(p *parser, j job, in *Instance) error {
	f := j.member
	in.Archive, in.Member = j.archive, f.Name
	in.ModTime = f.Modified
	if f.UncompressedSize64 > math.MaxInt64 {
		return fmt.Errorf("%w: member %q too large", ErrArchive, f.Name)
	}
	in.Size = int64(f.UncompressedSize64)
	if f.Method == zip.Store {
		r, err := f.OpenRaw()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrArchive, err)
		}
		if sr, ok := r.(*io.SectionReader); ok && f.CompressedSize64 == f.UncompressedSize64 {
			return p.parse(sr, sr, in.Size, s.AllowNoPreamble)
		}
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrArchive, err)
	}
	defer rc.Close()
	err = p.parse(rc, nil, in.Size, s.AllowNoPreamble)
	if err != nil && !isVerdict(err) {
		err = fmt.Errorf("%w: %v", ErrArchive, err)
	}
	return err
}

// isVerdict reports whether err is a judgement on the content rather than
// a failure to read it.
func isVerdict(err error) bool {
	return errors.Is(err, ErrNotDICOM) || errors.Is(err, ErrDICOMDIR) ||
		errors.Is(err, ErrMalformed) || errors.Is(err, ErrTruncated)
}

// aggregate groups the outcomes, in walk order, into a Result.
func (s *Scanner) aggregate(outs []outcome) *Result {
	res := &Result{Files: len(outs)}
	ordered := make([]*outcome, len(outs))
	for i := range outs {
		ordered[outs[i].idx] = &outs[i]
	}
	type seriesKey struct{ study, series string }
	studies := make(map[string]*Study)
	series := make(map[seriesKey]*Series)
	sops := make(map[string]string) // SOP Instance UID -> first path
	for _, o := range ordered {
		if o.err == nil && o.inst != nil {
			o.err = classify(o.inst)
		}
		if o.err != nil {
			fe := &FileError{Path: o.path, Err: o.err}
			switch {
			case errors.Is(o.err, ErrNotDICOM), errors.Is(o.err, ErrDICOMDIR), errors.Is(o.err, ErrNotRegular):
				res.Skipped = append(res.Skipped, fe)
			case errors.Is(o.err, ErrRejected):
				res.Rejected = append(res.Rejected, fe)
			default:
				res.Errors = append(res.Errors, fe)
			}
			s.log(fe)
			continue
		}
		i := o.inst
		if uid := i.SOPInstanceUID; uid != "" {
			if first, dup := sops[uid]; dup {
				fe := &FileError{Path: o.path, Err: fmt.Errorf("%w %s (first seen in %s)", ErrDuplicate, uid, first)}
				res.Skipped = append(res.Skipped, fe)
				s.log(fe)
				continue
			}
			sops[uid] = o.path
		}
		st := studies[i.attrs.StudyInstanceUID]
		if st == nil {
			st = &Study{
				StudyInstanceUID: i.attrs.StudyInstanceUID,
				StudyDescription: i.attrs.StudyDescription,
				InstitutionName:  i.attrs.InstitutionName,
				PatientID:        i.attrs.PatientID,
				PatientName:      i.attrs.PatientName,
				StudyDate:        i.attrs.StudyDate,
				StudyTime:        i.attrs.StudyTime,
				AccessionNumber:  i.attrs.AccessionNumber,
				PatientBirthDate: i.attrs.PatientBirthDate,
				PatientSex:       i.attrs.PatientSex,
			}
			studies[i.attrs.StudyInstanceUID] = st
			res.Studies = append(res.Studies, st)
		} else if st.StudyDescription == "" {
			st.StudyDescription = i.attrs.StudyDescription
		}
		k := seriesKey{i.attrs.StudyInstanceUID, i.attrs.SeriesInstanceUID}
		se := series[k]
		if se == nil {
			se = &Series{
				SeriesInstanceUID: i.attrs.SeriesInstanceUID,
				Modality:          i.attrs.Modality,
				SeriesDescription: i.attrs.SeriesDescription,
				BodyPartExamined:  i.attrs.BodyPartExamined,
				SeriesDate:        i.attrs.SeriesDate,
				SeriesTime:        i.attrs.SeriesTime,
				StudyDate:         i.attrs.StudyDate,
				SeriesNumber:      i.attrs.SeriesNumber,
			}
			series[k] = se
			st.Series = append(st.Series, se)
			if se.Modality != "" && !contains(st.Modalities, se.Modality) {
				st.Modalities = append(st.Modalities, se.Modality)
			}
		}
		se.Instances = append(se.Instances, i)
	}
	return res
}

// classify applies the rules that exclude a parsed DICOM file.
func classify(i *Instance) error {
	switch {
	case i.attrs.SOPClassUID == sopClassDICOMDIR:
		return ErrDICOMDIR
	case i.attrs.SOPClassUID == sopClassRawData && i.attrs.ProtocolName == protocolExamCard:
		return fmt.Errorf("%w: Raw Data Storage with Protocol Name %q (Philips ExamCard)", ErrRejected, protocolExamCard)
	case i.attrs.StudyInstanceUID == "" && i.attrs.SeriesInstanceUID == "":
		return fmt.Errorf("%w: no Study Instance UID and no Series Instance UID", ErrRejected)
	case i.attrs.StudyInstanceUID == "":
		return fmt.Errorf("%w: no Study Instance UID", ErrRejected)
	case i.attrs.SeriesInstanceUID == "":
		return fmt.Errorf("%w: no Series Instance UID", ErrRejected)
	}
	return nil
}

func (s *Scanner) log(fe *FileError) {
	if s.Logger != nil {
		s.Logger.Debug("dicomscan: file not added", "path", fe.Path, "reason", fe.Reason())
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
