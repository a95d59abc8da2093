package share

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/dicombridge/dicombridge/internal/httpx"
	"github.com/dicombridge/dicombridge/internal/retry"
)

// This file produces the anonymized copies of anonymized shares with
// Orthanc's own anonymization (see docs/orthanc.md, "Anonymized shares").

// anonymizeProfile is the edition of the DICOM standard whose Basic
// Application Level Confidentiality Profile Orthanc applies
// ("DicomVersion"): the newest that Orthanc 1.9.4 and later all know.
const anonymizeProfile = "2021b"

// anonymizeTimeout bounds the anonymization of one share: Orthanc's job,
// the copy to the anonymized Orthanc and the clean-up.
const anonymizeTimeout = 10 * time.Minute

// anonymizeBody is the body of POST /studies/{id}/anonymize: Orthanc's
// Basic Profile of anonymizeProfile, private tags removed, run as a job so
// that a large study outlives no HTTP timeout.
var anonymizeBody = []byte(`{"DicomVersion":"` + anonymizeProfile + `","KeepPrivateTags":false,"Force":false,"Asynchronous":true}`)

// anonymizeStudy asks Orthanc to anonymize the study with this Orthanc id
// (POST /studies/{id}/anonymize) and returns the Orthanc id of the new,
// anonymized study.
func (c *OrthancClient) anonymizeStudy(ctx context.Context, studyID string) (string, error) {
	if !validID(studyID) {
		return "", fmt.Errorf("%w: %q is not an Orthanc id", ErrNotFound, studyID)
	}
	var job struct{ ID string }
	resp, err := c.do(ctx, http.MethodPost, "studies/"+url.PathEscape(studyID)+"/anonymize", anonymizeBody, &job)
	if err != nil {
		return "", err
	}
	if !validID(job.ID) {
		return "", remoteError(resp, nil, "answer has no job ID", false)
	}
	// Poll the job: 100 ms, doubling up to 2 s.
	wait := retry.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second}
	for n := 1; ; n++ {
		var st struct {
			State            string
			ErrorDescription string
			ErrorDetails     string
			Content          struct {
				ID                   string
				InstancesCount       int
				FailedInstancesCount int
			}
		}
		resp, err := c.do(ctx, http.MethodGet, "jobs/"+url.PathEscape(job.ID), nil, &st)
		if err != nil {
			return "", err
		}
		switch st.State {
		case "Success":
			switch {
			case !validID(st.Content.ID):
				return "", remoteError(resp, nil, "anonymization job gave no study ID", false)
			case st.Content.FailedInstancesCount != 0:
				c.deleteStudy(ctx, st.Content.ID)
				return "", remoteError(resp, nil, fmt.Sprintf("Orthanc failed to anonymize %d of %d instances",
					st.Content.FailedInstancesCount, st.Content.InstancesCount+st.Content.FailedInstancesCount), false)
			}
			return st.Content.ID, nil
		case "Failure":
			return "", remoteError(resp, nil, "anonymization job failed: "+st.ErrorDescription+" "+st.ErrorDetails, false)
		}
		if err := retry.Sleep(ctx, wait.Delay(n)); err != nil {
			return "", fmt.Errorf("share: waiting for Orthanc's anonymization: %w", err)
		}
	}
}

// validID reports whether id can be put in a path of Orthanc's API: not
// empty and not a dot segment, which would resolve to another route.
func validID(id string) bool { return id != "" && id != "." && id != ".." }

// studyInstances returns the Orthanc ids of the instances of a study.
func (c *OrthancClient) studyInstances(ctx context.Context, studyID string) ([]string, error) {
	var list []struct{ ID string }
	if _, err := c.do(ctx, http.MethodGet, "studies/"+url.PathEscape(studyID)+"/instances", nil, &list); err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, in := range list {
		ids[i] = in.ID
	}
	return ids, nil
}

// copyInstance streams one instance file from c (GET
// /instances/{id}/file) into dst (POST /instances) and returns the Orthanc
// id of its study there.
func (c *OrthancClient) copyInstance(ctx context.Context, dst *OrthancClient, id string) (string, error) {
	src, err := c.send(ctx, http.MethodGet, "instances/"+url.PathEscape(id)+"/file", nil)
	if err != nil {
		return "", err
	}
	defer httpx.DrainAndClose(src.Body)
	if src.StatusCode/100 != 2 {
		data, _ := httpx.ReadLimited(src.Body, 4096)
		return "", checkStatus(src, data)
	}
	var stored struct{ ParentStudy string }
	// io.NopCloser: the transport must not close src.Body while this
	// function still drains it.
	resp, err := dst.doReader(ctx, http.MethodPost, "instances", io.NopCloser(src.Body), &stored)
	if err != nil {
		return "", err
	}
	if !validID(stored.ParentStudy) {
		return "", remoteError(resp, nil, "answer has no ParentStudy", false)
	}
	return stored.ParentStudy, nil
}

// doReader is do with a streamed body.
func (c *OrthancClient) doReader(ctx context.Context, method, path string, body io.Reader, out any) (*http.Response, error) {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	defer httpx.DrainAndClose(resp.Body)
	data, err := httpx.ReadLimited(resp.Body, 0)
	if err != nil {
		return nil, fmt.Errorf("share: orthanc %s %s: %w", method, httpx.RedactURL(resp.Request.URL), err)
	}
	if err := checkStatus(resp, data); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, remoteError(resp, data, "answer is not the expected JSON", true)
	}
	return resp, nil
}

// deleteStudy deletes a study, best effort: it is the clean-up of a copy
// that will not be shared, and a failure leaves only an anonymized study
// behind.
func (c *OrthancClient) deleteStudy(ctx context.Context, studyID string) {
	if !validID(studyID) {
		return
	}
	var ignored json.RawMessage
	_, _ = c.do(context.WithoutCancel(ctx), http.MethodDelete, "studies/"+url.PathEscape(studyID), nil, &ignored)
}

// anonymizeShare replaces each study of an anonymized share by an
// anonymized copy made by Orthanc: in s.orthanc, then moved to
// s.anonOrthanc when that is another Orthanc. The resources returned name
// the copies (their Orthanc id and new StudyInstanceUID), never the
// originals. On failure every copy made so far is deleted.
func (s *Service) anonymizeShare(ctx context.Context, rs []Resource) (out []Resource, err error) {
	ctx, cancel := context.WithTimeout(ctx, anonymizeTimeout)
	defer cancel()
	target := s.anonOrthanc
	if target == nil {
		target = s.orthanc
	}
	var made []string // copies in target
	defer func() {
		if err != nil {
			for _, id := range made {
				target.deleteStudy(ctx, id)
			}
		}
	}()
	for _, r := range rs {
		if r.level() != LevelStudy || r.OrthancID == "" {
			return nil, badRequest(fmt.Errorf("%w: anonymized shares need the orthanc-id of studies", ErrInvalidShare))
		}
		id, err := s.orthanc.anonymizeStudy(ctx, r.OrthancID)
		if err != nil {
			return nil, err
		}
		if target != s.orthanc {
			id, err = s.moveStudy(ctx, id)
			if err != nil {
				return nil, err
			}
		}
		made = append(made, id)
		copied, err := target.Complete(ctx, Resource{OrthancID: id, Level: LevelStudy})
		if err != nil {
			return nil, err
		}
		out = append(out, copied)
	}
	return out, nil
}

// moveStudy copies the anonymized study id from s.orthanc to
// s.anonOrthanc, deletes it from s.orthanc, and returns its id in
// s.anonOrthanc.
func (s *Service) moveStudy(ctx context.Context, id string) (moved string, err error) {
	defer s.orthanc.deleteStudy(ctx, id)
	ids, err := s.orthanc.studyInstances(ctx, id)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("share: Orthanc's anonymized copy %s has no instances", id)
	}
	defer func() {
		if err != nil && moved != "" {
			s.anonOrthanc.deleteStudy(ctx, moved)
		}
	}()
	for _, in := range ids {
		study, err := s.orthanc.copyInstance(ctx, s.anonOrthanc, in)
		if err != nil {
			return moved, err
		}
		if moved != "" && study != moved {
			return moved, fmt.Errorf("share: the anonymized Orthanc filed the instances of %s under two studies", id)
		}
		moved = study
	}
	return moved, nil
}
