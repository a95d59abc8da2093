package dicomgen_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/dicombridge/dicombridge/dicomgen"
)

// Three studies (CT, MR, NM) of two series each, one native and one JPEG,
// with patients named in Latin-1, ASCII and Cyrillic.
func ExampleWrite() {
	dir, err := os.MkdirTemp("", "dicomgen-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	files, err := dicomgen.Write(context.Background(), dir, dicomgen.Options{
		Studies: 3, SeriesPerStudy: 2, InstancesPerSeries: 4, Rows: 128, Columns: 128,
		TransferSyntaxes: []string{dicomgen.ExplicitVRLittleEndian, dicomgen.JPEGBaseline},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(files), "files")
	for _, f := range files {
		if strings.HasSuffix(f.Name, "/IM00001.dcm") { // the first instance of each series
			fmt.Printf("%s %s %s %s [%s]\n", f.Name, f.Modality, f.TransferSyntaxUID, f.PatientName, f.CharacterSet)
		}
	}
	// Output:
	// 24 files
	// study01/series01/IM00001.dcm CT 1.2.840.10008.1.2.1 Müller^Jürgen [ISO_IR 100]
	// study01/series02/IM00001.dcm CT 1.2.840.10008.1.2.4.50 Müller^Jürgen [ISO_IR 100]
	// study02/series01/IM00001.dcm MR 1.2.840.10008.1.2.1 Doe^Jane []
	// study02/series02/IM00001.dcm MR 1.2.840.10008.1.2.4.50 Doe^Jane []
	// study03/series01/IM00001.dcm NM 1.2.840.10008.1.2.1 Иванов^Пётр [ISO_IR 144]
	// study03/series02/IM00001.dcm NM 1.2.840.10008.1.2.4.50 Иванов^Пётр [ISO_IR 144]
}

// UID gives the same UID for the same seed and parts, so expected values in
// a test can be computed rather than copied: UID(seed, "study", 0) is the
// Study Instance UID of the first study Write makes with that seed.
func ExampleUID() {
	study := dicomgen.UID(0, "study", 0)
	fmt.Println(study)
	fmt.Println(study == dicomgen.UID(0, "study", 0), study == dicomgen.UID(1, "study", 0))
	// Output:
	// 2.25.298976429011952675602711257736621514697
	// true false
}
