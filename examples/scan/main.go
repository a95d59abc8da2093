// Command scan finds the DICOM studies under files, directories and .zip
// archives, prints what it found and every file it set aside with the
// reason, and optionally writes the zip archive the Aura uploader would
// send. With -dump it shows one file's header elements instead.
//
//	go run ./examples/scan [-json] [-zip OUT.zip] [-store] [-level N] [-no-preamble] PATH...
//	go run ./examples/scan -dump FILE
//
// Without -json it prints a human summary; with -json, one JSON object:
//
//	{"studies":[{"study_instance_uid","patient_name","patient_id","study_date",
//	  "study_description","modalities":[],"series":[{"series_instance_uid",
//	  "modality","series_description","instances":N}]}],
//	 "skipped":[{"path","reason"}],"rejected":[{"path","reason"}],"errors":[{"path","error"}],
//	 "totals":{"files","studies","series","instances","bytes","skipped","rejected","errors"}}
//
// The exit status is 0 when the scan ran (files set aside are reported, not
// fatal), 1 when the scan or the archive failed, 2 on bad usage or a PATH
// that does not exist.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/dicombridge/dicombridge/internal/cli"
)

func main() { cli.Main(run) }

// report is the -json output.
type report struct {
	Studies  []studyReport   `json:"studies"`
	Skipped  []rejectedEntry `json:"skipped"`
	Rejected []rejectedEntry `json:"rejected"`
	Errors   []errorEntry    `json:"errors"`
	Totals   totals          `json:"totals"`
}

// totals counts what the scan found.
type totals struct {
	Files     int   `json:"files"`
	Studies   int   `json:"studies"`
	Series    int   `json:"series"`
	Instances int   `json:"instances"`
	Bytes     int64 `json:"bytes"`
	Skipped   int   `json:"skipped"`
	Rejected  int   `json:"rejected"`
	Errors    int   `json:"errors"`
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
		Skipped:  []rejectedEntry{},
		Rejected: []rejectedEntry{},
		Errors:   []errorEntry{},
		Totals: totals{Files: res.Files, Studies: len(res.Studies), Series: res.Series(), Instances: res.Instances(),
			Bytes: res.Size(), Skipped: len(res.Skipped), Rejected: len(res.Rejected), Errors: len(res.Errors)},
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
	for _, fe := range res.Skipped {
		r.Skipped = append(r.Skipped, rejectedEntry{Path: fe.Path, Reason: fe.Reason()})
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
	cmd := cli.New("scan", stdout, stderr)
	cmd.Synopsis = []string{
		"scan [-json] [-zip OUT.zip] [-store] [-level N] [-no-preamble] PATH...",
		"scan -dump FILE",
	}
	cmd.About = "Finds the DICOM studies under files, directories and .zip archives and names every file set aside, with the reason."
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "the scan ran (files skipped, rejected or unreadable are listed, not fatal)"},
		{Name: "1", Help: "the scan or the archive failed"},
		{Name: "2", Help: "bad usage, or a PATH that does not exist"},
		{Name: "130", Help: "interrupted"},
	}
	fs := cmd.Flags
	asJSON := fs.Bool("json", false, "print one JSON object instead of a summary")
	zipOut := fs.String("zip", "", "write the archive of all instances to this `file`")
	store := fs.Bool("store", false, "store every zip entry (no Deflate)")
	level := fs.Int("level", 1, "Deflate `level` for native pixel data, 1-9")
	noPreamble := fs.Bool("no-preamble", false, "accept DICOM datasets without the 128-byte preamble")
	dump := fs.Bool("dump", false, "show the header elements of one FILE and what a scan makes of it")
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	switch {
	case fs.NArg() == 0:
		return cmd.Fail(cli.Usagef("no PATH to scan"))
	case *level < 1 || *level > 9:
		return cmd.Fail(cli.Usagef("-level must be 1-9"))
	case *dump && (fs.NArg() != 1 || *asJSON || *zipOut != ""):
		return cmd.Fail(cli.Usagef("-dump takes one FILE and no -json or -zip"))
	}
	if err := cli.Paths(fs.Args()...); err != nil {
		return cmd.Fail(err)
	}
	s := dicomscan.Scanner{AllowNoPreamble: *noPreamble}
	if *dump {
		return cmd.Fail(dumpFile(ctx, stdout, &s, fs.Arg(0)))
	}
	res, err := s.Scan(ctx, fs.Args()...)
	if err != nil {
		return cmd.Fail(err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(newReport(res)); err != nil {
			return cmd.Fail(err)
		}
	} else {
		printSummary(stdout, res)
	}
	if *zipOut == "" {
		return cli.ExitOK
	}
	msg := stdout
	if *asJSON {
		msg = stderr // stdout holds only the JSON object
	}
	z := dicomscan.Zip{Store: *store, Level: *level}
	n, err := writeZip(ctx, &z, *zipOut, res)
	if err != nil {
		return cmd.Fail(fmt.Errorf("writing %s: %w", *zipOut, err))
	}
	fmt.Fprintf(msg, "wrote %s: %d entries, %s\n", *zipOut, res.Instances(), cli.Bytes(n))
	return cli.ExitOK
}

// dumpFile shows the header elements of one file, then what a scan makes
// of it: an instance of which study, or skipped, rejected or unreadable
// and why.
func dumpFile(ctx context.Context, w io.Writer, s *dicomscan.Scanner, path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return cli.Usagef("%s: -dump takes a file, not a directory", path)
	}
	derr := dicomscan.Dump(w, path, s.AllowNoPreamble)
	if derr != nil && !errors.Is(derr, dicomscan.ErrNotDICOM) {
		fmt.Fprintf(w, "# the header could not be read to its end: %s\n", cli.Line(derr.Error()))
	}
	res, err := s.Scan(ctx, path)
	if err != nil {
		return err
	}
	for _, v := range []struct {
		what string
		fes  []*dicomscan.FileError
	}{{"skipped", res.Skipped}, {"rejected", res.Rejected}, {"unreadable", res.Errors}} {
		for _, fe := range v.fes {
			fmt.Fprintf(w, "# scan: %s: %s\n", v.what, fe.Reason())
		}
	}
	for _, st := range res.Studies {
		fmt.Fprintf(w, "# scan: accepted: an instance of study %s, series %s (%s)\n",
			st.StudyInstanceUID, st.Series[0].SeriesInstanceUID, st.Series[0].Modality)
	}
	return nil
}

// writeZip writes the archive next to its destination and renames it into
// place, so a failed run leaves no partial file under the final name.
func writeZip(ctx context.Context, z *dicomscan.Zip, dst string, res *dicomscan.Result) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(dst), ".scan-*.zip.tmp")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return 0, fmt.Errorf("cannot create a file in %s: %w", filepath.Dir(dst), err)
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
		res.Files, len(res.Studies), res.Series(), res.Instances(), cli.Bytes(res.Size()),
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
	if len(res.Skipped) > 0 {
		fmt.Fprintln(w, "\nskipped (not instances to upload):")
		for _, fe := range res.Skipped {
			fmt.Fprintf(w, "  %s: %s\n", fe.Path, fe.Reason())
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
