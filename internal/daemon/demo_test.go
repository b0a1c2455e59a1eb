package daemon

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/tomlfile"
)

// TestDemoSameOnEveryStart runs `nfcd run --simulate` twice on one state
// directory: the second start must show the demo exactly as the first did
// (genuine taps authentic, only the replay tag's second presentation
// replayed), because the simulated tags go on counting from the replay
// ledger's marks instead of starting at 1 again.
func TestDemoSameOnEveryStart(t *testing.T) {
	dir := t.TempDir()
	// The demo's pattern: Genuine, Genuine, Counterfeit, Genuine, Replay,
	// Replay, Genuine, Genuine.
	want := []string{"authentic", "authentic", "counterfeit", "authentic", "authentic", "replayed", "authentic", "authentic"}
	tok := ""
	for run := 1; run <= 2; run++ {
		h := startWith(t, dir, tok, func(o *Options) {
			o.Simulate = true
			o.Config.SimulateInterval = tomlfile.Duration{Duration: 20 * time.Millisecond}
		})
		tok = h.token
		c := h.dial()
		var got []string
		var ctrs []float64
		for len(got) < len(want) {
			p := c.tagRead()
			got = append(got, p["verdict"].(string))
			if p["verdict"] == "authentic" {
				ctrs = append(ctrs, p["ctr"].(float64))
			}
		}
		h.stop()
		if !slices.Equal(got, want) {
			t.Errorf("start %d: verdicts %q, want %q", run, got, want)
		}
		t.Logf("start %d: authentic counters %v", run, ctrs)
		if run == 2 && len(ctrs) > 0 && ctrs[0] <= 1 {
			t.Errorf("start 2: the first genuine tap has counter %v; the tags started counting from 1 again", ctrs[0])
		}
	}
}

// TestPageURL: the printed URL opens the page, also when the daemon
// listens on all interfaces (whose address is no Host the server accepts).
func TestPageURL(t *testing.T) {
	for _, tc := range []struct {
		addr string
		tls  bool
		want string
	}{
		{"127.0.0.1:7424", false, "http://127.0.0.1:7424/"},
		{"0.0.0.0:7424", false, "http://127.0.0.1:7424/"},
		{"[::]:7424", false, "http://127.0.0.1:7424/"},
		{"[::1]:7424", false, "http://[::1]:7424/"},
		{"0.0.0.0:7424", true, "https://127.0.0.1:7424/"},
		{"192.168.1.5:7424", true, "https://192.168.1.5:7424/"},
	} {
		tcp, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := pageURL(tc.tls, tcp); got != tc.want {
			t.Errorf("pageURL(%v, %s) = %s, want %s", tc.tls, tc.addr, got, tc.want)
		}
	}
}
