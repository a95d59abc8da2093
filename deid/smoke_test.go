package deid

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dicombridge/dicombridge/internal/testenv"
)

func TestSmoke(t *testing.T) {
	root := testenv.PydicomTestFiles(t)
	p, err := New(Config{Key: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
		if fi.IsDir() {
			return nil
		}
		f, _ := os.Open(path)
		defer f.Close()
		var out bytes.Buffer
		res, err := p.Apply(context.Background(), &out, f)
		if err != nil {
			t.Logf("%s: %v", path[len(root):], err)
			return nil
		}
		t.Logf("%s: ok %d bytes %s %d actions", path[len(root):], out.Len(), res.TransferSyntaxUID, len(res.Actions))
		os.MkdirAll("/tmp/deidout", 0o755)
		os.WriteFile("/tmp/deidout/"+filepath.Base(path)+".dcm", out.Bytes(), 0o644)
		return nil
	})
}
