package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestExposition(t *testing.T) {
	m := New(Build{Version: "1.2.3", Commit: "abc1234"})
	m.Tap("ACS ACR1252U", "authentic", 40*time.Millisecond)
	m.Tap("ACS ACR1252U", "authentic", 60*time.Millisecond)
	m.Tap("vpcd 0", "replayed", 2*time.Second)
	m.APDUError(0x91AE)
	m.APDUError(0x91AE)
	m.APDUError(0x6A82)
	m.PCSCContextReset()
	m.SetReaders(2)
	m.SetWSClients(3)
	m.WSDropped()
	m.WSSlowClientClosed()
	m.RemoteRequest("verify", OutcomeOK, 300*time.Millisecond)
	m.RemoteRequest("verify", OutcomeTimeout, 10*time.Second)
	out := scrape(t, m)
	for _, line := range []string{
		`nfcd_taps_total{reader="ACS ACR1252U",verdict="authentic"} 2`,
		`nfcd_taps_total{reader="vpcd 0",verdict="replayed"} 1`,
		`nfcd_tap_duration_seconds_bucket{le="0.05"} 1`,
		`nfcd_tap_duration_seconds_bucket{le="0.075"} 2`,
		`nfcd_tap_duration_seconds_count 3`,
		`nfcd_apdu_errors_total{sw="91AE"} 2`,
		`nfcd_apdu_errors_total{sw="6A82"} 1`,
		`nfcd_pcsc_context_resets_total 1`,
		`nfcd_readers_connected 2`,
		`nfcd_ws_clients 3`,
		`nfcd_ws_send_dropped_total 1`,
		`nfcd_ws_slow_client_disconnects_total 1`,
		`nfcd_remote_requests_total{endpoint="verify",outcome="ok"} 1`,
		`nfcd_remote_requests_total{endpoint="verify",outcome="timeout"} 1`,
		`nfcd_remote_request_duration_seconds_count{endpoint="verify"} 2`,
		`nfcd_build_info{commit="abc1234",version="1.2.3"} 1`,
		`# TYPE go_goroutines gauge`,
		`# TYPE go_gc_duration_seconds summary`,
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if strings.Contains(out, "nfcd_outbox") {
		t.Error("outbox metrics without an outbox")
	}
	// The conventions promlint checks: units, _total, help text, names.
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "nfcd_") {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}
}

func TestOutbox(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(Build{})
		var mu sync.Mutex
		depth, oldest := 0, time.Time{}
		m.SetOutbox(func() (int, time.Time) {
			mu.Lock()
			defer mu.Unlock()
			return depth, oldest
		})
		out := scrape(t, m)
		if !strings.Contains(out, "nfcd_outbox_depth 0\n") || !strings.Contains(out, "nfcd_outbox_oldest_age_seconds 0\n") {
			t.Errorf("empty outbox:\n%s", grep(out, "nfcd_outbox"))
		}
		mu.Lock()
		depth, oldest = 4, time.Now()
		mu.Unlock()
		time.Sleep(90 * time.Second) // the bubble's clock: no real wait
		out = scrape(t, m)
		if !strings.Contains(out, "nfcd_outbox_depth 4\n") || !strings.Contains(out, "nfcd_outbox_oldest_age_seconds 90\n") {
			t.Errorf("outbox after 90 s:\n%s", grep(out, "nfcd_outbox"))
		}
		m.SetOutbox(nil)
		if strings.Contains(scrape(t, m), "nfcd_outbox") {
			t.Error("outbox metrics after SetOutbox(nil)")
		}
	})
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.Tap("r", "authentic", time.Millisecond)
	m.APDUError(0x91AE)
	m.PCSCContextReset()
	m.SetReaders(1)
	m.SetWSClients(1)
	m.WSDropped()
	m.WSSlowClientClosed()
	m.RemoteRequest("verify", OutcomeOK, time.Millisecond)
	m.SetOutbox(func() (int, time.Time) { return 0, time.Time{} })
}

func TestConcurrentFirstUse(t *testing.T) {
	m := New(Build{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				m.Tap([]string{"a", "b", "c"}[(i+j)%3], "authentic", time.Millisecond)
				m.APDUError(uint16(0x9100 + j%4))
				m.RemoteRequest("verify", OutcomeOK, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	total := testutil.ToFloat64(m.taps.WithLabelValues("a", "authentic")) +
		testutil.ToFloat64(m.taps.WithLabelValues("b", "authentic")) +
		testutil.ToFloat64(m.taps.WithLabelValues("c", "authentic"))
	if total != 800 {
		t.Errorf("taps counted %v, want 800", total)
	}
}

// The tap path must cost nothing measurable: no allocation once the
// reader/verdict pair has been seen.
func TestTapAllocs(t *testing.T) {
	m := New(Build{})
	m.Tap("ACS ACR1252U", "authentic", time.Millisecond)
	m.APDUError(0x91AE)
	m.RemoteRequest("verify", OutcomeOK, time.Millisecond)
	for name, f := range map[string]func(){
		"Tap":           func() { m.Tap("ACS ACR1252U", "authentic", 42*time.Millisecond) },
		"APDUError":     func() { m.APDUError(0x91AE) },
		"RemoteRequest": func() { m.RemoteRequest("verify", OutcomeOK, time.Millisecond) },
		"SetReaders":    func() { m.SetReaders(2) },
	} {
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s: %v allocs per call, want 0", name, a)
		}
	}
}

func BenchmarkTap(b *testing.B) {
	m := New(Build{})
	b.ReportAllocs()
	for b.Loop() {
		m.Tap("ACS ACR1252U PICC Interface", "authentic", 42*time.Millisecond)
	}
}

func BenchmarkTapParallel(b *testing.B) {
	m := New(Build{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Tap("ACS ACR1252U PICC Interface", "authentic", 42*time.Millisecond)
		}
	})
}

func BenchmarkScrape(b *testing.B) {
	m := New(Build{})
	for i := range 4 {
		m.Tap(string(rune('a'+i)), "authentic", time.Millisecond)
	}
	h := m.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	}
}
