package deid

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/dicomio"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allOptions turns every option on, with one safe private attribute.
var allOptions = Config{
	Key:                             testKey,
	RetainLongitudinalModifiedDates: true,
	RetainPatientCharacteristics:    true,
	RetainDeviceIdentity:            true,
	CleanDescriptors:                true,
	SafePrivate:                     []PrivateTag{{Creator: "ACME 1.0", Group: 0x0009, Element: 0x01}},
}

// Expectations: "-" absent, "=" unchanged, "U" the keyed UID of the
// input value, "P" the patient pseudonym, "S" the input date shifted;
// anything else is the exact output value.
var basicWant = map[string]string{
	"(0008,0005)": "=", "(0008,0012)": "19000101", "(0008,0016)": "=", "(0008,0018)": "U",
	"(0008,0020)": "", "(0008,0021)": "19000101", "(0008,002A)": "19000101000000", "(0008,0030)": "",
	"(0008,0050)": "", "(0008,0060)": "=", "(0008,0070)": "=", "(0008,0080)": "ANONYMIZED",
	"(0008,0090)": "", "(0008,1010)": "ANONYMIZED", "(0008,1030)": "-", "(0008,103E)": "-",
	"(0008,1110)": "0", "(0008,1110)[0](0008,1150)": "-", "(0008,1110)[0](0008,1155)": "-",
	"(0008,1140)": "=", "(0008,1140)[0](0008,1150)": "=", "(0008,1140)[0](0008,1155)": "U",
	"(0008,2112)": "=", "(0008,2112)[0](0008,1150)": "=", "(0008,2112)[0](0008,1155)": "U",
	"(0008,2112)[0](0040,A170)": "=", "(0008,2112)[0](0040,A170)[0](0008,0100)": "=",
	"(0008,2112)[0](0040,A170)[0](0008,0102)": "=", "(0008,2112)[0](0040,A170)[0](0008,0104)": "=",
	"(0009,0010)": "-", "(0009,1001)": "-", "(0009,1002)": "-", "(0009,1002)[0](0010,0010)": "-",
	"(0010,0010)": "P", "(0010,0020)": "P", "(0010,0030)": "", "(0010,0040)": "",
	"(0010,1000)": "-", "(0010,1002)": "-", "(0010,1002)[0](0010,0020)": "-", "(0010,1010)": "-",
	"(0010,21B0)": "-", "(0018,1000)": "ANONYMIZED", "(0018,1030)": "ANONYMIZED",
	"(0020,000D)": "U", "(0020,000E)": "U", "(0020,0010)": "", "(0020,0013)": "=", "(0020,0052)": "U",
	"(0020,4000)": "-",
	"(0028,0002)": "=", "(0028,0004)": "=", "(0028,0010)": "=", "(0028,0011)": "=", "(0028,0100)": "=",
	"(0028,0101)": "=", "(0028,0102)": "=", "(0028,0103)": "=",
	"(0040,0555)": "0", "(0040,0555)[0](0040,A160)": "-",
	"(0040,A730)": "=", "(0040,A730)[0](0040,A040)": "=", "(0040,A730)[0](0040,A043)": "=",
	"(0040,A730)[0](0040,A043)[0](0008,0100)": "ANONYMIZED", "(0040,A730)[0](0040,A043)[0](0008,0102)": "ANONYMIZED",
	"(0040,A730)[0](0040,A043)[0](0008,0104)": "ANONYMIZED", "(0040,A730)[0](0040,A160)": "ANONYMIZED",
	"(6000,0010)": "=", "(6000,3000)": "-", "(7FE0,0010)": "=",
	// Added by the profile.
	"(0012,0062)": "YES", "(0012,0063)": "Basic Application Confidentiality Profile", "(0012,0064)": "1",
	"(0012,0064)[0](0008,0100)": "113100", "(0012,0064)[0](0008,0102)": "DCM",
	"(0012,0064)[0](0008,0104)": "Basic Application Confidentiality Profile",
}

// allOptionsWant differs from basicWant where the options apply.
var allOptionsWant = map[string]string{
	"(0008,0012)": "S", "(0008,0020)": "S", "(0008,0021)": "S", "(0008,0030)": "=", "(0008,002A)": "S",
	"(0008,1010)": "=", "(0008,1030)": "CT of head", "(0008,103E)": "=",
	"(0009,0010)": "=", "(0009,1001)": "=",
	"(0010,0040)": "=", "(0010,1010)": "=", "(0010,21B0)": "had a fall", "(0018,1000)": "=",
	"(0018,1030)": "Head", "(0020,4000)": "Patient moved",
	"(0012,0063)": `Basic Application Confidentiality Profile\Clean Descriptors Option\Retain Longitudinal Temporal Information Modified Dates Option\Retain Patient Characteristics Option\Retain Device Identity Option\Retain Safe Private Option`,
	"(0012,0064)": "6", "(0028,0303)": "MODIFIED",
	"(0012,0064)[1](0008,0100)": "113105", "(0012,0064)[2](0008,0100)": "113107", "(0012,0064)[3](0008,0100)": "113108",
	"(0012,0064)[4](0008,0100)": "113109", "(0012,0064)[5](0008,0100)": "113111",
	"(0012,0064)[1](0008,0102)": "DCM", "(0012,0064)[1](0008,0104)": "Clean Descriptors Option",
	"(0012,0064)[2](0008,0102)": "DCM", "(0012,0064)[2](0008,0104)": "Retain Longitudinal Temporal Information Modified Dates Option",
	"(0012,0064)[3](0008,0102)": "DCM", "(0012,0064)[3](0008,0104)": "Retain Patient Characteristics Option",
	"(0012,0064)[4](0008,0102)": "DCM", "(0012,0064)[4](0008,0104)": "Retain Device Identity Option",
	"(0012,0064)[5](0008,0102)": "DCM", "(0012,0064)[5](0008,0104)": "Retain Safe Private Option",
}

// syntaxes are the transfer syntaxes the tests write samples in.
var syntaxes = []struct {
	name, ts    string
	encapsulate bool
}{
	{"explicit", dicomio.ExplicitVRLittleEndian, false},
	{"implicit", dicomio.ImplicitVRLittleEndian, false},
	{"bigendian", dicomio.ExplicitVRBigEndian, false},
	{"deflated", dicomio.DeflatedExplicitVRLE, false},
	{"jpeg", "1.2.840.10008.1.2.4.50", true},
}

// TestProfileActions checks every element of the output of the rich
// sample, at every depth, against the profile's table, with no option and
// with every option, in every transfer syntax.
func TestProfileActions(t *testing.T) {
	for _, opts := range []struct {
		name string
		cfg  Config
		want map[string]string
	}{{"basic", Config{Key: testKey}, basicWant}, {"all options", allOptions, merge(basicWant, allOptionsWant)}} {
		for _, syn := range syntaxes {
			t.Run(opts.name+"/"+syn.name, func(t *testing.T) {
				p, err := New(opts.cfg)
				require.NoError(t, err)
				in := sample{ts: syn.ts, pixels: []byte{1, 2, 3, 4, 5, 6, 7, 8}, encapsulate: syn.encapsulate}.build(t)
				var out bytes.Buffer
				res, err := p.Apply(context.Background(), &out, bytes.NewReader(in))
				require.NoError(t, err)
				_, inFields := flatten(t, in)
				meta, outFields := flatten(t, out.Bytes())
				assert.Equal(t, syn.ts, meta.TransferSyntaxUID)
				assert.Equal(t, syn.ts, res.TransferSyntaxUID)
				assert.Equal(t, p.UID("1.2.3.4.5.6.7.1"), meta.MediaStorageSOPInstanceUID, "the meta group follows the dataset")
				assert.Empty(t, meta.SourceApplicationEntity, "the source AE title is not carried over")
				checkFields(t, p, opts.want, inFields, outFields)
				assert.Equal(t, p.UID("1.2.3.4.5.6.7.1"), res.SOPInstanceUID)
				assert.Equal(t, p.UID("1.2.3.4.5.6.2"), res.SeriesInstanceUID)
				assert.Equal(t, p.UID("1.2.3.4.5.6.1"), res.StudyInstanceUID)
				assert.Equal(t, p.UID("1.2.3.4.5.6.3"), res.UIDs["1.2.3.4.5.6.3"])
				assert.Equal(t, Remove, res.Actions[0x00101000])
				assert.Equal(t, Empty, res.Actions[0x00080050])
				assert.Contains(t, res.Removed(), uint32(0x60003000))
			})
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// checkFields compares the output with the expectations, path by path:
// every input and output path must have one.
func checkFields(t *testing.T, p *Profile, want map[string]string, in, out map[string]field) {
	t.Helper()
	paths := map[string]bool{}
	for k := range in {
		paths[k] = true
	}
	for k := range out {
		paths[k] = true
	}
	var sorted []string
	for k := range paths {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	shift := p.dateShift("PID123")
	for _, path := range sorted {
		w, ok := want[path]
		if !assert.True(t, ok, "no expectation for %s (in: %q, out: %q)", path, in[path].Value, out[path].Value) {
			continue
		}
		got, present := out[path]
		if w == "-" {
			assert.False(t, present, "%s should be removed, is %q", path, got.Value)
			continue
		}
		if !assert.True(t, present, "%s missing", path) {
			continue
		}
		orig := in[path].Value
		switch w {
		case "=":
			assert.Equal(t, orig, got.Value, path)
		case "U":
			assert.Equal(t, p.UID(orig), got.Value, path)
			assert.True(t, dicomio.IsUID(got.Value), "%s: %q", path, got.Value)
		case "P":
			assert.Equal(t, p.pseudonym("PID123"), got.Value, path)
		case "S":
			day, err := time.Parse("20060102", orig[:8])
			require.NoError(t, err)
			assert.Equal(t, day.AddDate(0, 0, -shift).Format("20060102")+orig[8:], got.Value, path)
		default:
			assert.Equal(t, w, got.Value, path)
		}
	}
	for path, f := range out {
		if f.VR != "SQ" && !strings.HasPrefix(f.VR, "O") && f.VR != "US" {
			assert.NotContains(t, strings.ToUpper(f.Value), "JANE", "%s still names the patient", path)
		}
	}
}
