package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nfcd/nfcd/internal/ws"
)

var screenshots = flag.String("screenshots", "", "write PNG screenshots of the kiosk page to this directory (needs chromium)")

// chromium returns the path of a Chromium binary, or skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("SKIPPED: no chromium in PATH; the page was not rendered")
	return ""
}

// runChromium runs headless Chromium with extra flags and returns stdout.
func runChromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := []string{
		"--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
	}
	if os.Geteuid() == 0 {
		base = append(base, "--no-sandbox")
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// publishWhile publishes a tag.read with verdict every 50 ms until the
// returned stop function is called, so that a page that connects at any
// moment sees it.
func publishWhile(srv *ws.Server, verdict string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		srv.Publish(ws.TypeReaderAdded, map[string]any{"reader": "ACS ACR1252 1S CL Reader PICC 0"})
		for ctr := 40; ; ctr++ {
			srv.Publish(ws.TypeTagRead, map[string]any{
				"reader": "ACS ACR1252 1S CL Reader PICC 0", "uid": "04A1B2C3D4E5F6", "ctr": ctr,
				"url": "https://shop.example/t?picc_data=00&cmac=00", "verdict": verdict,
				"reason": "bad_mac", "time": time.Now().Format(time.RFC3339Nano),
				"timings": map[string]any{"total_ms": 72.5}, "future_field": []int{1},
			})
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// TestPageInChromium loads the kiosk page from a real ws.Server in headless
// Chromium (so the CSP, the session token and the client all apply) and
// checks the DOM once the daemon's verdicts arrived. It drives Chromium over
// the DevTools protocol: --virtual-time-budget does not wait for
// WebSocket traffic, so a plain --dump-dom would race the connection.
func TestPageInChromium(t *testing.T) {
	bin := chromium(t)
	srv, base := startDaemon(t)
	stop := publishWhile(srv, "counterfeit")
	defer stop()

	page := openDevTools(t, bin, base+"/")
	const probe = `(() => {
		const last = document.querySelector('[data-testid="last-verdict"]');
		const row = document.querySelector('[data-testid="tap-row"]');
		return JSON.stringify({
			state: document.querySelector('[data-testid="connection"]').dataset.state,
			verdict: last.dataset.verdict,
			tone: last.dataset.tone,
			title: document.querySelector('[data-testid="last-title"]').textContent,
			reason: document.querySelector('[data-testid="last-reason"]').textContent,
			row: row ? row.dataset.verdict : "",
			readers: document.querySelectorAll('[data-testid="reader-row"]').length,
		});
	})()`
	want := `{"state":"open","verdict":"counterfeit","tone":"bad","title":"Not genuine",` +
		`"reason":"Its security code does not match: the tag was not made by the brand, or it was altered.","row":"counterfeit","readers":1}`
	var got string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = page.eval(t, probe); got == want {
			return
		}
	}
	t.Fatalf("page state = %s\nwant %s", got, want)
}

// devTools is a DevTools protocol connection to one page.
type devTools struct {
	c  *websocket.Conn
	id int
}

// openDevTools starts headless Chromium on url with a DevTools port and
// connects to the page.
func openDevTools(t *testing.T, bin, url string) *devTools {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// Not t.TempDir: Chromium's helper processes may still be writing to
	// the profile when the test ends, and that must not fail the test.
	profile, err := os.MkdirTemp("", "nfcd-web-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{
		"--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--remote-debugging-port=0", "--user-data-dir=" + profile,
	}
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox")
	}
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cancel()
			<-exited
		}
		for range 20 {
			if os.RemoveAll(profile) == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := regexp.MustCompile(`DevTools listening on ws://([^/]+)/`).FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var hostPort string
	select {
	case hostPort = <-found:
	case <-time.After(20 * time.Second):
		t.Fatal("chromium did not report its DevTools port")
	}
	var targets []struct{ Type, URL, WebSocketDebuggerURL string }
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get("http://" + hostPort + "/json/list")
		if err == nil {
			json.NewDecoder(res.Body).Decode(&targets)
			res.Body.Close()
		}
		for _, tg := range targets {
			if tg.Type == "page" && strings.HasPrefix(tg.URL, url) {
				c, _, err := websocket.DefaultDialer.Dial(tg.WebSocketDebuggerURL, nil)
				if err != nil {
					t.Fatal(err)
				}
				d := &devTools{c: c}
				// Registered after the process cleanup, so it runs first:
				// close the browser politely, then the process exits.
				t.Cleanup(func() {
					d.c.SetWriteDeadline(time.Now().Add(time.Second))
					d.c.WriteJSON(map[string]any{"id": 1 << 30, "method": "Browser.close"})
					d.c.Close()
				})
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no page target for %s in %+v", url, targets)
		}
	}
}

// eval evaluates a JavaScript expression that yields a string.
func (d *devTools) eval(t *testing.T, expr string) string {
	t.Helper()
	d.id++
	msg := map[string]any{"id": d.id, "method": "Runtime.evaluate", "params": map[string]any{"expression": expr, "returnByValue": true}}
	d.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := d.c.WriteJSON(msg); err != nil {
		t.Fatal(err)
	}
	for {
		var r struct {
			ID     int
			Result struct {
				Result struct{ Value any }
			}
		}
		d.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := d.c.ReadJSON(&r); err != nil {
			t.Fatal(err)
		}
		if r.ID == d.id {
			s, _ := r.Result.Result.Value.(string)
			return s
		}
	}
}

// TestScreenshots writes screenshots for review when -screenshots is set.
func TestScreenshots(t *testing.T) {
	if *screenshots == "" {
		t.Skip("set -screenshots DIR to write screenshots")
	}
	bin := chromium(t)
	if err := os.MkdirAll(*screenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := func(name, size, url string, extra ...string) {
		out := filepath.Join(*screenshots, name+".png")
		// Virtual time does not drive CSS animations; without reduced
		// motion a shot can catch one half-way.
		args := append([]string{"--virtual-time-budget=5000", "--force-prefers-reduced-motion", "--window-size=" + size, "--screenshot=" + out}, extra...)
		runChromium(t, bin, append(args, url)...)
		t.Logf("wrote %s", out)
	}
	_, base := startDaemon(t)
	for _, v := range []string{"authentic", "counterfeit", "replayed", "malformed", "unknown_profile"} {
		shot("demo-"+v, "1280,800", base+"/?demo=1&demo_loop=0&demo_verdict="+v)
	}
	shot("demo-authentic-dark", "1280,800", base+"/?demo=1&demo_loop=0&demo_verdict=authentic", "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
	shot("demo-counterfeit-phone", "390,844", base+"/?demo=1&demo_loop=0&demo_verdict=counterfeit")
	shot("idle-no-readers", "1280,800", base+"/")

	srv, base2 := startDaemon(t)
	stop := publishWhile(srv, "authentic")
	shot("live-authentic", "1280,800", base2+"/")
	stop()
}
