// Command gendicom writes realistic synthetic DICOM studies to a
// directory, for trying the uploader, the scanner or any DICOM software
// without patient data:
//
//	go run ./examples/gendicom -studies 2 -series 3 -instances 20 /tmp/dicom
//
// It writes studies × series × instances files as
// DIR/study01/series01/IM00001.dcm and so on (replacing files of the same
// names), with package github.com/dicombridge/dicombridge/dicomgen: CT, MR
// and NM studies in turn, patients named in several character sets (Latin-1,
// Cyrillic, Greek, UTF-8, GB18030, ISO 2022 Japanese), and pixel data native
// or encapsulated (JPEG baseline, RLE) per series, as -syntaxes says. The
// same flags and -seed give the same bytes.
//
// Exit status: 0 written, 1 writing failed, 2 bad usage, 130 interrupted.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dicombridge/dicombridge/dicomgen"
	"github.com/dicombridge/dicombridge/internal/cli"
)

func main() { cli.Main(run) }

// syntaxes are the -syntaxes names.
var syntaxes = map[string]string{
	"explicit": dicomgen.ExplicitVRLittleEndian,
	"implicit": dicomgen.ImplicitVRLittleEndian,
	"big":      dicomgen.ExplicitVRBigEndian,
	"jpeg":     dicomgen.JPEGBaseline,
	"rle":      dicomgen.RLELossless,
}

// maxFiles bounds one run (a typo such as -instances 100000 should not
// fill a disk).
const maxFiles = 100_000

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := cli.New("gendicom", stdout, stderr)
	cmd.Synopsis = []string{"gendicom [-studies N] [-series M] [-instances K] [-seed S] [flags] DIR"}
	cmd.About = "Writes N×M×K synthetic DICOM files under DIR (created if needed) as\n" +
		"DIR/study01/series01/IM00001.dcm ...; the same flags give the same bytes."
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "the files were written"},
		{Name: "1", Help: "writing failed"},
		{Name: "2", Help: "bad usage"},
		{Name: "130", Help: "interrupted (Ctrl-C); some files may be written"},
	}
	f := cmd.Flags
	studies := f.Int("studies", 1, "number of studies `N`")
	series := f.Int("series", 2, "series per study `M`")
	instances := f.Int("instances", 10, "instances per series `K`")
	seed := f.Int64("seed", 0, "`S` makes UIDs, patients and pixels; the same seed gives the same files")
	size := f.Int("size", 256, "image size: `PX` rows and PX columns, 1-4096")
	mods := f.String("modalities", "CT,MR,NM", "modalities given to the studies in turn: CT, MR, NM")
	syn := f.String("syntaxes", "explicit,jpeg,implicit,rle", "transfer syntaxes given to the series in turn: explicit, implicit, big (endian), jpeg, rle")
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	o := dicomgen.Options{Studies: *studies, SeriesPerStudy: *series, InstancesPerSeries: *instances,
		Rows: *size, Columns: *size, Seed: *seed}
	for _, m := range strings.Split(*mods, ",") {
		o.Modalities = append(o.Modalities, strings.ToUpper(strings.TrimSpace(m)))
	}
	for _, s := range strings.Split(*syn, ",") {
		uid, ok := syntaxes[strings.ToLower(strings.TrimSpace(s))]
		if !ok {
			return cmd.Fail(cli.Usagef("-syntaxes: unknown %q (want explicit, implicit, big, jpeg or rle)", s))
		}
		o.TransferSyntaxes = append(o.TransferSyntaxes, uid)
	}
	switch {
	case len(cmd.Args()) != 1:
		return cmd.Fail(cli.Usagef("want one DIR, got %d arguments", len(cmd.Args())))
	case *studies < 1 || *series < 1 || *instances < 1:
		return cmd.Fail(cli.Usagef("-studies, -series and -instances must be at least 1"))
	case *studies**series**instances > maxFiles || *studies > maxFiles || *series > maxFiles || *instances > maxFiles:
		return cmd.Fail(cli.Usagef("at most %d files in one run", maxFiles))
	case *size < 1 || *size > 4096:
		return cmd.Fail(cli.Usagef("-size must be 1-4096"))
	}
	for _, m := range o.Modalities {
		if m != "CT" && m != "MR" && m != "NM" {
			return cmd.Fail(cli.Usagef("-modalities: unknown %q (want CT, MR or NM)", m))
		}
	}
	dir := cmd.Args()[0]
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return cmd.Fail(cli.Usagef("%s is not a directory", dir))
	}

	t0 := time.Now()
	files, err := dicomgen.Write(ctx, dir, o)
	if err != nil {
		return cmd.Fail(err)
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(stdout, "wrote %d files (%s) in %s to %s\n", len(files), cli.Bytes(total),
		time.Since(t0).Round(time.Millisecond), abs)
	perStudy := o.SeriesPerStudy * o.InstancesPerSeries
	for i := 0; i < len(files); i += perStudy {
		f := files[i]
		cs := f.CharacterSet
		if cs == "" {
			cs = "ASCII"
		}
		fmt.Fprintf(stdout, "  %s  %s  %s  (%s)  %s\n", strings.SplitN(f.Name, "/", 2)[0], f.Modality, f.PatientName, cs, f.StudyInstanceUID)
	}
	return cli.ExitOK
}
