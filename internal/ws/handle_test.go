package ws_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/ws"
)

// TestRepliesKeepRequestOrder sends a slow request, then fast ones: the
// handlers run concurrently, but the replies come in request order.
func TestRepliesKeepRequestOrder(t *testing.T) {
	ts := startServer(t, nil)
	cl := ts.dial(t)
	start := time.Now()
	cl.request(typeSlow, "slow", map[string]int{"ms": 300})
	cl.request(typeSlow, "fast", map[string]int{"ms": 1})
	cl.request(ws.TypePing, "ping", nil)
	cl.request(typeHistoryQuery, "hist", map[string]int{"limit": 1})
	for _, want := range []string{"slow", "fast", "ping", "hist"} {
		f := cl.read()
		if f.ID != want || f.Type != ws.TypeResult {
			t.Fatalf("reply %s %s (%s), want result for %s", f.Type, f.ID, f.Payload, want)
		}
	}
	// The slow handler did not run the fast ones one after the other.
	if d := time.Since(start); d > 600*time.Millisecond {
		t.Errorf("four replies took %v; the handlers did not overlap", d)
	}
}

// TestHandlerLimits checks the per-type limits: concurrency, timeout and
// frame size, each answered with its code, and the connection stays usable.
func TestHandlerLimits(t *testing.T) {
	ts := startServer(t, nil)
	cl := ts.dial(t)
	// MaxConcurrent 2: the third slow request in flight is refused.
	cl.request(typeSlow, "s1", map[string]int{"ms": 200})
	cl.request(typeSlow, "s2", map[string]int{"ms": 200})
	cl.request(typeSlow, "s3", map[string]int{"ms": 200})
	got := map[string]string{}
	for range 3 {
		f := cl.read()
		if f.Type == ws.TypeError {
			got[f.ID] = "error:" + errorCode(t, f)
		} else {
			got[f.ID] = "ok"
		}
	}
	if got["s1"] != "ok" || got["s2"] != "ok" || got["s3"] != "error:rate_limited" {
		t.Errorf("three concurrent slow requests = %v, want ok, ok, rate_limited", got)
	}
	// Timeout 500 ms.
	if f := cl.call(typeSlow, "t", map[string]int{"ms": 5000}); errorCode(t, f) != string(ws.CodeTimeout) {
		t.Errorf("slow request past its timeout = %s, want timeout", f.Payload)
	}
	// A handler's typed error reaches the client with its code and message.
	f := cl.call(typeHistoryQuery, "typed", map[string]bool{"typed": true})
	var p errPayload
	json.Unmarshal(f.Payload, &p)
	if p.Code != "bad_request" || p.Message != "limit: want 0..1000" {
		t.Errorf("typed error = %+v, want bad_request with the handler's message", p)
	}
	if f := cl.call(ws.TypePing, "after", nil); f.Type != ws.TypeResult {
		t.Errorf("ping after the limits = %s, want a result", f.Type)
	}
}

// TestHandlerFrameLimit registers a type that takes larger frames: its
// frames up to its limit are read, other types keep the 64 KiB limit.
func TestHandlerFrameLimit(t *testing.T) {
	ts := startServer(t, nil)
	cl := ts.dial(t)
	pad := strings.Repeat("x", ws.MaxFrameBytes+100)
	f := cl.call("test.big", "big", map[string]string{"pad": pad})
	var res struct{ Len int }
	json.Unmarshal(f.Payload, &res)
	if f.Type != ws.TypeResult || res.Len <= ws.MaxFrameBytes {
		t.Errorf("large test.big request = %s %s, want a result with the whole payload", f.Type, f.Payload)
	}
	// Too large for their type: skipped, answered without an id.
	for _, tc := range []struct {
		typ string
		pad string
	}{{typeHistoryQuery, pad}, {ws.TypePing, pad}, {"test.big", strings.Repeat("y", 300<<10)}} {
		cl.request(tc.typ, "x", map[string]string{"pad": tc.pad})
		if f := cl.read(); f.ID != "" || errorCode(t, f) != string(ws.CodeTooLarge) {
			t.Errorf("%d-byte %s = %s %q %s, want too_large without id", len(tc.pad), tc.typ, f.Type, f.ID, f.Payload)
		}
	}
}

func TestHandleRefusesReservedAndDuplicateTypes(t *testing.T) {
	s, err := ws.NewServer(ws.Config{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	fn := func(context.Context, *ws.Request) (any, error) { return struct{}{}, nil }
	s.Handle("x.y", fn, ws.HandlerOptions{})
	for _, typ := range []string{ws.TypePing, ws.TypeSubscribe, ws.TypeResume, ws.TypeHello, ws.TypeResult, ws.TypeError, "", "x.y"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q) did not panic", typ)
				}
			}()
			s.Handle(typ, fn, ws.HandlerOptions{})
		}()
	}
}
