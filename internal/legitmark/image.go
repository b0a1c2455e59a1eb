package legitmark

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"strconv"
)

// Image rules (seed 000 "Get Image Requirements", remote-apis.md §2.6):
// JPG/JPEG/PNG, at least 600×600 px, at most 5 MB per image. "5 MB" is read
// as 5,000,000 bytes — the stricter reading, which also satisfies 5 MiB.
const (
	MaxImageBytes   = 5_000_000
	MinImageSide    = 600
	MaxImagePixels  = 40_000_000 // decompression-bomb guard: ~160 MB as RGBA
	ReencodeQuality = 85
)

// ImageLimits parameterise PrepareImage; DefaultImageLimits are the
// documented rules.
type ImageLimits struct {
	MaxBytes  int // largest accepted file
	MinSide   int // smallest accepted width and height
	MaxPixels int // largest width×height decoded at all
	Quality   int // JPEG quality of a re-encode
}

// DefaultImageLimits are the documented image rules.
var DefaultImageLimits = ImageLimits{MaxBytes: MaxImageBytes, MinSide: MinImageSide, MaxPixels: MaxImagePixels, Quality: ReencodeQuality}

// Image is an image ready for upload: validated, stripped of metadata, and
// small enough.
type Image struct {
	Data          []byte
	Format        string // "jpeg" or "png"
	Ext           string // intent extension: "jpg" or "png"
	ContentType   string // "image/jpeg" or "image/png"
	Width, Height int
	Reencoded     bool // re-encoded as JPEG (too big, or rotated upright)
	Stripped      bool // metadata segments or chunks were removed
	OriginalSize  int
}

// Digest returns the hex SHA-256 of the prepared bytes.
func (img *Image) Digest() string {
	s := sha256.Sum256(img.Data)
	return hex.EncodeToString(s[:])
}

// Image error codes, stable for WebSocket and CLI output.
const (
	ImageFormat   = "image_format"    // not JPEG or PNG by content
	ImageCorrupt  = "image_corrupt"   // truncated or undecodable
	ImageTooSmall = "image_too_small" // under 600×600
	ImageTooLarge = "image_too_large" // dimensions beyond the decode limit
	ImageTooBig   = "image_too_big"   // cannot be brought under 5 MB
)

// ImageError is an image that cannot be uploaded. Code is one of the Image*
// constants; Detail is a fixed human text.
type ImageError struct {
	Reason        string
	Detail        string
	Width, Height int // when known
	Size          int // bytes
}

// Error describes the failure without secrets.
func (e *ImageError) Error() string {
	s := "legitmark: image: " + e.Detail
	if e.Width > 0 {
		s += " (" + strconv.Itoa(e.Width) + "×" + strconv.Itoa(e.Height) + ")"
	}
	return s
}

// Code returns the stable error code.
func (e *ImageError) Code() string { return e.Reason }

// Is matches another *ImageError by reason, so that
// errors.Is(err, &ImageError{Reason: ImageTooSmall}) works.
func (e *ImageError) Is(target error) bool {
	t, ok := target.(*ImageError)
	return ok && t.Reason == e.Reason
}

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
)

// PrepareImage applies DefaultImageLimits.
func PrepareImage(data []byte) (*Image, error) { return DefaultImageLimits.Prepare(data) }

// Prepare validates data and returns it ready for upload:
//   - the format comes from the content (magic bytes), never a file name;
//   - the dimensions come from the header (DecodeConfig) and are checked
//     before anything is decoded, so a decompression bomb costs nothing;
//   - the whole image is decoded once, which catches truncation;
//   - metadata is removed losslessly (JPEG APP1 Exif/XMP, IPTC, comments,
//     trailing data; PNG eXIf and text chunks) — location included;
//   - an Exif orientation other than upright is applied to the pixels
//     (it would be lost with the metadata), which means a re-encode;
//   - a file over MaxBytes is re-encoded as JPEG at Quality, then at lower
//     qualities, then scaled down (never under MinSide) until it fits.
func (l ImageLimits) Prepare(data []byte) (*Image, error) {
	fail := func(reason, detail string, w, h int) (*Image, error) {
		return nil, &ImageError{Reason: reason, Detail: detail, Width: w, Height: h, Size: len(data)}
	}
	var (
		format string
		cfg    image.Config
		err    error
	)
	switch {
	case bytes.HasPrefix(data, jpegMagic):
		format = "jpeg"
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	case bytes.HasPrefix(data, pngMagic):
		format = "png"
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	case len(data) == 0:
		return fail(ImageCorrupt, "empty file", 0, 0)
	default:
		return fail(ImageFormat, "not a JPEG or PNG image ("+sniffName(data)+")", 0, 0)
	}
	if err != nil {
		return fail(ImageCorrupt, "unreadable "+format+" header", 0, 0)
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 || int64(w)*int64(h) > int64(l.MaxPixels) {
		return fail(ImageTooLarge, "dimensions over the "+strconv.Itoa(l.MaxPixels/1_000_000)+" megapixel limit", w, h)
	}
	if w < l.MinSide || h < l.MinSide {
		return fail(ImageTooSmall, fmt.Sprintf("smaller than %d×%d px", l.MinSide, l.MinSide), w, h)
	}
	var m image.Image
	if format == "jpeg" {
		m, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		m, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return fail(ImageCorrupt, "truncated or damaged "+format+" data", w, h)
	}
	var (
		stripped []byte
		orient   int
		removed  bool
	)
	if format == "jpeg" {
		stripped, orient, removed, err = stripJPEG(data)
	} else {
		stripped, orient, removed, err = stripPNG(data)
	}
	if err != nil {
		return fail(ImageCorrupt, "malformed "+format+" structure", w, h)
	}
	img := &Image{Data: stripped, Format: format, Width: w, Height: h, Stripped: removed, OriginalSize: len(data)}
	if orient <= 1 && len(stripped) <= l.MaxBytes {
		img.setFormat(format)
		return img, nil
	}
	// Re-encode: upright, opaque (JPEG has no alpha: composite on white),
	// and as small as needed.
	rgba := toRGBA(m)
	rgba = orientImage(rgba, orient)
	out, err := l.encodeToFit(rgba)
	if err != nil {
		b := rgba.Bounds()
		return fail(ImageTooBig, "cannot be brought under "+strconv.Itoa(l.MaxBytes)+" bytes", b.Dx(), b.Dy())
	}
	b, err := jpeg.DecodeConfig(bytes.NewReader(out))
	if err != nil { // our own output: a bug, but never a panic
		return fail(ImageCorrupt, "re-encode failed", w, h)
	}
	img.Data, img.Width, img.Height, img.Reencoded, img.Stripped = out, b.Width, b.Height, true, true
	img.setFormat("jpeg")
	return img, nil
}

func (img *Image) setFormat(f string) {
	img.Format = f
	if f == "png" {
		img.Ext, img.ContentType = "png", "image/png"
	} else {
		img.Ext, img.ContentType = "jpg", "image/jpeg"
	}
}

func sniffName(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("GIF8")):
		return "GIF"
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "WebP"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return "HEIC/MP4 family"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "TIFF/DNG"
	case bytes.HasPrefix(b, []byte("BM")):
		return "BMP"
	}
	return "unknown content"
}

// encodeToFit encodes m as JPEG at decreasing qualities, then at decreasing
// sizes (not below MinSide), until the result fits MaxBytes.
func (l ImageLimits) encodeToFit(m *image.RGBA) ([]byte, error) {
	q := l.Quality
	if q <= 0 || q > 100 {
		q = ReencodeQuality
	}
	var buf bytes.Buffer
	enc := func(m image.Image, q int) ([]byte, error) {
		buf.Reset()
		if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: q}); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	for _, qq := range []int{q, q - 10, q - 20} {
		b, err := enc(m, qq)
		if err != nil {
			return nil, err
		}
		if len(b) <= l.MaxBytes {
			return bytes.Clone(b), nil
		}
	}
	cur := m
	for range 8 {
		w, h := cur.Bounds().Dx(), cur.Bounds().Dy()
		short := min(w, h)
		if short <= l.MinSide {
			break
		}
		// Bytes scale roughly with area: aim 15% under the limit.
		f := math.Sqrt(float64(l.MaxBytes) / float64(len(buf.Bytes())) * 0.85)
		f = math.Min(f, 0.9)
		if float64(short)*f < float64(l.MinSide) {
			f = float64(l.MinSide) / float64(short)
		}
		cur = downscale(cur, max(int(float64(w)*f), l.MinSide), max(int(float64(h)*f), l.MinSide))
		b, err := enc(cur, q-10)
		if err != nil {
			return nil, err
		}
		if len(b) <= l.MaxBytes {
			return bytes.Clone(b), nil
		}
	}
	return nil, fmt.Errorf("does not fit")
}

// toRGBA draws m onto an opaque white canvas.
func toRGBA(m image.Image) *image.RGBA {
	b := m.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	if !opaque(m) {
		draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	}
	draw.Draw(dst, dst.Bounds(), m, b.Min, draw.Over)
	return dst
}

func opaque(m image.Image) bool {
	if o, ok := m.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// downscale is a box filter: each destination pixel averages the source
// pixels it covers.
func downscale(src *image.RGBA, dw, dh int) *image.RGBA {
	sw, sh := src.Bounds().Dx(), src.Bounds().Dy()
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		y0, y1 := y*sh/dh, max((y+1)*sh/dh, y*sh/dh+1)
		for x := range dw {
			x0, x1 := x*sw/dw, max((x+1)*sw/dw, x*sw/dw+1)
			var r, g, b, a, n uint32
			for sy := y0; sy < y1; sy++ {
				row := src.Pix[sy*src.Stride:]
				for sx := x0; sx < x1; sx++ {
					p := row[sx*4 : sx*4+4 : sx*4+4]
					r, g, b, a = r+uint32(p[0]), g+uint32(p[1]), b+uint32(p[2]), a+uint32(p[3])
					n++
				}
			}
			o := dst.Pix[y*dst.Stride+x*4:]
			o[0], o[1], o[2], o[3] = uint8(r/n), uint8(g/n), uint8(b/n), uint8(a/n)
		}
	}
	return dst
}

// orientImage applies an Exif orientation (TIFF 6.0 tag 0x0112; 1 is
// upright, 2–8 are the mirror/rotate combinations).
func orientImage(src *image.RGBA, o int) *image.RGBA {
	if o < 2 || o > 8 {
		return src
	}
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range h {
		for x := range w {
			var dx, dy int
			switch o {
			case 2: // mirror horizontal
				dx, dy = w-1-x, y
			case 3: // rotate 180
				dx, dy = w-1-x, h-1-y
			case 4: // mirror vertical
				dx, dy = x, h-1-y
			case 5: // transpose
				dx, dy = y, x
			case 6: // rotate 90 CW
				dx, dy = h-1-y, x
			case 7: // transverse
				dx, dy = h-1-y, w-1-x
			case 8: // rotate 90 CCW
				dx, dy = y, w-1-x
			}
			copy(dst.Pix[dy*dst.Stride+dx*4:dy*dst.Stride+dx*4+4], src.Pix[y*src.Stride+x*4:y*src.Stride+x*4+4])
		}
	}
	return dst
}

// stripJPEG copies a JPEG keeping only what decoding needs: SOI, tables,
// frame and scan headers, entropy-coded data and EOI, plus APP0 JFIF, APP2
// ICC profile and APP14 Adobe (colour transform). Everything else goes:
// APP1 (Exif with GPS, XMP), APP13 (IPTC), other APPn, COM, and whatever
// follows EOI (MPF secondary images carry their own Exif). It also returns
// the Exif orientation found in APP1 (0 if none) and whether anything was
// removed.
func stripJPEG(data []byte) (out []byte, orient int, removed bool, err error) {
	errCorrupt := fmt.Errorf("malformed jpeg")
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, 0, false, errCorrupt
	}
	out = make([]byte, 0, len(data))
	out = append(out, 0xFF, 0xD8)
	i := 2
	for {
		if i >= len(data) || data[i] != 0xFF {
			return nil, 0, false, errCorrupt
		}
		for i < len(data) && data[i] == 0xFF { // fill bytes
			i++
		}
		if i >= len(data) {
			return nil, 0, false, errCorrupt
		}
		marker := data[i]
		i++
		switch {
		case marker == 0xD9: // EOI
			out = append(out, 0xFF, 0xD9)
			if i < len(data) {
				removed = true
			}
			return out, orient, removed, nil
		case marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x00:
			if marker == 0x00 || marker == 0xD8 {
				return nil, 0, false, errCorrupt
			}
			out = append(out, 0xFF, marker)
			continue
		}
		if i+2 > len(data) {
			return nil, 0, false, errCorrupt
		}
		n := int(binary.BigEndian.Uint16(data[i:]))
		if n < 2 || i+n > len(data) {
			return nil, 0, false, errCorrupt
		}
		payload := data[i+2 : i+n]
		seg := data[i-2 : i+n]
		i += n
		keep := true
		switch {
		case marker == 0xE0:
			keep = bytes.HasPrefix(payload, []byte("JFIF\x00"))
		case marker == 0xE1:
			if bytes.HasPrefix(payload, []byte("Exif\x00\x00")) {
				if o := exifOrientation(payload[6:]); o != 0 {
					orient = o
				}
			}
			keep = false
		case marker == 0xE2:
			keep = bytes.HasPrefix(payload, []byte("ICC_PROFILE\x00"))
		case marker == 0xEE:
			keep = bytes.HasPrefix(payload, []byte("Adobe"))
		case marker >= 0xE3 && marker <= 0xEF, marker == 0xFE:
			keep = false
		}
		if !keep {
			removed = true
			continue
		}
		out = append(out, seg...)
		if marker != 0xDA {
			continue
		}
		// Entropy-coded data runs to the next marker other than a stuffed
		// 0xFF00 or a restart marker.
		j := i
		for j < len(data) {
			if data[j] != 0xFF {
				j++
				continue
			}
			if j+1 >= len(data) {
				return nil, 0, false, errCorrupt
			}
			if nb := data[j+1]; nb == 0x00 || (nb >= 0xD0 && nb <= 0xD7) {
				j += 2
				continue
			}
			break
		}
		out = append(out, data[i:j]...)
		i = j
	}
}

// exifOrientation reads tag 0x0112 from IFD0 of a TIFF structure (Exif 2.3
// §4.6.2); 0 if absent or unreadable.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 0
	}
	n := int(bo.Uint16(t[off:]))
	for k := range n {
		e := off + 2 + 12*k
		if e+12 > len(t) {
			return 0
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 {
			if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 0
		}
	}
	return 0
}

// pngKeep are the ancillary chunks that affect rendering; every other
// ancillary chunk (eXIf, tEXt, zTXt, iTXt with XMP, tIME, private chunks)
// is dropped, as is anything after IEND.
var pngKeep = map[string]bool{"tRNS": true, "gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true, "sBIT": true, "pHYs": true, "bKGD": true, "cICP": true}

// stripPNG copies a PNG without metadata chunks and returns the orientation
// of an eXIf chunk (0 if none) and whether anything was removed.
func stripPNG(data []byte) (out []byte, orient int, removed bool, err error) {
	errCorrupt := fmt.Errorf("malformed png")
	if !bytes.HasPrefix(data, pngMagic) {
		return nil, 0, false, errCorrupt
	}
	out = make([]byte, 0, len(data))
	out = append(out, pngMagic...)
	i := len(pngMagic)
	for {
		if i+8 > len(data) {
			return nil, 0, false, errCorrupt
		}
		n := int64(binary.BigEndian.Uint32(data[i:]))
		typ := string(data[i+4 : i+8])
		end := int64(i) + 12 + n
		if n > math.MaxInt32 || end > int64(len(data)) {
			return nil, 0, false, errCorrupt
		}
		chunk := data[i:end]
		i = int(end)
		critical := typ[0] >= 'A' && typ[0] <= 'Z'
		switch {
		case typ == "eXIf":
			orient = exifOrientation(chunk[8 : 8+n])
			removed = true
		case critical || pngKeep[typ]:
			out = append(out, chunk...)
		default:
			removed = true
		}
		if typ == "IEND" {
			if i < len(data) {
				removed = true
			}
			return out, orient, removed, nil
		}
	}
}
