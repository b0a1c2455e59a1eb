package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/ws"
	"github.com/nfcd/nfcd/web"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerServesFiles(t *testing.T) {
	h := web.Handler()
	tests := []struct {
		path, file, contentType string
	}{
		{"/", "index.html", "text/html; charset=utf-8"},
		{"/?demo=1", "index.html", "text/html; charset=utf-8"},
		{"/index.html", "index.html", "text/html; charset=utf-8"},
		{"/app.js", "app.js", "text/javascript; charset=utf-8"},
		{"/nfcd-client.js", "nfcd-client.js", "text/javascript; charset=utf-8"},
		{"/demo.js", "demo.js", "text/javascript; charset=utf-8"},
		{"/strings.js", "strings.js", "text/javascript; charset=utf-8"},
		{"/sound.js", "sound.js", "text/javascript; charset=utf-8"},
		{"/style.css", "style.css", "text/css; charset=utf-8"},
		{"/favicon.svg", "favicon.svg", "image/svg+xml"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			want, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			res := get(t, h, http.MethodGet, tc.path, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", tc.path, res.StatusCode)
			}
			if string(body) != string(want) {
				t.Errorf("GET %s: body differs from %s", tc.path, tc.file)
			}
			for k, v := range map[string]string{
				"Content-Type":            tc.contentType,
				"Cache-Control":           "no-cache",
				"X-Content-Type-Options":  "nosniff",
				"Content-Security-Policy": web.ContentSecurityPolicy,
				"Referrer-Policy":         "no-referrer",
			} {
				if got := res.Header.Get(k); got != v {
					t.Errorf("GET %s: %s = %q, want %q", tc.path, k, got, v)
				}
			}
			etag := res.Header.Get("ETag")
			if etag == "" {
				t.Fatalf("GET %s: no ETag", tc.path)
			}
			res = get(t, h, http.MethodGet, tc.path, map[string]string{"If-None-Match": etag})
			if res.StatusCode != http.StatusNotModified {
				t.Errorf("GET %s with If-None-Match: status %d, want 304", tc.path, res.StatusCode)
			}
			res = get(t, h, http.MethodHead, tc.path, nil)
			body, _ = io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK || len(body) != 0 || res.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("HEAD %s: status %d, %d body bytes, type %q; want 200, 0, %q",
					tc.path, res.StatusCode, len(body), res.Header.Get("Content-Type"), tc.contentType)
			}
		})
	}
}

func TestHandlerRejects(t *testing.T) {
	h := web.Handler()
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"unknown", http.MethodGet, "/nope", http.StatusNotFound},
		{"go source", http.MethodGet, "/web.go", http.StatusNotFound},
		{"go test", http.MethodGet, "/web_test.go", http.StatusNotFound},
		{"js test", http.MethodGet, "/nfcd-client.test.mjs", http.StatusNotFound},
		{"testdata", http.MethodGet, "/testdata/e2e.mjs", http.StatusNotFound},
		{"traversal", http.MethodGet, "/../go.mod", http.StatusNotFound},
		{"trailing slash", http.MethodGet, "/index.html/", http.StatusNotFound},
		{"double slash", http.MethodGet, "//app.js", http.StatusNotFound},
		{"api path", http.MethodGet, "/v1/other", http.StatusNotFound},
		{"post", http.MethodPost, "/", http.StatusMethodNotAllowed},
		{"delete", http.MethodDelete, "/app.js", http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := get(t, h, tc.method, tc.path, nil)
			if res.StatusCode != tc.status {
				t.Fatalf("%s %s: status %d, want %d", tc.method, tc.path, res.StatusCode, tc.status)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s %s: no nosniff header", tc.method, tc.path)
			}
			if ct := res.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") {
				t.Errorf("%s %s: error served as %q", tc.method, tc.path, ct)
			}
			if tc.status == http.StatusMethodNotAllowed && res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: Allow = %q, want \"GET, HEAD\"", tc.method, tc.path, res.Header.Get("Allow"))
			}
		})
	}
}

// TestPageIsSelfContained checks what the CSP demands: every file the page
// references is served, nothing comes from another origin, and there is no
// inline script or style.
func TestPageIsSelfContained(t *testing.T) {
	h := web.Handler()
	html, err := os.ReadFile("index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"#][^"]*)"`).FindAllStringSubmatch(string(html), -1)
	js, _ := os.ReadFile("app.js")
	refs = append(refs, regexp.MustCompile(`(?:from|import\()\s*"\./([^"]+)"`).FindAllStringSubmatch(string(js), -1)...)
	if len(refs) < 5 {
		t.Fatalf("found only %d references in index.html and app.js: %q", len(refs), refs)
	}
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, "://") || strings.HasPrefix(ref, "//") {
			t.Errorf("index.html references another origin: %q", ref)
			continue
		}
		path := "/" + strings.TrimPrefix(ref, "./")
		if res := get(t, h, http.MethodGet, path, nil); res.StatusCode != http.StatusOK {
			t.Errorf("reference %q: GET %s = %d, want 200", ref, path, res.StatusCode)
		}
	}
	for _, bad := range []string{"<style", " style=", "javascript:", " onclick=", " onload="} {
		if strings.Contains(string(html), bad) {
			t.Errorf("index.html contains %q, which the CSP blocks", bad)
		}
	}
	if n := strings.Count(string(html), "<script"); n != 1 || !strings.Contains(string(html), `<script type="module" src="app.js"></script>`) {
		t.Errorf("index.html has %d script tags; want exactly the app.js module", n)
	}
	css, _ := os.ReadFile("style.css")
	if regexp.MustCompile(`@import|url\(`).Match(css) {
		t.Error("style.css loads external resources (@import or url())")
	}
	for _, name := range []string{"nfcd-client.js", "app.js", "demo.js", "strings.js", "sound.js"} {
		src, _ := os.ReadFile(name)
		if regexp.MustCompile(`console\.(log|info|debug)`).Match(src) {
			t.Errorf("%s logs to the console; the client must never risk logging a token", name)
		}
	}
}

// TestJSClient runs the JavaScript client's unit tests under Node.
func TestJSClient(t *testing.T) {
	node := nodeOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--test", "nfcd-client.test.mjs").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test nfcd-client.test.mjs: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^# fail 0$`).Match(out) || !regexp.MustCompile(`(?m)^# pass [1-9]`).Match(out) {
		t.Fatalf("node --test reported no passing tests or some failures:\n%s", out)
	}
	t.Logf("%s", regexp.MustCompile(`(?m)^# (tests|pass|fail) \d+$`).FindAll(out, -1))
}

func nodeOrSkip(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: node not found in PATH; the JavaScript client tests did NOT run (install Node ≥ 20)")
	}
	out, err := exec.Command(node, "--version").Output()
	var major int
	if err == nil {
		fmt.Sscanf(string(out), "v%d", &major)
	}
	if major < 20 {
		t.Skipf("SKIPPED: node %s is older than v20; the JavaScript client tests did NOT run", strings.TrimSpace(string(out)))
	}
	return node
}

// register adds the daemon's requests the JS client tests use.
func register(s *ws.Server) {
	s.Handle("readers.list", func(context.Context, *ws.Request) (any, error) {
		return map[string]any{"readers": []map[string]string{{"name": "R1"}}}, nil
	}, ws.HandlerOptions{})
	s.Handle("history.query", func(_ context.Context, r *ws.Request) (any, error) {
		var p struct{ Limit int }
		if err := json.Unmarshal(r.Payload, &p); err != nil || p.Limit < 0 {
			return nil, fmt.Errorf("history query: %w", ws.ErrBadRequest)
		}
		out := make([]map[string]any, p.Limit)
		for i := range out {
			out[i] = map[string]any{"uid": "04AA", "ctr": i, "verdict": "authentic"}
		}
		return map[string]any{"entries": out}, nil
	}, ws.HandlerOptions{})
}

// startDaemon runs a real ws.Server with web.Handler as its static handler
// on a loopback port and returns its http://127.0.0.1:PORT base.
func startDaemon(t *testing.T) (*ws.Server, string) {
	t.Helper()
	srv, err := ws.NewServer(ws.Config{
		Addr: "127.0.0.1:0",
		Hello: func() ws.HelloInfo {
			return ws.HelloInfo{ServerVersion: "test", Readers: []map[string]string{{"name": "R1"}}, VerdictKeyID: "kid"}
		},
		Static: web.Handler(),
		// No CheckToken: only single-use session tokens from /v1/session.
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	register(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, "http://" + ln.Addr().String()
}

// TestServedByDaemon serves the page through the real ws.Server: the Host
// check applies, and the page's session endpoint exists.
func TestServedByDaemon(t *testing.T) {
	_, base := startDaemon(t)
	res, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
		t.Fatalf("GET / via daemon: status %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/app.js", nil)
	req.Host = "evil.example:7424"
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("GET /app.js with a foreign Host: status %d, want 403", res.StatusCode)
	}
}

// TestClientAgainstServer drives nfcd-client.js under Node's WebSocket
// against the real server: session token, subprotocols, hello, live
// events, a dropped connection with resume, and request/error mapping.
func TestClientAgainstServer(t *testing.T) {
	node := nodeOrSkip(t)
	srv, base := startDaemon(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--experimental-websocket", "--no-warnings", "testdata/e2e.mjs")
	cmd.Env = append(os.Environ(), "NFCD_HTTP="+base)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("node: %v\nstderr:\n%s", err, stderr.String())
		}
	}()
	expect := func(ev string) map[string]any {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("node exited while waiting for %q; stderr:\n%s", ev, stderr.String())
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil || m["ev"] != ev {
				t.Fatalf("node said %s, want event %q", l, ev)
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q from node within 10 s; stderr:\n%s", ev, stderr.String())
		}
		return nil
	}
	send := func(c string) { io.WriteString(stdin, c+"\n") }
	tap := func(uid string) map[string]any {
		return map[string]any{"reader": "R1", "uid": uid, "ctr": 1, "verdict": "authentic"}
	}

	open := expect("open")
	if open["stream"] != srv.Stream() || open["protocol"] != ws.Subprotocol {
		t.Fatalf("open = %v, want stream %q and protocol %q", open, srv.Stream(), ws.Subprotocol)
	}

	srv.Publish(ws.TypeTagRead, tap("A"))
	if m := expect("tag.read"); m["uid"] != "A" || m["seq"] != 1.0 || m["replayed"] != false {
		t.Fatalf("live tag.read = %v, want uid A, seq 1, not replayed", m)
	}

	send("drop")
	expect("dropped")
	srv.Publish(ws.TypeTagRead, tap("B"))
	srv.Publish(ws.TypeCardRemoved, map[string]any{"reader": "R1"})
	srv.Publish(ws.TypeTagRead, tap("C"))
	send("go")
	// "reopened" is printed on the state change to open, which comes with
	// the resume result and so may precede the replayed events.
	var replayed []string
	reopened := false
	for len(replayed) < 2 || !reopened {
		select {
		case l := <-lines:
			var m map[string]any
			json.Unmarshal([]byte(l), &m)
			switch {
			case m["ev"] == "reopened":
				reopened = true
			case m["ev"] == "tag.read" && m["replayed"] == true:
				replayed = append(replayed, fmt.Sprintf("%v@%v", m["uid"], m["seq"]))
			default:
				t.Fatalf("after resume: node said %s, want replayed tag.read events", l)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("after resume: got %v; stderr:\n%s", replayed, stderr.String())
		}
	}
	if got := strings.Join(replayed, " "); got != "B@2 C@4" {
		t.Fatalf("replayed after resume: %s, want B@2 C@4", got)
	}
	srv.Publish(ws.TypeTagRead, tap("D"))
	if m := expect("tag.read"); m["uid"] != "D" || m["seq"] != 5.0 || m["replayed"] != false {
		t.Fatalf("live tag.read after resume = %v, want uid D, seq 5", m)
	}

	send("requests")
	r := expect("requests")
	if got, _ := json.Marshal([]any{r["readers"], r["history"], r["bad"], r["ping"]}); string(got) !=
		`[[{"name":"R1"}],[{"ctr":0,"uid":"04AA","verdict":"authentic"},{"ctr":1,"uid":"04AA","verdict":"authentic"}],"bad_request",5]` {
		t.Errorf("requests = %s", got)
	}
	send("quit")
	if m := expect("closed"); m["state"] != "closed" {
		t.Errorf("after close: %v", m)
	}
}
