package uploader

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dicombridge/dicombridge/dicomgen"
)

// FuzzReadDeidHeader: reading the start of a de-identified file never
// panics, whatever the bytes, and keeps values within what it was given.
func FuzzReadDeidHeader(f *testing.F) {
	dir := f.TempDir()
	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{SeriesPerStudy: 3, Seed: 9,
		TransferSyntaxes: []string{dicomgen.ExplicitVRLittleEndian, dicomgen.ImplicitVRLittleEndian, dicomgen.ExplicitVRBigEndian}})
	if err != nil {
		f.Fatal(err)
	}
	for _, fl := range files {
		data, err := os.ReadFile(filepath.Clean(fl.Path))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 2048)])
	}
	f.Add([]byte{})
	f.Add(make([]byte, 132))
	f.Fuzz(func(t *testing.T, head []byte) {
		h := readDeidHeader(head)
		for _, v := range []string{h.studyDate, h.studyTime, h.modality, h.studyDescription, h.seriesNumber, h.bodyPart} {
			if len(v) > len(head) {
				t.Fatalf("value of %d bytes from %d bytes of input", len(v), len(head))
			}
		}
	})
}

// TestReadDeidHeader reads the attributes init needs from a file's start.
func TestReadDeidHeader(t *testing.T) {
	files, err := dicomgen.Write(context.Background(), t.TempDir(), dicomgen.Options{Seed: 4})
	require.NoError(t, err)
	data, err := os.ReadFile(files[0].Path)
	require.NoError(t, err)
	h := readDeidHeader(data)
	assert.Equal(t, files[0].Modality, h.modality)
	assert.Equal(t, "1", h.seriesNumber)
	assert.Regexp(t, `^[0-9]{8}$`, h.studyDate)
	assert.Empty(t, readDeidHeader(data[:200]).seriesNumber, "a truncated start")
}
