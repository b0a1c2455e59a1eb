package main

// The daemon's memory under the attack of issue 13 §2: clients that send
// history queries (replies of ~140 KB; here ~230 KB, the audit log's
// entries being long) and never read. Before the fix, 60 such clients took
// `nfcd run` from 12.5 MB to 1.8 GB RSS. Now each client's queued bytes
// are bounded (ws.DefaultMaxQueuedBytes, then 1013), a client with unread
// replies cannot start another query, at most two queries are in the
// making at once across all clients, and connections are bounded in total
// (ws.DefaultMaxConns); the peak stays under the target of 64 MB with 100
// hostile clients.
//
//	go test ./cmd/nfcd -run '^$' -bench HostileClients -benchtime 1x
//
// The daemon runs as a child process built like `make build`, so the
// figure is its own VmHWM, none of the test binary's memory.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
)

const (
	hostileClients  = 100
	hostileDuration = 20 * time.Second
	hostileTargetMB = 64
	// hostileEntries fills the audit log so that a history.query of the
	// largest limit answers with ~140 KB, as in the report.
	hostileEntries = 1000
)

// fillAuditLog records n verdicts in the store of dir, as taps would.
func fillAuditLog(tb testing.TB, dir string, n int) {
	tb.Helper()
	p := statedir.PathsOf(dir)
	if _, err := p.Prepare(); err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(p.DB, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	vs := make([]*verdict.Verdict, 0, n)
	for i := range n {
		vs = append(vs, &verdict.Verdict{
			Reader: "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00", UID: fmt.Sprintf("04%012X", i),
			Ctr: ntag424.CounterOf(uint32(i + 1)), Verdict: verdict.Counterfeit, Reason: verdict.ReasonBadMAC,
			Detail: "SDMMAC does not match", Profile: "store-tags", Time: time.Now().Add(-time.Duration(n-i) * time.Second),
		})
	}
	if err := st.Record(context.Background(), vs); err != nil {
		tb.Fatal(err)
	}
}

// hostile is one attacking client: it takes a session token as the
// kiosk page would, opens a WebSocket, sends history queries for the
// largest page as fast as the daemon lets it and never reads; when the
// daemon closes it, it starts over.
func hostile(ctx context.Context, addr string, stats *hostileStats) {
	httpc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	query := []byte(`{"v":1,"type":"history.query","id":"q","payload":{"limit":1000}}`)
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/session", nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := httpc.Do(req)
		if err != nil {
			continue
		}
		var sr struct{ Token string }
		json.NewDecoder(resp.Body).Decode(&sr)
		resp.Body.Close()
		d := websocket.Dialer{Subprotocols: []string{"nfcd.v1", "nfcd-token." + sr.Token}, HandshakeTimeout: 5 * time.Second}
		c, resp, err := d.DialContext(ctx, "ws://"+addr+"/v1/ws", nil)
		if err != nil {
			stats.refused.Add(1)
			if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
				// Over the connection bound: try again shortly.
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
			continue
		}
		stats.connected.Add(1)
		for ctx.Err() == nil {
			c.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if err := c.WriteMessage(websocket.TextMessage, query); err != nil {
				break
			}
			stats.queries.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
		c.Close()
	}
}

type hostileStats struct {
	connected, refused, queries atomic.Int64
}

// BenchmarkHostileClients reports the daemon's peak resident memory while
// 100 hostile clients attack it for 20 s (peak-rss-MB; target < 64 MB),
// its RSS before (idle-rss-MB) and after (after-rss-MB), and the p99
// round trip of an honest client's pings during the attack
// (honest-ping-p99-ms).
func BenchmarkHostileClients(b *testing.B) {
	perfSkipUnsupported(b)
	// The allocations reported are the attacking clients', in this
	// process; the daemon's memory is the RSS metrics.
	b.ReportAllocs()
	bin := perfBuild(b)
	cfg := perfConfig(b)
	for range b.N {
		dir := b.TempDir()
		fillAuditLog(b, dir, hostileEntries)
		tok, err := token.Open(statedir.PathsOf(dir).Tokens).Create("honest")
		if err != nil {
			b.Fatal(err)
		}
		p := perfStart(b, bin, dir, cfg)
		p.awaitReady(b)
		time.Sleep(perfIdle)
		idle, err := p.memory()
		if err != nil {
			b.Fatal(err)
		}

		// The honest client: one query to size the reply, then pings.
		d := websocket.Dialer{Subprotocols: []string{"nfcd.v1", "nfcd-token." + tok}}
		honest, _, err := d.Dial("ws://"+p.addr+"/v1/ws", nil)
		if err != nil {
			b.Fatal(err)
		}
		honest.ReadMessage() // hello
		honest.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"history.query","id":"size","payload":{"limit":1000}}`))
		_, reply, err := honest.ReadMessage()
		if err != nil || !strings.Contains(string(reply), `"id":"size"`) {
			b.Fatalf("history.query: %v %.100s", err, reply)
		}

		ctx, cancel := context.WithTimeout(context.Background(), hostileDuration)
		var stats hostileStats
		var wg sync.WaitGroup
		for range hostileClients {
			wg.Add(1)
			go func() { defer wg.Done(); hostile(ctx, p.addr, &stats) }()
		}
		var pings []time.Duration
		var peakSampled int64
		tick := time.NewTicker(100 * time.Millisecond)
		b.ResetTimer()
	attack:
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				break attack
			case <-tick.C:
			}
			if m, err := p.memory(); err == nil {
				peakSampled = max(peakSampled, m.RSS)
			}
			start := time.Now()
			honest.SetReadDeadline(time.Now().Add(5 * time.Second))
			honest.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := honest.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"v":1,"type":"ping","id":"p%d"}`, n))); err != nil {
				b.Fatalf("honest client: %v", err)
			}
			for {
				_, m, err := honest.ReadMessage()
				if err != nil {
					b.Fatalf("honest client dropped during the attack: %v", err)
				}
				if strings.Contains(string(m), fmt.Sprintf(`"id":"p%d"`, n)) {
					break
				}
			}
			pings = append(pings, time.Since(start))
		}
		b.StopTimer()
		cancel()
		tick.Stop()
		wg.Wait()
		honest.Close()
		mem, err := p.memory()
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(perfIdle)
		after, _ := p.memory()
		p.stop(b)

		slices.Sort(pings)
		peak := perfMB(mem.HWM)
		b.ReportMetric(perfMB(idle.RSS), "idle-rss-MB")
		b.ReportMetric(peak, "peak-rss-MB")
		b.ReportMetric(perfMB(after.RSS), "after-rss-MB")
		b.ReportMetric(float64(len(reply))/1024, "reply-KB")
		b.ReportMetric(perfMS(pings[len(pings)*99/100]), "honest-ping-p99-ms")
		b.ReportMetric(float64(stats.connected.Load()), "hostile-conns")
		b.ReportMetric(float64(stats.queries.Load()), "hostile-queries")
		b.Logf("%d hostile clients for %v: %d connections (%d refused), %d queries of %d KB replies; RSS idle %.1f MB, peak %.1f MB (sampled %.1f), after %.1f MB; honest ping p50 %v p99 %v; %s %s/%s, %d CPUs",
			hostileClients, hostileDuration, stats.connected.Load(), stats.refused.Load(), stats.queries.Load(), len(reply)/1024,
			perfMB(idle.RSS), peak, perfMB(peakSampled), perfMB(after.RSS), pings[len(pings)/2], pings[len(pings)*99/100],
			runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
		if peak >= hostileTargetMB {
			b.Errorf("peak RSS %.1f MB under attack, target < %d MB", peak, hostileTargetMB)
		}
		if os.Getenv("NFCD_REPORT_DIR") != "" {
			perfWriteReport(b, []string{fmt.Sprintf("hostile_clients %d", hostileClients), fmt.Sprintf("hostile_peak_rss_mb %.1f", peak)})
		}
	}
}
