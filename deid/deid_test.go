package deid

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dicombridge/dicombridge/internal/dicomio"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func apply(t testing.TB, p *Profile, in []byte) ([]byte, *Result) {
	t.Helper()
	var out bytes.Buffer
	res, err := p.Apply(context.Background(), &out, bytes.NewReader(in))
	require.NoError(t, err)
	return out.Bytes(), res
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, err := New(Config{Key: make([]byte, MinKeySize-1)})
	assert.ErrorIs(t, err, ErrKey)
	_, err = New(Config{})
	assert.ErrorIs(t, err, ErrKey)
	_, err = New(Config{Key: testKey, SafePrivate: []PrivateTag{{Creator: "X", Group: 0x0010}}})
	assert.Error(t, err, "an even group is not private")
	key := bytes.Clone(testKey)
	p, err := New(Config{Key: key})
	require.NoError(t, err)
	u := p.UID("1.2.3")
	key[0] ^= 1
	assert.Equal(t, u, p.UID("1.2.3"), "New copies the key")
}

// TestUIDKnownAnswer pins the derivation: the same UID and key give this
// value on every machine. The expected values were computed apart, with
// Python's hmac, hashlib and base64 modules.
func TestUIDKnownAnswer(t *testing.T) {
	p, err := New(Config{Key: testKey})
	require.NoError(t, err)
	assert.Equal(t, "2.25.60284828632482926096771439634453108447", p.UID("1.2.3.4"))
	assert.Equal(t, "", p.UID(""))
	assert.Equal(t, "OANWTNUCWJPJ5BN5MNSL", p.pseudonym("PID123"))
	for _, u := range []string{"1.2.3.4", "1.2.840.113619.2.55.3.604688119.971.1.1", strings.Repeat("9", 64)} {
		n := p.UID(u)
		assert.True(t, dicomio.IsUID(n), n)
		assert.LessOrEqual(t, len(n), 64)
		assert.True(t, strings.HasPrefix(n, "2.25."))
	}
}

// TestConsistencyAcrossFiles: two instances of one series, the second
// referencing the first in sequences of both lengths: the references
// point at the first output's new SOP Instance UID, the study, series
// and frame of reference UIDs agree.
func TestConsistencyAcrossFiles(t *testing.T) {
	p, err := New(Config{Key: testKey})
	require.NoError(t, err)
	first := sample{ts: dicomio.ExplicitVRLittleEndian, sop: "1.2.3.4.5.6.7.1", refSOP: "1.2.3.4.5.6.7.0"}.build(t)
	second := sample{ts: dicomio.ImplicitVRLittleEndian, sop: "1.2.3.4.5.6.7.2", refSOP: "1.2.3.4.5.6.7.1"}.build(t)
	out1, res1 := apply(t, p, first)
	out2, res2 := apply(t, p, second)
	_, f1 := flatten(t, out1)
	_, f2 := flatten(t, out2)
	assert.Equal(t, f1["(0008,0018)"].Value, f2["(0008,1140)[0](0008,1155)"].Value, "Referenced Image Sequence (undefined length)")
	assert.Equal(t, f1["(0008,0018)"].Value, f2["(0008,2112)[0](0008,1155)"].Value, "Source Image Sequence (defined length)")
	for _, tag := range []string{"(0020,000D)", "(0020,000E)", "(0020,0052)", "(0010,0020)", "(0010,0010)"} {
		assert.Equal(t, f1[tag].Value, f2[tag].Value, tag)
	}
	assert.Equal(t, res1.StudyInstanceUID, res2.StudyInstanceUID)
	assert.NotEqual(t, res1.SOPInstanceUID, res2.SOPInstanceUID)
}

// TestDeterminism: the same input and key give the same bytes; another
// key gives other UIDs and pseudonyms, none in common.
func TestDeterminism(t *testing.T) {
	in := sample{ts: dicomio.DeflatedExplicitVRLE}.build(t)
	p1, _ := New(Config{Key: testKey})
	p1again, _ := New(Config{Key: bytes.Clone(testKey)})
	p2, _ := New(Config{Key: bytes.Repeat([]byte("j"), MinKeySize)})
	a, resA := apply(t, p1, in)
	b, _ := apply(t, p1again, in)
	c, resC := apply(t, p2, in)
	assert.Equal(t, a, b, "same key, same bytes")
	assert.NotEqual(t, resA.PatientID, resC.PatientID)
	for orig, n := range resA.UIDs {
		assert.NotEqual(t, n, resC.UIDs[orig], orig)
		assert.NotContains(t, string(c), n, "a UID of one key appears under the other")
	}
	assert.Len(t, resA.UIDs, len(resC.UIDs))
}

// TestPixelDataIdentical: native and encapsulated pixel data come out
// byte for byte, in every syntax.
func TestPixelDataIdentical(t *testing.T) {
	pixels := make([]byte, 4096)
	for i := range pixels {
		pixels[i] = byte(i * 7)
	}
	p, _ := New(Config{Key: testKey})
	for _, syn := range syntaxes {
		in := sample{ts: syn.ts, pixels: pixels, encapsulate: syn.encapsulate}.build(t)
		out, _ := apply(t, p, in)
		_, fin := flatten(t, in)
		_, fout := flatten(t, out)
		require.NotEmpty(t, fin["(7FE0,0010)"].Value)
		assert.Equal(t, fin["(7FE0,0010)"], fout["(7FE0,0010)"], syn.name)
		if !syn.encapsulate && syn.ts != dicomio.DeflatedExplicitVRLE {
			assert.True(t, bytes.HasSuffix(out, pixels), "%s: the file ends with the very pixel bytes", syn.name)
		}
	}
}

// TestErrors: each kind of bad input gives its sentinel, and nothing
// panics.
func TestErrors(t *testing.T) {
	p, _ := New(Config{Key: testKey})
	good := sample{ts: dicomio.ExplicitVRLittleEndian}.build(t)
	deep := func() []byte {
		var b bytes.Buffer
		w := dicomio.NewWriter(&b)
		require.NoError(t, w.WriteMeta(dicomio.Meta{MediaStorageSOPClassUID: "1.2", MediaStorageSOPInstanceUID: "1.3", TransferSyntaxUID: dicomio.ExplicitVRLittleEndian}))
		for i := 0; i < dicomio.MaxDepth; i++ {
			require.NoError(t, w.Begin(0x00081140, vrSQ))
			require.NoError(t, w.BeginItem())
		}
		// One more level, by hand: the Writer refuses it.
		return append(b.Bytes(), 0x08, 0x00, 0x40, 0x11, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF)
	}()
	withTS := func(ts string) []byte {
		return sample{ts: ts}.build(t)
	}
	dir := bytes.Replace(good, []byte("1.2.840.10008.5.1.4.1.1.2\x00"), []byte("1.2.840.10008.1.3.10\x00\x00\x00\x00\x00\x00"), 1)
	cases := []struct {
		name string
		in   []byte
		cfg  Config
		want error
	}{
		{"not DICOM", []byte("hello, world"), Config{}, ErrNotDICOM},
		{"empty", nil, Config{}, ErrNotDICOM},
		{"truncated", good[:len(good)-5], Config{}, ErrMalformed},
		{"burned in", sample{ts: dicomio.ExplicitVRLittleEndian, burnedIn: "YES"}.build(t), Config{}, ErrBurnedIn},
		{"private syntax", withTS("1.2.840.113619.5.2"), Config{}, ErrSyntax},
		{"too deep", deep, Config{}, ErrTooDeep},
		{"too large", good, Config{MaxFileSize: 400}, ErrTooLarge},
		{"DICOMDIR", dir, Config{}, ErrDICOMDIR},
		{"burned in accepted", sample{ts: dicomio.ExplicitVRLittleEndian, burnedIn: "YES"}.build(t), Config{AcceptBurnedIn: true}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Key = testKey
			p, err := New(cfg)
			require.NoError(t, err)
			_, err = p.Apply(context.Background(), io.Discard, bytes.NewReader(c.in))
			if c.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, c.want)
			assert.True(t, strings.HasPrefix(err.Error(), "deid: "), err.Error())
		})
	}
	t.Run("burned in says so", func(t *testing.T) {
		_, err := p.Apply(context.Background(), io.Discard, bytes.NewReader(sample{ts: dicomio.ExplicitVRLittleEndian, burnedIn: "YES"}.build(t)))
		assert.Contains(t, err.Error(), "burned-in annotation")
		assert.Contains(t, err.Error(), "AcceptBurnedIn")
	})
	t.Run("write error", func(t *testing.T) {
		_, err := p.Apply(context.Background(), failWriter{}, bytes.NewReader(good))
		assert.ErrorIs(t, err, errDisk)
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := p.Apply(ctx, io.Discard, bytes.NewReader(good))
		assert.ErrorIs(t, err, context.Canceled)
	})
}

var errDisk = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDisk }

// TestLargeFileBoundedMemory streams a 1 GiB file (native pixel data)
// through Apply and checks that the whole run allocates under 64 MiB,
// counting every allocation, not only the peak.
func TestLargeFileBoundedMemory(t *testing.T) {
	const size = 1 << 30
	p, _ := New(Config{Key: testKey})
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(sample{ts: dicomio.ExplicitVRLittleEndian, bigPixels: size}.write(pw))
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	n := &countWriter{}
	res, err := p.Apply(context.Background(), n, pr)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Greater(t, n.n, int64(size))
	assert.NotEmpty(t, res.SOPInstanceUID)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("1 GiB in %v (%.0f MiB/s), %d KiB allocated in all, heap in use %d KiB", elapsed, float64(n.n)/elapsed.Seconds()/(1<<20), allocated>>10, after.HeapInuse>>10)
	assert.Less(t, allocated, uint64(64<<20), "allocated %d bytes for a 1 GiB file", allocated)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// hugeDummy is a file whose Encapsulated Document (0042,0011), which the
// profile replaces with a dummy (zeros), declares 2 GiB but holds 8 bytes.
func hugeDummy(t testing.TB) []byte {
	var b bytes.Buffer
	w := dicomio.NewWriter(&b)
	require.NoError(t, w.WriteMeta(dicomio.Meta{MediaStorageSOPClassUID: "1.2.840.10008.5.1.4.1.1.104.1", MediaStorageSOPInstanceUID: "1.2.3", TransferSyntaxUID: dicomio.ExplicitVRLittleEndian}))
	h, err := dicomio.AppendHeader(nil, dicomio.Header{Tag: 0x00420011, VR: vr("OB"), Length: 0x7FFFFFF0}, dicomio.ExplicitLittle)
	require.NoError(t, err)
	return append(append(b.Bytes(), h...), "%PDF-1.4"...)
}

// TestDummyOfDeclaredLength: a dummy binary value is made of zeros as the
// original is read, so a length the input does not hold fails like any
// truncated value instead of writing 2 GiB of zeros (found by FuzzApply;
// testdata/fuzz/FuzzApply keeps the input).
func TestDummyOfDeclaredLength(t *testing.T) {
	p, _ := New(Config{Key: testKey})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var out bytes.Buffer
	_, err := p.Apply(context.Background(), &out, bytes.NewReader(hugeDummy(t)))
	runtime.ReadMemStats(&after)
	assert.ErrorIs(t, err, ErrMalformed)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20))
	assert.Less(t, out.Len(), 1<<20)
}

// TestConcurrentUse: one Profile serves many goroutines (run with -race),
// each getting the same bytes.
func TestConcurrentUse(t *testing.T) {
	p, _ := New(allOptions)
	in := sample{ts: dicomio.ImplicitVRLittleEndian, pixels: []byte{1, 2}}.build(t)
	want, _ := apply(t, p, in)
	errs := make(chan error, 8)
	outs := make(chan []byte, 8)
	for range 8 {
		go func() {
			var out bytes.Buffer
			_, err := p.Apply(context.Background(), &out, bytes.NewReader(in))
			errs <- err
			outs <- out.Bytes()
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
		assert.Equal(t, want, <-outs)
	}
}
