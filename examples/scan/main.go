// Command scan finds the DICOM studies under files, directories and .zip
// archives, prints what it found, and optionally writes the zip archive the
// Aura uploader would send.
//
//	go run ./examples/scan [-json] [-zip OUT.zip] [-store] [-level N] [-no-preamble] PATH...
//
// Without -json it prints a human summary; with -json, one JSON object:
//
//	{"studies":[{"study_instance_uid","patient_name","patient_id","study_date",
//	  "study_description","modalities":[],"series":[{"series_instance_uid",
//	  "modality","series_description","instances":N}]}],
//	 "skipped":N,"rejected":[{"path","reason"}],"errors":[{"path","error"}]}
//
// The exit status is 0 when the scan ran (files in error are reported, not
// fatal), 1 when the archive could not be written, 2 on bad usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/dicombridge/dicombridge/dicomscan"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// report is the -json output.
type report struct {
	Studies  []studyReport   `json:"studies"`
	Skipped  int             `json:"skipped"`
	Rejected []rejectedEntry `json:"rejected"`
	Errors   []errorEntry    `json:"errors"`
}

type studyReport struct {
	StudyInstanceUID string         `json:"study_instance_uid"`
	PatientName      string         `json:"patient_name"`
	PatientID        string         `json:"patient_id"`
	StudyDate        string         `json:"study_date"`
	StudyDescription string         `json:"study_description"`
	Modalities       []string       `json:"modalities"`
	Series           []seriesReport `json:"series"`
}

type seriesReport struct {
	SeriesInstanceUID string `json:"series_instance_uid"`
	Modality          string `json:"modality"`
	SeriesDescription string `json:"series_description"`
	Instances         int    `json:"instances"`
}

type rejectedEntry struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

type errorEntry struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

func newReport(res *dicomscan.Result) report {
	r := report{
		Studies:  []studyReport{},
		Skipped:  len(res.Skipped),
		Rejected: []rejectedEntry{},
		Errors:   []errorEntry{},
	}
	for _, st := range res.Studies {
		sr := studyReport{
			StudyInstanceUID: st.StudyInstanceUID,
			PatientName:      st.PatientName,
			PatientID:        st.PatientID,
			StudyDate:        st.StudyDate,
			StudyDescription: st.StudyDescription,
			Modalities:       append([]string{}, st.Modalities...),
			Series:           []seriesReport{},
		}
		for _, se := range st.Series {
			sr.Series = append(sr.Series, seriesReport{
				SeriesInstanceUID: se.SeriesInstanceUID,
				Modality:          se.Modality,
				SeriesDescription: se.SeriesDescription,
				Instances:         len(se.Instances),
			})
		}
		r.Studies = append(r.Studies, sr)
	}
	for _, fe := range res.Rejected {
		r.Rejected = append(r.Rejected, rejectedEntry{Path: fe.Path, Reason: fe.Reason()})
	}
	for _, fe := range res.Errors {
		r.Errors = append(r.Errors, errorEntry{Path: fe.Path, Error: fe.Reason()})
	}
	return r
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object instead of a summary")
	zipOut := fs.String("zip", "", "write the archive of all instances to this file")
	store := fs.Bool("store", false, "store every zip entry (no Deflate)")
	level := fs.Int("level", 1, "Deflate level for native pixel data, 1-9")
	noPreamble := fs.Bool("no-preamble", false, "accept DICOM datasets without the 128-byte preamble")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: scan [-json] [-zip OUT.zip] [-store] [-level N] [-no-preamble] PATH...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *level < 1 || *level > 9 {
		fmt.Fprintln(stderr, "scan: -level must be 1-9")
		return 2
	}

	s := dicomscan.Scanner{AllowNoPreamble: *noPreamble}
	res, err := s.Scan(ctx, fs.Args()...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(newReport(res)); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	} else {
		printSummary(stdout, res)
	}
	if *zipOut == "" {
		return 0
	}
	msg := stdout
	if *asJSON {
		msg = stderr // stdout holds only the JSON object
	}
	z := dicomscan.Zip{Store: *store, Level: *level}
	n, err := writeZip(ctx, &z, *zipOut, res)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(msg, "wrote %s: %d entries, %s\n", *zipOut, res.Instances(), size(n))
	return 0
}

// writeZip writes the archive next to its destination and renames it into
// place, so a failed run leaves no partial file under the final name.
func writeZip(ctx context.Context, z *dicomscan.Zip, dst string, res *dicomscan.Result) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(dst), ".scan-*.zip.tmp")
	if err != nil {
		return 0, err
	}
	n, err := z.Write(ctx, f, res.Studies)
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, err
	}
	return n, nil
}

func printSummary(w io.Writer, res *dicomscan.Result) {
	fmt.Fprintf(w, "%d files: %d studies, %d series, %d instances (%s); %d skipped, %d rejected, %d errors\n",
		res.Files, len(res.Studies), res.Series(), res.Instances(), size(res.Size()),
		len(res.Skipped), len(res.Rejected), len(res.Errors))
	for _, st := range res.Studies {
		fmt.Fprintf(w, "\nstudy %s\n", st.StudyInstanceUID)
		fmt.Fprintf(w, "  patient %q, id %q, date %q, description %q, modalities %v\n",
			st.PatientName, st.PatientID, st.StudyDate, st.StudyDescription, st.Modalities)
		for _, se := range st.Series {
			fmt.Fprintf(w, "  series %s  %-4s %4d instances  %q\n",
				se.SeriesInstanceUID, se.Modality, len(se.Instances), se.SeriesDescription)
		}
	}
	if len(res.Rejected) > 0 {
		fmt.Fprintln(w, "\nrejected:")
		for _, fe := range res.Rejected {
			fmt.Fprintf(w, "  %s: %s\n", fe.Path, fe.Reason())
		}
	}
	if len(res.Errors) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		for _, fe := range res.Errors {
			fmt.Fprintf(w, "  %s: %s\n", fe.Path, fe.Reason())
		}
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
