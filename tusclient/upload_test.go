package tusclient_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/tusclient"
)

func TestUploadBasic(t *testing.T) {
	t.Parallel()
	srv := newTus(t)
	c := newClient(t, srv, tusclient.Config{ChunkSize: 64 << 10})
	data := randomData(300_001, 1)
	up, err := c.NewUpload(bytes.NewReader(data), int64(len(data)), tusclient.UploadOptions{
		Metadata: tusclient.Metadata{{Key: "filename", Value: "a.bin"}},
	})
	require.NoError(t, err)
	require.NoError(t, up.Run(context.Background()))
	assertStored(t, srv, up.URL(), data)
	for _, r := range srv.Calls() {
		t.Logf("%s %s %d %d off=%s", r.Method, r.Path, r.ContentLength, r.Status, r.Header.Get("Upload-Offset"))
	}
}
