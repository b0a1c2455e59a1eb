package legitmark_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
)

func noiseJPEG(tb testing.TB, w, h int, seed uint64) []byte {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 255
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// BenchmarkParallelUpload measures upload throughput to the fake S3 over
// loopback TCP: intent + presigned PUT for 8 sides of ~1 MB, 4 at a time
// (the workflow's limit). MB/s is the figure to report.
func BenchmarkParallelUpload(b *testing.B) {
	f := legitmarktest.New(legitmarktest.Options{Limits: legitmarktest.Limits{AppPerMinute: -1, UserPerMinute: -1, SRPerHour: -1}})
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := legitmark.Config{BaseURL: srv.URL, IntentURL: srv.URL + "/intent", APIKey: legitmarktest.DefaultKey,
		Limits: legitmark.Limits{AppPerMinute: -1, UserPerMinute: -1, SRPerHour: -1}}
	c, err := legitmark.New(cfg, legitmark.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	sr, err := c.CreateSR(ctx, legitmark.CreateSR{ReferenceID: "bench", Category: legitmarktest.CategoryFootwear, Type: legitmarktest.TypeSneakers})
	if err != nil {
		b.Fatal(err)
	}
	sides := append(legitmarktest.SideUUIDs(legitmarktest.CategoryFootwear, true), legitmarktest.SideUUIDs(legitmarktest.CategoryFootwear, false)...)[:8]
	imgs := make([]*legitmark.Image, len(sides))
	var total int64
	for i := range sides {
		img, err := legitmark.PrepareImage(noiseJPEG(b, 1000, 1000, uint64(i)))
		if err != nil {
			b.Fatal(err)
		}
		imgs[i] = img
		total += int64(len(img.Data))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for i, side := range sides {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if err := c.UploadSide(ctx, sr.UUID, side, imgs[i], nil); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}

// BenchmarkPrepareImage measures validation and lossless metadata stripping
// of a phone-sized JPEG (12 MP), the per-photo cost before an upload.
func BenchmarkPrepareImage(b *testing.B) {
	m := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	for y := range 3000 {
		for x := range 4000 {
			m.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := legitmark.PrepareImage(data); err != nil {
			b.Fatal(err)
		}
	}
}
