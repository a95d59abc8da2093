package dicomio

import (
	"bytes"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// passThrough copies a Part 10 file element by element, streaming every
// value: what a de-identifier or a gateway does, minus the changes.
func passThrough(dst io.Writer, src io.Reader) error {
	r := NewReader(src, 0)
	m, err := r.ReadMeta()
	if err != nil {
		return err
	}
	w := NewWriter(dst)
	if err := w.WriteMeta(m); err != nil {
		return err
	}
	for {
		h, err := r.Next()
		if err == io.EOF {
			return w.Close()
		}
		if err != nil {
			return err
		}
		switch {
		case h.Tag == TagSequenceDelimitation:
			err = w.End()
		case h.Tag == TagItemDelimitation:
			err = w.EndItem()
		case h.Tag == TagItem && h.Length == UndefinedLength:
			err = w.BeginItem()
		case h.Tag == TagItem:
			err = w.Item(h.Length, r.Value())
		case h.Length == UndefinedLength:
			err = w.Begin(h.Tag, h.VR)
		default:
			err = w.WriteFrom(h.Tag, h.VR, h.Length, r.Value())
		}
		if err != nil {
			return err
		}
	}
}

// TestPassThroughStreams: the sample file (sequences, an undefined-length
// UN) with 16 MiB of native and encapsulated pixel data passes through Reader and Writer byte for byte, with a small
// fraction of it ever allocated.
func TestPassThroughStreams(t *testing.T) {
	const size = 8 << 20
	pixels := bytes.Repeat([]byte{1, 2, 3, 4}, size/4)
	for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, "1.2.840.10008.1.2.4.50"} {
		t.Run(ts, func(t *testing.T) {
			in := writeSampleWith(t, ts, size, func() io.Reader { return bytes.NewReader(pixels) })
			var out bytes.Buffer
			out.Grow(len(in))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			require.NoError(t, passThrough(&out, bytes.NewReader(in)))
			runtime.ReadMemStats(&after)
			assert.True(t, bytes.Equal(in, out.Bytes()), "the copy differs from the original")
			allocated := after.TotalAlloc - before.TotalAlloc
			assert.Less(t, allocated, uint64(1<<20), "allocated %d bytes to pass %d through", allocated, len(in))
		})
	}
}
