package dicomscan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/dicomscan"
)

// sampleDir writes two small synthetic studies and a stray text file.
func sampleDir() string {
	dir, err := os.MkdirTemp("", "dicomscan-example")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := dicomgen.Write(context.Background(), filepath.Join(dir, "incoming"), dicomgen.Options{Studies: 2, SeriesPerStudy: 2, InstancesPerSeries: 3}); err != nil {
		log.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "incoming", "notes.txt"), []byte("hello"), 0o644)
	return filepath.Join(dir, "incoming")
}

func ExampleScanner_Scan() {
	dir := sampleDir()
	defer os.RemoveAll(filepath.Dir(dir))

	s := dicomscan.Scanner{Workers: 4}
	res, err := s.Scan(context.Background(), dir)
	if err != nil {
		log.Fatal(err) // only a canceled context ends a scan
	}
	for _, st := range res.Studies {
		fmt.Printf("%s %s: %d series, %d instances\n", st.PatientName, st.Modalities, len(st.Series), st.Instances())
	}
	for _, fe := range res.Skipped {
		fmt.Printf("skipped %s: %s (not DICOM: %v)\n", filepath.Base(fe.Path), fe.Reason(), errors.Is(fe, dicomscan.ErrNotDICOM))
	}
	// Output:
	// Müller^Jürgen [CT]: 2 series, 6 instances
	// Doe^Jane [MR]: 2 series, 6 instances
	// skipped notes.txt: not a DICOM file (not DICOM: true)
}

func ExampleZip_Write() {
	dir := sampleDir()
	defer os.RemoveAll(filepath.Dir(dir))
	res, err := dicomscan.Scan(context.Background(), dir)
	if err != nil {
		log.Fatal(err)
	}

	// Write the archive the Aura uploader would send. A file or an
	// io.Pipe to an uploader works the same as this buffer.
	var buf bytes.Buffer
	z := dicomscan.Zip{Level: 1}
	if _, err := z.Write(context.Background(), &buf, res.Studies); err != nil {
		log.Fatal(err)
	}
	entries := z.Entries(res.Studies)
	fmt.Println(len(entries), "entries, the first:")
	fmt.Println(entries[0].Name)
	// Output:
	// 12 entries, the first:
	// 2.25.298976429011952675602711257736621514697/incoming-study01-series01-IM00001.dcm
}

func ExampleZip_Size() {
	dir := sampleDir()
	defer os.RemoveAll(filepath.Dir(dir))
	res, err := dicomscan.Scan(context.Background(), dir)
	if err != nil {
		log.Fatal(err)
	}
	// Stored entries make the size known before writing, for a Tus
	// Upload-Length.
	stored := dicomscan.Zip{Store: true}
	size, err := stored.Size(res.Studies)
	if err != nil {
		log.Fatal(err)
	}
	n, err := stored.Write(context.Background(), io.Discard, res.Studies)
	fmt.Println(size == n, err)

	deflated := dicomscan.Zip{}
	_, err = deflated.Size(res.Studies)
	fmt.Println(errors.Is(err, dicomscan.ErrSizeUnknown))
	// Output:
	// true <nil>
	// true
}
