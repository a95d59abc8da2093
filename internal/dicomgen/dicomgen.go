package dicomgen

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
	"golang.org/x/text/encoding/charmap"
)

// Transfer syntaxes Write supports. Any other UID is written as an
// encapsulated (compressed) transfer syntax with explicit VR little endian.
const (
	ImplicitVRLittleEndian = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	ExplicitVRBigEndian    = "1.2.840.10008.1.2.2"
	JPEGBaseline           = "1.2.840.10008.1.2.4.50"
	JPEG2000Lossless       = "1.2.840.10008.1.2.4.90"
)

// SOP classes of the generated instances.
const (
	CTImageStorage = "1.2.840.10008.5.1.4.1.1.2"
	MRImageStorage = "1.2.840.10008.5.1.4.1.1.4"
)

// Options describes the studies to write. Zero fields take the defaults
// in brackets.
type Options struct {
	Studies            int // [1]
	SeriesPerStudy     int // [1]
	InstancesPerSeries int // [1]
	// Rows and Columns size each slice [64 × 64]; 512 × 512 gives the
	// 512 KiB of a typical CT slice.
	Rows, Columns int
	// TransferSyntax [ExplicitVRLittleEndian].
	TransferSyntax string
	// Seed makes UIDs, names and pixels; the same Seed gives the same files.
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
	Modality          string
	PatientName       string // as decoded text (UTF-8)
	PatientID         string
	InstitutionName   string // as decoded text (UTF-8)
	CharacterSet      string // Specific Character Set written, "" for none
	Size              int64
}

// patient is one synthetic patient: a name in a script, and the character
// set that encodes it.
type patient struct {
	name, id, charset, sex, birth, institution string
}

var patients = []patient{
	{"Müller^Jürgen", "PAT-0001", "ISO_IR 100", "M", "19570312", "Universitätsklinikum Köln"},
	{"Doe^Jane", "PAT-0002", "", "F", "19800101", "General Hospital"},
	{"Иванов^Пётр", "PAT-0003", "ISO_IR 144", "M", "19641224", "Городская больница № 1"},
	{"山田^太郎=やまだ^たろう", "PAT-0004", "ISO_IR 192", "M", "19711007", "東京総合病院"},
	{"Παπαδοπούλου^Ελένη", "PAT-0005", "ISO_IR 126", "F", "19890517", "Γενικό Νοσοκομείο Αθηνών"},
	{"Dubois^Élodie", "PAT-0006", "ISO_IR 100", "F", "19930228", "Hôpital Général"},
}

var (
	studyDescriptions = map[string][]string{
		"CT": {"CT HEAD W/O CONTRAST", "CT CHEST ABDOMEN PELVIS", "CT ANGIO NECK"},
		"MR": {"MR BRAIN W/WO CONTRAST", "MR KNEE LEFT", "MR LUMBAR SPINE"},
	}
	seriesDescriptions = map[string][]string{
		"CT": {"AXIAL 5mm", "CORONAL MPR", "SAGITTAL MPR", "AXIAL 1mm BONE"},
		"MR": {"T1 SAG", "T2 AX", "FLAIR AX", "DWI b1000"},
	}
	bodyParts = map[string][]string{
		"CT": {"HEAD", "CHEST", "NECK"},
		"MR": {"BRAIN", "KNEE", "LSPINE"},
	}
)

// Write writes the studies under dir (created if needed) as
// dir/study%02d/series%02d/IM%05d.dcm and returns the files in that order.
// It uses all CPUs.
func Write(dir string, o Options) ([]File, error) {
	o = o.withDefaults()
	var plan []*instance
	for st := 0; st < o.Studies; st++ {
		for se := 0; se < o.SeriesPerStudy; se++ {
			for in := 0; in < o.InstancesPerSeries; in++ {
				plan = append(plan, newInstance(o, st, se, in))
			}
		}
	}
	for _, in := range plan {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, in.file.Name)), 0o755); err != nil {
			return nil, fmt.Errorf("dicomgen: %w", err)
		}
	}
	errs := make([]error, len(plan))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = plan[i].write(dir, o)
			}
		}()
	}
	for i := range plan {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	files := make([]File, len(plan))
	for i, in := range plan {
		files[i] = in.file
	}
	return files, nil
}

func (o Options) withDefaults() Options {
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
	if o.TransferSyntax == "" {
		o.TransferSyntax = ExplicitVRLittleEndian
	}
	return o
}

type instance struct {
	file               File
	study, series, num int
	patient            patient
}

func newInstance(o Options, st, se, in int) *instance {
	p := patients[(int(o.Seed)+st)%len(patients)]
	modality := [2]string{"CT", "MR"}[st%2]
	sop := CTImageStorage
	if modality == "MR" {
		sop = MRImageStorage
	}
	name := fmt.Sprintf("study%02d/series%02d/IM%05d.dcm", st+1, se+1, in+1)
	return &instance{
		study: st, series: se, num: in, patient: p,
		file: File{
			Name:              name,
			StudyInstanceUID:  UID(o.Seed, "study", st),
			SeriesInstanceUID: UID(o.Seed, "series", st, se),
			SOPInstanceUID:    UID(o.Seed, "instance", st, se, in),
			SOPClassUID:       sop,
			Modality:          modality,
			PatientName:       p.name,
			PatientID:         p.id,
			InstitutionName:   p.institution,
			CharacterSet:      p.charset,
		},
	}
}

// UID returns a DICOM UID under the 2.25 root (PS3.5 B.2) derived from the
// seed and the given parts, so generated UIDs are stable and unique.
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

// encode returns s in the bytes of character set cs (every name above is
// encodable in its patient's set).
func encode(s, cs string) string {
	var cm *charmap.Charmap
	switch cs {
	case "ISO_IR 100":
		cm = charmap.ISO8859_1
	case "ISO_IR 144":
		cm = charmap.ISO8859_5
	case "ISO_IR 126":
		cm = charmap.ISO8859_7
	default:
		return s
	}
	b, err := cm.NewEncoder().String(s)
	if err != nil {
		return s
	}
	return b
}

func (in *instance) dataset(o Options) (dicom.Dataset, error) {
	f := in.file
	p := in.patient
	mod := f.Modality
	pick := func(list []string, i int) string { return list[i%len(list)] }
	day := time.Date(2024, 1, 15, 8, 30, 0, 0, time.UTC).AddDate(0, 0, int(o.Seed%365)+in.study*7)
	seriesTime := day.Add(time.Duration(in.series) * 4 * time.Minute)
	thickness := 5.0
	z := -float64(in.num) * thickness
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
	add(tag.MediaStorageSOPClassUID, s(f.SOPClassUID))
	add(tag.MediaStorageSOPInstanceUID, s(f.SOPInstanceUID))
	add(tag.TransferSyntaxUID, s(o.TransferSyntax))
	add(tag.ImplementationClassUID, s("1.2.826.0.1.3680043.10.1437.1"))
	add(tag.ImplementationVersionName, s("DICOMBRIDGE_GEN"))
	if p.charset != "" {
		add(tag.SpecificCharacterSet, s(p.charset))
	}
	add(tag.ImageType, s("ORIGINAL", "PRIMARY", "AXIAL"))
	add(tag.SOPClassUID, s(f.SOPClassUID))
	add(tag.SOPInstanceUID, s(f.SOPInstanceUID))
	add(tag.StudyDate, s(day.Format("20060102")))
	add(tag.SeriesDate, s(day.Format("20060102")))
	add(tag.StudyTime, s(day.Format("150405")))
	add(tag.SeriesTime, s(seriesTime.Format("150405")))
	add(tag.AccessionNumber, s(fmt.Sprintf("ACC%05d", in.study+1+int(o.Seed%1000)*100)))
	add(tag.Modality, s(mod))
	add(tag.Manufacturer, s("DICOMBRIDGE"))
	add(tag.InstitutionName, s(encode(p.institution, p.charset)))
	add(tag.ReferringPhysicianName, s("Welby^Marcus"))
	add(tag.StudyDescription, s(pick(studyDescriptions[mod], in.study)))
	add(tag.SeriesDescription, s(pick(seriesDescriptions[mod], in.series)))
	add(tag.PatientName, s(encode(p.name, p.charset)))
	add(tag.PatientID, s(p.id))
	add(tag.PatientBirthDate, s(p.birth))
	add(tag.PatientSex, s(p.sex))
	add(tag.BodyPartExamined, s(pick(bodyParts[mod], in.study)))
	add(tag.SliceThickness, s(fmt.Sprintf("%.1f", thickness)))
	if mod == "CT" {
		add(tag.KVP, s("120"))
	} else {
		add(tag.MagneticFieldStrength, s("1.5"))
	}
	add(tag.ProtocolName, s(pick(seriesDescriptions[mod], in.series)))
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
	add(tag.Rows, []int{o.Rows})
	add(tag.Columns, []int{o.Columns})
	add(tag.PixelSpacing, s("0.488", "0.488"))
	add(tag.BitsAllocated, []int{16})
	add(tag.BitsStored, []int{12})
	add(tag.HighBit, []int{11})
	add(tag.PixelRepresentation, []int{0})
	add(tag.WindowCenter, s("40"))
	add(tag.WindowWidth, s("400"))
	add(tag.RescaleIntercept, s("-1024"))
	add(tag.RescaleSlope, s("1"))
	add(tag.PixelData, in.pixelData(o))
	if err := errors.Join(errs...); err != nil {
		return dicom.Dataset{}, err
	}
	key := func(e *dicom.Element) uint32 { return uint32(e.Tag.Group)<<16 | uint32(e.Tag.Element) }
	slices.SortFunc(elems, func(a, b *dicom.Element) int { return cmp.Compare(key(a), key(b)) })
	return dicom.Dataset{Elements: elems}, nil
}

// pixelData makes a slice: a disc of soft tissue in air plus noise, 12
// bits in 16, so it deflates like a real slice; or, encapsulated, one
// fragment of noise about half that size framed as a JPEG stream.
func (in *instance) pixelData(o Options) dicom.PixelDataInfo {
	rng := xorshift(uint64(o.Seed)*0x9E3779B97F4A7C15 ^ uint64(in.study)<<40 ^ uint64(in.series)<<20 ^ uint64(in.num) | 1)
	rows, cols := o.Rows, o.Columns
	switch o.TransferSyntax {
	case ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian:
	default:
		n := rows*cols + 4
		n += n % 2
		data := make([]byte, n)
		for i := 0; i < n; i += 8 {
			var w [8]byte
			binary.LittleEndian.PutUint64(w[:], rng.next())
			copy(data[i:], w[:])
		}
		copy(data, []byte{0xFF, 0xD8})
		copy(data[n-2:], []byte{0xFF, 0xD9})
		return dicom.PixelDataInfo{
			IsEncapsulated: true,
			Frames:         []*frame.Frame{{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: data}}},
		}
	}
	var order binary.ByteOrder = binary.LittleEndian
	if o.TransferSyntax == ExplicitVRBigEndian {
		order = binary.BigEndian
	}
	data := make([]byte, rows*cols*2)
	cy, cx := float64(rows)/2, float64(cols)/2
	r2 := (cx * 0.8) * (cx * 0.8)
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			dy, dx := float64(y)-cy, float64(x)-cx
			v := uint16(rng.next() & 63)
			if dy*dy+dx*dx < r2 {
				v += 1024 + 40 + uint16(in.num%16)
			}
			order.PutUint16(data[2*(y*cols+x):], v)
		}
	}
	return dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: data}
}

type xorshiftState struct{ s uint64 }

func xorshift(seed uint64) *xorshiftState { return &xorshiftState{seed} }

func (x *xorshiftState) next() uint64 {
	x.s ^= x.s << 13
	x.s ^= x.s >> 7
	x.s ^= x.s << 17
	return x.s
}
