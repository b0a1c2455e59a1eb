package legitmark

import (
	"bytes"
	"errors"
	"image/jpeg"
	"image/png"
	"runtime"
	"testing"
)

func TestPrepareImage(t *testing.T) {
	jpg600 := testJPEG(t, 600, 600, false)
	noisePNG := testPNG(t, 1400, 1400, true, false) // ≈ 5.9 MB, incompressible
	if len(noisePNG) <= MaxImageBytes {
		t.Fatalf("fixture: noise PNG is %d bytes, want > %d", len(noisePNG), MaxImageBytes)
	}
	truncJPEG := testJPEG(t, 800, 800, true)
	truncPNG := testPNG(t, 700, 700, true, false)

	tests := []struct {
		name      string
		data      []byte
		limits    ImageLimits
		wantErr   string // ImageError reason, "" for success
		wantFmt   string
		reencoded bool
	}{
		{name: "jpeg 600x600", data: jpg600, wantFmt: "jpeg"},
		{name: "png 600x600", data: testPNG(t, 600, 600, false, false), wantFmt: "png"},
		{name: "png with alpha", data: testPNG(t, 640, 640, false, true), wantFmt: "png"},
		{name: "wrong magic (GIF)", data: []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), wantErr: ImageFormat},
		{name: "wrong magic (text named .jpg)", data: []byte("this is not an image at all"), wantErr: ImageFormat},
		{name: "empty", data: nil, wantErr: ImageCorrupt},
		{name: "599x600", data: testJPEG(t, 599, 600, false), wantErr: ImageTooSmall},
		{name: "600x599 png", data: testPNG(t, 600, 599, false, false), wantErr: ImageTooSmall},
		{name: "huge dimensions png header", data: pngHeaderOnly(100000, 100000), wantErr: ImageTooLarge},
		{name: "huge dimensions jpeg header", data: jpegHeaderOnly(65000, 65000), wantErr: ImageTooLarge},
		{name: "truncated jpeg", data: truncJPEG[:len(truncJPEG)/2], wantErr: ImageCorrupt},
		{name: "truncated jpeg header", data: truncJPEG[:40], wantErr: ImageCorrupt},
		{name: "truncated png", data: truncPNG[:len(truncPNG)*2/3], wantErr: ImageCorrupt},
		{name: "over 5 MB png re-encoded", data: noisePNG, wantFmt: "jpeg", reencoded: true},
		{
			name: "limit + 1 re-encoded", data: noisePNG, wantFmt: "jpeg", reencoded: true,
			limits: ImageLimits{MaxBytes: len(noisePNG) - 1, MinSide: 600, MaxPixels: MaxImagePixels, Quality: 85},
		},
		{
			name: "exactly at limit kept", data: noisePNG, wantFmt: "png",
			limits: ImageLimits{MaxBytes: len(noisePNG), MinSide: 600, MaxPixels: MaxImagePixels, Quality: 85},
		},
		{
			name: "cannot fit", data: noisePNG, wantErr: ImageTooBig,
			limits: ImageLimits{MaxBytes: 1000, MinSide: 600, MaxPixels: MaxImagePixels, Quality: 85},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.limits
			if l.MaxBytes == 0 {
				l = DefaultImageLimits
			}
			img, err := l.Prepare(tc.data)
			if tc.wantErr != "" {
				var ie *ImageError
				if !errors.As(err, &ie) || ie.Code() != tc.wantErr {
					t.Fatalf("Prepare(%s) = %v, want ImageError %s", tc.name, err, tc.wantErr)
				}
				if img != nil {
					t.Errorf("Prepare(%s) returned an image with the error", tc.name)
				}
				if !errors.Is(err, &ImageError{Reason: tc.wantErr}) || ErrorCode(err) != tc.wantErr {
					t.Errorf("errors.Is/ErrorCode(%s) do not match %s", tc.name, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare(%s) = %v, want success", tc.name, err)
			}
			if img.Format != tc.wantFmt || img.Reencoded != tc.reencoded {
				t.Errorf("Prepare(%s) = format %s reencoded %v, want %s %v", tc.name, img.Format, img.Reencoded, tc.wantFmt, tc.reencoded)
			}
			if len(img.Data) > l.MaxBytes {
				t.Errorf("Prepare(%s) = %d bytes, want <= %d", tc.name, len(img.Data), l.MaxBytes)
			}
			if img.Width < 600 || img.Height < 600 {
				t.Errorf("Prepare(%s) = %dx%d, want >= 600x600", tc.name, img.Width, img.Height)
			}
			checkDecodes(t, img)
		})
	}
}

func checkDecodes(t *testing.T, img *Image) {
	t.Helper()
	var err error
	switch img.Format {
	case "jpeg":
		_, err = jpeg.Decode(bytes.NewReader(img.Data))
		if img.ContentType != "image/jpeg" || img.Ext != "jpg" {
			t.Errorf("jpeg content type %s ext %s", img.ContentType, img.Ext)
		}
	case "png":
		_, err = png.Decode(bytes.NewReader(img.Data))
		if img.ContentType != "image/png" || img.Ext != "png" {
			t.Errorf("png content type %s ext %s", img.ContentType, img.Ext)
		}
	}
	if err != nil {
		t.Errorf("prepared image does not decode: %v", err)
	}
}

func TestPrepareImageAlphaFlattenedOnWhite(t *testing.T) {
	// A too-big PNG with alpha becomes a JPEG: transparent pixels turn white,
	// not black.
	data := testPNG(t, 1400, 1400, true, true)
	l := ImageLimits{MaxBytes: len(data) - 1, MinSide: 600, MaxPixels: MaxImagePixels, Quality: 85}
	img, err := l.Prepare(data)
	if err != nil {
		t.Fatal(err)
	}
	m, err := jpeg.Decode(bytes.NewReader(img.Data))
	if err != nil {
		t.Fatal(err)
	}
	r, g, b, _ := m.At(10, 10).RGBA()
	if r>>8 < 240 || g>>8 < 240 || b>>8 < 240 {
		t.Errorf("transparent pixel = %d,%d,%d, want white", r>>8, g>>8, b>>8)
	}
}

func TestPrepareImageStripsGPS(t *testing.T) {
	base := testJPEG(t, 640, 640, false)
	for _, tc := range []struct {
		name   string
		orient uint16
		w, h   int
	}{
		{"upright, lossless strip", 1, 640, 640},
		{"rotated 90, re-encoded upright", 6, 640, 640},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := withSegment(base, exifSegment(tc.orient))
			in = withSegment(in, []byte{0xFF, 0xFE, 0, 12, 'G', 'P', 'S', '-', 'S', 'E', 'C', 'R', 'E', 'T'}) // COM
			in = append(in, []byte("GPS-SECRET trailing MPF image")...)
			if !bytes.Contains(in, []byte("GPS-SECRET")) {
				t.Fatal("fixture has no marker")
			}
			img, err := PrepareImage(in)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(img.Data, []byte("GPS-SECRET")) || bytes.Contains(img.Data, []byte("Exif\x00\x00")) {
				t.Errorf("prepared image still carries Exif/GPS metadata")
			}
			if !img.Stripped {
				t.Errorf("Stripped = false")
			}
			if wantRe := tc.orient != 1; img.Reencoded != wantRe {
				t.Errorf("Reencoded = %v, want %v", img.Reencoded, wantRe)
			}
			if tc.orient == 1 && len(img.Data) != len(base) {
				// Lossless: exactly the original JPEG without the inserted segments.
				t.Errorf("stripped size %d, want the original %d", len(img.Data), len(base))
			}
			checkDecodes(t, img)
		})
	}
}

func TestPrepareImageOrientation(t *testing.T) {
	// A 900×600 landscape sensor image tagged "rotate 90 CW" is a 600×900
	// portrait photo.
	in := withSegment(testJPEG(t, 900, 600, false), exifSegment(6))
	img, err := PrepareImage(in)
	if err != nil {
		t.Fatal(err)
	}
	if img.Width != 600 || img.Height != 900 {
		t.Errorf("oriented size = %dx%d, want 600x900", img.Width, img.Height)
	}
}

func TestPrepareImageStripsPNGMetadata(t *testing.T) {
	p := testPNG(t, 600, 600, false, false)
	// Insert eXIf and tEXt chunks after IHDR (8 + 25 bytes).
	exif := exifSegment(1)[4+6:] // TIFF part
	var in []byte
	in = append(in, p[:33]...)
	in = append(in, pngChunk("eXIf", exif)...)
	in = append(in, pngChunk("tEXt", []byte("Location\x00GPS-SECRET"))...)
	in = append(in, p[33:]...)
	img, err := PrepareImage(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(img.Data, []byte("GPS-SECRET")) || bytes.Contains(img.Data, []byte("eXIf")) {
		t.Errorf("PNG metadata not stripped")
	}
	if !bytes.Equal(img.Data, p) {
		t.Errorf("stripped PNG differs from the original without the chunks")
	}
}

func TestPrepareImageBombCostsNothing(t *testing.T) {
	bomb := pngHeaderOnly(60000, 60000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := PrepareImage(bomb)
	runtime.ReadMemStats(&after)
	if ErrorCode(err) != ImageTooLarge {
		t.Fatalf("Prepare(bomb) = %v, want %s", err, ImageTooLarge)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("Prepare(bomb) allocated %d bytes before refusing, want < 1 MiB", d)
	}
}

// FuzzPrepareImage: no panic, no hang; an error is an *ImageError with no
// image; a result decodes, fits the limits and carries no Exif/text
// metadata. Small limits let the fuzzer reach the strip and re-encode
// paths.
func FuzzPrepareImage(f *testing.F) {
	f.Add(testJPEG(f, 8, 8, false))
	f.Add(withSegment(testJPEG(f, 12, 10, false), exifSegment(6)))
	f.Add(testPNG(f, 8, 8, false, true))
	f.Add(pngHeaderOnly(5000, 5000))
	f.Add(jpegHeaderOnly(20, 20))
	f.Add([]byte("GIF89a"))
	l := ImageLimits{MaxBytes: 2048, MinSide: 4, MaxPixels: 1 << 16, Quality: 85}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := l.Prepare(data)
		if err != nil {
			var ie *ImageError
			if !errors.As(err, &ie) || img != nil {
				t.Fatalf("Prepare error %v (%T) with image %v", err, err, img != nil)
			}
			return
		}
		if len(img.Data) > l.MaxBytes || img.Width < l.MinSide || img.Height < l.MinSide {
			t.Fatalf("result %d bytes %dx%d outside the limits", len(img.Data), img.Width, img.Height)
		}
		var derr error
		if img.Format == "jpeg" {
			_, derr = jpeg.Decode(bytes.NewReader(img.Data))
			if out, _, _, err := stripJPEG(img.Data); err != nil || !bytes.Equal(out, img.Data) {
				t.Fatalf("result still has strippable JPEG segments (err %v)", err)
			}
		} else {
			_, derr = png.Decode(bytes.NewReader(img.Data))
			if out, _, _, err := stripPNG(img.Data); err != nil || !bytes.Equal(out, img.Data) {
				t.Fatalf("result still has strippable PNG chunks (err %v)", err)
			}
		}
		if derr != nil {
			t.Fatalf("result does not decode: %v", derr)
		}
	})
}
