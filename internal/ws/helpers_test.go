package ws_test

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/nfcd/nfcd/internal/ws"
)

const testToken = "tOk3n-s3cr3t_ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// The requests the test server registers, as the daemon registers its own.
const (
	typeReadersList  = "readers.list"
	typeHistoryQuery = "history.query"
	typeSlow         = "test.slow"
	// typeBigReply answers with about bigReplySize bytes, like a
	// history.query of 1,000 entries.
	typeBigReply = "test.bigreply"
	// typeGated counts its calls in flight across connections (gatedMax);
	// at most 2 may run at once.
	typeGated    = "test.gated"
	bigReplySize = 140 << 10
)

func testHello() ws.HelloInfo {
	return ws.HelloInfo{ServerVersion: "0.0.0-test", Readers: []string{"R1", "R2"}, VerdictKeyID: "kid-1"}
}

// register adds the test request types to s: readers.list, history.query
// (limit, fail, bad) and test.slow, which answers after "ms" milliseconds.
func register(s *ws.Server) {
	s.Handle(typeReadersList, func(ctx context.Context, r *ws.Request) (any, error) {
		return map[string]any{"readers": []map[string]string{{"name": "R1"}, {"name": "R2"}}}, nil
	}, ws.HandlerOptions{})
	s.Handle(typeHistoryQuery, func(ctx context.Context, r *ws.Request) (any, error) {
		var p struct {
			Limit int  `json:"limit"`
			Fail  bool `json:"fail"`
			Typed bool `json:"typed"`
		}
		if err := json.Unmarshal(r.Payload, &p); err != nil || p.Limit < 0 {
			return nil, fmt.Errorf("history query: %w", ws.ErrBadRequest)
		}
		if p.Typed {
			return nil, &ws.Error{Code: ws.CodeBadRequest, Message: "limit: want 0..1000"}
		}
		if p.Fail {
			return nil, errors.New("bbolt: database not open")
		}
		out := make([]int, p.Limit)
		for i := range out {
			out[i] = i
		}
		return map[string]any{"entries": out}, nil
	}, ws.HandlerOptions{})
	s.Handle(typeSlow, func(ctx context.Context, r *ws.Request) (any, error) {
		var p struct {
			MS int `json:"ms"`
		}
		json.Unmarshal(r.Payload, &p)
		select {
		case <-time.After(time.Duration(p.MS) * time.Millisecond):
			return map[string]int{"ms": p.MS}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, ws.HandlerOptions{MaxConcurrent: 2, Timeout: 500 * time.Millisecond})
	s.Handle(typeGated, func(ctx context.Context, r *ws.Request) (any, error) {
		n := gatedNow.Add(1)
		defer gatedNow.Add(-1)
		for {
			m := gatedMax.Load()
			if n <= m || gatedMax.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		return map[string]int{"n": int(n)}, nil
	}, ws.HandlerOptions{MaxConcurrent: 4, MaxConcurrentTotal: 2})
	blob := strings.Repeat("x", bigReplySize)
	s.Handle(typeBigReply, func(context.Context, *ws.Request) (any, error) {
		return map[string]string{"blob": blob}, nil
	}, ws.HandlerOptions{MaxConcurrent: 64})
	s.Handle("test.big", func(ctx context.Context, r *ws.Request) (any, error) {
		return map[string]int{"len": len(r.Payload)}, nil
	}, ws.HandlerOptions{MaxFrameBytes: 256 << 10})
}

// gatedNow and gatedMax count the test.gated calls in flight.
var gatedNow, gatedMax atomic.Int64

func checkToken(tok string) (string, bool) {
	if subtle.ConstantTimeCompare([]byte(tok), []byte(testToken)) == 1 {
		return "pos", true
	}
	return "", false
}

// manyClients lifts the connection limits for tests whose clients all use
// testToken.
func manyClients(c *ws.Config) { c.MaxConns, c.MaxConnsPerToken = 200, 200 }

// testServer is a Server running Serve on a loopback port.
type testServer struct {
	*ws.Server
	addr string // 127.0.0.1:PORT
	port string
	logs *observer.ObservedLogs
	stop func() error // cancels Serve and returns its result
}

func startServer(t testing.TB, mutate func(*ws.Config)) *testServer {
	t.Helper()
	return startServerOn(t, "127.0.0.1:0", mutate)
}

// startServerOn is startServer listening on addr.
func startServerOn(t testing.TB, addr string, mutate func(*ws.Config)) *testServer {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	var log *zap.Logger
	if tt, ok := t.(*testing.T); ok {
		log = zap.New(zapcore.NewTee(zaptest.NewLogger(tt, zaptest.Level(zapcore.InfoLevel)).Core(), core))
	} else {
		log = zap.New(core)
	}
	cfg := ws.Config{
		Hello:          testHello,
		CheckToken:     checkToken,
		AllowedOrigins: []string{"https://pos.example.com"},
		Static:         http.NotFoundHandler(),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := ws.NewServer(cfg, log)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	register(s)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-errc:
			case <-time.After(ws.ShutdownTimeout + 2*time.Second):
				serveErr = errors.New("Serve did not return after shutdown timeout")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	})
	laddr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(laddr)
	return &testServer{Server: s, addr: laddr, port: port, logs: logs, stop: stop}
}

// dialOpts describes a handshake.
type dialOpts struct {
	host      string   // Host header; default the listen address
	origin    string   // Origin header
	protocols []string // default nfcd.v1 + token subprotocol
	bearer    string
	noToken   bool
}

func (ts *testServer) dialRaw(o dialOpts) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	d.Subprotocols = o.protocols
	if d.Subprotocols == nil {
		d.Subprotocols = []string{ws.Subprotocol}
		if !o.noToken && o.bearer == "" {
			d.Subprotocols = append(d.Subprotocols, ws.TokenSubprotocolPrefix+testToken)
		}
	}
	h := http.Header{}
	if o.host != "" {
		h.Set("Host", o.host)
	}
	if o.origin != "" {
		h.Set("Origin", o.origin)
	}
	if o.bearer != "" {
		h.Set("Authorization", "Bearer "+o.bearer)
	}
	return d.Dial("ws://"+ts.addr+"/v1/ws", h)
}

// client wraps a connection with frame helpers.
type client struct {
	t  testing.TB
	c  *websocket.Conn
	mu sync.Mutex
	// frames records every text frame received, for the leak test.
	frames [][]byte
}

func (ts *testServer) dial(t testing.TB) *client {
	t.Helper()
	c, resp, err := ts.dialRaw(dialOpts{})
	if err != nil {
		t.Fatalf("dial: %v (resp %v)", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c}
	if f := cl.read(); f.Type != ws.TypeHello {
		t.Fatalf("first frame type %q, want hello", f.Type)
	}
	return cl
}

// frame is a received envelope.
type frame struct {
	V       int             `json:"v"`
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Seq     uint64          `json:"seq"`
	Payload json.RawMessage `json:"payload"`
}

type errPayload struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Seq     uint64  `json:"seq"`
	Oldest  *uint64 `json:"oldest"`
	Last    *uint64 `json:"last"`
}

func (cl *client) readErr() (frame, error) {
	cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	mt, b, err := cl.c.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	if mt != websocket.TextMessage {
		return frame{}, fmt.Errorf("message type %d, want text", mt)
	}
	cl.mu.Lock()
	cl.frames = append(cl.frames, b)
	cl.mu.Unlock()
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return frame{}, fmt.Errorf("decode %q: %w", b, err)
	}
	if f.V != 1 {
		return frame{}, fmt.Errorf("frame %s has v=%d", b, f.V)
	}
	return f, nil
}

func (cl *client) read() frame {
	cl.t.Helper()
	f, err := cl.readErr()
	if err != nil {
		cl.t.Fatalf("read: %v", err)
	}
	return f
}

func (cl *client) sendRaw(s string) {
	cl.t.Helper()
	if err := cl.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

func (cl *client) request(typ, id string, payload any) {
	cl.t.Helper()
	p, err := json.Marshal(payload)
	if err != nil {
		cl.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"v": 1, "type": typ, "id": id, "payload": json.RawMessage(p)})
	cl.sendRaw(string(b))
}

// call sends a request and returns its reply (result or error).
func (cl *client) call(typ, id string, payload any) frame {
	cl.t.Helper()
	cl.request(typ, id, payload)
	f := cl.read()
	if f.ID != id {
		cl.t.Fatalf("%s reply id %q, want %q (frame type %s)", typ, f.ID, id, f.Type)
	}
	return f
}

func errorCode(t testing.TB, f frame) string {
	t.Helper()
	if f.Type != ws.TypeError {
		t.Fatalf("frame type %q (payload %s), want error", f.Type, f.Payload)
	}
	var p errPayload
	if err := json.Unmarshal(f.Payload, &p); err != nil {
		t.Fatal(err)
	}
	return p.Code
}

// readClose reads until the connection closes and returns the close code
// (-1 if the connection ended without a close frame).
func (cl *client) readClose() int {
	cl.t.Helper()
	for {
		cl.c.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, _, err := cl.c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			cl.t.Logf("read ended without close frame: %v", err)
			return -1
		}
	}
}

func tagPayload(reader string, n int) map[string]any {
	return map[string]any{"reader": reader, "n": n, "uid": "04" + strconv.Itoa(n)}
}
