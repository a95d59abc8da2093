package dicomgen

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
)

// pixels is one instance's Pixel Data, native or encapsulated.
type pixels struct {
	bits, stored int    // Bits Allocated, Bits Stored
	native       []byte // native pixels, or nil
	fragment     []byte // the one fragment of an encapsulated frame, or nil
}

// pixels renders the instance's image and encodes it in its transfer
// syntax.
func (in *instance) pixels(o Options) pixels {
	img := in.image(o)
	switch in.file.TransferSyntaxUID {
	case JPEGBaseline:
		return pixels{bits: 8, stored: 8, fragment: evenPad(jpegBaseline(img, o.Rows, o.Columns))}
	case RLELossless:
		return pixels{bits: 16, stored: in.mod.stored, fragment: rle16(img, o.Rows, o.Columns)}
	case ExplicitVRBigEndian:
		return pixels{bits: 16, stored: in.mod.stored, native: words(img, binary.BigEndian)}
	default:
		return pixels{bits: 16, stored: in.mod.stored, native: words(img, binary.LittleEndian)}
	}
}

// image is a phantom plus noise, row by row, so that it compresses like a
// real image: for CT a disc of soft tissue in air (12 bits, rescaled by
// -1024); for MR a bright ellipse in a darker disc; for NM low counts
// with a hot spot.
func (in *instance) image(o Options) []uint16 {
	rng := xorshift(uint64(o.Seed)*0x9E3779B97F4A7C15 ^ uint64(in.study)<<40 ^ uint64(in.series)<<20 ^ uint64(in.num) | 1)
	rows, cols := o.Rows, o.Columns
	cy, cx := float64(rows)/2, float64(cols)/2
	r2 := (cx * 0.8) * (cx * 0.8)
	img := make([]uint16, rows*cols)
	for y := range rows {
		for x := range cols {
			dy, dx := float64(y)-cy, float64(x)-cx
			d2 := dy*dy + dx*dx
			var v uint16
			switch in.file.Modality {
			case "MR":
				v = uint16(rng.next() & 31)
				if d2 < r2 {
					v += 300 + uint16(in.num%32)
				}
				if dy*dy*4+dx*dx < r2/4 {
					v += 500
				}
			case "NM":
				v = uint16(rng.next() & 3)
				if d2 < r2 {
					v += 20 + uint16(rng.next()&15)
				}
				if d2 < r2/16 {
					v += 200 + uint16(rng.next()&63)
				}
			default:
				v = uint16(rng.next() & 63)
				if d2 < r2 {
					v += 1024 + 40 + uint16(in.num%16)
				}
			}
			img[y*cols+x] = v
		}
	}
	return img
}

func words(img []uint16, order binary.ByteOrder) []byte {
	b := make([]byte, 2*len(img))
	for i, v := range img {
		order.PutUint16(b[2*i:], v)
	}
	return b
}

// eight maps a 16-bit image to 8 bits for JPEG baseline.
func eight(v uint16) uint8 { return uint8(min(v>>3, 255)) }

// jpegBaseline encodes the image as an 8-bit grayscale baseline JPEG
// (ISO 10918-1, what transfer syntax 1.2.840.10008.1.2.4.50 carries).
func jpegBaseline(img []uint16, rows, cols int) []byte {
	g := image.NewGray(image.Rect(0, 0, cols, rows))
	for i, v := range img {
		g.Pix[i] = eight(v)
	}
	var buf bytes.Buffer
	// Encoding into memory cannot fail for a valid image.
	_ = jpeg.Encode(&buf, g, &jpeg.Options{Quality: 90})
	return buf.Bytes()
}

// rle16 encodes a 16-bit image as DICOM RLE (PS3.5 Annex G): a 64-byte
// header (the number of segments and their offsets), then one PackBits
// segment of the high bytes and one of the low bytes, each row encoded on
// its own and each segment padded to an even length.
func rle16(img []uint16, rows, cols int) []byte {
	out := make([]byte, 64)
	binary.LittleEndian.PutUint32(out[0:], 2)
	row := make([]byte, cols)
	for seg, shift := range []int{8, 0} {
		binary.LittleEndian.PutUint32(out[4+4*seg:], uint32(len(out)))
		for y := range rows {
			for x := range cols {
				row[x] = byte(img[y*cols+x] >> shift)
			}
			out = packBits(out, row)
		}
		if len(out)%2 == 1 {
			out = append(out, 0)
		}
	}
	return out
}

// packBits appends the PackBits encoding of src to dst: a run of n equal
// bytes (2 ≤ n ≤ 128) as the byte 257-n and the value; n literal bytes
// (1 ≤ n ≤ 128) as the byte n-1 and the bytes.
func packBits(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		r := 1
		for i+r < len(src) && r < 128 && src[i+r] == src[i] {
			r++
		}
		if r >= 2 {
			dst = append(dst, byte(257-r), src[i])
			i += r
			continue
		}
		j := i + 1
		for j < len(src) && j-i < 128 && (j+1 >= len(src) || src[j] != src[j+1]) {
			j++
		}
		dst = append(dst, byte(j-i-1))
		dst = append(dst, src[i:j]...)
		i = j
	}
	return dst
}

// evenPad pads a fragment to an even length with a zero byte, as PS3.5
// A.4 requires (a JPEG decoder ignores bytes after the EOI marker).
func evenPad(b []byte) []byte {
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// xorshift is a small deterministic generator for pixel noise.
type xorshiftState struct{ s uint64 }

func xorshift(seed uint64) *xorshiftState { return &xorshiftState{seed} }

func (x *xorshiftState) next() uint64 {
	x.s ^= x.s << 13
	x.s ^= x.s >> 7
	x.s ^= x.s << 17
	return x.s
}
