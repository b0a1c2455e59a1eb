package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/admin"
	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/fleet/fleettest"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/verdict"
)

func TestMain(m *testing.M) { os.Exit(fleettest.Main(m)) }

// migrated returns a fresh fleet database with the current schema.
func migrated(t *testing.T) string {
	t.Helper()
	dsn := fleettest.Database(t)
	db, err := fleet.Connect(context.Background(), fleet.Config{DSN: dsn, Kiosk: "migrator"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// startKiosk runs a daemon of the fleet at dsn as kiosk name, with its
// own state directory and simulated reader (whose genuine tag has the
// same UID and keys as every other kiosk's: clones of one tag, each
// counting from 1).
func startKiosk(t *testing.T, dsn, name string, timeout time.Duration) *harness {
	t.Helper()
	return startDaemonWith(t, t.TempDir(), nil, "", func(c *config.Config) {
		c.Fleet = &fleet.Config{DSN: dsn, Kiosk: name, Timeout: timeout}
	})
}

// fleetStatus asks the daemon's admin API, as `nfcd fleet status` does.
func (h *harness) fleetStatus() FleetStatus {
	h.t.Helper()
	var st FleetStatus
	if err := admin.NewClient(admin.Path(h.dir)).Call(context.Background(), AdminFleetStatus, nil, &st); err != nil {
		h.t.Fatal(err)
	}
	return st
}

// opened checks a tag.read or verdict.updated payload's version 2
// signature and returns the signed verdict.
func (h *harness) opened(p map[string]any) verdict.Verdict {
	h.t.Helper()
	var wire verdict.Payload
	if err := json.Unmarshal([]byte(mustJSON(p)), &wire); err != nil {
		h.t.Fatal(err)
	}
	v, err := wire.Open(h.publicKey())
	if err != nil {
		h.t.Fatalf("signature of %v: %v", p, err)
	}
	return v
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFleetTwoDaemons: a SUN accepted at kiosk A is replayed at kiosk B,
// the fleet state is signed, every verdict's audit row reaches the fleet,
// and /healthz and the admin API show the link.
func TestFleetTwoDaemons(t *testing.T) {
	dsn := migrated(t)
	a := startKiosk(t, dsn, "kiosk-a", 5*time.Second)
	b := startKiosk(t, dsn, "kiosk-b", 5*time.Second)
	ca, cb := a.dial(), b.dial()

	a.tap(simulate.Genuine)
	va := a.opened(ca.tagRead())
	if va.Verdict != verdict.Authentic || va.Fleet != verdict.FleetConfirmed || !va.Ctr.Valid {
		t.Fatalf("A: %s/%s fleet %s", va.Verdict, va.Reason, va.Fleet)
	}
	b.tap(simulate.Genuine) // B's clone presents the same counter
	pb := cb.tagRead()
	vb := b.opened(pb)
	if vb.Verdict != verdict.Replayed || vb.Reason != verdict.ReasonFleetReplay || vb.Fleet != verdict.FleetConfirmed || vb.Ctr != va.Ctr {
		t.Fatalf("B: %s/%s fleet %s ctr %v, want replayed/fleet_replay confirmed ctr %v", vb.Verdict, vb.Reason, vb.Fleet, vb.Ctr, va.Ctr)
	}
	if d, _ := pb["detail"].(string); !strings.Contains(d, "kiosk kiosk-a") {
		t.Fatalf("B detail %q does not name kiosk-a", d)
	}
	// B's next counter is new to the fleet; a counterfeit is never asked.
	b.tap(simulate.Genuine)
	if v := b.opened(cb.tagRead()); v.Verdict != verdict.Authentic || v.Fleet != verdict.FleetConfirmed {
		t.Fatalf("B again: %s/%s fleet %s", v.Verdict, v.Reason, v.Fleet)
	}
	a.tap(simulate.Counterfeit)
	if v := a.opened(ca.tagRead()); v.Verdict != verdict.Counterfeit || v.Fleet != verdict.FleetOff {
		t.Fatalf("counterfeit: %s fleet %s", v.Verdict, v.Fleet)
	}
	waitUntil(t, 20*time.Second, "audit rows shipped", func() bool {
		sa, sb := a.fleetStatus(), b.fleetStatus()
		return sa.UnshippedTaps == 0 && sb.UnshippedTaps == 0
	})
	st := a.fleetStatus()
	if !st.Configured || !st.Connected || st.Kiosk != "kiosk-a" || st.SchemaVersion != fleet.SchemaVersion || st.QueuedAdvances != 0 {
		t.Fatalf("A fleet status %+v", st)
	}
	db, err := fleet.Connect(context.Background(), fleet.Config{DSN: dsn, Kiosk: "reader"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.History(context.Background(), fleet.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("fleet has %d rows, want 4: %+v", len(rows), rows)
	}
	for _, r := range rows {
		if r.ID == vb.Tap && (r.Kiosk != "kiosk-b" || r.Verdict != verdict.Replayed || r.Reason != verdict.ReasonFleetReplay || r.KeyID != verdict.KeyID(b.publicKey())) {
			t.Fatalf("B's row %+v", r)
		}
	}
	resp, err := http.Get(a.url + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"fleet":{"configured":true,"connected":true,"queued_advances":0,"unshipped_taps":0`) {
		t.Fatalf("/healthz: %s", body)
	}
}

// TestFleetAway: with the database unreachable a tap is decided locally
// within the timeout (unconfirmed); once it is back the queued advance is
// refused because another kiosk used the counter meanwhile, and the
// kiosk publishes verdict.updated replayed/fleet_replay.
func TestFleetAway(t *testing.T) {
	dsn := migrated(t)
	u, _ := url.Parse(dsn)
	p, err := fleettest.NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	u.Host = p.Addr()
	const timeout = 300 * time.Millisecond
	a := startKiosk(t, u.String(), "kiosk-a", timeout)
	b := startKiosk(t, dsn, "kiosk-b", 5*time.Second)
	ca, cb := a.dial(), b.dial()
	a.tap(simulate.Genuine) // counter 1, confirmed
	if v := a.opened(ca.tagRead()); v.Fleet != verdict.FleetConfirmed {
		t.Fatalf("online: fleet %s", v.Fleet)
	}
	p.Pause()
	a.tap(simulate.Genuine) // counter 2, the fleet away
	pa := ca.tagRead()
	va := a.opened(pa)
	if va.Verdict != verdict.Authentic || va.Fleet != verdict.FleetUnconfirmed {
		t.Fatalf("away: %s fleet %s", va.Verdict, va.Fleet)
	}
	if ms := pa["timings"].(map[string]any)["total_ms"].(float64); ms > float64(timeout/time.Millisecond)+2000 {
		t.Fatalf("tap took %v ms with the fleet away (timeout %v)", ms, timeout)
	}
	if st := a.fleetStatus(); st.QueuedAdvances != 1 || st.OldestUnshipped.IsZero() {
		t.Fatalf("status while away: %+v", st)
	}
	// B's clone: counter 1 is a replay, counter 2 is new to the fleet.
	b.tap(simulate.Genuine)
	if v := b.opened(cb.tagRead()); v.Reason != verdict.ReasonFleetReplay {
		t.Fatalf("B 1: %s/%s", v.Verdict, v.Reason)
	}
	b.tap(simulate.Genuine)
	if v := b.opened(cb.tagRead()); v.Verdict != verdict.Authentic || v.Ctr != va.Ctr {
		t.Fatalf("B 2: %s/%s ctr %v", v.Verdict, v.Reason, v.Ctr)
	}
	p.Cut()
	p.Resume()
	m := ca.nextWithin(30*time.Second, func(m map[string]any) bool { return m["type"] == "verdict.updated" })
	pu := m["payload"].(map[string]any)
	vu := a.opened(pu)
	if vu.Tap != va.Tap || vu.Verdict != verdict.Replayed || vu.Reason != verdict.ReasonFleetReplay || vu.Fleet != verdict.FleetConfirmed {
		t.Fatalf("verdict.updated %+v", vu)
	}
	waitUntil(t, 30*time.Second, "A's queues drained", func() bool {
		st := a.fleetStatus()
		return st.QueuedAdvances == 0 && st.UnshippedTaps == 0 && st.Connected
	})
	if st := a.fleetStatus(); st.LateReplays != 1 {
		t.Fatalf("late replays %d, want 1", st.LateReplays)
	}
}

// nextWithin is next with its own timeout.
func (c *client) nextWithin(d time.Duration, ok func(map[string]any) bool) map[string]any {
	c.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m, open := <-c.events:
			if !open {
				c.t.Fatal("connection closed while waiting for an event")
			}
			if ok(m) {
				return m
			}
		case <-timeout:
			c.t.Fatalf("no matching event within %v", d)
		}
	}
}

// TestFleetPostgresRestart stops PostgreSQL while two kiosks tap clones of
// one tag and starts it again: no tap waits beyond the timeout (plus a
// queue write), every audit row arrives exactly once, and the counter both
// kiosks accepted while it was down comes back as exactly one late
// replay (verdict.updated) at one of them.
func TestFleetPostgresRestart(t *testing.T) {
	fleettest.Require(t)
	cl, err := fleettest.StartCluster(fleettest.ClusterOptions{Settings: fleettest.FastSettings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	dsn := cl.Database(t)
	db, err := fleet.Connect(context.Background(), fleet.Config{DSN: dsn, Kiosk: "migrator"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	const timeout = fleet.DefaultTimeout
	a := startKiosk(t, dsn, "kiosk-a", timeout)
	b := startKiosk(t, dsn, "kiosk-b", timeout)
	ca, cb := a.dial(), b.dial()
	tap := func(h *harness, c *client) (verdict.Verdict, float64) {
		t.Helper()
		h.tap(simulate.Genuine)
		p := c.tagRead()
		return h.opened(p), p["timings"].(map[string]any)["total_ms"].(float64)
	}
	expect := func(what string, v verdict.Verdict, want, fleetState string) {
		t.Helper()
		if v.Verdict != want || v.Fleet != fleetState {
			t.Fatalf("%s: %s/%s fleet %s, want %s fleet %s", what, v.Verdict, v.Reason, v.Fleet, want, fleetState)
		}
	}
	v, _ := tap(a, ca) // 1
	expect("A 1", v, verdict.Authentic, verdict.FleetConfirmed)
	v, _ = tap(b, cb) // 1
	expect("B 1", v, verdict.Replayed, verdict.FleetConfirmed)
	v, _ = tap(b, cb) // 2
	expect("B 2", v, verdict.Authentic, verdict.FleetConfirmed)
	v, _ = tap(a, ca) // 2
	expect("A 2", v, verdict.Replayed, verdict.FleetConfirmed)

	if err := cl.Stop(); err != nil {
		t.Fatal(err)
	}
	for i, k := range []struct {
		h *harness
		c *client
	}{{a, ca}, {b, cb}, {a, ca}} { // A 3, B 3, A 4
		v, ms := tap(k.h, k.c)
		expect(fmt.Sprintf("tap %d while PostgreSQL is down", i), v, verdict.Authentic, verdict.FleetUnconfirmed)
		if ms > float64(timeout/time.Millisecond)+2000 {
			t.Fatalf("tap %d took %v ms while PostgreSQL is down (timeout %v)", i, ms, timeout)
		}
	}
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	// Exactly one of the two counters 3 is refused.
	var late []verdict.Verdict
	deadline := time.After(60 * time.Second)
	for len(late) == 0 {
		select {
		case m := <-ca.events:
			if m["type"] == "verdict.updated" {
				late = append(late, a.opened(m["payload"].(map[string]any)))
			}
		case m := <-cb.events:
			if m["type"] == "verdict.updated" {
				late = append(late, b.opened(m["payload"].(map[string]any)))
			}
		case <-deadline:
			t.Fatal("no late replay within 60 s of the restart")
		}
	}
	if l := late[0]; l.Verdict != verdict.Replayed || l.Reason != verdict.ReasonFleetReplay || l.Ctr.Value != 3 || l.Fleet != verdict.FleetConfirmed {
		t.Fatalf("late replay %+v", l)
	}
	waitUntil(t, 60*time.Second, "queues drained", func() bool {
		sa, sb := a.fleetStatus(), b.fleetStatus()
		return sa.UnshippedTaps+sa.QueuedAdvances+sb.UnshippedTaps+sb.QueuedAdvances == 0
	})
	if n := a.fleetStatus().LateReplays + b.fleetStatus().LateReplays; n != 1 {
		t.Fatalf("%d late replays, want 1", n)
	}
	for _, c := range []*client{ca, cb} {
		select {
		case m := <-c.events:
			if m["type"] == "verdict.updated" {
				t.Fatalf("a second late replay: %v", m)
			}
		default:
		}
	}
	db, err = fleet.Connect(context.Background(), fleet.Config{DSN: dsn, Kiosk: "reader"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.History(context.Background(), fleet.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	// A: 1, 2, 3, 4; B: 1, 2, 3; and the late replay's own entry.
	if len(rows) != 8 {
		t.Fatalf("%d rows in the fleet, want 8", len(rows))
	}
	seen := map[string]bool{}
	for _, r := range rows {
		k := fmt.Sprintf("%s %d", r.Kiosk, r.Seq)
		if seen[k] {
			t.Fatalf("row %s twice", k)
		}
		seen[k] = true
	}
}
