package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/dicombridge/dicombridge/internal/atomicfile"
	"github.com/dicombridge/dicombridge/uploader"
)

// Aura uploads each study to Aura with package uploader, exactly once:
// an upload interrupted by a crash or a restart is resumed (only the bytes
// Aura's Tus server lacks are sent), never started again, and an upload
// Aura acknowledged is never repeated.
//
// It keeps, in [Study.StateDir], the uploader's resume state and a small
// journal: the upload_id, saved before the upload is announced, and the
// moment complete is about to be sent. On the next call for the same
// study it resumes that upload if the uploader can, counts it done if
// complete had been sent and the uploader holds nothing more (the
// uploader forgets an upload only once Aura acknowledged complete, or
// once Aura was told it failed, which this call would have returned), and
// starts a new upload otherwise (the earlier one failed and Aura was told,
// or it never reached Aura). See docs/gateway.md, "Exactly once".
type Aura struct {
	// Uploader is the template of every upload: API, Submit, Store,
	// callbacks... Its StateDir is replaced by each study's.
	Uploader *uploader.Uploader
}

// auraJournal is StateDir/aura.json.
type auraJournal struct {
	UploadID   string `json:"upload_id"`
	Completing bool   `json:"completing,omitempty"`
}

const auraJournalFile = "aura.json"

// Upload uploads the study's instances as one Aura upload, or resumes the
// one an earlier call began.
func (a *Aura) Upload(ctx context.Context, s *Study) error {
	if a.Uploader == nil || a.Uploader.API == nil {
		return errors.New("gateway: Aura.Uploader with its API is required")
	}
	if err := os.MkdirAll(s.StateDir, 0o700); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	jpath := filepath.Join(s.StateDir, auraJournalFile)
	var j auraJournal
	switch b, err := os.ReadFile(jpath); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("gateway: %w", err)
	default:
		if err := json.Unmarshal(b, &j); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrDamaged, auraJournalFile, err)
		}
	}
	save := func(j auraJournal) error {
		b, _ := json.Marshal(j)
		if err := atomicfile.Write(jpath, b); err != nil {
			return fmt.Errorf("gateway: saving the upload journal: %w", err)
		}
		return nil
	}

	u := *a.Uploader
	u.StateDir = s.StateDir
	var current string // the upload_id the callback below belongs to
	onState := u.Callbacks.OnState
	u.Callbacks.OnState = func(st uploader.State) {
		if st == uploader.StateCompleting {
			// Before complete is sent: from now on, an upload the
			// uploader no longer holds is a completed one. Should this
			// write fail, only a crash in the next instants would make
			// the next call upload again.
			_ = save(auraJournal{UploadID: current, Completing: true})
		}
		if onState != nil {
			onState(st)
		}
	}

	if j.UploadID != "" {
		pending, err := u.Pending()
		if err != nil {
			return err
		}
		resumable := slices.ContainsFunc(pending, func(p uploader.Pending) bool { return p.UploadID == j.UploadID && p.Err == nil })
		switch {
		case resumable:
			current = j.UploadID
			_, err := u.Resume(ctx, j.UploadID)
			return outcome(err, jpath)
		case j.Completing:
			return nil // complete was acknowledged before the restart
		}
	}
	sess, err := u.Prepare(ctx, s.Dir)
	if err != nil {
		return err
	}
	current = sess.UploadID()
	if err := save(auraJournal{UploadID: current}); err != nil {
		return err
	}
	_, err = sess.Upload(ctx)
	return outcome(err, jpath)
}

// outcome is the result of an upload: a completed upload whose submit
// failed counts as uploaded (submitting again is Aura's business, not a
// reason to upload again). After a failure that cannot be resumed (Aura
// was told, or never heard of it) the journal is removed, so that the
// next call starts a new upload.
func outcome(err error, journal string) error {
	if err == nil || errors.Is(err, uploader.ErrNotSubmitted) {
		return nil
	}
	if !errors.Is(err, uploader.ErrResumable) {
		if rerr := os.Remove(journal); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return errors.Join(err, fmt.Errorf("gateway: %w", rerr))
		}
	}
	return err
}
