package fleetstage_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/fleet/fleettest"
	"github.com/nfcd/nfcd/internal/fleetstage"
	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/verdict"
)

func TestMain(m *testing.M) { os.Exit(fleettest.Main(m)) }

// kiosk is one daemon's verdict-stage ledger: its own store, the fleet.
type kiosk struct {
	t        *testing.T
	name     string
	path     string
	cfg      fleet.Config
	st       *store.Store
	s        *fleetstage.Stage
	stop     func()
	taps     int
	migrated bool
}

func newKiosk(t *testing.T, dsn, name string, timeout time.Duration) *kiosk {
	k := &kiosk{t: t, name: name, path: filepath.Join(t.TempDir(), "nfcd.db"),
		cfg: fleet.Config{DSN: dsn, Kiosk: name, Timeout: timeout, Migrate: true}}
	k.open()
	t.Cleanup(k.close)
	return k
}

func (k *kiosk) open() {
	k.t.Helper()
	st, err := store.Open(k.path, store.Options{})
	if err != nil {
		k.t.Fatal(err)
	}
	s, err := fleetstage.Open(context.Background(), k.cfg, st, fleetstage.Options{KeyID: "k1", Version: "test", Log: zaptest.NewLogger(k.t).Named(k.name)})
	if err != nil {
		k.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	k.st, k.s, k.stop = st, s, func() { cancel(); <-done }
	if !k.migrated {
		if _, err := s.Client().Migrate(context.Background()); err != nil {
			k.t.Fatal(err)
		}
		k.migrated = true
	}
}

func (k *kiosk) close() {
	if k.s == nil {
		return
	}
	k.stop()
	k.s.Close()
	k.st.Close()
	k.s = nil
}

// tap records one authentic tap of uid with counter ctr and returns its
// verdict as the stage would publish it.
func (k *kiosk) tap(uid string, ctr uint32) verdict.Verdict {
	k.t.Helper()
	k.taps++
	v := &verdict.Verdict{Tap: fmt.Sprintf("%s-%d", k.name, k.taps), Reader: "r", UID: uid, Ctr: ntag424.CounterOf(ctr),
		Verdict: verdict.Authentic, Reason: verdict.ReasonOK, Fleet: verdict.FleetOff, Remote: verdict.RemoteOff,
		Profile: "p", Time: time.Now().UTC().Truncate(time.Millisecond)}
	if err := k.s.Record(context.Background(), []*verdict.Verdict{v}); err != nil {
		k.t.Fatalf("%s: Record: %v", k.name, err)
	}
	return *v
}

func (k *kiosk) drained() bool {
	st, err := k.s.Status(context.Background())
	return err == nil && st.QueuedAdvances == 0 && st.UnshippedTaps == 0
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func history(t *testing.T, dsn string, q fleet.HistoryQuery) []fleet.Tap {
	t.Helper()
	db, err := fleet.Connect(context.Background(), fleet.Config{DSN: dsn, Kiosk: "reader"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	taps, err := db.History(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return taps
}

func TestReplayAcrossKiosks(t *testing.T) {
	dsn := fleettest.Database(t)
	a := newKiosk(t, dsn, "A", 5*time.Second)
	b := newKiosk(t, dsn, "B", 5*time.Second)
	va := a.tap("04A1B2C3D4E5F6", 5)
	if va.Verdict != verdict.Authentic || va.Fleet != verdict.FleetConfirmed {
		t.Fatalf("A: %s/%s fleet %s, want authentic, confirmed", va.Verdict, va.Reason, va.Fleet)
	}
	vb := b.tap("04A1B2C3D4E5F6", 5)
	if vb.Verdict != verdict.Replayed || vb.Reason != verdict.ReasonFleetReplay || vb.Fleet != verdict.FleetConfirmed {
		t.Fatalf("B: %s/%s fleet %s, want replayed/fleet_replay, confirmed", vb.Verdict, vb.Reason, vb.Fleet)
	}
	if want := "counter 5 was already accepted at kiosk A at "; len(vb.Detail) < len(want) || vb.Detail[:len(want)] != want {
		t.Fatalf("B detail %q", vb.Detail)
	}
	// A local replay is never asked: its fleet state stays off.
	if v := a.tap("04A1B2C3D4E5F6", 5); v.Reason != verdict.ReasonReplayedCounter || v.Fleet != verdict.FleetOff {
		t.Fatalf("A again: %s/%s fleet %s", v.Verdict, v.Reason, v.Fleet)
	}
	// B's local mark did not move: the genuine next tap is accepted there.
	if v := b.tap("04A1B2C3D4E5F6", 6); v.Verdict != verdict.Authentic || v.Fleet != verdict.FleetConfirmed {
		t.Fatalf("B 6: %s/%s fleet %s", v.Verdict, v.Reason, v.Fleet)
	}
	waitFor(t, 10*time.Second, "audit rows shipped", func() bool { return a.drained() && b.drained() })
	rows := history(t, dsn, fleet.HistoryQuery{})
	if len(rows) != 4 {
		t.Fatalf("fleet history has %d rows, want 4: %+v", len(rows), rows)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.ID] = r.Kiosk + " " + r.Verdict + " " + r.Fleet + " " + r.KeyID
	}
	if got[vb.Tap] != "B replayed confirmed k1" || got[va.Tap] != "A authentic confirmed k1" {
		t.Fatalf("rows %v", got)
	}
}

// TestOfflineLateReplay: the fleet away (a stalled network) — taps are
// decided locally within the timeout and queued; once it is back the
// advances and audit rows arrive exactly once and the counter another
// kiosk used meanwhile comes back as a late verdict.updated.
func TestOfflineLateReplay(t *testing.T) {
	dsn := fleettest.Database(t)
	u, _ := url.Parse(dsn)
	p, err := fleettest.NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	u.Host = p.Addr()
	const timeout = 300 * time.Millisecond
	a := newKiosk(t, u.String(), "A", timeout)
	b := newKiosk(t, dsn, "B", 5*time.Second)
	if v := a.tap("04000000000001", 1); v.Fleet != verdict.FleetConfirmed {
		t.Fatalf("online tap: fleet %s", v.Fleet)
	}
	p.Pause()
	start := time.Now()
	v7 := a.tap("04000000000001", 7)
	v8 := a.tap("04000000000002", 8)
	if took := time.Since(start); took > 2*timeout+time.Second {
		t.Fatalf("two offline taps took %v (timeout %v)", took, timeout)
	}
	if v7.Verdict != verdict.Authentic || v7.Fleet != verdict.FleetUnconfirmed || v8.Fleet != verdict.FleetUnconfirmed {
		t.Fatalf("offline: %s fleet %s; %s fleet %s", v7.Verdict, v7.Fleet, v8.Verdict, v8.Fleet)
	}
	// Meanwhile kiosk B accepts counter 7 of the first tag: A's 7 is a
	// replay the fleet reports later.
	if v := b.tap("04000000000001", 7); v.Verdict != verdict.Authentic {
		t.Fatalf("B: %s", v.Verdict)
	}
	p.Cut()
	p.Resume()
	var up judge.Update
	select {
	case up = <-a.s.Updates():
	case <-time.After(30 * time.Second):
		t.Fatal("no late replay")
	}
	if up.First || up.Prev != verdict.Authentic || up.Verdict.Tap != v7.Tap || up.Verdict.Verdict != verdict.Replayed ||
		up.Verdict.Reason != verdict.ReasonFleetReplay || up.Verdict.Fleet != verdict.FleetConfirmed || up.Verdict.Reader != "r" {
		t.Fatalf("late update %+v", up)
	}
	waitFor(t, 30*time.Second, "queues drained", func() bool { return a.drained() && b.drained() })
	select {
	case up := <-a.s.Updates():
		t.Fatalf("second late update %+v", up)
	default:
	}
	// Every audit row exactly once: A's four (1, 7, 8, the late replay)
	// and B's one.
	rows := history(t, dsn, fleet.HistoryQuery{Kiosk: "A"})
	if len(rows) != 4 {
		t.Fatalf("A shipped %d rows, want 4: %+v", len(rows), rows)
	}
	seqs := map[uint64]bool{}
	var states []string
	for _, r := range rows {
		if seqs[r.Seq] {
			t.Fatalf("sequence %d twice", r.Seq)
		}
		seqs[r.Seq] = true
		if r.ID == v7.Tap {
			// The late replay keeps the tap's time; its row is the later
			// sequence number.
			states = append(states, fmt.Sprintf("%d %s %s", r.Seq, r.Verdict, r.Fleet))
		}
	}
	if len(states) != 2 || states[0] != "4 replayed confirmed" || states[1] != "2 authentic unconfirmed" {
		t.Fatalf("rows of %s: %q", v7.Tap, states)
	}
}

// TestRestartKeepsQueues: rows queued while the fleet is away survive a
// restart of the kiosk (the bbolt queues) and arrive once.
func TestRestartKeepsQueues(t *testing.T) {
	dsn := fleettest.Database(t)
	u, _ := url.Parse(dsn)
	p, err := fleettest.NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	u.Host = p.Addr()
	a := newKiosk(t, u.String(), "A", 200*time.Millisecond)
	p.Pause()
	for i := range 5 {
		if v := a.tap("04000000000003", uint32(10+i)); v.Fleet != verdict.FleetUnconfirmed {
			t.Fatalf("tap %d: fleet %s", i, v.Fleet)
		}
	}
	a.close()
	p.Cut()
	p.Resume()
	a.open()
	waitFor(t, 30*time.Second, "queues drained", a.drained)
	if rows := history(t, dsn, fleet.HistoryQuery{Kiosk: "A"}); len(rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rows))
	}
	// The fleet's mark is the last queued counter.
	b := newKiosk(t, dsn, "B", 5*time.Second)
	if v := b.tap("04000000000003", 14); v.Reason != verdict.ReasonFleetReplay {
		t.Fatalf("B 14: %s/%s", v.Verdict, v.Reason)
	}
}
