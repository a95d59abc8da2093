package dicomnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dicombridge/dicombridge/internal/orthanctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// orthancFile returns the Part 10 file Orthanc keeps for a SOP instance
// UID, or "" when it has none.
func orthancFile(t *testing.T, o *orthanctest.Server, sop string) (id string, path string) {
	t.Helper()
	var found []struct{ ID, Type string }
	o.Do(t, "POST", "tools/lookup", "text/plain", strings.NewReader(sop), &found)
	for _, f := range found {
		if f.Type == "Instance" {
			id = f.ID
		}
	}
	if id == "" {
		return "", ""
	}
	resp, err := http.Get(o.URL + "instances/" + id + "/file")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	path = filepath.Join(t.TempDir(), id+".dcm")
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = io.Copy(f, resp.Body)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return id, path
}

// orthancInstances are corpusInstances without the three files whose
// datasets end inside an element: Orthanc waits 30 s for the missing bytes
// before it aborts.
func orthancInstances(t *testing.T) []instance {
	return slices.DeleteFunc(corpusInstances(t), func(x instance) bool {
		return x.name == "MR_truncated.dcm" || x.name == "rtplan_truncated.dcm" || x.name == "SC_rgb_jpeg.dcm"
	})
}

// TestSCUIntoOrthanc: our SCU stores the pydicom corpus and generated
// studies into a real Orthanc, which checks the called AE title, through a
// relay that records the wire: every dataset goes out byte for byte as in
// its file, and Orthanc keeps the instance in the syntax sent. (Orthanc
// re-encodes some datasets as it stores them: counted, not failed.)
func TestSCUIntoOrthanc(t *testing.T) {
	o := orthanctest.Start(t, "", map[string]any{"DicomCheckCalledAet": true})
	tp := newTap(t, fmt.Sprintf("127.0.0.1:%d", o.DicomPort))
	stored, refused, differ := map[string]int{}, 0, 0
	for _, round := range rounds(orthancInstances(t)) {
		errs := storeAll(t, tp.addr, o.AET, round)
		wire := tp.datasets(t)
		for _, x := range round {
			if !errors.Is(errs[x.path], ErrNoContext) && assert.NotEmpty(t, wire, x.name) {
				assert.True(t, string(x.dataset) == string(wire[0]), "%s: sent another dataset than the file's", x.name)
				wire = wire[1:]
			}
			if errs[x.path] != nil {
				t.Logf("%s (%s): %v", x.name, x.ts, errs[x.path])
				refused++
				continue
			}
			id, path := orthancFile(t, o, x.sop)
			if !assert.NotEmpty(t, id, "%s: not in Orthanc", x.name) {
				continue
			}
			ts, class, sop, data := datasetPart(t, path)
			assert.Equal(t, x.ts, ts, x.name)
			assert.Equal(t, x.class, class, x.name)
			assert.Equal(t, x.sop, sop, x.name)
			if string(x.dataset) != string(data) {
				t.Logf("%s (%s): Orthanc re-encoded the dataset (%d bytes sent, %d kept)", x.name, x.ts, len(x.dataset), len(data))
				differ++
			}
			stored[x.ts]++
			o.Do(t, "DELETE", "instances/"+id, "", nil, nil)
		}
	}
	t.Logf("stored into Orthanc, per syntax: %v; refused %d; re-encoded by Orthanc %d", stored, refused, differ)
	assert.GreaterOrEqual(t, len(stored), 11)
}

// TestOrthancIntoServer: a real Orthanc, with our server configured as a
// modality, echoes it and sends it instances in every syntax through its
// REST API (C-STORE as a user); each is kept byte for byte as Orthanc has
// it.
func TestOrthancIntoServer(t *testing.T) {
	v := newVault(t)
	host, port := serve(t, &Server{AETitle: "GATEWAY", CallingAETitles: []string{"ORTHANCTEST"}, Handler: v})
	tp := newTap(t, fmt.Sprintf("%s:%d", host, port))
	_, tport, _ := strings.Cut(tp.addr, ":")
	o := orthanctest.Start(t, "", map[string]any{
		"DicomModalities": map[string]any{"gw": []any{"GATEWAY", "127.0.0.1", tport}},
	})
	o.Do(t, "POST", "modalities/gw/echo", "application/json", strings.NewReader("{}"), nil)
	tp.datasets(t) // the echo carries none
	var sent []instance
	for _, x := range orthancInstances(t) {
		resp, err := http.Post(o.URL+"instances", "application/dicom", mustOpen(t, x.path))
		require.NoError(t, err)
		var in struct{ ID, Status string }
		_ = json.NewDecoder(resp.Body).Decode(&in)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || in.Status != "Success" {
			continue // Orthanc refused the file or has the instance already
		}
		before := len(v.Calls())
		resp, err = http.Post(o.URL+"modalities/gw/store", "application/json", strings.NewReader(`{"Resources":["`+in.ID+`"],"Synchronous":true}`))
		require.NoError(t, err)
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			// rtdose_rle*.dcm: no SOP class in the dataset, Orthanc
			// cannot choose a presentation context.
			t.Logf("%s: Orthanc did not send it: %.100q", x.name, msg)
			assert.Len(t, v.Calls(), before)
			tp.datasets(t)
			continue
		}
		sent = append(sent, x)
		calls := v.Calls()
		if !assert.Len(t, calls, before+1, x.name) {
			continue
		}
		c := calls[before]
		require.NotEmpty(t, c.path, x.name)
		wire := tp.datasets(t)
		require.Len(t, wire, 1, x.name)
		ts, _, sop, got := datasetPart(t, c.path)
		assert.Equal(t, x.ts, ts, x.name)
		assert.Equal(t, c.req.SOPInstanceUID, sop, x.name)
		assert.Equal(t, "ORTHANCTEST", c.req.CallingAETitle)
		assert.True(t, string(wire[0]) == string(got), "%s: dataset differs from what Orthanc sent", x.name)
	}
	bySyntax := map[string]int{}
	for _, x := range sent {
		bySyntax[x.ts]++
	}
	t.Logf("Orthanc sent %d instances, per syntax: %v", len(sent), bySyntax)
	assert.GreaterOrEqual(t, len(sent), 40)
	assert.GreaterOrEqual(t, len(bySyntax), 10) // all but JPEG-LS, which Orthanc 1.10 does not send
}

func mustOpen(t *testing.T, path string) io.Reader {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.NewReader(string(b))
}
