package legitmark_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"time"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
)

// The station flow against the in-repo fake: create an SR for a tapped item,
// photograph the required sides, submit, and wait for the verdict.
func ExampleWorkflow() {
	fake := legitmarktest.New(legitmarktest.Options{AutoAdvance: time.Millisecond})
	c, err := legitmark.New(legitmark.Config{
		BaseURL:   "https://api.legitmark.test",
		IntentURL: "https://media.legitmark.test/intent",
		APIKey:    legitmarktest.DefaultKey,
		PollMin:   time.Second, PollMax: time.Second,
	}, legitmark.Options{HTTPClient: &http.Client{Transport: fake.Transport()}})
	if err != nil {
		panic(err)
	}
	w := legitmark.NewWorkflow(c, &legitmark.MemJournal{}, nil)
	ctx := context.Background()

	rec, err := w.Create(ctx, legitmark.CreateRequest{Reference: "kiosk42-0001", TagUID: "04A1B2C3D4E5F6",
		Category: legitmarktest.CategoryHandbags, Type: legitmarktest.TypeTote, Brand: legitmarktest.BrandLV})
	if err != nil {
		panic(err)
	}
	req, _ := w.Requirements(ctx, rec.UUID)
	var photos []legitmark.SideImage
	for _, side := range req.Required {
		fmt.Printf("photograph %q (guide %t)\n", side.Name, side.OverlayImage != "")
		var b bytes.Buffer
		_ = jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 600, 600)), nil)
		photos = append(photos, legitmark.SideImage{Side: side.Name, Data: b.Bytes()})
	}
	res, err := w.Upload(ctx, rec.UUID, photos, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("uploaded", len(res.Uploaded), "met", res.Progress.Met)
	if _, err := w.Submit(ctx, rec.UUID); err != nil {
		panic(err)
	}
	st, err := w.Watch(ctx, rec.UUID, nil) // the daemon passes a func that publishes status events

	if err != nil {
		panic(err)
	}
	fmt.Println("state", st.State, "authentic", st.Authentic)
	// Output:
	// photograph "Front" (guide true)
	// photograph "Back" (guide true)
	// photograph "Bottom" (guide true)
	// photograph "Date Code" (guide true)
	// photograph "Hardware" (guide true)
	// uploaded 5 met true
	// state COMPLETE/APPROVED authentic true
}
