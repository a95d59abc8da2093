package uploader_test

import (
	"bufio"
	"bytes"
	"math"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/internal/testenv"
	"github.com/dicombridge/dicombridge/uploader"
)

func TestInitBodiesGolden(t *testing.T) {
	t.Parallel()
	for _, c := range initCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			b, err := c.request().Body()
			require.NoError(t, err)
			golden(t, "init-"+c.Name, b)
		})
	}
}

// TestGoldenMatchesJSONStringify checks the golden bodies against the
// reference construction run by Node (testdata/stringify.mjs mirrors
// client.ts and studiesInfo). Locally it skips without Node; .ci/run
// installs nodejs so it always runs in CI.
func TestGoldenMatchesJSONStringify(t *testing.T) {
	t.Parallel()
	node := testenv.LookPath(t, "node", "apt-get install nodejs")
	out, err := exec.Command(node, "testdata/stringify.mjs").Output()
	require.NoError(t, err, "node")
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, body, ok := strings.Cut(sc.Text(), "\t")
		require.True(t, ok, "bad line %q", sc.Text())
		golden(t, name, []byte(body))
		n++
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, len(initCases(t))+len(lifecycleCases(t)), n, "bodies node printed")
}

func TestInitBodyErrors(t *testing.T) {
	t.Parallel()
	for name, req := range map[string]uploader.InitRequest{
		"no upload id":     {Studies: []uploader.Study{{UID: "1"}}},
		"study without id": {UploadID: "u", Studies: []uploader.Study{{}}},
		"duplicate study":  {UploadID: "u", Studies: []uploader.Study{{UID: "1"}, {UID: "1"}}},
		"series no id":     {UploadID: "u", Studies: []uploader.Study{{UID: "1", Series: []uploader.Series{{}}}}},
		"duplicate series": {UploadID: "u", Studies: []uploader.Study{{UID: "1", Series: []uploader.Series{{UID: "2"}, {UID: "2"}}}}},
		"bad context":      {UploadID: "u", Context: func() {}},
	} {
		_, err := req.Body()
		assert.ErrorIs(t, err, uploader.ErrInvalidInit, name)
	}
}

func TestInitBodyMinimal(t *testing.T) {
	t.Parallel()
	b, err := uploader.InitRequest{UploadID: "u", Context: map[string]any{"b": 0.0, "a": 1e21, "c": []any{nil, true, 1.50}}}.Body()
	require.NoError(t, err)
	want := `{"upload_id":"u","studies":{},"mode":"bulk","type":"uploader","source":"standalone-uploader","patient_id":null,"context":{"a":1e+21,"b":0,"c":[null,true,1.5]}}`
	assert.Equal(t, want, string(b))
}

// TestInitBodyNegativeZero: a real negative zero in the context (the Go
// literal -0.0 is +0, so it comes from math.Copysign) is sent as "0", as
// JSON.stringify sends -0; Node checks the reference side.
func TestInitBodyNegativeZero(t *testing.T) {
	t.Parallel()
	negZero := math.Copysign(0, -1)
	require.True(t, math.Signbit(negZero), "not a negative zero")
	cases := []struct {
		name    string
		context any
		js      string // the same value in JavaScript
		want    string
	}{
		{"float64", map[string]any{"z": negZero}, `{z: -0}`, `{"z":0}`},
		{"float32", map[string]any{"z": float32(negZero)}, `{z: -0}`, `{"z":0}`},
		{"in an array", []any{negZero, 1.0, -1.5}, `[-0, 1, -1.5]`, `[0,1,-1.5]`},
		{"nested", map[string]any{"a": map[string]any{"b": []any{negZero}}}, `{a: {b: [-0]}}`, `{"a":{"b":[0]}}`},
	}
	node := testenv.LookPath(t, "node", "apt-get install nodejs")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, err := uploader.InitRequest{UploadID: "u", Context: c.context}.Body()
			require.NoError(t, err)
			_, got, ok := strings.Cut(string(b), `"context":`)
			require.True(t, ok, "no context in %s", b)
			got = strings.TrimSuffix(got, "}")
			assert.Equal(t, c.want, got)
			ref, err := exec.Command(node, "-e", "process.stdout.write(JSON.stringify("+c.js+"))").Output()
			require.NoError(t, err)
			assert.Equal(t, string(ref), got, "JSON.stringify(%s)", c.js)
		})
	}
}
