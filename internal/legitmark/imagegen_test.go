package legitmark

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"
)

// testJPEG encodes a w×h gradient (compresses well) or noise (does not).
func testJPEG(t testing.TB, w, h int, noise bool) []byte {
	t.Helper()
	m := testPicture(w, h, noise)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testPicture(w, h int, noise bool) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255}
			if noise {
				c = color.RGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

// testPNG encodes a w×h PNG; alpha makes the left half transparent.
func testPNG(t testing.TB, w, h int, noise, alpha bool) []byte {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	src := testPicture(w, h, noise)
	for y := range h {
		for x := range w {
			c := src.RGBAAt(x, y)
			a := uint8(255)
			if alpha && x < w/2 {
				a = 0
			}
			m.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, a})
		}
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// exifSegment builds an APP1 Exif segment (big-endian TIFF) with an
// orientation tag and a GPS IFD holding a latitude reference "N" and a
// recognisable marker string, as a phone camera writes.
func exifSegment(orientation uint16) []byte {
	var t bytes.Buffer
	be := binary.BigEndian
	t.WriteString("MM\x00*")
	binary.Write(&t, be, uint32(8)) // IFD0 at 8
	// IFD0: 2 entries: Orientation, GPSInfo pointer.
	binary.Write(&t, be, uint16(2))
	binary.Write(&t, be, [6]uint16{0x0112, 3, 0, 1, orientation, 0}) // tag, type SHORT, count=1 (as 2 shorts), value
	gpsOff := uint32(8 + 2 + 24 + 4)
	binary.Write(&t, be, []uint16{0x8825, 4, 0, 1})
	binary.Write(&t, be, gpsOff)
	binary.Write(&t, be, uint32(0)) // next IFD
	// GPS IFD: GPSLatitudeRef "N", GPSAreaInformation-like marker in an ASCII tag.
	binary.Write(&t, be, uint16(2))
	binary.Write(&t, be, []uint16{0x0001, 2, 0, 2})
	t.Write([]byte{'N', 0, 0, 0})
	marker := "GPS-SECRET-LOCATION-52.37N-4.90E\x00"
	binary.Write(&t, be, []uint16{0x001C, 2, 0, uint16(len(marker))})
	binary.Write(&t, be, gpsOff+2+24+4)
	binary.Write(&t, be, uint32(0))
	t.WriteString(marker)
	payload := append([]byte("Exif\x00\x00"), t.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	return append(seg, payload...)
}

// withSegment inserts a segment right after SOI.
func withSegment(jpg, seg []byte) []byte {
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// pngChunk builds one PNG chunk.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngHeaderOnly is a PNG whose IHDR claims w×h, with no pixel data: a
// decompression bomb's header.
func pngHeaderOnly(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	out := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, pngChunk("IEND", nil)...)
}

// jpegHeaderOnly is SOI, a baseline SOF claiming w×h (one component) and
// an SOS header with no scan data: enough for DecodeConfig.
func jpegHeaderOnly(w, h uint16) []byte {
	sof := []byte{0xFF, 0xC0, 0, 11, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 1, 1, 0x11, 0}
	sos := []byte{0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0, 0xFF, 0xD9}
	return append(append([]byte{0xFF, 0xD8}, sof...), sos...)
}
