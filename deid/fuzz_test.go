package deid

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/dicombridge/dicombridge/internal/dicomio"
)

// FuzzApply feeds arbitrary bytes to Apply, with and without options. It
// checks that nothing panics, that a run allocates a bounded amount (the
// read-ahead window, a value being changed, the output), and that every
// output Apply produces is itself a file Apply accepts, with the same
// new UIDs mapped once more.
func FuzzApply(f *testing.F) {
	for _, syn := range syntaxes {
		f.Add(sample{ts: syn.ts, pixels: []byte{1, 2, 3, 4}, encapsulate: syn.encapsulate}.build(f), uint8(0))
	}
	f.Add(sample{ts: dicomio.ExplicitVRLittleEndian, burnedIn: "YES"}.build(f), uint8(3))
	f.Add(burnedInSeed(), uint8(1))
	plain, err := New(Config{Key: testKey})
	if err != nil {
		f.Fatal(err)
	}
	rich, err := New(allOptions)
	if err != nil {
		f.Fatal(err)
	}
	accepting, err := New(Config{Key: testKey, AcceptBurnedIn: true, MaxFileSize: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		p := []*Profile{plain, rich, accepting}[int(mode)%3]
		var out bytes.Buffer
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res, err := p.Apply(context.Background(), &out, bytes.NewReader(data))
		runtime.ReadMemStats(&after)
		// The output buffer grows to about twice the output; the rest
		// is bounded whatever lengths the input declares.
		if grown := after.TotalAlloc - before.TotalAlloc; grown > 40<<20+8*uint64(len(data)+out.Len()) {
			t.Fatalf("allocated %d bytes for %d bytes of input", grown, len(data))
		}
		if err != nil {
			return
		}
		if res == nil {
			t.Fatal("no result and no error")
		}
		again, err := p.Apply(context.Background(), io.Discard, bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("the output is not accepted: %v", err)
		}
		if res.SOPInstanceUID != "" && again.SOPInstanceUID != p.UID(res.SOPInstanceUID) {
			t.Fatalf("second pass SOP Instance UID %q, want %q", again.SOPInstanceUID, p.UID(res.SOPInstanceUID))
		}
	})
}

// burnedInSeed is a minimal file by hand: meta without group length, a
// burned-in image.
func burnedInSeed() []byte {
	b := append(make([]byte, 128), "DICM"...)
	b = append(b, 0x02, 0x00, 0x10, 0x00, 'U', 'I', 20, 0)
	b = append(b, "1.2.840.10008.1.2.1\x00"...)
	b = append(b, 0x28, 0x00, 0x01, 0x03, 'C', 'S', 4, 0)
	return append(b, "YES "...)
}
