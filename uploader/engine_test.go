package uploader_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/auraclient"
	"github.com/dicombridge/dicombridge/uploader"
	"github.com/dicombridge/dicombridge/uploadtoken"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestUploadEndToEnd uploads three studies (deflated and stored entries)
// and checks everything Aura and Tus received: the calls in order with
// their exact bodies, the Tus headers and metadata, and every source file
// byte-identical in the stored zip. It runs against a Tus server that
// announces creation-defer-length (one pass) and one that does not (the
// archive is packed once to learn its length).
func TestUploadEndToEnd(t *testing.T) {
	bothLengths(t, func(t *testing.T, knownLength bool, aura *auratest.Server, u *uploader.Uploader, rec *recorder, stateDir string) {
		lift := &liftCapture{base: aura.Client().Transport}
		u.API.HTTPClient = &http.Client{Transport: lift}
		res, err := u.Upload(context.Background(), sampleDir)
		require.NoError(t, err)
		id := res.UploadID
		assert.Regexp(t, uuidV4, id, "upload id: a lower-case UUID v4")
		assert.Equal(t, 3, res.Studies)
		assert.Equal(t, 5, res.Series)
		assert.Equal(t, len(sampleFiles), res.Instances)
		assert.Equal(t, sampleSize(sampleFiles), res.SourceBytes)
		assert.False(t, res.Resumed, "a fresh upload reports a resume")
		assert.Zero(t, res.ResumedAt)

		// The calls, in order: one config, init, start (answered before
		// Tus begins), Tus, complete only after the last PATCH.
		calls := slices.DeleteFunc(compact(lifecycle(aura)), func(c string) bool { return c == "tus OPTIONS" })
		assert.Equal(t, []string{"config", "init", "start", "tus POST", "tus PATCH", "complete"}, calls)
		assert.Len(t, aura.CallsTo(auratest.EndpointConfig), 1, "config fetched once (docs/aura.md)")
		var start struct {
			AssemblyID string `json:"assembly_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(body(t, aura, auratest.EndpointStart)), &start))
		assert.Regexp(t, `^[A-Za-z0-9_-]{21}$`, start.AssemblyID, "assembly id: 21 characters like Uppy's")
		wantLife := `{"upload_id":"` + id + `","assembly_id":"` + start.AssemblyID + `","mode":"uploader"}`
		assert.Equal(t, wantLife, body(t, aura, auratest.EndpointStart), "start body")
		assert.Equal(t, wantLife, body(t, aura, auratest.EndpointComplete), "complete body")
		ss, _ := aura.Session(id)
		assert.Equal(t, []string{"initialized", "started", "completed"}, ss.States)
		assert.Len(t, res.StudyIDs, 3)
		assert.Equal(t, ss.StudyIDs, res.StudyIDs)

		checkInit(t, []byte(body(t, aura, auratest.EndpointInit)), id, sampleFiles)
		checkTus(t, aura, id, res.ArchiveBytes, lift.get())
		checkZip(t, aura, id, expectedEntries(t, sampleDir, sampleFiles))

		// Callbacks.
		// A server without creation-defer-length gets the length at
		// creation: the archive is packed first, before init.
		wantStates := []uploader.State{uploader.StateConnecting, uploader.StateScanning, uploader.StateReady,
			uploader.StateInitializing, uploader.StateStarting, uploader.StateUploading, uploader.StateCompleting, uploader.StateCompleted}
		if knownLength {
			wantStates = slices.Insert(wantStates, 3, uploader.StatePacking)
		}
		assert.Equal(t, wantStates, rec.states)
		require.Len(t, rec.studies, 1)
		assert.Len(t, rec.studies[0], 3)
		assert.Len(t, rec.completes, 1)
		assert.Empty(t, rec.errs)
		assert.Zero(t, rec.cancels)
		checkProgress(t, rec, res)
		assert.Empty(t, stateFiles(t, stateDir), "state left behind after success")
	})
}

// TestOnePass: deflated entries go in one pass when the Tus server
// announces creation-defer-length: no packing state, the creation
// defers the length and the last PATCH declares it, while the progress
// estimates the total from the compression ratio so far. Without the
// extension, the archive is packed first and created with its length.
func TestOnePass(t *testing.T) {
	bothLengths(t, func(t *testing.T, knownLength bool, aura *auratest.Server, u *uploader.Uploader, rec *recorder, _ string) {
		u.ChunkSize = 1 << 20
		res, err := u.Upload(context.Background(), bigDir)
		require.NoError(t, err)
		require.Greater(t, res.ArchiveBytes, int64(2<<20), "the archive must span several chunks")
		wantStates := []uploader.State{uploader.StateConnecting, uploader.StateScanning, uploader.StateReady,
			uploader.StateInitializing, uploader.StateStarting, uploader.StateUploading, uploader.StateCompleting, uploader.StateCompleted}
		if knownLength {
			// The OPTIONS answer lacks creation-defer-length: the
			// archive is packed to learn its length before init, then
			// sent with it.
			wantStates = slices.Insert(wantStates, 3, uploader.StatePacking)
		}
		assert.Equal(t, wantStates, rec.states)

		var posts, declaring []auratest.Call
		for _, c := range aura.CallsTo(auratest.EndpointTus) {
			switch {
			case c.Method == "POST":
				posts = append(posts, c)
			case c.Method == "PATCH" && c.Header.Get("Upload-Length") != "":
				declaring = append(declaring, c)
			}
		}
		require.Len(t, posts, 1)
		size := strconv.FormatInt(res.ArchiveBytes, 10)
		if knownLength {
			assert.Equal(t, size, posts[0].Header.Get("Upload-Length"))
			assert.Empty(t, posts[0].Header.Get("Upload-Defer-Length"))
			assert.Empty(t, declaring, "no PATCH declares the length")
		} else {
			assert.Equal(t, "1", posts[0].Header.Get("Upload-Defer-Length"))
			assert.Empty(t, posts[0].Header.Get("Upload-Length"))
			require.Len(t, declaring, 1, "the last PATCH declares the length")
			assert.Equal(t, size, declaring[0].Header.Get("Upload-Length"))
		}
		up, _ := aura.Upload(res.UploadID)
		assert.True(t, up.Complete)
		assert.Equal(t, res.ArchiveBytes, up.Size)
		checkProgress(t, rec, res)
		// The estimate of a deflated archive's length is in the right
		// range from the first confirmed chunk on.
		for _, p := range rec.progress {
			if p.State == uploader.StateUploading && p.Bytes >= 1<<20 {
				assert.InDelta(t, float64(res.ArchiveBytes), float64(p.TotalBytes), float64(res.ArchiveBytes)/2, "estimate %+v", p)
			}
		}
		checkZip(t, aura, res.UploadID, expectedEntries(t, bigDir, bigFiles))
	})
}

// TestProgressRateAndETA: a transfer slowed down by the server (each 1 MiB
// PATCH held 150 ms) reports a rate near the real one, and an ETA that is
// the time left at that rate.
func TestProgressRateAndETA(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	u, rec := newUploader(t, aura, "")
	u.ChunkSize, u.Store = 1<<20, true
	aura.Fail(auratest.EndpointTus, auratest.Failure{Method: "PATCH", Delay: 150 * time.Millisecond})
	begin := time.Now()
	res, err := u.Upload(context.Background(), bigDir)
	require.NoError(t, err)
	avg := float64(res.ArchiveBytes) / time.Since(begin).Seconds()
	measured := 0
	for _, p := range rec.progress {
		require.Equal(t, uploader.StateUploading, p.State)
		if p.Rate == 0 {
			assert.Zero(t, p.ETA)
			continue
		}
		measured++
		assert.InDelta(t, avg, p.Rate, avg*0.9, "rate %+v, average %.0f B/s", p, avg)
		want := time.Duration(float64(p.TotalBytes-p.Bytes) / p.Rate * float64(time.Second))
		assert.InDelta(t, float64(want), float64(p.ETA), float64(time.Millisecond), "ETA of %+v", p)
	}
	assert.Positive(t, measured, "no progress report had a rate")
}

// checkInit compares the init body with what the generator wrote,
// independently of the scanner: keys in the reference client's order, the
// studies keyed by UID with their series, counts and values.
func checkInit(t *testing.T, raw []byte, id string, files []dicomgen.File) {
	t.Helper()
	assert.Equal(t, []string{"upload_id", "studies", "mode", "type", "source", "patient_id"}, jsonKeys(t, raw), "init keys")
	var body struct {
		UploadID  string          `json:"upload_id"`
		Mode      string          `json:"mode"`
		Type      string          `json:"type"`
		Source    string          `json:"source"`
		PatientID *string         `json:"patient_id"`
		Studies   json.RawMessage `json:"studies"`
	}
	require.NoError(t, json.Unmarshal(raw, &body))
	assert.Equal(t, id, body.UploadID)
	assert.Equal(t, "bulk", body.Mode)
	assert.Equal(t, "uploader", body.Type)
	assert.Equal(t, "standalone-uploader", body.Source)
	assert.Nil(t, body.PatientID)
	type seriesJSON struct {
		StudyInstanceUID  string  `json:"study_instance_uid"`
		SeriesInstanceUID string  `json:"series_instance_uid"`
		Modality          *string `json:"modality"`
	}
	type studyJSON struct {
		StudyUID    string                `json:"study_uid"`
		PatientID   string                `json:"patient_id"`
		PatientName string                `json:"patient_name"`
		Institution string                `json:"institution_name"`
		Modalities  []string              `json:"modalities"`
		Series      map[string]seriesJSON `json:"series"`
		Images      int                   `json:"images"`
		SeriesCount int                   `json:"series_count"`
	}
	var studies map[string]studyJSON
	require.NoError(t, json.Unmarshal(body.Studies, &studies))
	// Study order: as the files were met (the generator's order).
	var order []string
	for _, f := range files {
		if !slices.Contains(order, f.StudyInstanceUID) {
			order = append(order, f.StudyInstanceUID)
		}
	}
	assert.Equal(t, order, jsonKeys(t, body.Studies), "study keys")
	for _, uid := range order {
		st, ok := studies[uid]
		require.True(t, ok, "study %s missing", uid)
		images, series := 0, map[string]string{}
		var first dicomgen.File
		for _, f := range files {
			if f.StudyInstanceUID == uid {
				if images == 0 {
					first = f
				}
				images++
				series[f.SeriesInstanceUID] = f.Modality
			}
		}
		assert.Equal(t, uid, st.StudyUID)
		assert.Equal(t, images, st.Images, "study %s images", uid)
		assert.Equal(t, len(series), st.SeriesCount, "study %s series_count", uid)
		assert.Len(t, st.Series, len(series), "study %s series", uid)
		assert.Equal(t, first.PatientName, st.PatientName)
		assert.Equal(t, first.PatientID, st.PatientID)
		assert.Equal(t, first.InstitutionName, st.Institution)
		assert.Equal(t, []string{first.Modality}, st.Modalities, "study %s modalities", uid)
		for suid, mod := range series {
			se := st.Series[suid]
			assert.Equal(t, uid, se.StudyInstanceUID, "series %s", suid)
			assert.Equal(t, suid, se.SeriesInstanceUID)
			if assert.NotNil(t, se.Modality, "series %s modality", suid) {
				assert.Equal(t, mod, *se.Modality)
			}
		}
	}
}

// checkTus checks the Tus side: metadata keys and values in the reference
// order, the lift token (and only it) as the bearer, the length, and
// PATCH headers.
func checkTus(t *testing.T, aura *auratest.Server, id string, size int64, liftToken string) {
	t.Helper()
	up, ok := aura.Upload(id)
	require.True(t, ok, "no tus upload")
	assert.True(t, up.Complete, "tus upload complete")
	assert.False(t, up.Terminated)
	assert.Equal(t, size, up.Size)
	want := []auratest.MetaPair{{Key: "upload_id", Value: id}, {Key: "bucket", Value: "uploads"}, {Key: "mode", Value: "bulk"},
		{Key: "name", Value: id + ".zip"}, {Key: "type", Value: "application/zip"}, {Key: "filetype", Value: "application/zip"},
		{Key: "filename", Value: id + ".zip"}}
	assert.Equal(t, want, up.Metadata)
	assert.NoError(t, up.MetadataErr)
	require.NotEmpty(t, liftToken)
	for _, c := range aura.CallsTo(auratest.EndpointTus) {
		if c.Method == "OPTIONS" {
			continue
		}
		assert.Equal(t, "Bearer "+auraclient.Redact(liftToken), c.Header.Get("Authorization"), "tus %s: the lift token", c.Method)
		assert.Empty(t, c.Header.Get("X-Api-Key"), "tus %s carries X-Api-Key", c.Method)
		assert.Equal(t, "1.0.0", c.Header.Get("Tus-Resumable"), "tus %s", c.Method)
		switch c.Method {
		case "POST":
			// The sample's archive fits in the first chunk: its length is
			// known at creation even when it could be deferred.
			assert.Equal(t, strconv.FormatInt(size, 10), c.Header.Get("Upload-Length"))
		case "PATCH":
			assert.Equal(t, "application/offset+octet-stream", c.Header.Get("Content-Type"))
		}
	}
	for _, c := range aura.Calls() {
		if c.Endpoint != auratest.EndpointTus && c.Method != "OPTIONS" {
			assert.NotEmpty(t, c.Header.Get("X-Api-Key"), "%s %s without X-Api-Key", c.Method, c.Path)
		}
	}
}

// checkProgress checks the transfer's reports: monotone, never beyond the
// total, ending at the archive size with every file.
func checkProgress(t *testing.T, rec *recorder, res *uploader.Result) {
	t.Helper()
	last, ok := rec.last(uploader.StateUploading)
	require.True(t, ok, "no upload progress")
	assert.Equal(t, res.ArchiveBytes, last.Bytes, "last progress %+v", last)
	assert.Equal(t, res.ArchiveBytes, last.TotalBytes, "last progress %+v", last)
	assert.Equal(t, res.Instances, last.Files, "last progress %+v", last)
	assert.Equal(t, res.Instances, last.TotalFiles, "last progress %+v", last)
	var prev uploader.Progress
	for _, p := range rec.progress {
		if p.State != uploader.StateUploading {
			continue
		}
		assert.GreaterOrEqual(t, p.Bytes, prev.Bytes, "progress went backwards: %+v after %+v", p, prev)
		assert.GreaterOrEqual(t, p.Files, prev.Files, "files went backwards: %+v after %+v", p, prev)
		assert.GreaterOrEqual(t, p.Sent, p.Bytes, "Sent < Bytes: %+v", p)
		assert.GreaterOrEqual(t, p.TotalBytes, p.Sent, "beyond the total: %+v", p)
		prev = p
	}
}

// TestChunks checks the 5 MiB PATCHes of the reference client on an
// archive of stored entries (one pass: no packing state), and the files
// counted as their bytes are confirmed.
func TestChunks(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	u, rec := newUploader(t, aura, "")
	u.Store = true
	res, err := u.Upload(context.Background(), bigDir)
	require.NoError(t, err)
	require.Greater(t, res.ArchiveBytes, int64(5<<20), "the archive must need two chunks")
	var sizes []int64
	for _, c := range aura.CallsTo(auratest.EndpointTus) {
		if c.Method == "PATCH" {
			sizes = append(sizes, c.BodySize)
		}
	}
	assert.Equal(t, []int64{5 << 20, res.ArchiveBytes - 5<<20}, sizes, "PATCH sizes")
	assert.NotContains(t, rec.states, uploader.StatePacking, "stored entries need no packing pass")
	var mid *uploader.Progress
	for i, p := range rec.progress {
		if p.Bytes == 5<<20 {
			mid = &rec.progress[i]
		}
	}
	if assert.NotNil(t, mid, "no progress after the first chunk") {
		assert.Positive(t, mid.Files, "files after the first chunk")
		assert.Less(t, mid.Files, res.Instances, "files after the first chunk")
	}
	up, _ := aura.Upload(res.UploadID)
	entries, err := up.ZipEntries()
	require.NoError(t, err)
	for _, e := range entries {
		assert.Zero(t, e.Method, "%s: want stored", e.Name)
	}
	checkZip(t, aura, res.UploadID, expectedEntries(t, bigDir, bigFiles))
}

// TestRemoveStudy removes a study between Prepare and Upload: init does not
// announce it and the zip does not carry it.
func TestRemoveStudy(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	u, rec := newUploader(t, aura, t.TempDir())
	ctx := context.Background()
	s, err := u.Prepare(ctx, sampleDir)
	require.NoError(t, err)
	require.Empty(t, aura.CallsTo(auratest.EndpointInit), "Prepare sent init")
	studies := s.Studies()
	require.Len(t, studies, 3)
	require.Len(t, rec.studies, 1)
	require.True(t, slices.EqualFunc(studies, rec.studies[0], func(a, b uploader.Study) bool { return a.UID == b.UID }),
		"Studies %v, OnStudies %v", studies, rec.studies)
	gone := studies[1].UID
	assert.ErrorIs(t, s.Remove("1.2.3.4"), uploader.ErrUnknownStudy)
	require.NoError(t, s.Remove(gone))
	assert.Len(t, s.Studies(), 2, "studies to upload")
	assert.Len(t, s.Scan().Studies, 3, "studies scanned")
	res, err := s.Upload(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Studies)
	var files []dicomgen.File
	for _, f := range sampleFiles {
		if f.StudyInstanceUID != gone {
			files = append(files, f)
		}
	}
	checkInit(t, []byte(body(t, aura, auratest.EndpointInit)), res.UploadID, files)
	checkZip(t, aura, res.UploadID, expectedEntries(t, sampleDir, sampleFiles, gone))
	assert.ErrorIs(t, s.Remove(studies[0].UID), uploader.ErrStarted)
	_, err = s.Upload(ctx)
	assert.ErrorIs(t, err, uploader.ErrStarted)
}

// TestSubmitAfterComplete: with Uploader.Submit the upload is submitted
// once complete was acknowledged, with the metadata given; a 503 is
// retried; a refusal leaves the completed upload and returns its Result
// with an error matching ErrNotSubmitted and the API error.
func TestSubmitAfterComplete(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		metadata map[string]any
		fail     *auratest.Failure
		body     string // the submit body after `{"upload_id":"<id>"`
		status   int    // the refusal's status; 0 for success
		submits  int
	}{
		{"with metadata", map[string]any{"priority": "urgent", "referral": map[string]any{"id": 42}}, nil,
			`,"metadata":{"priority":"urgent","referral":{"id":42}}}`, 0, 1},
		{"without metadata", nil, nil, `}`, 0, 1},
		{"503 retried", nil, &auratest.Failure{Status: 503, Times: 1}, `}`, 0, 2},
		{"refused", nil, &auratest.Failure{Status: 403, Body: `{"message":"This action is unauthorized."}`}, `}`, 403, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			aura := auratest.NewServer()
			t.Cleanup(aura.Close)
			u, rec := newUploader(t, aura, t.TempDir())
			u.Submit, u.SubmitMetadata = true, c.metadata
			if c.fail != nil {
				aura.Fail(auratest.EndpointSubmit, *c.fail)
			}
			res, err := u.Upload(context.Background(), sampleDir)
			require.NotNil(t, res, "a completed upload has its Result (error %v)", err)
			ss, _ := aura.Session(res.UploadID)
			calls := lifecycle(aura)
			assert.Equal(t, c.submits, count(calls, "manage/submit"), "calls %q", calls)
			assert.Equal(t, "manage/submit", calls[len(calls)-1], "submit comes last: %q", calls)
			var bodies []string
			for _, call := range aura.CallsTo(auratest.EndpointSubmit) {
				bodies = append(bodies, string(call.Body))
			}
			require.NotEmpty(t, bodies)
			assert.Equal(t, `{"upload_id":"`+res.UploadID+`"`+c.body, bodies[len(bodies)-1])
			require.Len(t, rec.completes, 1)
			if c.status != 0 {
				require.ErrorIs(t, err, uploader.ErrNotSubmitted)
				var ae *uploadtoken.APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, c.status, ae.StatusCode)
				assert.Nil(t, res.Submitted)
				assert.Equal(t, "completed", ss.State)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, &uploader.ManageResult{UploadID: res.UploadID, Status: "submitted", Message: "Upload submitted."}, res.Submitted)
			assert.Equal(t, []string{"initialized", "started", "completed", "submitted"}, ss.States)
			assert.Same(t, res, rec.completes[0], "OnComplete sees the submit")
		})
	}
}
