package dicomgen

import (
	"github.com/suyashkumar/dicom/pkg/tag"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// patient is one synthetic patient: a name and an institution in a script,
// and the Specific Character Set that encodes them.
type patient struct {
	name, id                string
	charset                 []string
	sex, birth, institution string
}

// patients cover the character sets partners meet most: none (ASCII),
// Latin-1, Cyrillic, Greek, UTF-8, GB18030 and ISO 2022 with JIS X 0208
// (PS3.5 6.1 and Annex H: the ideographic and phonetic components of a
// Japanese name switch to JIS X 0208 with escape sequences).
var patients = []patient{
	{"Müller^Jürgen", "PAT-0001", []string{"ISO_IR 100"}, "M", "19570312", "Universitätsklinikum Köln"},
	{"Doe^Jane", "PAT-0002", nil, "F", "19800101", "General Hospital"},
	{"Иванов^Пётр", "PAT-0003", []string{"ISO_IR 144"}, "M", "19641224", "Городская больница № 1"},
	{"山田^太郎=やまだ^たろう", "PAT-0004", []string{"ISO_IR 192"}, "M", "19711007", "東京総合病院"},
	{"Παπαδοπούλου^Ελένη", "PAT-0005", []string{"ISO_IR 126"}, "F", "19890517", "Γενικό Νοσοκομείο Αθηνών"},
	{"Dubois^Élodie", "PAT-0006", []string{"ISO_IR 100"}, "F", "19930228", "Hôpital Général"},
	{"Suzuki^Hanako=鈴木^花子=すずき^はなこ", "PAT-0007", []string{"", "ISO 2022 IR 87"}, "F", "19820419", "大阪市立総合医療センター"},
	{"Wang^XiaoDong=王^小东", "PAT-0008", []string{"GB18030"}, "M", "19750903", "北京协和医院"},
}

// encode returns s in the bytes of the character set (every text above is
// encodable in its patient's set).
func encode(s string, charset []string) string {
	var enc encoding.Encoding
	switch {
	case len(charset) == 0:
		return s
	case charset[0] == "ISO_IR 100":
		enc = charmap.ISO8859_1
	case charset[0] == "ISO_IR 144":
		enc = charmap.ISO8859_5
	case charset[0] == "ISO_IR 126":
		enc = charmap.ISO8859_7
	case charset[0] == "GB18030":
		enc = simplifiedchinese.GB18030
	case len(charset) == 2 && charset[1] == "ISO 2022 IR 87":
		// The encoder designates JIS X 0208 with ESC $ B before each
		// non-ASCII run and returns to ASCII with ESC ( B before each
		// '^' and '=' delimiter and at the end, as PS3.5 H.3.1 requires.
		enc = japanese.ISO2022JP
	default:
		return s // ISO_IR 192 is UTF-8
	}
	b, err := enc.NewEncoder().String(s)
	if err != nil {
		return s
	}
	return b
}

// modality holds what differs between CT, MR and NM instances.
type modality struct {
	sopClass                   string
	imageType                  []string
	studies, series, bodyParts []string
	thickness                  float64
	spacing                    string
	window                     [2]string
	extra                      []element
	// stored is Bits Stored of native pixels: 12 for CT and MR, 16 for
	// NM counts.
	stored int
}

type element struct {
	tag   tag.Tag
	value string
}

var modalities = map[string]*modality{
	"CT": {
		sopClass:  CTImageStorage,
		imageType: []string{"ORIGINAL", "PRIMARY", "AXIAL"},
		studies:   []string{"CT HEAD W/O CONTRAST", "CT CHEST ABDOMEN PELVIS", "CT ANGIO NECK"},
		series:    []string{"AXIAL 5mm", "CORONAL MPR", "SAGITTAL MPR", "AXIAL 1mm BONE"},
		bodyParts: []string{"HEAD", "CHEST", "NECK"},
		thickness: 5, spacing: "0.488", window: [2]string{"40", "400"}, stored: 12,
		extra: []element{{tag.KVP, "120"}, {tag.XRayTubeCurrent, "250"}, {tag.ConvolutionKernel, "STANDARD"}},
	},
	"MR": {
		sopClass:  MRImageStorage,
		imageType: []string{"ORIGINAL", "PRIMARY", "M", "ND"},
		studies:   []string{"MR BRAIN W/WO CONTRAST", "MR KNEE LEFT", "MR LUMBAR SPINE"},
		series:    []string{"T1 SAG", "T2 AX", "FLAIR AX", "DWI b1000"},
		bodyParts: []string{"BRAIN", "KNEE", "LSPINE"},
		thickness: 4, spacing: "0.9375", window: [2]string{"600", "1200"}, stored: 12,
		extra: []element{{tag.ScanningSequence, "SE"}, {tag.RepetitionTime, "500"}, {tag.EchoTime, "15"},
			{tag.MagneticFieldStrength, "1.5"}},
	},
	"NM": {
		sopClass:  NMImageStorage,
		imageType: []string{"ORIGINAL", "PRIMARY", "STATIC", "EMISSION"},
		studies:   []string{"NM BONE SCAN WHOLE BODY", "NM MYOCARDIAL PERFUSION", "NM THYROID"},
		series:    []string{"ANTERIOR", "POSTERIOR", "STRESS", "REST"},
		bodyParts: []string{"WHOLEBODY", "HEART", "THYROID"},
		thickness: 10, spacing: "4.42", window: [2]string{"128", "256"}, stored: 16,
		extra: []element{{tag.ActualFrameDuration, "60000"}},
	},
}
