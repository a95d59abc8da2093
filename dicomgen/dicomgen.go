package dicomgen

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// Transfer syntaxes [Write] produces. Native syntaxes carry 16-bit pixels;
// JPEGBaseline carries a real baseline JPEG of 8-bit pixels (lossy);
// RLELossless carries the 16-bit pixels, run-length encoded (lossless).
const (
	ImplicitVRLittleEndian = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	ExplicitVRBigEndian    = "1.2.840.10008.1.2.2"
	JPEGBaseline           = "1.2.840.10008.1.2.4.50"
	RLELossless            = "1.2.840.10008.1.2.5"
)

// SOP classes of the generated instances, one per modality.
const (
	CTImageStorage = "1.2.840.10008.5.1.4.1.1.2"
	MRImageStorage = "1.2.840.10008.5.1.4.1.1.4"
	NMImageStorage = "1.2.840.10008.5.1.4.1.1.20"
)

// ErrUnsupported is returned (wrapped) by [Write] for a modality or
// transfer syntax it cannot produce.
var ErrUnsupported = errors.New("dicomgen: unsupported")

// Options describes the studies to write. Zero fields take the defaults
// in brackets.
type Options struct {
	Studies            int // [1]
	SeriesPerStudy     int // [1]
	InstancesPerSeries int // [1]
	// Rows and Columns size each image [64 × 64]; 512 × 512 gives the
	// 512 KiB of a typical CT slice.
	Rows, Columns int
	// Modalities are given to the studies in turn: "CT", "MR" or "NM"
	// [CT, MR, NM].
	Modalities []string
	// TransferSyntaxes are given to the series of each study in turn
	// [ExplicitVRLittleEndian]. A list such as {ExplicitVRLittleEndian,
	// JPEGBaseline} mixes native and encapsulated pixel data in one study.
	TransferSyntaxes []string
	// Seed makes UIDs, patients, dates and pixels; the same Options give
	// the same bytes.
	Seed int64
	// ModTime, if not zero, is set as every file's modification time.
	ModTime time.Time
}

// File is one written instance.
type File struct {
	Path              string // under the directory given to Write
	Name              string // relative to it, '/'-separated
	StudyInstanceUID  string
	SeriesInstanceUID string
	SOPInstanceUID    string
	SOPClassUID       string
	TransferSyntaxUID string
	Modality          string
	PatientName       string // as decoded text (UTF-8)
	PatientID         string
	InstitutionName   string // as decoded text (UTF-8)
	// CharacterSet is the Specific Character Set (0008,0005) written, its
	// values joined by '\' ("" when the element is absent).
	CharacterSet string
	Size         int64
}

// Write writes the studies under dir (created if needed) as
// dir/study%02d/series%02d/IM%05d.dcm and returns the files in that order.
// It writes on all CPUs and stops early, returning ctx's error, when ctx
// ends. Existing files with those names are replaced.
func Write(ctx context.Context, dir string, o Options) ([]File, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	var plan []*instance
	for st := 0; st < o.Studies; st++ {
		for se := 0; se < o.SeriesPerStudy; se++ {
			for in := 0; in < o.InstancesPerSeries; in++ {
				plan = append(plan, newInstance(o, st, se, in))
			}
		}
	}
	for _, in := range plan {
		if in.num == 0 {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, in.file.Name)), 0o755); err != nil {
				return nil, fmt.Errorf("dicomgen: %w", err)
			}
		}
	}
	errs := make([]error, len(plan))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				errs[i] = plan[i].write(dir, o)
			}
		})
	}
feed:
	for i := range plan {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dicomgen: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	files := make([]File, len(plan))
	for i, in := range plan {
		files[i] = in.file
	}
	return files, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Studies <= 0 {
		o.Studies = 1
	}
	if o.SeriesPerStudy <= 0 {
		o.SeriesPerStudy = 1
	}
	if o.InstancesPerSeries <= 0 {
		o.InstancesPerSeries = 1
	}
	if o.Rows <= 0 {
		o.Rows = 64
	}
	if o.Columns <= 0 {
		o.Columns = 64
	}
	if o.Rows > 1<<14 || o.Columns > 1<<14 {
		return o, fmt.Errorf("%w: %d × %d images (at most 16384 × 16384)", ErrUnsupported, o.Rows, o.Columns)
	}
	if len(o.Modalities) == 0 {
		o.Modalities = []string{"CT", "MR", "NM"}
	}
	for _, m := range o.Modalities {
		if _, ok := modalities[m]; !ok {
			return o, fmt.Errorf("%w: modality %q (want CT, MR or NM)", ErrUnsupported, m)
		}
	}
	if len(o.TransferSyntaxes) == 0 {
		o.TransferSyntaxes = []string{ExplicitVRLittleEndian}
	}
	for _, ts := range o.TransferSyntaxes {
		switch ts {
		case ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, JPEGBaseline, RLELossless:
		default:
			return o, fmt.Errorf("%w: transfer syntax %q", ErrUnsupported, ts)
		}
	}
	return o, nil
}

type instance struct {
	file               File
	study, series, num int
	patient            patient
	mod                *modality
}

func newInstance(o Options, st, se, in int) *instance {
	p := patients[int((uint64(o.Seed)+uint64(st))%uint64(len(patients)))]
	mod := o.Modalities[st%len(o.Modalities)]
	m := modalities[mod]
	name := fmt.Sprintf("study%02d/series%02d/IM%05d.dcm", st+1, se+1, in+1)
	return &instance{
		study: st, series: se, num: in, patient: p, mod: m,
		file: File{
			Name:              name,
			StudyInstanceUID:  UID(o.Seed, "study", st),
			SeriesInstanceUID: UID(o.Seed, "series", st, se),
			SOPInstanceUID:    UID(o.Seed, "instance", st, se, in),
			SOPClassUID:       m.sopClass,
			TransferSyntaxUID: o.TransferSyntaxes[se%len(o.TransferSyntaxes)],
			Modality:          mod,
			PatientName:       p.name,
			PatientID:         p.id,
			InstitutionName:   p.institution,
			CharacterSet:      strings.Join(p.charset, `\`),
		},
	}
}

// UID returns a DICOM UID under the 2.25 root (a UUID-derived UID, PS3.5
// B.2) made from the seed and the given parts, so that generated UIDs are
// stable and unique: UID(1, "study", 0) is the same on every run. [Write]
// names its UIDs UID(seed, "study", st), UID(seed, "series", st, se) and
// UID(seed, "instance", st, se, in), counting from 0.
func UID(seed int64, parts ...any) string {
	h := sha256.Sum256(fmt.Append(nil, seed, parts))
	return "2.25." + new(big.Int).SetBytes(h[:16]).String()
}

func (in *instance) write(dir string, o Options) error {
	f := &in.file
	f.Path = filepath.Join(dir, filepath.FromSlash(f.Name))
	ds, err := in.dataset(o)
	if err != nil {
		return err
	}
	out, err := os.Create(f.Path)
	if err != nil {
		return fmt.Errorf("dicomgen: %w", err)
	}
	bw := bufio.NewWriterSize(out, 256<<10)
	err = dicom.Write(bw, ds, dicom.SkipVRVerification())
	if err == nil {
		err = bw.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dicomgen: %s: %w", f.Path, err)
	}
	if !o.ModTime.IsZero() {
		if err := os.Chtimes(f.Path, o.ModTime, o.ModTime); err != nil {
			return fmt.Errorf("dicomgen: %w", err)
		}
	}
	fi, err := os.Stat(f.Path)
	if err != nil {
		return fmt.Errorf("dicomgen: %w", err)
	}
	f.Size = fi.Size()
	return nil
}

// dataset builds the instance's elements, sorted by tag as Part 10 wants.
func (in *instance) dataset(o Options) (dicom.Dataset, error) {
	f := in.file
	p := in.patient
	m := in.mod
	ts := f.TransferSyntaxUID
	pick := func(list []string, i int) string { return list[i%len(list)] }
	day := time.Date(2024, 1, 15, 8, 30, 0, 0, time.UTC).AddDate(0, 0, int(uint64(o.Seed)%365)+in.study*7)
	seriesTime := day.Add(time.Duration(in.series) * 4 * time.Minute)
	z := -float64(in.num) * m.thickness
	px := in.pixels(o)

	var elems []*dicom.Element
	var errs []error
	add := func(t tag.Tag, v any) {
		e, err := dicom.NewElement(t, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("dicomgen: element %v: %w", t, err))
			return
		}
		if pd, ok := v.(dicom.PixelDataInfo); ok && pd.IsEncapsulated {
			e.RawValueRepresentation = "OB"
			e.ValueLength = tag.VLUndefinedLength
		}
		elems = append(elems, e)
	}
	s := func(v ...string) []string { return v }
	cs := func(v string) string { return encode(v, p.charset) }

	add(tag.MediaStorageSOPClassUID, s(f.SOPClassUID))
	add(tag.MediaStorageSOPInstanceUID, s(f.SOPInstanceUID))
	add(tag.TransferSyntaxUID, s(ts))
	add(tag.ImplementationClassUID, s("1.2.826.0.1.3680043.10.1437.1"))
	add(tag.ImplementationVersionName, s("DICOMBRIDGE_GEN"))
	if len(p.charset) > 0 {
		add(tag.SpecificCharacterSet, p.charset)
	}
	add(tag.ImageType, m.imageType)
	add(tag.SOPClassUID, s(f.SOPClassUID))
	add(tag.SOPInstanceUID, s(f.SOPInstanceUID))
	add(tag.StudyDate, s(day.Format("20060102")))
	add(tag.SeriesDate, s(day.Format("20060102")))
	add(tag.StudyTime, s(day.Format("150405")))
	add(tag.SeriesTime, s(seriesTime.Format("150405")))
	add(tag.AccessionNumber, s(fmt.Sprintf("ACC%05d", in.study+1+int(uint64(o.Seed)%1000)*100)))
	add(tag.Modality, s(f.Modality))
	add(tag.Manufacturer, s("DICOMBRIDGE"))
	add(tag.InstitutionName, s(cs(p.institution)))
	add(tag.ReferringPhysicianName, s("Welby^Marcus"))
	add(tag.StudyDescription, s(pick(m.studies, in.study)))
	add(tag.SeriesDescription, s(pick(m.series, in.series)))
	add(tag.PatientName, s(cs(p.name)))
	add(tag.PatientID, s(p.id))
	add(tag.PatientBirthDate, s(p.birth))
	add(tag.PatientSex, s(p.sex))
	add(tag.BodyPartExamined, s(pick(m.bodyParts, in.study)))
	add(tag.SliceThickness, s(fmt.Sprintf("%.1f", m.thickness)))
	for _, e := range m.extra {
		add(e.tag, s(e.value))
	}
	add(tag.ProtocolName, s(pick(m.series, in.series)))
	add(tag.StudyInstanceUID, s(f.StudyInstanceUID))
	add(tag.SeriesInstanceUID, s(f.SeriesInstanceUID))
	add(tag.StudyID, s(fmt.Sprintf("%d", in.study+1)))
	add(tag.SeriesNumber, s(fmt.Sprintf("%d", in.series+1)))
	add(tag.InstanceNumber, s(fmt.Sprintf("%d", in.num+1)))
	add(tag.ImagePositionPatient, s("-125.0", "-125.0", fmt.Sprintf("%.1f", z)))
	add(tag.ImageOrientationPatient, s("1", "0", "0", "0", "1", "0"))
	add(tag.FrameOfReferenceUID, s(UID(o.Seed, "frame", in.study)))
	add(tag.SliceLocation, s(fmt.Sprintf("%.1f", z)))
	add(tag.SamplesPerPixel, []int{1})
	add(tag.PhotometricInterpretation, s("MONOCHROME2"))
	if f.Modality == "NM" {
		add(tag.NumberOfFrames, s("1"))
	}
	add(tag.Rows, []int{o.Rows})
	add(tag.Columns, []int{o.Columns})
	add(tag.PixelSpacing, s(m.spacing, m.spacing))
	add(tag.BitsAllocated, []int{px.bits})
	add(tag.BitsStored, []int{px.stored})
	add(tag.HighBit, []int{px.stored - 1})
	add(tag.PixelRepresentation, []int{0})
	if px.bits == 8 {
		add(tag.WindowCenter, s("128"))
		add(tag.WindowWidth, s("256"))
		add(tag.LossyImageCompression, s("01"))
		add(tag.LossyImageCompressionMethod, s("ISO_10918_1"))
	} else {
		add(tag.WindowCenter, s(m.window[0]))
		add(tag.WindowWidth, s(m.window[1]))
		if f.Modality == "CT" {
			add(tag.RescaleIntercept, s("-1024"))
			add(tag.RescaleSlope, s("1"))
		}
	}
	if px.fragment != nil {
		add(tag.PixelData, dicom.PixelDataInfo{
			IsEncapsulated: true,
			Frames:         []*frame.Frame{{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: px.fragment}}},
		})
	} else {
		add(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: px.native})
	}
	if err := errors.Join(errs...); err != nil {
		return dicom.Dataset{}, err
	}
	key := func(e *dicom.Element) uint32 { return uint32(e.Tag.Group)<<16 | uint32(e.Tag.Element) }
	slices.SortFunc(elems, func(a, b *dicom.Element) int { return cmp.Compare(key(a), key(b)) })
	return dicom.Dataset{Elements: elems}, nil
}
