package deid

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// BenchmarkApply de-identifies a 64 MiB native image held in memory into
// a reused buffer, next to a plain copy of the same bytes into the same
// kind of buffer, in each syntax. Throughput counts the dataset's bytes
// (inflated ones for the deflated syntax).
func BenchmarkApply(b *testing.B) {
	const pixels = 64 << 20
	for _, syn := range syntaxes[:4] {
		var buf bytes.Buffer
		if err := (sample{ts: syn.ts, bigPixels: pixels}).write(&buf); err != nil {
			b.Fatal(err)
		}
		in := buf.Bytes()
		p, _ := New(Config{Key: testKey})
		var out bytes.Buffer
		out.Grow(pixels + 1<<20)
		b.Run(syn.name+"/copy", func(b *testing.B) {
			b.SetBytes(pixels)
			b.ReportAllocs()
			for range b.N {
				out.Reset()
				io.Copy(&out, bytes.NewReader(in))
			}
		})
		b.Run(syn.name+"/deid", func(b *testing.B) {
			b.SetBytes(pixels)
			b.ReportAllocs()
			for range b.N {
				out.Reset()
				if _, err := p.Apply(context.Background(), &out, bytes.NewReader(in)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
