package uploader

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dicombridge/dicombridge/dicomscan"

	"github.com/dicombridge/dicombridge/internal/atomicfile"
)

// Steps saved in the state file. A "-sent" step means the call went out
// and its answer was not recorded: resuming repeats it and accepts Aura's
// "already done" answer (see Session.call).
const (
	stepNone         = ""
	stepInitSent     = "init-sent"
	stepInitialized  = "initialized"
	stepStartSent    = "start-sent"
	stepStarted      = "started"
	stepUploaded     = "uploaded"
	stepCompleteSent = "complete-sent"
)

// stateVersion is the version of the state file's layout.
const stateVersion = 1

// archiveFormat names the archive layout this package produces; change it
// whenever the bytes produced for the same files change, so that resuming
// an upload begun by another build fails clearly instead of mixing two
// archives. The versions of dicomscan's module and of the Deflate library
// are added at run time (see archiveFormatID).
const archiveFormat = "dicombridge-uploader-zip/1"

// archiveOptions are the settings that shape the archive's bytes.
type archiveOptions struct {
	Store bool `json:"store"`
	Level int  `json:"level"`
	// Deid is deidFingerprint of Uploader.Deidentify; empty without it.
	Deid string `json:"deid,omitempty"`
}

// savedState is the JSON state file of an unfinished upload. It holds no
// credential.
type savedState struct {
	Version    int            `json:"version"`
	UploadID   string         `json:"upload_id"`
	AssemblyID string         `json:"assembly_id"`
	API        string         `json:"api"`
	Paths      []string       `json:"paths"`
	Removed    []string       `json:"removed,omitempty"`
	Archive    archiveOptions `json:"archive"`
	Format     string         `json:"format"`
	Plan       string         `json:"plan"` // hex SHA-256 of the plan file
	Size       int64          `json:"size"` // archive length; -1 while a deferred length is not known
	Step       string         `json:"step"`
	StudyIDs   []string       `json:"study_ids,omitempty"`
	Created    time.Time      `json:"created"`
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func statePath(dir, id, ext string) string { return filepath.Join(dir, id+ext) }

// checkID refuses ids that are not ours before they become file names.
func checkID(id string) error {
	if !uuidPattern.MatchString(id) {
		return fmt.Errorf("%w: %q is not an upload id (a lower-case UUID v4)", ErrUnknownUpload, id)
	}
	return nil
}

// parseState decodes and checks a state file.
func parseState(data []byte) (*savedState, error) {
	var st savedState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("uploader: state file: %w", err)
	}
	switch {
	case st.Version != stateVersion:
		return nil, fmt.Errorf("uploader: state file version %d, want %d", st.Version, stateVersion)
	case !uuidPattern.MatchString(st.UploadID):
		return nil, errors.New("uploader: state file: bad upload_id")
	case st.AssemblyID == "" || len(st.AssemblyID) > 64:
		return nil, errors.New("uploader: state file: bad assembly_id")
	case st.API == "" || len(st.Paths) == 0:
		return nil, errors.New("uploader: state file: missing api or paths")
	case st.Size < -1:
		return nil, errors.New("uploader: state file: bad size")
	case st.Archive.Level < 1 || st.Archive.Level > 9:
		return nil, errors.New("uploader: state file: bad archive level")
	case len(st.Plan) != 64:
		return nil, errors.New("uploader: state file: bad plan digest")
	}
	switch st.Step {
	case stepInitSent, stepInitialized, stepStartSent, stepStarted, stepUploaded, stepCompleteSent:
	default:
		return nil, fmt.Errorf("uploader: state file: unknown step %q", st.Step)
	}
	for _, p := range st.Paths {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("uploader: state file: path %q is not absolute", p)
		}
	}
	return &st, nil
}

func loadState(dir, id string) (*savedState, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(statePath(dir, id, ".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s in %s", ErrUnknownUpload, id, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("uploader: %w", err)
	}
	st, err := parseState(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, statePath(dir, id, ".json"))
	}
	if st.UploadID != id {
		return nil, fmt.Errorf("uploader: state file %s holds upload %s", statePath(dir, id, ".json"), st.UploadID)
	}
	return st, nil
}

// saveState writes the state file atomically: a process killed at any
// moment leaves the old or the new version.
func saveState(dir string, st *savedState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("uploader: state: %w", err)
	}
	return writeAtomic(statePath(dir, st.UploadID, ".json"), append(data, '\n'))
}

func writeAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data); err != nil {
		return fmt.Errorf("uploader: state: %w", err)
	}
	return nil
}

// removeState deletes an upload's files (not its Tus record, which
// tusclient owns).
func removeState(dir, id string) error {
	var errs []error
	for _, ext := range []string{".json", ".plan", ".sums"} {
		if err := os.Remove(statePath(dir, id, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("uploader: removing state: %w", err)
	}
	return nil
}

func listStates(dir string) ([]Pending, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("uploader: %w", err)
	}
	var out []Pending
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !uuidPattern.MatchString(id) {
			continue
		}
		st, err := loadState(dir, id)
		if err != nil {
			var created time.Time
			if info, ierr := e.Info(); ierr == nil {
				created = info.ModTime()
			}
			out = append(out, Pending{UploadID: id, Created: created, Err: err})
			continue
		}
		out = append(out, Pending{UploadID: st.UploadID, API: st.API, Paths: st.Paths,
			Step: st.Step, ArchiveBytes: st.Size, Created: st.Created})
	}
	slices.SortFunc(out, func(a, b Pending) int { return a.Created.Compare(b.Created) })
	return out, nil
}

var (
	formatOnce sync.Once
	formatID   string
)

// archiveFormatID is archiveFormat plus the versions of the code that
// writes the archive, as far as the build records them.
func archiveFormatID() string {
	formatOnce.Do(func() {
		formatID = archiveFormat
		bi, ok := debug.ReadBuildInfo()
		if !ok {
			return
		}
		mods := map[string]string{bi.Main.Path: bi.Main.Version}
		for _, d := range bi.Deps {
			mods[d.Path] = d.Version
		}
		for _, m := range []string{"github.com/dicombridge/dicombridge", "github.com/klauspost/compress"} {
			if v, ok := mods[m]; ok {
				formatID += " " + m + "@" + v
			}
		}
	})
	return formatID
}

// planLine is one line of the plan file: the header (Format set), then one
// per archive entry.
type planLine struct {
	Format  string          `json:"format,omitempty"`
	Archive *archiveOptions `json:"archive,omitempty"`
	Name    string          `json:"name,omitempty"`
	Path    string          `json:"path,omitempty"`
	Member  string          `json:"member,omitempty"`
	Size    int64           `json:"size,omitempty"`
	ModTime int64           `json:"mtime,omitempty"`
}

// planLines calls fn with each line of the plan of entries, as bytes
// ending in '\n'.
func planLines(opts archiveOptions, entries []dicomscan.Entry, fn func([]byte) error) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	emit := func(l planLine) error {
		buf.Reset()
		if err := enc.Encode(l); err != nil {
			return err
		}
		return fn(buf.Bytes())
	}
	if err := emit(planLine{Format: archiveFormatID(), Archive: &opts}); err != nil {
		return err
	}
	for _, e := range entries {
		in := e.Instance
		path := in.Path
		if in.Archive != "" {
			path = in.Archive
		}
		if err := emit(planLine{Name: e.Name, Path: path, Member: in.Member, Size: in.Size, ModTime: in.ModTime.UnixNano()}); err != nil {
			return err
		}
	}
	return nil
}

// writePlan saves the plan and returns its digest.
func writePlan(dir, id string, opts archiveOptions, entries []dicomscan.Entry) (string, error) {
	h := sha256.New()
	var buf bytes.Buffer
	err := planLines(opts, entries, func(b []byte) error {
		h.Write(b)
		buf.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("uploader: plan: %w", err)
	}
	if err := writeAtomic(statePath(dir, id, ".plan"), buf.Bytes()); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// comparePlan checks the current plan against the saved one, line by line
// (memory stays bounded whatever the number of files), and explains the
// first difference.
func comparePlan(dir string, st *savedState, entries []dicomscan.Entry) error {
	changed := func(format string, a ...any) error {
		return &SourcesChangedError{UploadID: st.UploadID, Detail: fmt.Sprintf(format, a...)}
	}
	f, err := os.Open(statePath(dir, st.UploadID, ".plan"))
	if err != nil {
		return fmt.Errorf("uploader: plan of upload %s: %w", st.UploadID, err)
	}
	defer f.Close()
	h := sha256.New()
	old := bufio.NewReader(io.TeeReader(f, h))
	n := 0
	err = planLines(st.Archive, entries, func(cur []byte) error {
		prev, rerr := old.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return rerr
		}
		defer func() { n++ }()
		if bytes.Equal(prev, cur) {
			return nil
		}
		var p, c planLine
		_ = json.Unmarshal(cur, &c)
		if len(prev) == 0 {
			return changed("%s: new file", c.Path)
		}
		if json.Unmarshal(prev, &p) != nil {
			return fmt.Errorf("uploader: plan of upload %s: line %d is corrupt", st.UploadID, n+1)
		}
		switch {
		case n == 0:
			return changed("archive format %q, was %q", c.Format, p.Format)
		case p.Path != c.Path || p.Member != c.Member:
			return changed("file %d of the archive is %s, was %s (files added, removed or renamed)", n, c.Path+c.Member, p.Path+p.Member)
		case p.Size != c.Size:
			return changed("%s: size %d, was %d", c.Path+c.Member, c.Size, p.Size)
		case p.ModTime != c.ModTime:
			return changed("%s: modified at %s, was %s", c.Path+c.Member,
				time.Unix(0, c.ModTime).UTC().Format(time.RFC3339Nano), time.Unix(0, p.ModTime).UTC().Format(time.RFC3339Nano))
		default:
			return changed("entry %d: %s, was %s", n, strings.TrimSpace(string(cur)), strings.TrimSpace(string(prev)))
		}
	})
	if err != nil {
		var sc *SourcesChangedError
		if errors.As(err, &sc) {
			return err
		}
		return fmt.Errorf("uploader: plan of upload %s: %w", st.UploadID, err)
	}
	if rest, _ := old.ReadBytes('\n'); len(rest) > 0 {
		var p planLine
		_ = json.Unmarshal(rest, &p)
		return changed("%s: missing (files removed)", p.Path+p.Member)
	}
	if hex.EncodeToString(h.Sum(nil)) != st.Plan {
		return fmt.Errorf("uploader: plan of upload %s does not match its digest", st.UploadID)
	}
	return nil
}
