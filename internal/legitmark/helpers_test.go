package legitmark_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
)

const (
	testBase   = "https://api.legitmark.test"
	testIntent = "https://media.legitmark.test/intent"
)

func testConfig() legitmark.Config {
	return legitmark.Config{BaseURL: testBase, IntentURL: testIntent, APIKey: legitmarktest.DefaultKey}
}

// newClient returns a client that reaches f in-process.
func newClient(t testing.TB, f *legitmarktest.Server, cfg legitmark.Config, o legitmark.Options) *legitmark.Client {
	t.Helper()
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: f.Transport()}
	}
	if o.Log == nil {
		o.Log = zaptest.NewLogger(t)
	}
	c, err := legitmark.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// maxInWindow returns the largest number of times that fall in any window
// (t-w, t] — the fake's sliding-window rule.
func maxInWindow(times []time.Time, w time.Duration) int {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	best, lo := 0, 0
	for hi := range times {
		for !times[lo].After(times[hi].Add(-w)) {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func routes(f *legitmarktest.Server, route string) []legitmarktest.Request {
	var out []legitmarktest.Request
	for _, r := range f.Requests() {
		if route == "" || r.Route == route {
			out = append(out, r)
		}
	}
	return out
}

var (
	sampleOnce sync.Once
	sample     []byte
)

// sampleJPEG is a 640×640 gradient JPEG (≈ 20 kB), valid for upload.
func sampleJPEG(t testing.TB) []byte {
	sampleOnce.Do(func() {
		m := image.NewRGBA(image.Rect(0, 0, 640, 640))
		for y := range 640 {
			for x := range 640 {
				m.SetRGBA(x, y, color.RGBA{uint8(x / 3), uint8(y / 3), 90, 255})
			}
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
			panic(err)
		}
		sample = b.Bytes()
	})
	return sample
}

// variantJPEG is a 640×640 JPEG whose pixels depend on n, so that images
// for different sides have different digests.
func variantJPEG(t testing.TB, n int) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, 640, 640))
	for y := range 640 {
		for x := range 640 {
			m.SetRGBA(x, y, color.RGBA{uint8(x/3 + n), uint8(y / 3), uint8(n * 7), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func mustCreate(t testing.TB, c *legitmark.Client, ref, category, typ string) legitmark.SR {
	t.Helper()
	sr, err := c.CreateSR(t.Context(), legitmark.CreateSR{ReferenceID: ref, Category: category, Type: typ})
	if err != nil {
		t.Fatalf("CreateSR(%s) = %v", ref, err)
	}
	return sr
}
