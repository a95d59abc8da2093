package dicomio

import (
	"bytes"
	"io"
	"testing"
)

// FuzzReader walks arbitrary input the way callers do (read small values,
// skip or stream the rest, step into undefined-length values, enter
// defined-length sequences and items) and checks
// that it never panics, never hands out a value over the accepted size,
// and never consumes more than the limit.
func FuzzReader(f *testing.F) {
	for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLE, ExplicitVRBigEndian} {
		var b bytes.Buffer
		w := NewWriter(&b)
		m := testMeta
		if ts != ExplicitVRBigEndian {
			m.TransferSyntaxUID = ts
		}
		_ = w.WriteMeta(m)
		_ = w.WriteElement(0x00100010, MakeVR("PN"), []byte("Doe^Jane"))
		_ = w.Begin(0x00081199, VRSQ)
		_ = w.BeginItem()
		_ = w.WriteElement(0x00081155, VRUI, []byte("1.2"))
		_ = w.EndItem()
		_ = w.End()
		_ = w.Close()
		f.Add(b.Bytes(), uint8(0))
		f.Add(b.Bytes()[:len(b.Bytes())-5], uint8(1))
		f.Add(b.Bytes(), uint8(4))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		const limit = 1 << 20
		const maxValue = 4 << 10
		r := NewReader(bytes.NewReader(data), limit)
		if _, err := r.ReadMeta(); err != nil {
			return
		}
		for i := 0; i < 100000; i++ {
			h, err := r.Next()
			if err != nil {
				break
			}
			if r.Depth() > MaxDepth {
				t.Fatalf("depth %d", r.Depth())
			}
			switch {
			case h.Length != UndefinedLength && mode&4 == 4 && (h.VR == VRSQ || h.Tag == TagItem):
				if r.Enter() != nil {
					return
				}
			case h.Length == UndefinedLength && mode&1 == 1:
				if r.Skip() != nil {
					return
				}
			case h.Length != UndefinedLength && mode&2 == 2:
				n, _ := io.Copy(io.Discard, r.Value())
				if n > int64(h.Length) {
					t.Fatalf("streamed %d bytes of a %d-byte value", n, h.Length)
				}
			case h.Length != UndefinedLength:
				v, err := r.ReadValue(maxValue)
				if err == nil && len(v) > maxValue {
					t.Fatalf("value of %d bytes", len(v))
				}
			}
		}
		if r.cr.n > limit {
			t.Fatalf("consumed %d bytes, limit %d", r.cr.n, limit)
		}
	})
}
