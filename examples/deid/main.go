// Command deid de-identifies DICOM files, directory trees and .zip archives
// into a new folder, with package deid (the DICOM Basic Application Level
// Confidentiality Profile and keyed, deterministic pseudonyms):
//
//	go run ./examples/deid -key-file KEY -out DIR [-profile OPTIONS] [-safe-private CREATOR:GGGG:EE]...
//	    [-accept-burned-in] [-map FILE] [-workers N] PATH...
//
// Each instance becomes one file, DIR/<study>/<series>/<instance>.dcm,
// named by its new UIDs: no original identifier appears in any path. The
// same key gives the same output, byte for byte, so a second run into the
// same DIR finds the files already there and a study de-identified in two
// runs stays one study. The program never writes into an input tree and
// never overwrites a file: an output that exists with other content is an
// error for that file.
//
// -map FILE writes the original-to-new UID mapping as CSV for the data
// owner. It re-identifies the data: keep it, like the key, at the site.
//
// Exit status: 0 when every DICOM instance was de-identified (files that
// are not DICOM are listed, not fatal), 1 when some could not be (each is
// listed with the reason; the others are written), 2 on bad usage.
package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/dicombridge/dicombridge/deid"
	"github.com/dicombridge/dicombridge/dicomscan"
	"github.com/dicombridge/dicombridge/internal/cli"
	"github.com/dicombridge/dicombridge/internal/deidscan"
)

func main() { cli.Main(run) }

// options maps the names accepted by -profile to the options of the
// standard they turn on.
type option struct {
	name, help string
	set        func(*deid.Config)
}

var options = []option{
	{"basic", "the Basic Profile alone (the default)", func(*deid.Config) {}},
	{"dates", "Retain Longitudinal Temporal Information with Modified Dates (dates shifted by a keyed number of days per patient)",
		func(c *deid.Config) { c.RetainLongitudinalModifiedDates = true }},
	{"patient", "Retain Patient Characteristics (sex, age, size, weight...)", func(c *deid.Config) { c.RetainPatientCharacteristics = true }},
	{"device", "Retain Device Identity (station names, serial numbers...)", func(c *deid.Config) { c.RetainDeviceIdentity = true }},
	{"descriptors", "Clean Descriptors (descriptions kept, patient names and IDs cut out)", func(c *deid.Config) { c.CleanDescriptors = true }},
}

// safeFlag collects -safe-private values.
type safeFlag []deid.PrivateTag

func (s *safeFlag) String() string { return "" }

func (s *safeFlag) Set(v string) error {
	i := strings.LastIndexByte(v, ':')
	j := strings.LastIndexByte(v[:max(i, 0)], ':')
	if i < 0 || j < 0 {
		return errors.New("want CREATOR:GGGG:EE, e.g. \"SIEMENS CSA HEADER:0029:08\"")
	}
	g, err1 := strconv.ParseUint(v[j+1:i], 16, 16)
	e, err2 := strconv.ParseUint(v[i+1:], 16, 8)
	if err1 != nil || err2 != nil || v[:j] == "" || g%2 == 0 {
		return errors.New("want CREATOR:GGGG:EE with an odd hexadecimal group GGGG and element byte EE")
	}
	*s = append(*s, deid.PrivateTag{Creator: v[:j], Group: uint16(g), Element: uint8(e)})
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := cli.New("deid", stdout, stderr)
	cmd.Synopsis = []string{"deid -key-file KEY -out DIR [-profile OPTIONS] [-map FILE] [flags] PATH..."}
	var names []string
	for _, o := range options {
		names = append(names, o.name+": "+o.help)
	}
	cmd.About = "De-identifies the DICOM files, directory trees and .zip archives given into DIR, one file per instance " +
		"named by its new UIDs (DIR/study/series/instance.dcm), with the DICOM Basic Application Level Confidentiality " +
		"Profile and pseudonyms derived from the key. Options of -profile, comma-separated: " + strings.Join(names, "; ") +
		". The key and the -map file re-identify the data: keep them at the site. See examples/deid/README.md and docs/deid.md."
	cmd.Exit = []cli.Var{
		{Name: "0", Help: "every DICOM instance was de-identified (files that are not DICOM are listed)"},
		{Name: "1", Help: "some instances could not be de-identified (each is listed); the others were written"},
		{Name: "2", Help: "bad usage, a PATH that does not exist, or a DIR inside an input"},
		{Name: "130", Help: "interrupted"},
	}
	fs := cmd.Flags
	keyFile := fs.String("key-file", "", "`file` holding the secret key (at least 32 bytes; a trailing newline is ignored)")
	outDir := fs.String("out", "", "`directory` to write into (created if missing; never inside an input)")
	profile := fs.String("profile", "basic", "comma-separated `options` of the profile: basic, dates, patient, device, descriptors")
	var safe safeFlag
	fs.Var(&safe, "safe-private", "keep this private attribute, `CREATOR:GGGG:EE` (Retain Safe Private; repeatable)")
	burnedIn := fs.Bool("accept-burned-in", false, "de-identify images that declare burned-in annotation (their pixels keep any burned-in text)")
	mapFile := fs.String("map", "", "write the original-to-new UID mapping to this CSV `file` (identifying: keep it at the site)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "files de-identified in parallel")
	if err := cmd.Parse(args); err != nil {
		return cmd.Fail(err)
	}
	cfg := deid.Config{SafePrivate: safe, AcceptBurnedIn: *burnedIn}
	switch {
	case fs.NArg() == 0:
		return cmd.Fail(cli.Usagef("no PATH to de-identify"))
	case *keyFile == "":
		return cmd.Fail(cli.Usagef("-key-file is required"))
	case *outDir == "":
		return cmd.Fail(cli.Usagef("-out is required"))
	case *workers < 1:
		return cmd.Fail(cli.Usagef("-workers must be at least 1"))
	}
	for _, name := range strings.Split(*profile, ",") {
		i := slices.IndexFunc(options, func(o option) bool { return o.name == strings.TrimSpace(name) })
		if i < 0 {
			return cmd.Fail(cli.Usagef("-profile: unknown option %q (basic, dates, patient, device, descriptors)", name))
		}
		options[i].set(&cfg)
	}
	if err := cli.Paths(fs.Args()...); err != nil {
		return cmd.Fail(err)
	}
	key, err := os.ReadFile(*keyFile)
	if err != nil {
		return cmd.Fail(cli.Usagef("-key-file: %v", err))
	}
	cfg.Key = bytes.TrimRight(key, "\r\n")
	p, err := deid.New(cfg)
	if err != nil {
		return cmd.Fail(&cli.UsageError{Msg: "-key-file: " + err.Error(), Hint: "make one with: head -c 32 /dev/urandom > KEY"})
	}
	if err := outside(*outDir, *mapFile, fs.Args()); err != nil {
		return cmd.Fail(err)
	}
	if *mapFile != "" {
		if _, err := os.Lstat(*mapFile); err == nil {
			return cmd.Fail(cli.Usagef("-map %s exists; it is never overwritten", *mapFile))
		}
	}
	if err := os.MkdirAll(*outDir, 0o750); err != nil {
		return cmd.Fail(err)
	}
	res, err := (&dicomscan.Scanner{}).Scan(ctx, fs.Args()...)
	if err != nil {
		return cmd.Fail(err)
	}
	sum := deidentify(ctx, p, res, *outDir, *workers)
	if err := ctx.Err(); err != nil {
		return cmd.Fail(err)
	}
	sum.print(stdout, *outDir)
	if *mapFile != "" {
		if err := writeMap(*mapFile, sum.uids); err != nil {
			return cmd.Fail(fmt.Errorf("writing -map: %w", err))
		}
		fmt.Fprintf(stdout, "wrote the UID mapping (%d UIDs) to %s: it re-identifies the data, keep it at the site\n", len(sum.uids), *mapFile)
	}
	if len(sum.failed) > 0 {
		return cli.ExitFailed
	}
	return cli.ExitOK
}

// outside refuses an output directory or map file inside an input tree,
// and an input inside the output directory, symbolic links resolved.
func outside(out, mapFile string, inputs []string) error {
	resolve := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		// The longest existing prefix decides where a path really is.
		rest := ""
		for {
			if r, err := filepath.EvalSymlinks(a); err == nil {
				return filepath.Join(r, rest)
			}
			parent := filepath.Dir(a)
			if parent == a {
				return filepath.Join(a, rest)
			}
			rest = filepath.Join(filepath.Base(a), rest)
			a = parent
		}
	}
	within := func(p, dir string) bool {
		rel, err := filepath.Rel(dir, p)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
	}
	o := resolve(out)
	for _, in := range inputs {
		r := resolve(in)
		if within(o, r) {
			return cli.Usagef("-out %s is inside the input %s; deid never writes into an input", out, in)
		}
		if within(r, o) {
			return cli.Usagef("the input %s is inside -out %s", in, out)
		}
		if mapFile != "" && within(resolve(mapFile), r) {
			return cli.Usagef("-map %s is inside the input %s; deid never writes into an input", mapFile, in)
		}
	}
	return nil
}

// summary is what a run did.
type summary struct {
	written, present int
	studies, series  map[string]bool
	failed           []failure
	setAside         []failure
	uids             map[string]string // original -> new
}

type failure struct{ path, reason string }

func (s *summary) print(w io.Writer, out string) {
	fmt.Fprintf(w, "de-identified %d instances (%d studies, %d series) into %s", s.written+s.present, len(s.studies), len(s.series), out)
	if s.present > 0 {
		fmt.Fprintf(w, "; %d were already there, identical", s.present)
	}
	fmt.Fprintln(w)
	for _, f := range s.failed {
		fmt.Fprintf(w, "failed: %s: %s\n", f.path, f.reason)
	}
	for _, f := range s.setAside {
		fmt.Fprintf(w, "set aside: %s: %s\n", f.path, f.reason)
	}
	if len(s.failed) > 0 {
		fmt.Fprintf(w, "%d instances could not be de-identified; nothing was written for them\n", len(s.failed))
	}
}

// deidentify writes every instance of res into out with workers in
// parallel.
func deidentify(ctx context.Context, p *deid.Profile, res *dicomscan.Result, out string, workers int) *summary {
	sum := &summary{studies: map[string]bool{}, series: map[string]bool{}, uids: map[string]string{}}
	for _, group := range [][]*dicomscan.FileError{res.Skipped, res.Rejected, res.Errors} {
		for _, fe := range group {
			sum.setAside = append(sum.setAside, failure{fe.Path, fe.Reason()})
		}
	}
	var instances []*dicomscan.Instance
	for _, st := range res.Studies {
		for _, se := range st.Series {
			instances = append(instances, se.Instances...)
		}
	}
	var src deidscan.Sources
	defer src.Close()
	var mu sync.Mutex // guards sum
	next := make(chan *dicomscan.Instance)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range next {
				r, present, err := writeOne(ctx, p, &src, in, out)
				mu.Lock()
				switch {
				case err != nil:
					sum.failed = append(sum.failed, failure{in.Path, err.Error()})
				default:
					if present {
						sum.present++
					} else {
						sum.written++
					}
					sum.studies[r.StudyInstanceUID] = true
					sum.series[r.SeriesInstanceUID] = true
					for k, v := range r.UIDs {
						sum.uids[k] = v
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, in := range instances {
		if ctx.Err() != nil {
			break
		}
		next <- in
	}
	close(next)
	wg.Wait()
	slices.SortFunc(sum.failed, func(a, b failure) int { return strings.Compare(a.path, b.path) })
	return sum
}

// writeOne de-identifies in into a temporary file in out, then links it
// under its final name, which never replaces a file. It reports whether
// an identical file was already there.
func writeOne(ctx context.Context, p *deid.Profile, src *deidscan.Sources, in *dicomscan.Instance, out string) (*deid.Result, bool, error) {
	tmp, err := os.CreateTemp(out, ".deid-*.tmp")
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp.Name())
	r, err := src.Apply(ctx, p, tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, err
	}
	if !safeName(r.StudyInstanceUID) || !safeName(r.SeriesInstanceUID) || !safeName(r.SOPInstanceUID) {
		return nil, false, errors.New("the de-identified instance lacks a study, series or instance UID to be named by")
	}
	dir := filepath.Join(out, r.StudyInstanceUID, r.SeriesInstanceUID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, false, err
	}
	final := filepath.Join(dir, r.SOPInstanceUID+".dcm")
	err = os.Link(tmp.Name(), final)
	if errors.Is(err, os.ErrExist) {
		if same, cerr := sameContent(tmp.Name(), final); cerr != nil || !same {
			return nil, false, fmt.Errorf("%s exists with other content; it is never overwritten", final)
		}
		return r, true, nil
	}
	return r, false, err
}

// safeName reports whether a UID can name a file: digits and dots only.
func safeName(uid string) bool {
	return uid != "" && strings.Trim(uid, "0123456789.") == "" && strings.Trim(uid, ".") != ""
}

func sameContent(a, b string) (bool, error) {
	x, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}

// writeMap writes the UID mapping as CSV, sorted, refusing to replace a
// file.
func writeMap(path string, uids map[string]string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(uids))
	for k := range uids {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w := csv.NewWriter(f)
	_ = w.Write([]string{"original_uid", "new_uid"})
	for _, k := range keys {
		_ = w.Write([]string{k, uids[k]}) // errors come back from Flush
	}
	w.Flush()
	err = w.Error()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
