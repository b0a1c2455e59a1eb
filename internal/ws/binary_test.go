package ws_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/ws"
)

const typeChunk = "test.chunk"

// startBinaryServer is startServer with a binary type: test.chunk answers
// with the length and SHA-256 of the body and the header's payload; a
// payload {"ms":N} makes it wait first, {"refuse":true} fails it.
func startBinaryServer(t *testing.T, opts ws.HandlerOptions) *testServer {
	t.Helper()
	s, err := ws.NewServer(ws.Config{Hello: testHello, CheckToken: checkToken, Static: http.NotFoundHandler()}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	register(s)
	s.HandleBinary(typeChunk, func(ctx context.Context, r *ws.Request) (any, error) {
		var p struct {
			MS     int  `json:"ms"`
			Refuse bool `json:"refuse"`
		}
		if err := json.Unmarshal(r.Payload, &p); err != nil {
			return nil, ws.ErrBadRequest
		}
		if p.Refuse {
			return nil, &ws.Error{Code: "refused", Message: "refused", Details: map[string]any{"missing": []string{"front"}}}
		}
		select {
		case <-time.After(time.Duration(p.MS) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		sum := sha256.Sum256(r.Data)
		return map[string]any{"len": len(r.Data), "sha256": hex.EncodeToString(sum[:])}, nil
	}, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() error {
		var err error
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(ws.ShutdownTimeout + 2*time.Second):
				err = errors.New("Serve did not return")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return &testServer{Server: s, addr: ln.Addr().String(), stop: stop}
}

// binFrame builds a binary frame: header length, envelope, body.
func binFrame(typ, id string, payload any, body []byte) []byte {
	p, _ := json.Marshal(payload)
	h, _ := json.Marshal(map[string]any{"v": 1, "type": typ, "id": id, "payload": json.RawMessage(p)})
	return rawBinFrame(h, body)
}

func rawBinFrame(header, body []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(header)))
	return append(append(b, header...), body...)
}

func (cl *client) sendBinary(b []byte) {
	cl.t.Helper()
	if err := cl.c.WriteMessage(websocket.BinaryMessage, b); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

// A binary request reaches its handler with the body intact, its reply
// keeps request order with text requests, and text requests keep their own
// frame limit.
func TestBinaryRequest(t *testing.T) {
	ts := startBinaryServer(t, ws.HandlerOptions{})
	cl := ts.dial(t)
	body := bytes.Repeat([]byte{0, 1, 2, 0xFF, '{', '"'}, 256<<10/6) // ~256 KiB, not UTF-8 text
	cl.sendBinary(binFrame(typeChunk, "b1", map[string]int{"ms": 100}, body))
	cl.request(ws.TypePing, "p1", nil)
	f := cl.read()
	if f.ID != "b1" || f.Type != ws.TypeResult {
		t.Fatalf("first reply %s %s %s, want the result of b1 (request order)", f.Type, f.ID, f.Payload)
	}
	var res struct {
		Len    int    `json:"len"`
		SHA256 string `json:"sha256"`
	}
	json.Unmarshal(f.Payload, &res)
	sum := sha256.Sum256(body)
	if res.Len != len(body) || res.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("handler saw %d bytes %s, want %d %x", res.Len, res.SHA256, len(body), sum)
	}
	if f := cl.read(); f.ID != "p1" {
		t.Fatalf("second reply %s %s, want p1", f.Type, f.ID)
	}
	// The binary type's larger limit is not the text path's: a 100 KiB
	// text request of a 64 KiB type is still too large.
	big := strings.Repeat("x", 100<<10)
	cl.sendRaw(`{"v":1,"type":"readers.list","id":"t","payload":{"pad":"` + big + `"}}`)
	if f := cl.read(); errorCode(t, f) != string(ws.CodeTooLarge) {
		t.Errorf("100 KiB text frame = %s, want too_large", f.Payload)
	}
	// A handler's error details reach the client as an object.
	cl.sendBinary(binFrame(typeChunk, "r", map[string]bool{"refuse": true}, nil))
	f = cl.read()
	var ep struct {
		Code    string `json:"code"`
		Details struct {
			Missing []string `json:"missing"`
		} `json:"details"`
	}
	json.Unmarshal(f.Payload, &ep)
	if f.ID != "r" || ep.Code != "refused" || len(ep.Details.Missing) != 1 {
		t.Errorf("refused binary request = %s %s, want code refused with details", f.ID, f.Payload)
	}
}

// Malformed binary frames get bad_request or unknown_type, oversized ones
// too_large, too many in flight rate_limited; the connection stays open.
func TestBinaryLimits(t *testing.T) {
	ts := startBinaryServer(t, ws.HandlerOptions{MaxConcurrent: 2, MaxFrameBytes: 64 << 10})
	cl := ts.dial(t)
	cases := []struct {
		name  string
		frame []byte
		id    string
		code  ws.Code
	}{
		{"empty", nil, "", ws.CodeBadRequest},
		{"one byte", []byte{0}, "", ws.CodeBadRequest},
		{"zero header", []byte{0, 0, 1, 2}, "", ws.CodeBadRequest},
		{"header past end", []byte{0, 200, '{', '}'}, "", ws.CodeBadRequest},
		{"header not JSON", rawBinFrame([]byte("nope"), nil), "", ws.CodeBadJSON},
		{"text type", binFrame("readers.list", "x1", nil, nil), "x1", ws.CodeUnknownType},
		{"no id", rawBinFrame([]byte(`{"v":1,"type":"test.chunk"}`), nil), "", ws.CodeBadRequest},
		{"too large", binFrame(typeChunk, "x2", nil, make([]byte, 64<<10)), "", ws.CodeTooLarge},
	}
	for _, tc := range cases {
		cl.sendBinary(tc.frame)
		f := cl.read()
		if f.Type != ws.TypeError || f.ID != tc.id || errorCode(t, f) != string(tc.code) {
			t.Errorf("%s: reply %s id %q %s, want error %s id %q", tc.name, f.Type, f.ID, f.Payload, tc.code, tc.id)
		}
	}
	// A text frame cannot name a binary type.
	if f := cl.call(typeChunk, "txt", nil); errorCode(t, f) != string(ws.CodeUnknownType) {
		t.Errorf("text frame of a binary type = %s, want unknown_type", f.Payload)
	}
	// MaxConcurrent 2.
	for _, id := range []string{"c1", "c2", "c3"} {
		cl.sendBinary(binFrame(typeChunk, id, map[string]int{"ms": 200}, []byte("abc")))
	}
	got := map[string]string{}
	for range 3 {
		f := cl.read()
		got[f.ID] = f.Type
		if f.Type == ws.TypeError {
			got[f.ID] += ":" + errorCode(t, f)
		}
	}
	if got["c1"] != "result" || got["c2"] != "result" || got["c3"] != "error:rate_limited" {
		t.Errorf("three binary requests in flight = %v, want two results and rate_limited", got)
	}
	if f := cl.call(ws.TypePing, "alive", nil); f.Type != ws.TypeResult {
		t.Errorf("ping after the bad frames = %s", f.Type)
	}
}

// A binary frame above the 1 MiB hard limit closes the connection with
// 1009, whatever the binary types allow.
func TestBinaryHardLimit(t *testing.T) {
	ts := startBinaryServer(t, ws.HandlerOptions{MaxFrameBytes: 8 << 20})
	cl := ts.dial(t)
	cl.sendBinary(binFrame(typeChunk, "huge", nil, make([]byte, 1<<20+1)))
	if code := cl.readClose(); code != ws.CloseMessageTooBig {
		t.Errorf("close code %d, want %d", code, ws.CloseMessageTooBig)
	}
}
