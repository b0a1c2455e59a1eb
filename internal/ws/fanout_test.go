package ws_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nfcd/nfcd/internal/ws"
)

// TestFanout publishes to 100 reading clients and one that never reads. The
// readers get every event in order, in bursts that each complete while the
// stalled client is backed up; the stalled client is told "overflow" once
// and closed with 1013, and Publish never waits for it.
func TestFanout(t *testing.T) {
	ts := startServer(t, manyClients)
	const nClients = 100
	var (
		wg     sync.WaitGroup
		latest [nClients]atomic.Uint64
		bad    atomic.Value // first ordering error
	)
	for i := range nClients {
		cl := ts.dial(t)
		cl.call(ws.TypeSubscribe, "s", nil)
		// cl.read's 10 s deadline would end a reader on a slow run
		// (-race on a loaded machine) and look like a stuck client.
		cl.c.SetReadDeadline(time.Time{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, b, err := cl.c.ReadMessage()
				if err != nil {
					return
				}
				var f frame
				if err := json.Unmarshal(b, &f); err != nil || f.Type != ws.TypeTagRead {
					bad.CompareAndSwap(nil, "unexpected frame "+string(b))
					return
				}
				if prev := latest[i].Load(); f.Seq != prev+1 {
					bad.CompareAndSwap(nil, "client "+strconv.Itoa(i)+": seq "+strconv.FormatUint(f.Seq, 10)+" after "+strconv.FormatUint(prev, 10))
					return
				}
				latest[i].Store(f.Seq)
			}
		}()
	}

	// The stalled client shrinks its receive buffer so the server's queue,
	// not the kernel, absorbs the backlog.
	d := websocket.Dialer{
		Subprotocols: []string{ws.Subprotocol, ws.TokenSubprotocolPrefix + testToken},
		NetDial: func(network, addr string) (net.Conn, error) {
			c, err := net.Dial(network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetReadBuffer(32 << 10)
			}
			return c, err
		},
	}
	sc, _, err := d.Dial("ws://"+ts.addr+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	stalled := &client{t: t, c: sc}
	stalled.read() // hello
	stalled.call(ws.TypeSubscribe, "s", nil)

	pad := strings.Repeat("a", 1024)
	var seq uint64
	var maxPublish time.Duration
	closed := func() bool { return ts.logs.FilterMessage("client too slow; closing").Len() > 0 }
	for burst := 0; burst < 200 && (!closed() || burst < 4); burst++ {
		for range 50 {
			start := time.Now()
			seq = ts.Publish(ws.TypeTagRead, map[string]any{"reader": "R1", "pad": pad})
			maxPublish = max(maxPublish, time.Since(start))
		}
		deadline := time.Now().Add(10 * time.Second)
		for i := range nClients {
			for latest[i].Load() < seq {
				if msg := bad.Load(); msg != nil {
					t.Fatal(msg)
				}
				if time.Now().After(deadline) {
					t.Fatalf("burst %d: client %d at seq %d, want %d", burst, i, latest[i].Load(), seq)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	if !closed() {
		t.Fatalf("stalled client not closed after %d events", seq)
	}
	if ts.logs.FilterMessage("client send queue full").Len() != 1 {
		t.Errorf("overflow logged %d times, want 1", ts.logs.FilterMessage("client send queue full").Len())
	}
	t.Logf("stalled client closed; %d events published, slowest Publish %v", seq, maxPublish)
	// Were Publish to wait for the stalled client it would block until
	// that client's write deadline (WriteWait, 10 s). The bound is loose
	// because -race on a small machine stretches scheduling.
	if maxPublish > 2*time.Second {
		t.Errorf("slowest Publish took %v; Publish must not wait for clients", maxPublish)
	}

	// The stalled client now reads: a contiguous prefix of events, the
	// overflow notice naming the first dropped seq, then close 1013.
	var got uint64
	var overflowSeq uint64
	for {
		f, err := stalled.readErr()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != ws.CloseTryAgainLater {
				t.Fatalf("stalled client ended with %v, want close 1013", err)
			}
			break
		}
		switch f.Type {
		case ws.TypeTagRead:
			if f.Seq != got+1 {
				t.Fatalf("stalled client: seq %d after %d", f.Seq, got)
			}
			got = f.Seq
		case ws.TypeError:
			var p errPayload
			json.Unmarshal(f.Payload, &p)
			if p.Code != "overflow" || overflowSeq != 0 {
				t.Fatalf("stalled client: unexpected error %s", f.Payload)
			}
			overflowSeq = p.Seq
		default:
			t.Fatalf("stalled client: unexpected %s", f.Type)
		}
	}
	if overflowSeq == 0 || overflowSeq <= got {
		t.Errorf("overflow notice seq %d, want > last delivered %d", overflowSeq, got)
	}

	ts.stop()
	wg.Wait()
	if msg := bad.Load(); msg != nil {
		t.Fatal(msg)
	}
	for i := range nClients {
		if latest[i].Load() != seq {
			t.Errorf("client %d ended at seq %d, want %d", i, latest[i].Load(), seq)
		}
	}
}

// BenchmarkFanout100 measures one Publish until all 100 loopback clients
// have received it. It reports the p50 and p99 of that per-event latency
// and the p99 of single deliveries.
func BenchmarkFanout100(b *testing.B) {
	ts := startServer(b, func(c *ws.Config) { c.SendQueue = 1024; manyClients(c) })
	const nClients = 100
	var (
		total     atomic.Int64
		pubStart  atomic.Int64 // UnixNano of the Publish in flight
		allGot    = make(chan struct{}, 1)
		wg        sync.WaitGroup
		mu        sync.Mutex
		delivered []time.Duration
	)
	seqKey := []byte(`"seq":`)
	for range nClients {
		cl := ts.dial(b)
		cl.call(ws.TypeSubscribe, "s", nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			var lat []time.Duration
			defer func() {
				mu.Lock()
				delivered = append(delivered, lat...)
				mu.Unlock()
			}()
			for {
				_, r, err := cl.c.NextReader()
				if err != nil {
					return
				}
				buf.Reset()
				if _, err := buf.ReadFrom(r); err != nil {
					return
				}
				if !bytes.Contains(buf.Bytes(), seqKey) {
					continue
				}
				if len(lat) < 100_000 {
					lat = append(lat, time.Duration(time.Now().UnixNano()-pubStart.Load()))
				}
				if total.Add(1)%nClients == 0 {
					allGot <- struct{}{}
				}
			}
		}()
	}
	payload := json.RawMessage(`{"reader":"ACS ACR1252 1S CL Reader PICC 0","uid":"04A1B2C3D4E5F6","ctr":42,"verdict":"genuine"}`)
	var perEvent []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		pubStart.Store(start.UnixNano())
		ts.Publish(ws.TypeTagRead, payload)
		<-allGot
		perEvent = append(perEvent, time.Since(start))
	}
	b.StopTimer()
	ts.stop()
	wg.Wait()
	pct := func(d []time.Duration, p float64) float64 {
		if len(d) == 0 {
			return 0
		}
		slices.Sort(d)
		return float64(d[int(float64(len(d)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(perEvent, 0.50), "p50-ms")
	b.ReportMetric(pct(perEvent, 0.99), "p99-ms")
	b.ReportMetric(pct(delivered, 0.99), "delivery-p99-ms")
}
