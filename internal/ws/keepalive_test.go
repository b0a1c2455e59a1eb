package ws_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/nfcd/nfcd/internal/ws"
)

// pipeListener is an in-memory net.Listener over net.Pipe, so that a whole
// server runs inside a synctest bubble with fake time.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c1, c2 := net.Pipe()
	select {
	case l.conns <- c2:
		return c1, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// TestKeepaliveTimings checks the default ping period and pong wait with
// fake time: a client that answers pings stays connected for ten minutes,
// one that never reads is dropped PongWait after its last pong.
func TestKeepaliveTimings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		s, err := ws.NewServer(ws.Config{CheckToken: checkToken}, zap.New(core))
		if err != nil {
			t.Fatal(err)
		}
		ln := newPipeListener()
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Serve(ctx, ln) }()

		d := websocket.Dialer{
			NetDialContext: ln.dial,
			Subprotocols:   []string{ws.Subprotocol, ws.TokenSubprotocolPrefix + testToken},
		}
		url := "ws://" + ws.DefaultAddr + "/v1/ws"
		live, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var pings []time.Time
		live.SetPingHandler(func(data string) error {
			mu.Lock()
			pings = append(pings, time.Now())
			mu.Unlock()
			return live.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		liveDone := make(chan error, 1)
		go func() {
			for {
				if _, _, err := live.ReadMessage(); err != nil {
					liveDone <- err
					return
				}
			}
		}()
		// The mute client reads but ignores pings, so it never pongs.
		mute, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		mute.SetPingHandler(func(string) error { return nil })
		muteDone := make(chan error, 1)
		go func() {
			for {
				if _, _, err := mute.ReadMessage(); err != nil {
					muteDone <- err
					return
				}
			}
		}()
		start := time.Now()

		time.Sleep(ws.DefaultPongWait - time.Second)
		synctest.Wait()
		if n := logs.FilterMessage("client disconnected").Len(); n != 0 {
			t.Fatalf("%d clients disconnected before PongWait, want 0", n)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := logs.FilterMessage("client disconnected").Len(); n != 1 {
			t.Errorf("%d clients disconnected just after PongWait, want 1 (the mute one)", n)
		}
		select {
		case <-muteDone:
		default:
			t.Errorf("mute client still connected after PongWait")
		}
		mute.Close()

		time.Sleep(10*time.Minute - time.Since(start))
		synctest.Wait()
		mu.Lock()
		n := len(pings)
		var gap time.Duration
		if n > 0 {
			gap = pings[0].Sub(start)
		}
		mu.Unlock()
		if want := int(10 * time.Minute / ws.DefaultPingPeriod); n != want {
			t.Errorf("live client got %d pings in 10 min, want %d", n, want)
		}
		if gap != ws.DefaultPingPeriod {
			t.Errorf("first ping after %v, want %v", gap, ws.DefaultPingPeriod)
		}
		select {
		case err := <-liveDone:
			t.Fatalf("live client dropped: %v", err)
		default:
		}

		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve = %v", err)
		}
		if err := <-liveDone; !websocket.IsCloseError(err, ws.CloseGoingAway) {
			t.Errorf("live client ended with %v, want 1001", err)
		}
	})
}
