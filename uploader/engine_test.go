package uploader_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/dicombridge/dicombridge/auratest"
	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/auraclient"
	"github.com/dicombridge/dicombridge/uploader"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestUploadEndToEnd uploads three studies (deflated and stored entries)
// and checks everything Aura and Tus received: the calls in order with
// their exact bodies, the Tus headers and metadata, and every source file
// byte-identical in the stored zip.
func TestUploadEndToEnd(t *testing.T) {
	t.Parallel()
	aura := auratest.NewServer()
	t.Cleanup(aura.Close)
	stateDir := t.TempDir()
	u, rec := newUploader(t, aura, stateDir)
	lift := &liftCapture{base: aura.Client().Transport}
	u.API.HTTPClient = &http.Client{Transport: lift}
	res, err := u.Upload(context.Background(), sampleDir)
	if err != nil {
		t.Fatal(err)
	}
	id := res.UploadID
	if !uuidV4.MatchString(id) {
		t.Errorf("upload id %q is not a lower-case UUID v4", id)
	}
	if len(res.AssemblyID) != 21 {
		t.Errorf("assembly id %q: want 21 characters like Uppy's", res.AssemblyID)
	}
	if res.Studies != 3 || res.Series != 5 || res.Instances != len(sampleFiles) || res.SourceBytes != sampleSize(sampleFiles) {
		t.Errorf("result counts %+v; want 3 studies, 5 series, %d instances, %d bytes", res, len(sampleFiles), sampleSize(sampleFiles))
	}
	if res.Resumed || res.ResumedAt != 0 {
		t.Errorf("a fresh upload reports a resume: %+v", res)
	}

	// The calls, in order: one config, init, start (answered before Tus
	// begins), Tus, complete only after the last PATCH.
	calls := compact(lifecycle(aura))
	want := []string{"config", "init", "start", "tus POST", "tus PATCH", "complete"}
	if got := slices.DeleteFunc(calls, func(c string) bool { return c == "tus OPTIONS" }); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if n := len(aura.CallsTo(auratest.EndpointConfig)); n != 1 {
		t.Errorf("config fetched %d times, want once (spec §8 item 12)", n)
	}
	wantLife := `{"upload_id":"` + id + `","assembly_id":"` + res.AssemblyID + `","mode":"uploader"}`
	if got := body(t, aura, auratest.EndpointStart); got != wantLife {
		t.Errorf("start body %s, want %s", got, wantLife)
	}
	if got := body(t, aura, auratest.EndpointComplete); got != wantLife {
		t.Errorf("complete body %s, want %s", got, wantLife)
	}
	ss, _ := aura.Session(id)
	if !slices.Equal(ss.States, []string{"initialized", "started", "completed"}) {
		t.Errorf("server session states %v", ss.States)
	}
	if !slices.Equal(res.StudyIDs, ss.StudyIDs) || len(res.StudyIDs) != 3 {
		t.Errorf("study ids %v, server answered %v", res.StudyIDs, ss.StudyIDs)
	}

	checkInit(t, []byte(body(t, aura, auratest.EndpointInit)), id, sampleFiles)
	checkTus(t, aura, id, res.ArchiveBytes, lift.get())
	checkZip(t, aura, id, expectedEntries(t, sampleDir, sampleFiles))

	// Callbacks.
	wantStates := []uploader.State{uploader.StateConnecting, uploader.StateScanning, uploader.StateReady, uploader.StatePacking,
		uploader.StateInitializing, uploader.StateStarting, uploader.StateUploading, uploader.StateCompleting, uploader.StateCompleted}
	if !slices.Equal(rec.states, wantStates) {
		t.Errorf("states %v, want %v", rec.states, wantStates)
	}
	if len(rec.studies) != 1 || len(rec.studies[0]) != 3 || len(rec.completes) != 1 || len(rec.errs) != 0 || rec.cancels != 0 {
		t.Errorf("callbacks: %d studies calls, %d completes, errors %v, %d cancels", len(rec.studies), len(rec.completes), rec.errs, rec.cancels)
	}
	checkProgress(t, rec, res)
	if left := stateFiles(t, stateDir); len(left) != 0 {
		t.Errorf("state left behind after success: %v", left)
	}
}

// checkInit compares the init body with what the generator wrote,
// independently of the scanner: keys in the reference client's order, the
// studies keyed by UID with their series, counts and values.
func checkInit(t *testing.T, raw []byte, id string, files []dicomgen.File) {
	t.Helper()
	if got := jsonKeys(t, raw); !slices.Equal(got, []string{"upload_id", "studies", "mode", "type", "source", "patient_id"}) {
		t.Errorf("init keys %v", got)
	}
	var body struct {
		UploadID  string          `json:"upload_id"`
		Mode      string          `json:"mode"`
		Type      string          `json:"type"`
		Source    string          `json:"source"`
		PatientID *string         `json:"patient_id"`
		Studies   json.RawMessage `json:"studies"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if body.UploadID != id || body.Mode != "bulk" || body.Type != "uploader" || body.Source != "standalone-uploader" || body.PatientID != nil {
		t.Errorf("init header %+v", body)
	}
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
	if err := json.Unmarshal(body.Studies, &studies); err != nil {
		t.Fatal(err)
	}
	// Study order: as the files were met (the generator's order).
	var order []string
	for _, f := range files {
		if !slices.Contains(order, f.StudyInstanceUID) {
			order = append(order, f.StudyInstanceUID)
		}
	}
	if got := jsonKeys(t, body.Studies); !slices.Equal(got, order) {
		t.Errorf("study keys %v, want %v", got, order)
	}
	for _, uid := range order {
		st, ok := studies[uid]
		if !ok {
			t.Fatalf("study %s missing", uid)
		}
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
		if st.StudyUID != uid || st.Images != images || st.SeriesCount != len(series) || len(st.Series) != len(series) {
			t.Errorf("study %s: %+v; want %d images, %d series", uid, st, images, len(series))
		}
		if st.PatientName != first.PatientName || st.PatientID != first.PatientID || st.Institution != first.InstitutionName {
			t.Errorf("study %s: patient %q/%q institution %q, want %q/%q %q", uid, st.PatientName, st.PatientID, st.Institution,
				first.PatientName, first.PatientID, first.InstitutionName)
		}
		if !slices.Equal(st.Modalities, []string{first.Modality}) {
			t.Errorf("study %s: modalities %v, want [%s]", uid, st.Modalities, first.Modality)
		}
		for suid, mod := range series {
			se := st.Series[suid]
			if se.StudyInstanceUID != uid || se.SeriesInstanceUID != suid || se.Modality == nil || *se.Modality != mod {
				t.Errorf("series %s: %+v", suid, se)
			}
		}
	}
}

// checkTus checks the Tus side: metadata keys and values in the reference
// order, the lift token (and only it) as the bearer, Upload-Length, and
// PATCH headers.
func checkTus(t *testing.T, aura *auratest.Server, id string, size int64, liftToken string) {
	t.Helper()
	up, ok := aura.Upload(id)
	if !ok {
		t.Fatal("no tus upload")
	}
	if !up.Complete || up.Size != size || up.Terminated {
		t.Errorf("tus upload %+v, want complete with %d bytes", up, size)
	}
	want := []auratest.MetaPair{{Key: "upload_id", Value: id}, {Key: "bucket", Value: "uploads"}, {Key: "mode", Value: "bulk"},
		{Key: "name", Value: id + ".zip"}, {Key: "type", Value: "application/zip"}, {Key: "filetype", Value: "application/zip"},
		{Key: "filename", Value: id + ".zip"}}
	if !slices.Equal(up.Metadata, want) || up.MetadataErr != nil {
		t.Errorf("metadata %v (%v), want %v", up.Metadata, up.MetadataErr, want)
	}
	for _, c := range aura.CallsTo(auratest.EndpointTus) {
		if c.Method == "OPTIONS" {
			continue
		}
		if a := c.Header.Get("Authorization"); liftToken == "" || a != "Bearer "+auraclient.Redact(liftToken) {
			t.Errorf("tus %s Authorization %q, want the lift token", c.Method, a)
		}
		if k := c.Header.Get("X-Api-Key"); k != "" {
			t.Errorf("tus %s carries X-Api-Key", c.Method)
		}
		if c.Header.Get("Tus-Resumable") != "1.0.0" {
			t.Errorf("tus %s without Tus-Resumable", c.Method)
		}
		switch c.Method {
		case "POST":
			if c.Header.Get("Upload-Length") != strconv.FormatInt(size, 10) {
				t.Errorf("Upload-Length %q, want %d", c.Header.Get("Upload-Length"), size)
			}
		case "PATCH":
			if c.Header.Get("Content-Type") != "application/offset+octet-stream" {
				t.Errorf("PATCH Content-Type %q", c.Header.Get("Content-Type"))
			}
		}
	}
	for _, c := range aura.Calls() {
		if c.Endpoint != auratest.EndpointTus && c.Method != "OPTIONS" && c.Header.Get("X-Api-Key") == "" {
			t.Errorf("%s %s without X-Api-Key", c.Method, c.Path)
		}
	}
}

// checkProgress checks the transfer's reports: monotone, ending at the
// archive size with every file.
func checkProgress(t *testing.T, rec *recorder, res *uploader.Result) {
	t.Helper()
	last, ok := rec.last(uploader.StateUploading)
	if !ok {
		t.Fatal("no upload progress")
	}
	if last.Bytes != res.ArchiveBytes || last.TotalBytes != res.ArchiveBytes || last.Files != res.Instances || last.TotalFiles != res.Instances {
		t.Errorf("last progress %+v, want %d bytes and %d files", last, res.ArchiveBytes, res.Instances)
	}
	var prev uploader.Progress
	for _, p := range rec.progress {
		if p.State != uploader.StateUploading {
			continue
		}
		if p.Bytes < prev.Bytes || p.Files < prev.Files || p.Sent < p.Bytes {
			t.Errorf("progress went backwards or Sent < Bytes: %+v after %+v", p, prev)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	if res.ArchiveBytes <= 5<<20 {
		t.Fatalf("archive of %d bytes does not need two chunks", res.ArchiveBytes)
	}
	var sizes []int64
	for _, c := range aura.CallsTo(auratest.EndpointTus) {
		if c.Method == "PATCH" {
			sizes = append(sizes, c.BodySize)
		}
	}
	want := []int64{5 << 20, res.ArchiveBytes - 5<<20}
	if !slices.Equal(sizes, want) {
		t.Errorf("PATCH sizes %v, want %v", sizes, want)
	}
	if slices.Contains(rec.states, uploader.StatePacking) {
		t.Error("stored entries need no packing pass")
	}
	var mid *uploader.Progress
	for i, p := range rec.progress {
		if p.Bytes == 5<<20 {
			mid = &rec.progress[i]
		}
	}
	if mid == nil || mid.Files <= 0 || mid.Files >= res.Instances {
		t.Errorf("progress after the first chunk: %+v; want some of the %d files", mid, res.Instances)
	}
	up, _ := aura.Upload(res.UploadID)
	entries, err := up.ZipEntries()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Method != 0 {
			t.Errorf("%s: method %d, want stored", e.Name, e.Method)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	if n := len(aura.CallsTo(auratest.EndpointInit)); n != 0 {
		t.Fatalf("Prepare sent init")
	}
	studies := s.Studies()
	if len(studies) != 3 || !slices.EqualFunc(studies, rec.studies[0], func(a, b uploader.Study) bool { return a.UID == b.UID }) {
		t.Fatalf("Studies %v, OnStudies %v", studies, rec.studies)
	}
	gone := studies[1].UID
	if err := s.Remove("1.2.3.4"); !errors.Is(err, uploader.ErrUnknownStudy) {
		t.Errorf("Remove(unknown) = %v, want ErrUnknownStudy", err)
	}
	if err := s.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if len(s.Studies()) != 2 || len(s.Scan().Studies) != 3 {
		t.Errorf("after Remove: %d studies to upload, %d scanned", len(s.Studies()), len(s.Scan().Studies))
	}
	res, err := s.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Studies != 2 {
		t.Errorf("uploaded %d studies", res.Studies)
	}
	var files []dicomgen.File
	for _, f := range sampleFiles {
		if f.StudyInstanceUID != gone {
			files = append(files, f)
		}
	}
	checkInit(t, []byte(body(t, aura, auratest.EndpointInit)), res.UploadID, files)
	checkZip(t, aura, res.UploadID, expectedEntries(t, sampleDir, sampleFiles, gone))
	if err := s.Remove(studies[0].UID); !errors.Is(err, uploader.ErrStarted) {
		t.Errorf("Remove after Upload = %v, want ErrStarted", err)
	}
	if _, err := s.Upload(ctx); !errors.Is(err, uploader.ErrStarted) {
		t.Errorf("second Upload = %v, want ErrStarted", err)
	}
}
