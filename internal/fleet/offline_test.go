package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/fleet/fleettest"
	"github.com/nfcd/nfcd/internal/ntag424"
)

// slack is what a check may take beyond its timeout: the queue push and
// scheduling on a loaded two-core machine, more under the race detector.
// A check that waited for the network would take seconds (the connect and
// round timeouts) or, with the stalled proxy, until the test resumes it.
var slack = map[bool]time.Duration{false: 250 * time.Millisecond, true: 750 * time.Millisecond}[raceEnabled]

// viaProxy returns dsn rewritten to go through a new stalling proxy.
func viaProxy(t *testing.T, dsn string) (string, *fleettest.Proxy) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p, err := fleettest.NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	u.Host = p.Addr()
	return u.String(), p
}

// timedCheck runs one check and fails t if it took longer than the
// kiosk's timeout plus slack.
func (k *kiosk) timedCheck(t *testing.T, profile string, uid []byte, ctr uint32) fleet.Result {
	t.Helper()
	start := time.Now()
	r := k.check(profile, uid, ctr)
	switch d := time.Since(start); {
	case d > k.cfg.Timeout+slack:
		t.Errorf("%s: check (%X, %d) took %v, timeout %v", k.name, uid, ctr, d, k.cfg.Timeout)
	case d > k.cfg.Timeout:
		t.Logf("%s: check (%X, %d) took %v, timeout %v (within the slack)", k.name, uid, ctr, d, k.cfg.Timeout)
	}
	return r
}

func fleetMark(t *testing.T, dsn, profile string, uid []byte) (ctr uint32, kiosk string) {
	t.Helper()
	var c int64
	err := connect(t, dsn).QueryRow(context.Background(),
		`SELECT ctr, kiosk FROM nfcd.counters WHERE profile = $1 AND uid = $2`, profile, uid).Scan(&c, &kiosk)
	if err != nil {
		t.Fatalf("fleet mark of %X: %v", uid, err)
	}
	return uint32(c), kiosk
}

// TestOutage stops PostgreSQL (pg_ctl stop -m fast) while two kiosks tap,
// keeps them tapping while it is down, and starts it again. No check waits
// beyond its timeout; every queued advance and audit row arrives exactly
// once; a SUN accepted before the outage at A and presented at B during it,
// and a cloned SUN presented at both during it, come back as late replays;
// no genuine tap does.
func TestOutage(t *testing.T) {
	fleettest.Require(t)
	cl, err := fleettest.StartCluster(fleettest.ClusterOptions{Settings: fleettest.FastSettings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	dsn := cl.Database(t)
	migrate(t, dsn)
	const timeout = fleet.DefaultTimeout
	a := newKiosk(t, dsn, "A", timeout)
	b := newKiosk(t, dsn, "B", timeout)
	a.run()
	b.run()
	ctx := context.Background()
	for _, k := range []*kiosk{a, b} {
		waitFor(t, 10*time.Second, k.name+" to connect", func() bool {
			st, _ := k.c.Status(ctx)
			return st.Connected
		})
	}

	// Each kiosk taps its own genuine tag continuously and ships an audit
	// row per tap, as the daemon will.
	type stream struct {
		k    *kiosk
		uid  []byte
		last uint32
		seq  uint64
	}
	streams := []*stream{{k: a, uid: []byte{0xA, 1}}, {k: b, uid: []byte{0xB, 1}}}
	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		shipped  sync.Map // kiosk/seq → true
		statesMu sync.Mutex
		states   = map[string]int{}
	)
	ship := func(k *kiosk, seq uint64, uid []byte, ctr uint32, r fleet.Result) {
		verdict := "authentic"
		if r.Replayed {
			verdict = "replayed"
		}
		err := k.c.Ship(ctx, fleet.Tap{Seq: seq, Time: time.Now(), Reader: "reader 0", Profile: "shop",
			UID: uid, Ctr: ntag424.CounterOf(ctr), Verdict: verdict, Reason: "ok", KeyID: "k1", Fleet: r.State})
		if err != nil {
			t.Error(err)
		}
		shipped.Store(fmt.Sprintf("%s/%d", k.name, seq), true)
	}
	var stopOnce sync.Once
	halt := func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}
	t.Cleanup(halt) // before the kiosks close
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				s.last++
				s.seq++
				r := s.k.timedCheck(t, "shop", s.uid, s.last)
				if r.Replayed {
					t.Errorf("%s: genuine tap %d refused: %+v", s.k.name, s.last, r)
				}
				statesMu.Lock()
				states[r.State]++
				statesMu.Unlock()
				ship(s.k, s.seq, s.uid, s.last, r)
			}
		}()
	}

	// Before the outage: A accepts a SUN that a clone will show B later.
	x := []byte{0xC1, 0x0E}
	accept(t, dsn, "A", "shop", x, 10)
	time.Sleep(200 * time.Millisecond)

	if err := cl.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Log("postgres stopped")
	time.Sleep(300 * time.Millisecond)
	// During it: B sees A's SUN; both see one cloned SUN.
	y := []byte{0xC1, 0x0F}
	for _, c := range []struct {
		k   *kiosk
		uid []byte
		ctr uint32
	}{{b, x, 10}, {a, y, 20}, {b, y, 20}} {
		if r := c.k.timedCheck(t, "shop", c.uid, c.ctr); r.State != fleet.StateUnconfirmed {
			t.Errorf("%s: check during the outage = %+v, want unconfirmed", c.k.name, r)
		}
	}
	time.Sleep(time.Second)
	st, _ := a.c.Status(ctx)
	if st.Connected || st.QueuedAdvances == 0 || st.UnshippedTaps == 0 || st.OldestAge(time.Now()) < time.Second {
		t.Errorf("A's status during the outage: %+v", st)
	}
	t.Logf("A during the outage: %+v", st)

	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Log("postgres started")
	time.Sleep(500 * time.Millisecond)
	halt()
	waitFor(t, 60*time.Second, "both queues to drain", func() bool { return a.drained() && b.drained() })

	// Genuine streams: marks at their last counters, no late replays.
	for _, s := range streams {
		if ctr, k := fleetMark(t, dsn, "shop", s.uid); ctr != s.last || k != s.k.name {
			t.Errorf("mark of %s's tag = %d by %s, want %d by %s", s.k.name, ctr, k, s.last, s.k.name)
		}
	}
	lates := map[string][]fleet.LateReplay{"A": a.lates(), "B": b.lates()}
	var xLate, yLate int
	for name, ls := range lates {
		for _, l := range ls {
			switch {
			case string(l.Advance.UID) == string(x) && name == "B" && l.Holder.Kiosk == "A" && l.Holder.Ctr == 10:
				xLate++
			case string(l.Advance.UID) == string(y) && l.Holder.Kiosk != name && l.Holder.Ctr == 20:
				yLate++
			default:
				t.Errorf("%s: unexpected late replay %+v", name, l)
			}
		}
	}
	if xLate != 1 || yLate != 1 {
		t.Errorf("late replays: %d of A's SUN at B (want 1), %d of the clone (want 1)", xLate, yLate)
	}

	// Every audit row exactly once.
	want := 0
	shipped.Range(func(any, any) bool { want++; return true })
	var rows, distinct int
	if err := connect(t, dsn).QueryRow(ctx, `SELECT count(*), count(DISTINCT (kiosk, local_seq)) FROM nfcd.taps`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != want || distinct != want {
		t.Errorf("taps table: %d rows, %d distinct; want %d", rows, distinct, want)
	}
	t.Logf("taps by fleet state: %v; %d audit rows", states, want)
	if states[fleet.StateUnconfirmed] == 0 || states[fleet.StateConfirmed] == 0 {
		t.Errorf("the streams saw %v, want both states", states)
	}
}

// TestSlowFleet: a check that the database cannot answer in time (a row
// lock held elsewhere) is queued at its timeout; later checks queue behind
// it at once; all reach the fleet once the lock is gone, none is a replay.
func TestSlowFleet(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	a := newKiosk(t, dsn, "A", checkTimeout)
	ctx := context.Background()
	u, v := []byte{1, 1}, []byte{2, 2}
	accept(t, dsn, "A", "p", u, 1)
	a.run()

	conn := connect(t, dsn)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM nfcd.counters WHERE uid = $1 FOR UPDATE`, u); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if r := a.timedCheck(t, "p", u, 2); r.State != fleet.StateUnconfirmed {
		t.Errorf("check behind a lock = %+v, want unconfirmed", r)
	}
	if d := time.Since(start); d < checkTimeout {
		t.Errorf("check behind a lock returned after %v, before its timeout", d)
	}
	start = time.Now()
	if r := a.timedCheck(t, "p", v, 1); r.State != fleet.StateUnconfirmed {
		t.Errorf("check behind a queued advance = %+v, want unconfirmed", r)
	}
	if d := time.Since(start); d > checkTimeout/2 {
		t.Errorf("check behind a queued advance took %v, want at once", d)
	}
	time.Sleep(500 * time.Millisecond)
	tx.Rollback(ctx)
	waitFor(t, 30*time.Second, "the queue to drain", a.drained)
	if r := a.timedCheck(t, "p", v, 2); r.State != fleet.StateConfirmed || r.Replayed {
		t.Errorf("check after the drain = %+v, want confirmed", r)
	}
	if ctr, _ := fleetMark(t, dsn, "p", u); ctr != 2 {
		t.Errorf("mark of u = %d, want 2", ctr)
	}
	if l := a.lates(); len(l) != 0 {
		t.Errorf("late replays %+v, want none", l)
	}
}

// TestStalledNetwork: the network to the database stalls (packets held,
// nothing refused). Checks, also concurrent ones, return at their timeout;
// when the network recovers, the checks that timed out may still run on
// the server: the kiosk recognises its own advances (nonce) and reports no
// replay.
func TestStalledNetwork(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	pdsn, proxy := viaProxy(t, dsn)
	a := newKiosk(t, pdsn, "A", checkTimeout)
	a.run()
	waitFor(t, 10*time.Second, "a contact", func() bool { st, _ := a.c.Status(context.Background()); return st.Connected })
	if r := a.timedCheck(t, "p", []byte{1}, 1); r.State != fleet.StateConfirmed {
		t.Fatalf("check before the stall = %+v", r)
	}
	proxy.Pause()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := a.timedCheck(t, "p", []byte{byte(i + 1)}, 2); r.State != fleet.StateUnconfirmed {
				t.Errorf("check %d during the stall = %+v", i, r)
			}
		}()
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	proxy.Resume()
	waitFor(t, 30*time.Second, "the queue to drain", a.drained)
	for i := range 8 {
		if ctr, k := fleetMark(t, dsn, "p", []byte{byte(i + 1)}); ctr != 2 || k != "A" {
			t.Errorf("mark %d = %d by %s, want 2 by A", i, ctr, k)
		}
	}
	if l := a.lates(); len(l) != 0 {
		t.Errorf("late replays %+v, want none", l)
	}
}

// TestLateReplayRetried: when the daemon cannot take a late replay yet, the
// advance stays queued and is reported again.
func TestLateReplayRetried(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	pdsn, proxy := viaProxy(t, dsn)
	b := newKiosk(t, pdsn, "B", checkTimeout)
	x := []byte{7, 7, 7}
	accept(t, dsn, "A", "p", x, 5)
	proxy.Pause()
	// Counter 5 is a clone of A's tap; 6 is the genuine tag's next tap,
	// queued behind it. Both go to the fleet in one batch.
	for _, ctr := range []uint32{5, 6} {
		res, err := b.c.Check(context.Background(), fleet.Advance{Profile: "p", UID: x, Ctr: ctr, Tap: fmt.Sprintf("tap-%d", ctr)})
		if err != nil || res[0].State != fleet.StateUnconfirmed {
			t.Fatalf("B during the stall = %+v, %v", res, err)
		}
	}
	b.mu.Lock()
	b.lateErr = errLateRefused
	b.mu.Unlock()
	b.run()
	proxy.Resume()
	waitFor(t, 30*time.Second, "the refused report", func() bool {
		st, _ := b.c.Status(context.Background())
		return strings.Contains(st.LastError, errLateRefused.Error())
	})
	if st, _ := b.c.Status(context.Background()); st.QueuedAdvances != 2 {
		t.Errorf("queued advances after a refused report = %d, want 2", st.QueuedAdvances)
	}
	b.mu.Lock()
	b.lateErr = nil
	b.mu.Unlock()
	waitFor(t, 30*time.Second, "the queue to drain", b.drained)
	l := b.lates()
	// The resend finds the mark at B's own 6, but the fleet kept the first
	// answer: 5 was held by A.
	if len(l) != 1 || l[0].Holder.Kiosk != "A" || l[0].Holder.Ctr != 5 || l[0].Advance.Ctr != 5 || l[0].Advance.Tap != "tap-5" {
		t.Fatalf("late replays = %+v, want one of counter 5 (tap-5) held by A", l)
	}
	if ctr, k := fleetMark(t, dsn, "p", x); ctr != 6 || k != "B" {
		t.Errorf("mark = %d by %s, want 6 by B", ctr, k)
	}
	if d := l[0].Detail(); !strings.Contains(d, "kiosk A") {
		t.Errorf("Detail = %q", d)
	}
	if st, _ := b.c.Status(context.Background()); st.LateReplays != 1 {
		t.Errorf("Status.LateReplays = %d, want 1", st.LateReplays)
	}
}

// TestResendAfterLostAck: the kiosk sends its queued work but loses the
// acknowledgement (the queue removal fails, as after a crash between the
// two). Everything is sent again: no audit row twice, no advance taken for
// a replay of itself. Then the kiosk restarts on the same queues.
func TestResendAfterLostAck(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	pdsn, proxy := viaProxy(t, dsn)
	a := newKiosk(t, pdsn, "A", fleet.DefaultTimeout)
	ctx := context.Background()
	x := []byte{3, 3, 3}
	proxy.Pause()
	for ctr := uint32(1); ctr <= 3; ctr++ {
		a.timedCheck(t, "p", x, ctr)
		if err := a.c.Ship(ctx, fleet.Tap{Seq: uint64(ctr), Time: time.Now(), Reader: "r", UID: x, Ctr: ntag424.CounterOf(ctr), Verdict: "authentic", Reason: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	a.advances.FailRemove(1)
	a.taps.FailRemove(1)
	// A restart while the network is stalled: the new client finds the
	// queued work.
	a.close()
	proxy.Resume()
	a.open()
	a.run()
	waitFor(t, 30*time.Second, "the queues to drain", a.drained)
	if l := a.lates(); len(l) != 0 {
		t.Errorf("late replays %+v, want none", l)
	}
	if ctr, k := fleetMark(t, dsn, "p", x); ctr != 3 || k != "A" {
		t.Errorf("mark = %d by %s, want 3 by A", ctr, k)
	}
	var n int
	connect(t, dsn).QueryRow(ctx, `SELECT count(*) FROM nfcd.taps`).Scan(&n)
	if n != 3 {
		t.Errorf("%d audit rows, want 3", n)
	}
}

// TestInvalidQueuedItemsDropped: an item the database refuses as data (here
// pushed past the client's validation) is dropped and counted, and does not
// hold up the others.
func TestInvalidQueuedItemsDropped(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	a := newKiosk(t, dsn, "A", testTimeout)
	a.close()
	ctx := context.Background()
	now := time.Now()
	long := make([]byte, 40)
	a.advances.Push(ctx,
		fleet.Advance{Profile: "p", UID: []byte{1}, Ctr: 1, Time: now, Nonce: 1},
		fleet.Advance{Profile: "p", UID: long, Ctr: 1, Time: now, Nonce: 2},
		fleet.Advance{Profile: "p", UID: []byte{2}, Ctr: 1, Time: now, Nonce: 3})
	a.taps.Push(ctx,
		fleet.Tap{Kiosk: "A", Seq: 1, Time: now, UID: []byte{1}},
		fleet.Tap{Kiosk: "A", Seq: 2, Time: now, UID: long},
		fleet.Tap{Kiosk: "A", Seq: 3, Time: now, UID: []byte{2}})
	a.open()
	a.run()
	waitFor(t, 30*time.Second, "the queues to drain", a.drained)
	st, _ := a.c.Status(ctx)
	if st.Dropped != 2 {
		t.Errorf("Status.Dropped = %d, want 2", st.Dropped)
	}
	for _, u := range [][]byte{{1}, {2}} {
		if ctr, _ := fleetMark(t, dsn, "p", u); ctr != 1 {
			t.Errorf("mark of %X = %d, want 1", u, ctr)
		}
	}
	var n int
	connect(t, dsn).QueryRow(ctx, `SELECT count(*) FROM nfcd.taps`).Scan(&n)
	if n != 2 {
		t.Errorf("%d audit rows, want 2", n)
	}
}

// TestQueueFailure: when the fleet does not answer and the queue cannot
// store the advance, Check says so instead of pretending.
func TestQueueFailure(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	pdsn, proxy := viaProxy(t, dsn)
	a := newKiosk(t, pdsn, "A", checkTimeout)
	proxy.Pause()
	a.advances.FailPush(1)
	_, err := a.c.Check(context.Background(), fleet.Advance{Profile: "p", UID: []byte{1}, Ctr: 1})
	if !errors.Is(err, fleettest.ErrInjected) {
		t.Errorf("Check with a failing queue: %v, want the queue's error", err)
	}
	if st, _ := a.c.Status(context.Background()); st.QueuedAdvances != 0 {
		t.Errorf("QueuedAdvances = %d after a failed push", st.QueuedAdvances)
	}
	proxy.Resume()
	if r := a.timedCheck(t, "p", []byte{1}, 1); r.State != fleet.StateConfirmed {
		t.Errorf("check after the failed push = %+v, want confirmed (nothing queued ahead)", r)
	}
}

// TestCancelledCheck: a caller that gives up (its context cancelled) gets
// its advance queued, and the fleet is not taken for unreachable.
func TestCancelledCheck(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	a := newKiosk(t, dsn, "A", checkTimeout)
	a.run()
	waitFor(t, 10*time.Second, "a contact", func() bool { st, _ := a.c.Status(context.Background()); return st.Connected })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := a.c.Check(ctx, fleet.Advance{Profile: "p", UID: []byte{1}, Ctr: 1})
	if err != nil || res[0].State != fleet.StateUnconfirmed {
		t.Fatalf("cancelled Check = %+v, %v; want unconfirmed", res, err)
	}
	if st, _ := a.c.Status(context.Background()); !st.Connected {
		t.Errorf("a cancelled check marked the fleet unreachable: %+v", st)
	}
	waitFor(t, 10*time.Second, "the queue to drain", a.drained)
	if ctr, _ := fleetMark(t, dsn, "p", []byte{1}); ctr != 1 {
		t.Errorf("mark = %d, want 1", ctr)
	}
}
