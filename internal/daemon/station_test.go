package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/station"
)

// stationKey is the fake's API key in these tests: a secret that must never
// reach a frame or a log line.
const stationKey = "leo_DaemonStationKey_7c1e55"

// startFake serves the fake Legitmark on a loopback port until the test
// ends and returns its base URL.
func startFake(t *testing.T, o legitmarktest.Options) (*legitmarktest.Server, string) {
	t.Helper()
	fake := legitmarktest.New(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { legitmarktest.Serve(ctx, ln, fake); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return fake, "http://" + ln.Addr().String()
}

// stationConfig points [remote.legitmark] at a fake, with the key in a
// file.
func stationConfig(t *testing.T, base string) func(*config.Config) {
	keyFile := t.TempDir() + "/legitmark.key"
	if err := os.WriteFile(keyFile, []byte(stationKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) {
		c.Remote.Legitmark = &legitmark.Config{BaseURL: base, IntentURL: base + "/intent", APIKeyFile: keyFile,
			StationID: "kiosk-test", PollMin: time.Second, PollMax: time.Second}
	}
}

func (c *client) request(id, typ string, payload any) map[string]any {
	c.t.Helper()
	b, _ := json.Marshal(map[string]any{"v": 1, "type": typ, "id": id, "payload": payload})
	c.send(string(b))
	return c.next(func(m map[string]any) bool { return m["id"] == id })
}

func (c *client) result(id, typ string, payload any) map[string]any {
	c.t.Helper()
	m := c.request(id, typ, payload)
	if m["type"] != "result" {
		c.t.Fatalf("%s: %v", typ, m)
	}
	return m["payload"].(map[string]any)
}

func stationPhoto(t *testing.T, n int) []byte {
	m := image.NewRGBA(image.Rect(0, 0, 700, 700))
	for y := range 700 {
		for x := range 700 {
			m.SetRGBA(x, y, color.RGBA{uint8(x + n*9), uint8(y), uint8(n * 50), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The station through the daemon: an authentic tap from the simulated
// reader, then an SR created for it, photos sent as binary frames, submit,
// live status to the end — over the daemon's real socket against the fake
// on its own port. No frame and no log line holds the API key or a
// presigned URL, and the guides are served by the daemon.
func TestStationThroughDaemon(t *testing.T) {
	fake, base := startFake(t, legitmarktest.Options{Keys: []string{stationKey}, AutoAdvance: time.Millisecond})
	h := startDaemonWith(t, t.TempDir(), nil, "", stationConfig(t, base))
	cl := h.dial()

	create := map[string]any{"category": legitmarktest.CategoryFootwear, "type": legitmarktest.TypeSneakers, "brand": legitmarktest.BrandNike}
	if m := cl.request("c0", station.TypeCreate, create); m["type"] != "error" || !strings.Contains(fmt.Sprint(m["payload"]), station.CodeNoAuthenticTap) {
		t.Fatalf("create before a tap = %v", m)
	}
	h.tap(simulate.Genuine)
	tr := cl.tagRead()
	if tr["verdict"] != "authentic" {
		t.Fatalf("tap = %v", tr)
	}
	rec := cl.result("c1", station.TypeCreate, create)
	uuid, _ := rec["uuid"].(string)
	if uuid == "" || rec["tag_uid"] != tr["uid"] || !strings.HasPrefix(rec["reference"].(string), "kiosk-test-") {
		t.Fatalf("create = %v (tap uid %v)", rec, tr["uid"])
	}
	req := cl.result("r1", station.TypeRequirements, map[string]string{"uuid": uuid})
	sides := req["required"].([]any)
	if len(sides) != 7 {
		t.Fatalf("%d required sides, want 7", len(sides))
	}
	overlay := sides[0].(map[string]any)["overlay_url"].(string)
	resp, err := http.Get(strings.TrimSuffix(h.url, "/") + overlay)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || len(body) == 0 {
		t.Errorf("guide through the daemon = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	want := map[string]bool{}
	// Progress events arrive among the chunk replies: note them on the way.
	progress := func(m map[string]any) {
		if m["type"] != station.EventUploadProgress {
			return
		}
		p := m["payload"].(map[string]any)
		switch p["stage"] {
		case station.StageDone:
			delete(want, p["side"].(string))
		case station.StageFailed:
			t.Errorf("upload failed: %v", p)
		}
	}
	cl.seen = progress
	for i, s := range sides {
		side := s.(map[string]any)["uuid"].(string)
		want[side] = true
		data := stationPhoto(t, i)
		b := cl.result(fmt.Sprintf("b%d", i), station.TypeUploadBegin, map[string]any{"uuid": uuid, "side": side, "size": len(data)})
		id, chunk := b["upload_id"].(string), int(b["chunk_size"].(float64))
		for seq := 0; seq*chunk < len(data); seq++ {
			part := data[seq*chunk : min(len(data), (seq+1)*chunk)]
			final := (seq+1)*chunk >= len(data)
			hd, _ := json.Marshal(map[string]any{"v": 1, "type": station.TypeUploadChunk, "id": fmt.Sprintf("k%d.%d", i, seq),
				"payload": map[string]any{"upload_id": id, "seq": seq, "final": final}})
			frame := append(binary.BigEndian.AppendUint16(nil, uint16(len(hd))), hd...)
			if err := cl.c.WriteMessage(websocket.BinaryMessage, append(frame, part...)); err != nil {
				t.Fatal(err)
			}
			if m := cl.next(func(m map[string]any) bool { return m["id"] == fmt.Sprintf("k%d.%d", i, seq) }); m["type"] != "result" {
				t.Fatalf("chunk: %v", m)
			}
		}
	}
	for len(want) > 0 && !t.Failed() {
		cl.next(func(m map[string]any) bool { return m["type"] == station.EventUploadProgress })
	}
	sub := cl.result("s1", station.TypeSubmit, map[string]string{"uuid": uuid})
	if sub["phase"] != "submitted" {
		t.Fatalf("submit = %v", sub)
	}
	for {
		m := cl.next(func(m map[string]any) bool { return m["type"] == station.EventStatus })
		p := m["payload"].(map[string]any)
		if p["final"] == true {
			if p["authentic"] != true || !strings.HasPrefix(fmt.Sprint(p["certificate_url"]), "https://") {
				t.Errorf("final status = %v", p)
			}
			break
		}
	}
	if n := fake.Count("sr.submit"); n != 1 {
		t.Errorf("%d submits", n)
	}

	cl.mu.Lock()
	frames := strings.Join(cl.frames, "\n")
	cl.mu.Unlock()
	for _, bad := range []string{stationKey, "DaemonStationKey", "X-Amz-Signature", "/s3/sr/"} {
		if strings.Contains(frames, bad) {
			t.Errorf("a frame carries %q", bad)
		}
	}
	for _, e := range h.logs.All() {
		line := fmt.Sprintf("%s %v", e.Message, e.ContextMap())
		if strings.Contains(line, "DaemonStationKey") || strings.Contains(line, "X-Amz-Signature=") {
			t.Errorf("a log line carries a secret: %s", line)
		}
	}
}
