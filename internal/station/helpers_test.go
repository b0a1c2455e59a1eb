package station_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
	"github.com/nfcd/nfcd/internal/station"
	"github.com/nfcd/nfcd/internal/ws"
)

const testToken = "station-test-token-0123456789abcdef"

// rig is a ws.Server with the station, the fake Legitmark in process, and
// a record of every log line.
type rig struct {
	t    testing.TB
	fake *legitmarktest.Server
	st   *station.Station
	srv  *ws.Server
	addr string
	logs *observer.ObservedLogs
	stop func()
}

type rigOpts struct {
	fake     legitmarktest.Options
	cfg      func(*legitmark.Config)
	journal  legitmark.Journal
	spool    string
	fakeSrv  *legitmarktest.Server // reuse (a restart against the same service)
	noTapNow bool
}

func newRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)).Core(), core))
	fake := o.fakeSrv
	if fake == nil {
		fake = legitmarktest.New(o.fake)
	}
	cfg := legitmark.Config{BaseURL: "https://api.legitmark.test", IntentURL: "https://media.legitmark.test/intent",
		APIKey: legitmarktest.DefaultKey, StationID: "kiosk7", PollMin: time.Second, PollMax: time.Second}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	hc := &http.Client{Transport: fake.Transport()}
	c, err := legitmark.New(cfg, legitmark.Options{HTTPClient: hc, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	j := o.journal
	if j == nil {
		j = &legitmark.MemJournal{}
	}
	w := legitmark.NewWorkflow(c, j, log)
	srv, err := ws.NewServer(ws.Config{Addr: "127.0.0.1:0",
		CheckToken: func(tok string) (string, bool) { return "test", tok == testToken }}, log)
	if err != nil {
		t.Fatal(err)
	}
	st, err := station.New(station.Options{Workflow: w, Publisher: srv, SpoolDir: o.spool, MediaClient: hc, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	st.Register(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.Serve(ctx, ln) }()
	go func() { defer wg.Done(); st.Run(ctx) }()
	var once sync.Once
	r := &rig{t: t, fake: fake, st: st, srv: srv, addr: ln.Addr().String(), logs: logs,
		stop: func() { once.Do(func() { cancel(); wg.Wait() }) }}
	t.Cleanup(r.stop)
	if !o.noTapNow {
		st.NoteTap("04A1B2C3D4E5F6", "authentic", time.Now())
	}
	return r
}

// wsClient is a WebSocket client of the rig: replies by id, events on a
// channel, every frame kept for the secrecy checks.
type wsClient struct {
	t      testing.TB
	c      *websocket.Conn
	wmu    sync.Mutex
	mu     sync.Mutex
	nextID int
	wait   map[string]chan frame
	events chan frame
	frames [][]byte
}

type frame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Seq     uint64          `json:"seq"`
	Payload json.RawMessage `json:"payload"`
}

func (r *rig) dial() *wsClient {
	r.t.Helper()
	d := websocket.Dialer{Subprotocols: []string{ws.Subprotocol, ws.TokenSubprotocolPrefix + testToken}}
	c, _, err := d.Dial("ws://"+r.addr+"/v1/ws", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	cl := &wsClient{t: r.t, c: c, wait: map[string]chan frame{}, events: make(chan frame, 4096)}
	go cl.readLoop()
	r.t.Cleanup(func() { c.Close() })
	cl.call("subscribe", nil)
	return cl
}

func (cl *wsClient) readLoop() {
	for {
		_, b, err := cl.c.ReadMessage()
		if err != nil {
			close(cl.events)
			return
		}
		var f frame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		cl.mu.Lock()
		cl.frames = append(cl.frames, b)
		ch := cl.wait[f.ID]
		delete(cl.wait, f.ID)
		cl.mu.Unlock()
		switch {
		case ch != nil:
			ch <- f
		case f.Seq > 0:
			cl.events <- f
		}
	}
}

func (cl *wsClient) allFrames() [][]byte {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return append([][]byte(nil), cl.frames...)
}

func (cl *wsClient) register() (string, chan frame) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.nextID++
	id := strconv.Itoa(cl.nextID)
	ch := make(chan frame, 1)
	cl.wait[id] = ch
	return id, ch
}

func (cl *wsClient) write(mt int, b []byte) {
	cl.wmu.Lock()
	defer cl.wmu.Unlock()
	if err := cl.c.WriteMessage(mt, b); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

func (cl *wsClient) await(ch chan frame, what string) frame {
	cl.t.Helper()
	select {
	case f := <-ch:
		return f
	case <-time.After(30 * time.Second):
		cl.t.Fatalf("no reply to %s", what)
		return frame{}
	}
}

// call sends a text request and returns the reply frame.
func (cl *wsClient) call(typ string, payload any) frame {
	cl.t.Helper()
	id, ch := cl.register()
	b, _ := json.Marshal(map[string]any{"v": 1, "type": typ, "id": id, "payload": payload})
	cl.write(websocket.TextMessage, b)
	return cl.await(ch, typ)
}

// result calls and decodes a result, failing on an error reply.
func (cl *wsClient) result(typ string, payload, out any) {
	cl.t.Helper()
	f := cl.call(typ, payload)
	if f.Type != "result" {
		cl.t.Fatalf("%s: %s %s", typ, f.Type, f.Payload)
	}
	if out != nil {
		if err := json.Unmarshal(f.Payload, out); err != nil {
			cl.t.Fatal(err)
		}
	}
}

type wsErr struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details"`
}

// errorOf calls and returns the error reply.
func (cl *wsClient) errorOf(typ string, payload any) wsErr {
	cl.t.Helper()
	f := cl.call(typ, payload)
	if f.Type != "error" {
		cl.t.Fatalf("%s: %s %s, want an error", typ, f.Type, f.Payload)
	}
	var e wsErr
	json.Unmarshal(f.Payload, &e)
	return e
}

// upload sends a photo for a side: begin, then binary chunks with at most
// ChunkWindow in flight. It returns the upload id.
func (cl *wsClient) upload(sr, side string, data []byte) string {
	cl.t.Helper()
	var b struct {
		UploadID  string `json:"upload_id"`
		ChunkSize int    `json:"chunk_size"`
		Chunks    int    `json:"chunks"`
	}
	cl.result(station.TypeUploadBegin, map[string]any{"uuid": sr, "side": side, "size": len(data)}, &b)
	if b.ChunkSize <= 0 || b.Chunks != (len(data)+b.ChunkSize-1)/b.ChunkSize {
		cl.t.Fatalf("upload.begin = %+v for %d bytes", b, len(data))
	}
	var inflight []chan frame
	for seq := 0; seq < b.Chunks; seq++ {
		if len(inflight) == station.ChunkWindow {
			if f := cl.await(inflight[0], "chunk"); f.Type != "result" {
				cl.t.Fatalf("chunk: %s", f.Payload)
			}
			inflight = inflight[1:]
		}
		id, ch := cl.register()
		part := data[seq*b.ChunkSize : min(len(data), (seq+1)*b.ChunkSize)]
		cl.write(websocket.BinaryMessage, chunkFrame(id, b.UploadID, seq, seq == b.Chunks-1, part))
		inflight = append(inflight, ch)
	}
	for _, ch := range inflight {
		if f := cl.await(ch, "chunk"); f.Type != "result" {
			cl.t.Fatalf("chunk: %s", f.Payload)
		}
	}
	return b.UploadID
}

func chunkFrame(id, upload string, seq int, final bool, data []byte) []byte {
	h, _ := json.Marshal(map[string]any{"v": 1, "type": station.TypeUploadChunk, "id": id,
		"payload": map[string]any{"upload_id": upload, "seq": seq, "final": final}})
	b := binary.BigEndian.AppendUint16(nil, uint16(len(h)))
	return append(append(b, h...), data...)
}

type progressEv struct {
	UUID     string `json:"uuid"`
	Side     string `json:"side"`
	SideName string `json:"side_name"`
	UploadID string `json:"upload_id"`
	Stage    string `json:"stage"`
	Bytes    int64  `json:"bytes"`
	Total    int64  `json:"total"`
	Code     string `json:"code"`
	Progress *struct {
		Met bool `json:"met"`
	} `json:"progress"`
}

type statusEv struct {
	UUID  string `json:"uuid"`
	State struct {
		Primary    string `json:"primary"`
		Supplement string `json:"supplement"`
	} `json:"state"`
	Final             bool   `json:"final"`
	Authentic         bool   `json:"authentic"`
	NeedsResubmission bool   `json:"needs_resubmission"`
	CertificateURL    string `json:"certificate_url"`
}

// next returns the next event of type typ, failing after a timeout.
func (cl *wsClient) next(typ string, timeout time.Duration) frame {
	cl.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f, ok := <-cl.events:
			if !ok {
				cl.t.Fatalf("connection closed while waiting for %s", typ)
			}
			if f.Type == typ {
				return f
			}
		case <-deadline:
			cl.t.Fatalf("no %s event within %v", typ, timeout)
		}
	}
}

// waitUploads waits for a final stage (done or failed) of every side.
func (cl *wsClient) waitUploads(sides map[string]bool) map[string]progressEv {
	cl.t.Helper()
	out := map[string]progressEv{}
	for len(out) < len(sides) {
		f := cl.next(station.EventUploadProgress, 60*time.Second)
		var p progressEv
		json.Unmarshal(f.Payload, &p)
		if sides[p.Side] && (p.Stage == station.StageDone || p.Stage == station.StageFailed) {
			out[p.Side] = p
		}
	}
	return out
}

// photo is a 640×640 JPEG that differs by n.
func photo(t testing.TB, n int) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, 640, 640))
	for y := range 640 {
		for x := range 640 {
			m.SetRGBA(x, y, color.RGBA{uint8(x/3 + n*11), uint8(y / 3), uint8(n * 37), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Sprint(err))
	}
}
