package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/simulate"
)

// stationBrowserKey is the fake's API key: it must never reach the page.
const stationBrowserKey = "leo_BrowserStationKey_0a9f3e"

// TestBrowserStation runs the whole station flow in headless Chromium on
// the daemon's kiosk page, against the fake Legitmark on its own port: an
// authentic tap from a manually tapped simulated reader, "Request
// authentication", category/type/brand, a photo that is too small (refused
// on its card), the front from the (synthetic) camera, then a photo per
// other required side from fixture files (one PNG), progress to "Uploaded", submit, and the live status to "Authentic"
// with the certificate link. It saves a screenshot (station.png) to the
// test's artifact directory and checks that the page logged no errors and
// that neither the API key, a presigned URL nor a session token is in the
// DOM.
func TestBrowserStation(t *testing.T) {
	bin := browserChromium(t)
	start := time.Now()

	fake := legitmarktest.New(legitmarktest.Options{Keys: []string{stationBrowserKey}, AutoAdvance: 300 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithCancel(context.Background())
	fdone := make(chan struct{})
	go func() { legitmarktest.Serve(fctx, ln, fake); close(fdone) }()
	t.Cleanup(func() { fcancel(); <-fdone })
	fakeURL := "http://" + ln.Addr().String()

	base, sim := stationStartDaemon(t, fakeURL)
	photos := stationFixtures(t)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var chromeOut browserLog
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("hide-scrollbars", true),
		// A synthetic camera, granted without a prompt.
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.WindowSize(1280, 1000),
		chromedp.CombinedOutput(&chromeOut),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	var events browserEvents
	tabCtx, cancelTab := chromedp.NewContext(allocCtx,
		chromedp.WithListener(events.handle),
		chromedp.WithErrorf(chromeOut.printf), chromedp.WithLogf(chromeOut.printf))
	defer cancelTab()
	defer func() {
		if t.Failed() {
			t.Logf("chromium output:\n%s", chromeOut.tail(8<<10))
			t.Logf("page errors: %q", events.errors())
		}
	}()

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tabCtx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitJS polls a JavaScript condition.
	waitJS := func(what, expr string) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for {
			ok, err := chromedp.Run(tabCtx, chromedp.Evaluate[bool](expr))
			if err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				html, _ := chromedp.Run(tabCtx, chromedp.Evaluate[string](`(document.querySelector('[data-testid="station"]')||document.body).outerHTML`))
				t.Fatalf("waiting for %s (%s): %v\nstation: %.3000s", what, expr, err, html)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	run("navigate", chromedp.Navigate(base))
	waitJS("the station section", `!document.querySelector('[data-testid="station"]').hidden`)
	if err := sim.Tap(context.Background(), simulate.Genuine); err != nil {
		t.Fatal(err)
	}
	waitJS("the start button after an authentic tap", `!document.querySelector('[data-testid="station-start"]').hidden`)
	run("start", chromedp.Click(chromedp.CSS(`[data-testid="station-start"]`)))
	waitJS("the category list", `document.querySelectorAll('[data-testid="station-category"] option').length > 1`)
	pick := func(testid, name string) {
		t.Helper()
		ok, err := chromedp.Run(tabCtx, chromedp.Evaluate[bool](`(() => {
			const s = document.querySelector('[data-testid="`+testid+`"]');
			const o = [...s.options].find((o) => o.textContent === "`+name+`");
			if (!o) return false;
			s.value = o.value;
			s.dispatchEvent(new Event("change"));
			return true;
		})()`))
		if err != nil || !ok {
			t.Fatalf("pick %s in %s: %v, %v", name, testid, ok, err)
		}
	}
	pick("station-category", "Footwear")
	pick("station-type", "Sneakers")
	pick("station-brand", "Nike")
	run("create", chromedp.Click(chromedp.CSS(`[data-testid="station-create"]`)))
	waitJS("seven capture cards", `document.querySelectorAll('[data-testid="capture-card"][data-required="true"]').length === 7`)
	waitJS("the guide images", `[...document.querySelectorAll('.st-card .st-overlay')].every((i) => i.complete && i.naturalWidth > 0)`)

	card := func(key string) string { return `[data-testid="capture-card"][data-key="` + key + `"]` }
	run("tiny photo", chromedp.SetUploadFiles(chromedp.CSS(card("front")+` input[type="file"]`), []string{photos["tiny"]}))
	waitJS("the refusal of the tiny photo", `document.querySelector('`+card("front")+`').dataset.code === "`+legitmark.ImageTooSmall+`"`)

	// The front from the camera: the viewfinder with its guide, then a shot.
	run("camera", chromedp.Click(chromedp.CSS(card("front")+` [data-testid="card-camera"]`)))
	waitJS("the camera picture", `(() => { const v = document.querySelector('[data-testid="station-camera"] video'); return v && v.videoWidth >= 600 && v.videoHeight >= 600; })()`)
	run("shoot", chromedp.Click(chromedp.CSS(`[data-testid="camera-capture"]`)))
	waitJS("the camera photo uploaded", `document.querySelector('`+card("front")+`').dataset.state === "done"`)
	for _, key := range []string{"back", "left-side", "right-side", "sole", "insole-label", "box-label"} {
		run("photo "+key, chromedp.SetUploadFiles(chromedp.CSS(card(key)+` input[type="file"]`), []string{photos[key]}))
	}
	waitJS("every photo uploaded", `[...document.querySelectorAll('[data-testid="capture-card"][data-required="true"]')].every((c) => c.dataset.state === "done")`)
	waitJS("submit enabled", `!document.querySelector('[data-testid="station-submit"]').disabled`)
	// The cards with their previews and guides, for the record.
	shot(t, tabCtx, "station-photos.png")
	run("submit", chromedp.Click(chromedp.CSS(`[data-testid="station-submit"]`)))
	waitJS("the verdict", `document.querySelector('[data-testid="station-status"]')?.dataset.status === "authentic"`)
	waitJS("the certificate link", `(() => { const a = document.querySelector('[data-testid="station-certificate"]'); return a && !a.hidden && a.href.startsWith("https://"); })()`)
	shot(t, tabCtx, "station.png")

	html, err := chromedp.Run(tabCtx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{stationBrowserKey, "BrowserStationKey", "X-Amz-Signature", "/s3/sr/", fakeURL} {
		if strings.Contains(html, bad) {
			t.Errorf("the page's HTML contains %q", bad)
		}
	}
	for _, tok := range events.tokens() {
		if strings.Contains(html, tok) {
			t.Error("the page's HTML contains the session token")
		}
	}
	if n := fake.Count("sr.submit"); n != 1 {
		t.Errorf("%d submits, want 1", n)
	}
	if errs := events.errors(); len(errs) > 0 {
		t.Errorf("the page logged %d error(s):\n%s", len(errs), strings.Join(errs, "\n"))
	}
	t.Logf("station flow done after %v", time.Since(start).Round(time.Millisecond))
}

// shot saves a full-page screenshot to the test's artifact directory.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(b))
}

// stationStartDaemon runs the daemon with a manually tapped simulated
// reader and [remote.legitmark] pointing at the fake.
func stationStartDaemon(t *testing.T, fakeURL string) (string, *simulate.Source) {
	t.Helper()
	spec := profile.Spec{Name: "station", Match: "https://tags.example/", LayoutSpec: ntag424.LayoutSpec{Mode: "enc"},
		FileReadKey: "5ACE7E50AB65D5D51FD5BF5A16B8205B", MetaReadKey: "0C3B25D92B38AE443229DD59AD34B85D"}
	l, k, err := spec.Parts(false)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simulate.New(simulate.Config{Layout: l, Keys: k, URL: "https://tags.example/t", Dwell: 50 * time.Millisecond, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "legitmark.key")
	if err := os.WriteFile(keyFile, []byte(stationBrowserKey), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Profiles = config.Profiles(spec)
	cfg.Remote.Legitmark = &legitmark.Config{BaseURL: fakeURL, IntentURL: fakeURL + "/intent", APIKeyFile: keyFile,
		StationID: "kiosk-browser", PollMin: time.Second, PollMax: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Config: cfg, StateDir: t.TempDir(), Source: sim, Version: "browser-test",
			Log: zaptest.NewLogger(t), Ready: func(u string) { ready <- u }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon.Run: %v", err)
			}
		case <-time.After(daemon.ShutdownTimeout + 5*time.Second):
			t.Error("daemon.Run did not return after cancel")
		}
	})
	select {
	case u := <-ready:
		return u, sim
	case err := <-done:
		t.Fatalf("daemon.Run: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("daemon not ready")
	}
	return "", nil
}

// stationFixtures writes the fixture photos: one per Sneakers side, named
// after it (box-label a PNG), and a tiny one.
func stationFixtures(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for i, key := range []string{"front", "back", "left-side", "right-side", "sole", "insole-label", "box-label"} {
		m := image.NewRGBA(image.Rect(0, 0, 800, 800))
		for y := range 800 {
			for x := range 800 {
				d := (x-400)*(x-400) + (y-400)*(y-400)
				c := color.RGBA{uint8(40 + i*25), uint8(90 + y/10), uint8(160 - x/8), 255}
				if d < 250*250 && d > 200*200 {
					c = color.RGBA{240, 240, 240, 255}
				}
				m.SetRGBA(x, y, c)
			}
		}
		var b bytes.Buffer
		name := key + ".jpg"
		if key == "box-label" {
			name = key + ".png"
			png.Encode(&b, m)
		} else {
			jpeg.Encode(&b, m, &jpeg.Options{Quality: 90})
		}
		out[key] = filepath.Join(dir, name)
		if err := os.WriteFile(out[key], b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 120, 90)), nil)
	out["tiny"] = filepath.Join(dir, "tiny.jpg")
	os.WriteFile(out["tiny"], b.Bytes(), 0o644)
	return out
}
