package ws_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/ws"
)

func TestHello(t *testing.T) {
	ts := startServer(t, nil)
	ts.Publish(ws.TypeReaderAdded, map[string]string{"reader": "R1"})
	c, resp, err := ts.dialRaw(dialOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Subprotocol(); got != ws.Subprotocol {
		t.Errorf("selected subprotocol %q, want %q", got, ws.Subprotocol)
	}
	if got := resp.Header.Values("Sec-Websocket-Protocol"); len(got) != 1 || got[0] != ws.Subprotocol {
		t.Errorf("response Sec-WebSocket-Protocol = %q, want only %q", got, ws.Subprotocol)
	}
	cl := &client{t: t, c: c}
	f := cl.read()
	if f.Type != ws.TypeHello || f.Seq != 1 {
		t.Fatalf("hello = %+v, want type hello seq 1", f)
	}
	var p struct {
		Server        string   `json:"server"`
		Protocols     []int    `json:"protocols"`
		Stream        string   `json:"stream"`
		Readers       []string `json:"readers"`
		VerdictKeyID  string   `json:"verdict_key_id"`
		MaxFrameBytes int      `json:"max_frame_bytes"`
		HistorySize   int      `json:"history_size"`
	}
	if err := json.Unmarshal(f.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.Server != "0.0.0-test" || len(p.Protocols) != 1 || p.Protocols[0] != 1 || p.Stream != ts.Stream() ||
		len(p.Readers) != 2 || p.VerdictKeyID != "kid-1" || p.MaxFrameBytes != ws.MaxFrameBytes || p.HistorySize != 1024 {
		t.Errorf("hello payload = %s", f.Payload)
	}
}

func TestRequests(t *testing.T) {
	ts := startServer(t, nil)
	cl := ts.dial(t)
	ts.Publish(ws.TypeCardPresent, map[string]string{"reader": "R1"})
	tests := []struct {
		name    string
		typ     string
		payload any
		want    string // JSON of the result payload, or "error:<code>"
	}{
		{"ping", ws.TypePing, nil, `{"seq":1}`},
		{"ping with payload", ws.TypePing, map[string]int{"x": 1}, `{"seq":1}`},
		{"readers.list", typeReadersList, nil, `{"readers":[{"name":"R1"},{"name":"R2"}]}`},
		{"history.query", typeHistoryQuery, map[string]int{"limit": 3}, `{"entries":[0,1,2]}`},
		{"history.query bad query", typeHistoryQuery, map[string]int{"limit": -1}, "error:bad_request"},
		{"history.query backend failure", typeHistoryQuery, map[string]bool{"fail": true}, "error:internal"},
		{"subscribe bad filter", ws.TypeSubscribe, map[string]any{"types": "tag.read"}, "error:bad_request"},
		{"subscribe empty type", ws.TypeSubscribe, map[string]any{"types": []string{""}}, "error:bad_request"},
		{"resume without since", ws.TypeResume, map[string]any{}, "error:bad_request"},
		{"subscribe", ws.TypeSubscribe, map[string]any{"types": []string{ws.TypeTagRead}}, `{"seq":1}`},
		{"resume after subscribe", ws.TypeResume, map[string]any{"since": 0}, "error:bad_request"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl.t = t
			id := "req-" + string(rune('a'+i))
			f := cl.call(tc.typ, id, tc.payload)
			if code, ok := strings.CutPrefix(tc.want, "error:"); ok {
				if got := errorCode(t, f); got != code {
					t.Errorf("%s(%v) error code = %q, want %q", tc.typ, tc.payload, got, code)
				}
				return
			}
			if f.Type != ws.TypeResult || f.Seq != 0 {
				t.Fatalf("%s(%v) = %s %s, want result without seq", tc.typ, tc.payload, f.Type, f.Payload)
			}
			if string(f.Payload) != tc.want {
				t.Errorf("%s(%v) = %s, want %s", tc.typ, tc.payload, f.Payload, tc.want)
			}
		})
	}
	// The backend's error text is logged, never sent.
	for _, b := range cl.frames {
		if strings.Contains(string(b), "bbolt") {
			t.Errorf("frame leaks backend error: %s", b)
		}
	}
	if ts.logs.FilterMessage("request failed").Len() != 1 {
		t.Errorf("backend failure was not logged")
	}
}

func TestBadFrames(t *testing.T) {
	ts := startServer(t, nil)
	cl := ts.dial(t)
	big := `{"v":1,"type":"ping","id":"big","payload":{"pad":"` + strings.Repeat("x", ws.MaxFrameBytes) + `"}}`
	exact := `{"v":1,"type":"ping","id":"exact","payload":{}}`
	exact += strings.Repeat(" ", ws.MaxFrameBytes-len(exact))
	tests := []struct {
		name   string
		frame  string
		binary bool
		id     string // expected reply id
		want   string // error code, or "" for a result
	}{
		{"not json", `hello`, false, "", "bad_json"},
		{"truncated", `{"v":1,"type":"ping"`, false, "", "bad_json"},
		{"array", `[1,2,3]`, false, "", "bad_json"},
		{"empty", ``, false, "", "bad_json"},
		{"unknown type", `{"v":1,"type":"card.present","id":"u1"}`, false, "u1", "unknown_type"},
		{"wrong version", `{"v":2,"type":"ping","id":"v2"}`, false, "v2", "bad_request"},
		{"missing version", `{"type":"ping","id":"nov"}`, false, "nov", "bad_request"},
		{"missing type", `{"v":1,"id":"not"}`, false, "not", "bad_request"},
		{"missing id", `{"v":1,"type":"ping"}`, false, "", "bad_request"},
		{"numeric id", `{"v":1,"type":"ping","id":7}`, false, "", "bad_request"},
		{"long id", `{"v":1,"type":"ping","id":"` + strings.Repeat("i", 129) + `"}`, false, "", "bad_request"},
		{"array payload", `{"v":1,"type":"ping","id":"ap","payload":[]}`, false, "ap", "bad_request"},
		{"binary", `{"v":1,"type":"ping","id":"b"}`, true, "", "binary_unsupported"},
		{"oversize", big, false, "", "too_large"},
		{"exactly 64 KiB", exact, false, "exact", ""},
		{"still usable", `{"v":1,"type":"ping","id":"ok"}`, false, "ok", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl.t = t
			mt := websocket.TextMessage
			if tc.binary {
				mt = websocket.BinaryMessage
			}
			if err := cl.c.WriteMessage(mt, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			f := cl.read()
			if f.ID != tc.id {
				t.Errorf("reply to %s has id %q, want %q", tc.name, f.ID, tc.id)
			}
			if tc.want == "" {
				if f.Type != ws.TypeResult {
					t.Errorf("reply to %s = %s %s, want result", tc.name, f.Type, f.Payload)
				}
				return
			}
			if got := errorCode(t, f); got != tc.want {
				t.Errorf("reply to %s: code %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

func TestHardFrameLimit(t *testing.T) {
	ts := startServer(t, nil)
	cl := ts.dial(t)
	cl.sendRaw(strings.Repeat("x", 1<<20+1))
	if got := cl.readClose(); got != ws.CloseMessageTooBig {
		t.Errorf("close code after 1 MiB+1 frame = %d, want %d", got, ws.CloseMessageTooBig)
	}
}

func TestSubscribeFilter(t *testing.T) {
	ts := startServer(t, nil)
	all := ts.dial(t)
	some := ts.dial(t)
	none := ts.dial(t) // never subscribes
	all.call(ws.TypeSubscribe, "s", nil)
	some.call(ws.TypeSubscribe, "s", map[string]any{
		"readers": []string{"R1"}, "types": []string{ws.TypeTagRead, ws.TypeError},
	})
	type pub struct {
		typ     string
		payload any
	}
	pubs := []pub{
		{ws.TypeTagRead, tagPayload("R1", 1)},                             // some
		{ws.TypeTagRead, tagPayload("R2", 2)},                             // wrong reader
		{ws.TypeCardPresent, map[string]string{"reader": "R1"}},           // wrong type
		{ws.TypeError, map[string]string{"code": "pcsc", "message": "x"}}, // no reader: passes
		{ws.TypeTagRead, json.RawMessage(`{"reader":"R1","n":5}`)},        // some
		{ws.TypeTagRead, map[string]any{"reader": 7}},                     // non-string reader: passes
	}
	for _, p := range pubs {
		ts.Publish(p.typ, p.payload)
	}
	for i := range pubs {
		if f := all.read(); f.Seq != uint64(i+1) {
			t.Errorf("unfiltered client got seq %d, want %d", f.Seq, i+1)
		}
	}
	var got []uint64
	for range 4 {
		f, err := some.readErr()
		if err != nil {
			t.Fatalf("filtered client: %v after seqs %v", err, got)
		}
		got = append(got, f.Seq)
	}
	if want := []uint64{1, 4, 5, 6}; !equalSeqs(got, want) {
		t.Errorf("filtered client got seqs %v, want %v", got, want)
	}
	if f := none.call(ws.TypePing, "p", nil); f.Type != ws.TypeResult {
		t.Errorf("unsubscribed client got %s before its ping result, want no events", f.Type)
	}
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestResume(t *testing.T) {
	ts := startServer(t, nil)
	cl := ts.dial(t)
	cl.call(ws.TypeSubscribe, "s", nil)
	for i := 1; i <= 3; i++ {
		ts.Publish(ws.TypeTagRead, tagPayload("R1", i))
	}
	var last uint64
	for range 3 {
		last = cl.read().Seq
	}
	cl.c.Close()
	for i := 4; i <= 6; i++ {
		ts.Publish(ws.TypeTagRead, tagPayload("R1", i))
	}

	cl2 := ts.dial(t)
	f := cl2.call(ws.TypeResume, "r", map[string]any{"since": last, "stream": ts.Stream()})
	if f.Type != ws.TypeResult || string(f.Payload) != `{"replayed":3,"seq":6}` {
		t.Fatalf("resume(since %d) = %s %s, want result {replayed:3,seq:6}", last, f.Type, f.Payload)
	}
	ts.Publish(ws.TypeTagRead, tagPayload("R1", 7))
	for want := uint64(4); want <= 7; want++ {
		f := cl2.read()
		if f.Type != ws.TypeTagRead || f.Seq != want {
			t.Fatalf("after resume got %s seq %d, want tag.read seq %d", f.Type, f.Seq, want)
		}
		var p struct{ N uint64 }
		json.Unmarshal(f.Payload, &p)
		if p.N != want {
			t.Errorf("replayed event %d has payload %s", want, f.Payload)
		}
	}

	// Resuming at the head replays nothing; a filter applies to the replay.
	cl3 := ts.dial(t)
	if f := cl3.call(ws.TypeResume, "r", map[string]any{"since": 7}); string(f.Payload) != `{"replayed":0,"seq":7}` {
		t.Errorf("resume(since 7) = %s", f.Payload)
	}
	cl4 := ts.dial(t)
	if f := cl4.call(ws.TypeResume, "r", map[string]any{"since": 0, "types": []string{ws.TypeCardPresent}}); string(f.Payload) != `{"replayed":0,"seq":7}` {
		t.Errorf("filtered resume(since 0) = %s", f.Payload)
	}
}

func TestResumeGap(t *testing.T) {
	ts := startServer(t, func(c *ws.Config) { c.HistorySize = 4 })
	for i := 1; i <= 10; i++ {
		ts.Publish(ws.TypeTagRead, tagPayload("R1", i))
	}
	tests := []struct {
		name    string
		payload map[string]any
		gap     bool
	}{
		{"too old", map[string]any{"since": 2}, true},
		{"just too old", map[string]any{"since": 5}, true},
		{"oldest kept", map[string]any{"since": 6}, false},
		{"future (daemon restarted)", map[string]any{"since": 11}, true},
		{"other stream", map[string]any{"since": 8, "stream": "0123456789abcdef"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl := ts.dial(t)
			f := cl.call(ws.TypeResume, "r", tc.payload)
			if !tc.gap {
				if f.Type != ws.TypeResult || string(f.Payload) != `{"replayed":4,"seq":10}` {
					t.Errorf("resume(%v) = %s %s, want 4 replayed", tc.payload, f.Type, f.Payload)
				}
				return
			}
			if got := errorCode(t, f); got != "gap" {
				t.Fatalf("resume(%v) code %q, want gap", tc.payload, got)
			}
			var p errPayload
			json.Unmarshal(f.Payload, &p)
			if p.Oldest == nil || *p.Oldest != 7 || p.Last == nil || *p.Last != 10 {
				t.Errorf("gap payload = %s, want oldest 7 last 10", f.Payload)
			}
			// A gap is not fatal: the client can still subscribe.
			if f := cl.call(ws.TypeSubscribe, "s", nil); f.Type != ws.TypeResult {
				t.Errorf("subscribe after gap = %s", f.Payload)
			}
		})
	}
}

func TestRateLimited(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ts := startServer(t, func(c *ws.Config) {
		c.Now = clock
		c.RequestBurst = 10
		c.RequestRate = 1
	})
	cl := ts.dial(t)
	for i := range 10 {
		if f := cl.call(ws.TypePing, "p", nil); f.Type != ws.TypeResult {
			t.Fatalf("ping %d within burst = %s", i, f.Payload)
		}
	}
	if got := errorCode(t, cl.call(ws.TypePing, "p", nil)); got != "rate_limited" {
		t.Fatalf("11th ping code %q, want rate_limited", got)
	}
	mu.Lock()
	now = now.Add(2 * time.Second) // refills two requests
	mu.Unlock()
	for range 2 {
		if f := cl.call(ws.TypePing, "p", nil); f.Type != ws.TypeResult {
			t.Fatalf("ping after refill = %s", f.Payload)
		}
	}
	if got := errorCode(t, cl.call(ws.TypePing, "p", nil)); got != "rate_limited" {
		t.Fatalf("ping after refill spent = %q, want rate_limited", got)
	}
}

func TestGarbageClosesWithPolicyViolation(t *testing.T) {
	ts := startServer(t, nil)
	good := ts.dial(t)
	bad := ts.dial(t)
	go func() {
		for range 1000 {
			if bad.c.WriteMessage(websocket.TextMessage, []byte("\x00garbage{")) != nil {
				return
			}
		}
	}()
	errs := 0
	for {
		f, err := bad.readErr()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != ws.ClosePolicyViolation {
				t.Fatalf("abusive client ended with %v, want close 1008", err)
			}
			break
		}
		if errorCode(t, f) != "bad_json" {
			t.Fatalf("garbage reply %s", f.Payload)
		}
		errs++
	}
	// Replies still queued when the close is decided are dropped: the close
	// frame goes first.
	if errs > ws.DefaultMaxBadFrames {
		t.Errorf("abusive client got %d error replies before 1008, want <= %d", errs, ws.DefaultMaxBadFrames)
	}
	if f := good.call(ws.TypePing, "p", nil); f.Type != ws.TypeResult {
		t.Errorf("other client after abuse: %s", f.Payload)
	}
	fresh := ts.dial(t)
	if f := fresh.call(ws.TypePing, "p", nil); f.Type != ws.TypeResult {
		t.Errorf("new client after abuse: %s", f.Payload)
	}
	if ts.logs.FilterMessage("too many bad frames; closing").Len() != 1 {
		t.Errorf("abuse was not logged once")
	}
}

func TestShutdown(t *testing.T) {
	ts := startServer(t, nil)
	var clients []*client
	for range 5 {
		cl := ts.dial(t)
		cl.call(ws.TypeSubscribe, "s", nil)
		clients = append(clients, cl)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- ts.stop() }()
	for i, cl := range clients {
		if got := cl.readClose(); got != ws.CloseGoingAway {
			t.Errorf("client %d close code %d, want %d", i, got, ws.CloseGoingAway)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
	if d := time.Since(start); d > ws.ShutdownTimeout {
		t.Errorf("shutdown took %v, want < %v", d, ws.ShutdownTimeout)
	}
	if _, _, err := ts.dialRaw(dialOpts{}); err == nil {
		t.Errorf("dial after shutdown succeeded")
	}
}

func TestShutdownStalledClient(t *testing.T) {
	// A client that stops reading while the kernel buffers are full must
	// not hold shutdown beyond ShutdownTimeout.
	ts := startServer(t, func(c *ws.Config) { c.SendQueue = 8 })
	cl := ts.dial(t)
	cl.call(ws.TypeSubscribe, "s", nil)
	pad := strings.Repeat("p", 32<<10)
	for i := range 200 {
		ts.Publish(ws.TypeTagRead, map[string]any{"reader": "R1", "n": i, "pad": pad})
	}
	start := time.Now()
	if err := ts.stop(); err != nil {
		t.Errorf("Serve = %v", err)
	}
	if d := time.Since(start); d > ws.ShutdownTimeout+time.Second {
		t.Errorf("shutdown with a stalled client took %v", d)
	}
}

func TestPublishRejects(t *testing.T) {
	s, err := ws.NewServer(ws.Config{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		typ     string
		payload any
		want    uint64
	}{
		{"empty type", "", map[string]int{}, 0},
		{"reserved hello", ws.TypeHello, map[string]int{}, 0},
		{"reserved result", ws.TypeResult, map[string]int{}, 0},
		{"array payload", ws.TypeTagRead, []int{1}, 0},
		{"nil payload", ws.TypeTagRead, nil, 0},
		{"unencodable", ws.TypeTagRead, map[string]any{"f": func() {}}, 0},
		{"invalid raw", ws.TypeTagRead, json.RawMessage(`{"a":`), 0},
		{"ok", ws.TypeTagRead, map[string]int{"a": 1}, 1},
		{"ok raw", ws.TypeTagRead, json.RawMessage(`{"a": 2}`), 2},
	}
	for _, tc := range tests {
		if got := s.Publish(tc.typ, tc.payload); got != tc.want {
			t.Errorf("Publish(%s) = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  ws.Config
		want error
	}{
		{"all interfaces", ws.Config{Addr: ":7424"}, ws.ErrNonLoopback},
		{"LAN address", ws.Config{Addr: "192.168.1.5:7424"}, ws.ErrNonLoopback},
		{"bad origin", ws.Config{AllowedOrigins: []string{"https://pos.example.com/app"}}, nil},
		{"ping >= pong", ws.Config{PingPeriod: time.Minute, PongWait: time.Minute}, nil},
	}
	for _, tc := range tests {
		_, err := ws.NewServer(tc.cfg, zaptest.NewLogger(t))
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("NewServer(%s) = %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, addr := range []string{"", "127.0.0.1:0", "localhost:7424", "[::1]:7424"} {
		if _, err := ws.NewServer(ws.Config{Addr: addr}, zaptest.NewLogger(t)); err != nil {
			t.Errorf("NewServer(Addr %q) = %v, want nil", addr, err)
		}
	}
	if _, err := ws.NewServer(ws.Config{Addr: ":7424", AllowNonLoopback: true}, zaptest.NewLogger(t)); !errors.Is(err, ws.ErrNoTLS) {
		t.Errorf("NewServer(:7424, AllowNonLoopback) = %v, want ErrNoTLS", err)
	}
	if _, err := ws.NewServer(ws.Config{Addr: ":7424", AllowNonLoopback: true, TLS: &tls.Config{}}, zaptest.NewLogger(t)); err != nil {
		t.Errorf("NewServer(:7424, AllowNonLoopback, TLS) = %v", err)
	}
	for _, o := range []string{"http://*.example", "https://*"} {
		if _, err := ws.NewServer(ws.Config{AllowedOrigins: []string{o}}, zaptest.NewLogger(t)); err == nil {
			t.Errorf("NewServer(AllowedOrigins %q) = nil, want an error (wildcards are not supported)", o)
		}
	}
}

func TestServeRefusesNonLoopbackListener(t *testing.T) {
	s, err := ws.NewServer(ws.Config{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skip(err)
	}
	if err := s.Serve(t.Context(), ln); !errors.Is(err, ws.ErrNonLoopback) {
		t.Errorf("Serve(0.0.0.0) = %v, want ErrNonLoopback", err)
	}
}
