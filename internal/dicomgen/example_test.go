package dicomgen_test

import (
	"fmt"
	"log"
	"os"

	"github.com/dicombridge/dicombridge/internal/dicomgen"
)

func ExampleWrite() {
	dir, err := os.MkdirTemp("", "dicomgen-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	files, err := dicomgen.Write(dir, dicomgen.Options{Studies: 2, SeriesPerStudy: 3, InstancesPerSeries: 4, Rows: 128, Columns: 128})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(files), "files")
	fmt.Println(files[0].Name, files[0].Modality, files[0].PatientName, files[0].CharacterSet)
	fmt.Println(files[23].Name, files[23].Modality, files[23].PatientName)
	// Output:
	// 24 files
	// study01/series01/IM00001.dcm CT Müller^Jürgen ISO_IR 100
	// study02/series03/IM00004.dcm MR Doe^Jane
}
