package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/dicombridge/dicombridge/internal/atomicfile"
	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// The spool directory (see docs/gateway.md, "The spool"):
//
//	DIR/lock                      held (flock) by the running gateway
//	DIR/tmp/                      instances being received, not yet acknowledged
//	DIR/studies/ID/study.json     one batch of one study: its state
//	DIR/studies/ID/instances/     the instances, SOPInstanceUID.dcm
//	DIR/studies/ID/state/         the uploader's resume state (Study.StateDir)
//	DIR/trash/                    uploaded batches being removed
const (
	tmpDir       = "tmp"
	studiesDir   = "studies"
	trashDir     = "trash"
	studyFile    = "study.json"
	instancesDir = "instances"
	stateDir     = "state"
	lockFile     = "lock"
)

// record is study.json: what must survive a restart about one batch.
type record struct {
	Version          int        `json:"version"`
	StudyInstanceUID string     `json:"study_instance_uid"`
	State            State      `json:"state"`
	Created          time.Time  `json:"created"`
	Sealed           *time.Time `json:"sealed,omitempty"`
	Attempts         int        `json:"attempts,omitempty"`
	LastError        string     `json:"last_error,omitempty"`
	NextAttempt      *time.Time `json:"next_attempt,omitempty"`
}

const recordVersion = 1

// maxRecord bounds study.json when it is read.
const maxRecord = 64 << 10

// writeRecord saves r in dir/study.json atomically (temporary file, fsync,
// rename, directory fsync).
func writeRecord(dir string, r *record) error {
	r.Version = recordVersion
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, studyFile), append(b, '\n')); err != nil {
		return fmt.Errorf("gateway: saving the study state: %w", err)
	}
	return nil
}

// readRecord reads dir/study.json.
func readRecord(dir string) (*record, error) {
	f, err := os.Open(filepath.Join(dir, studyFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecord+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxRecord {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrDamaged, studyFile, maxRecord)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, studyFile, err)
	}
	switch {
	case r.Version != recordVersion:
		return nil, fmt.Errorf("%w: %s has version %d, want %d", ErrDamaged, studyFile, r.Version, recordVersion)
	case !dicomio.IsUID(r.StudyInstanceUID):
		return nil, fmt.Errorf("%w: %s has no valid Study Instance UID", ErrDamaged, studyFile)
	case !slices.Contains(states, r.State):
		return nil, fmt.Errorf("%w: %s has an unknown state %q", ErrDamaged, studyFile, r.State)
	}
	return &r, nil
}

// newID returns a spool name for a new batch: the time, so that a listing
// sorts oldest first, and 8 random bytes.
func newID(now time.Time) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("gateway: %w", err)
	}
	return now.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(b[:]), nil
}

// validID reports whether name can be a batch directory made by newID:
// nothing that could leave the studies directory.
func validID(name string) bool {
	if name == "" || len(name) > 80 || strings.HasPrefix(name, ".") {
		return false
	}
	for _, c := range name {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// instanceName is the file name of an instance in its batch: its SOP
// Instance UID when it is one (so a repeated C-STORE replaces the file),
// else a hash of whatever the sender gave.
func instanceName(sopInstanceUID string) string {
	if dicomio.IsUID(sopInstanceUID) {
		return sopInstanceUID + ".dcm"
	}
	sum := sha256.Sum256([]byte(sopInstanceUID))
	return "x" + hex.EncodeToString(sum[:16]) + ".dcm"
}

// syncDir makes the entries of dir (a new file, a rename) durable. Some
// file systems cannot sync a directory; that is not an error there.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, os.ErrInvalid) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}

// identify reads the SOP Instance UID and Study Instance UID of the Part
// 10 file at path with the scanner the upload uses (package dicomscan), so
// that an instance the upload would set aside (unreadable, without a
// study, rejected by the uploader's rules) is refused now, while the
// sender can still be told, rather than acknowledged and then dropped.
func identify(ctx context.Context, path string) (sopInstanceUID, studyInstanceUID string, err error) {
	res, err := (&dicomscan.Scanner{Workers: 1}).Scan(ctx, path)
	if err != nil {
		return "", "", fmt.Errorf("gateway: %w", err)
	}
	for _, fes := range [][]*dicomscan.FileError{res.Errors, res.Rejected, res.Skipped} {
		if len(fes) > 0 {
			return "", "", fmt.Errorf("%w: %s", ErrNotDICOM, fes[0].Reason())
		}
	}
	if len(res.Studies) != 1 || res.Studies[0].Instances() != 1 {
		return "", "", fmt.Errorf("%w: no study found", ErrNotDICOM)
	}
	st := res.Studies[0]
	return st.Series[0].Instances[0].SOPInstanceUID, st.StudyInstanceUID, nil
}

// listBatches reads every batch of the spool at dir, oldest first. A batch
// whose study.json cannot be read is listed with Err set.
func listBatches(dir string) ([]*Study, error) {
	ents, err := os.ReadDir(filepath.Join(dir, studiesDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	var out []*Study
	for _, e := range ents {
		if !e.IsDir() || !validID(e.Name()) {
			continue
		}
		out = append(out, loadStudy(dir, e.Name()))
	}
	return out, nil
}

// loadStudy describes the batch id from its study.json and its instances.
func loadStudy(spool, id string) *Study {
	d := filepath.Join(spool, studiesDir, id)
	s := &Study{ID: id, Dir: filepath.Join(d, instancesDir), StateDir: filepath.Join(d, stateDir)}
	r, err := readRecord(d)
	if err != nil {
		s.Err = err
		return s
	}
	s.fromRecord(r)
	ents, err := os.ReadDir(s.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.Err = err
		return s
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".dcm") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		s.Instances++
		s.Bytes += info.Size()
		if t := info.ModTime(); t.After(s.LastReceived) {
			s.LastReceived = t
		}
	}
	if s.LastReceived.IsZero() {
		s.LastReceived = s.Created
	}
	return s
}
