package fleet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/fleet/fleettest"
	"github.com/nfcd/nfcd/internal/ntag424"
)

// TestReplayAcrossKiosks is the reason for the fleet: a SUN accepted at
// kiosk A and presented again at kiosk B is a replay at B, and B learns who
// accepted it.
func TestReplayAcrossKiosks(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	a := newKiosk(t, dsn, "store-1-pos-A", testTimeout)
	b := newKiosk(t, dsn, "store-1-pos-B", testTimeout)
	uid := []byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}

	before := time.Now()
	if r := a.check("shop", uid, 5); r.State != fleet.StateConfirmed || r.Replayed {
		t.Fatalf("A: first tap = %+v, want confirmed and accepted", r)
	}
	r := b.check("shop", uid, 5)
	if r.State != fleet.StateConfirmed || !r.Replayed {
		t.Fatalf("B: same SUN = %+v, want confirmed replay", r)
	}
	if r.Holder.Kiosk != a.name || r.Holder.Ctr != 5 || r.Holder.Time.Before(before.Add(-time.Millisecond)) || r.Holder.Time.After(time.Now()) {
		t.Errorf("B: holder = %+v, want kiosk %s, counter 5, time of A's tap", r.Holder, a.name)
	}
	d := r.Detail(5)
	if !strings.Contains(d, a.name) || !strings.Contains(d, "counter 5") {
		t.Errorf("Detail = %q, want the kiosk and the counter", d)
	}
	t.Logf("detail: %s", d)
}

// TestCounterRule checks the rule the fleet shares with the local store:
// gaps are normal, equal or lower is a replay, and each (profile, UID) has
// its own mark.
func TestCounterRule(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	a := newKiosk(t, dsn, "A", testTimeout)
	b := newKiosk(t, dsn, "B", testTimeout)
	u1 := []byte{1, 2, 3, 4, 5, 6, 7}
	u2 := []byte{1, 2, 3, 4, 5, 6, 8}
	steps := []struct {
		k            *kiosk
		profile      string
		uid          []byte
		ctr          uint32
		wantReplayed bool
		wantHolder   string
	}{
		{a, "p", u1, 0, false, "A"}, // counter 0 is a valid first tap
		{b, "p", u1, 0, true, "A"},
		{b, "p", u1, 1, false, "B"},
		{a, "p", u1, 100, false, "A"}, // a gap
		{b, "p", u1, 99, true, "A"},   // lower
		{b, "p", u1, 100, true, "A"},  // equal
		{a, "q", u1, 1, false, "A"},   // same UID, other profile: own mark
		{a, "p", u2, 1, false, "A"},   // other UID
		{b, "p", u1, 0xFFFFFF, false, "B"},
		{a, "p", u1, 0xFFFFFFFF, false, "A"}, // uint32 max fits
		{b, "p", u1, 0xFFFFFFFF, true, "A"},
		{b, "q", u1, 2, false, "B"},
	}
	for i, s := range steps {
		r := s.k.check(s.profile, s.uid, s.ctr)
		if r.State != fleet.StateConfirmed || r.Replayed != s.wantReplayed || r.Holder.Kiosk != s.wantHolder {
			t.Errorf("step %d: %s Check(%s, %X, %d) = %+v, want replayed=%v holder %s",
				i, s.k.name, s.profile, s.uid, s.ctr, r, s.wantReplayed, s.wantHolder)
		}
	}
}

// TestCheckBatch checks several advances in one call (one round trip),
// including two of the same tag, which apply in order.
func TestCheckBatch(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	a := newKiosk(t, dsn, "A", testTimeout)
	u := []byte{9, 9, 9, 9, 9, 9, 9}
	a.check("p", u, 10)
	res, err := a.c.Check(context.Background(),
		fleet.Advance{Profile: "p", UID: u, Ctr: 11},
		fleet.Advance{Profile: "p", UID: u, Ctr: 11},
		fleet.Advance{Profile: "p", UID: u, Ctr: 9},
		fleet.Advance{Profile: "p", UID: []byte{1}, Ctr: 1},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{false, true, true, false}
	for i, r := range res {
		if r.State != fleet.StateConfirmed || r.Replayed != want[i] {
			t.Errorf("result %d = %+v, want confirmed, replayed=%v", i, r, want[i])
		}
	}
	if _, err := a.c.Check(context.Background(), fleet.Advance{Profile: "p", UID: nil, Ctr: 1}); err == nil {
		t.Error("Check without a UID: no error")
	}
	if _, err := a.c.Check(context.Background(), fleet.Advance{Profile: "p", UID: make([]byte, 33), Ctr: 1}); err == nil {
		t.Error("Check with a 33-byte UID: no error")
	}
	if _, err := a.c.Check(context.Background(), fleet.Advance{Profile: "p\x00", UID: u, Ctr: 1}); err == nil {
		t.Error("Check with NUL in the profile: no error")
	}
}

// The interleaved tests start hundreds of goroutines; they do not run in
// parallel with the tests that time checks against their timeout.
func TestFleetTwoKiosks(t *testing.T)   { testInterleaved(t, 2) }
func TestFleetEightKiosks(t *testing.T) { testInterleaved(t, 8) }

// testInterleaved runs n kiosks against one database. Genuine tags are
// tapped with increasing counters (with gaps) at random kiosks, one tap
// after the other as a person walks between them; after each accepted tap
// a clone replays that SUN, and an older one, at other kiosks at once.
// Then every kiosk is shown the same new SUN at the same moment.
// Invariants: each (profile, UID, counter) is accepted at most once in the
// fleet; no genuine tap is ever refused; every refusal names the kiosk that
// holds the mark.
func testInterleaved(t *testing.T, n int) {
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	type req struct {
		adv   fleet.Advance
		reply chan fleet.Result
	}
	kiosks := make([]*kiosk, n)
	queues := make([]chan req, n)
	var wg sync.WaitGroup
	for i := range kiosks {
		kiosks[i] = newKiosk(t, dsn, fmt.Sprintf("kiosk-%d", i), testTimeout)
		queues[i] = make(chan req, 64)
		wg.Add(1)
		go func(k *kiosk, in chan req) {
			// A kiosk handles its taps one at a time.
			defer wg.Done()
			for r := range in {
				res, err := k.c.Check(context.Background(), r.adv)
				if err != nil {
					t.Errorf("%s: %v", k.name, err)
					res = []fleet.Result{{}}
				}
				r.reply <- res[0]
			}
		}(kiosks[i], queues[i])
	}

	type key struct {
		uid string
		ctr uint32
	}
	var (
		mu       sync.Mutex
		accepted = map[key][]string{} // kiosks that accepted (uid, ctr)
		checks   int
	)
	record := func(k key, kiosk string, r fleet.Result) {
		mu.Lock()
		defer mu.Unlock()
		checks++
		if r.State != fleet.StateConfirmed {
			t.Errorf("%s: (%X, %d) = %+v, want confirmed", kiosk, k.uid, k.ctr, r)
		}
		if !r.Replayed {
			accepted[k] = append(accepted[k], kiosk)
		} else if r.Holder.Ctr < k.ctr {
			t.Errorf("%s: (%X, %d) refused by a lower mark %+v", kiosk, k.uid, k.ctr, r.Holder)
		}
	}
	present := func(i int, uid []byte, ctr uint32) fleet.Result {
		reply := make(chan fleet.Result, 1)
		queues[i] <- req{fleet.Advance{Profile: "shop", UID: uid, Ctr: ctr}, reply}
		r := <-reply
		record(key{string(uid), ctr}, kiosks[i].name, r)
		return r
	}

	const tags, taps = 16, 20
	last := make([]uint32, tags)
	var walkers, clones sync.WaitGroup
	for tag := range tags {
		walkers.Add(1)
		go func() {
			defer walkers.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(tag)))
			uid := []byte{0x04, byte(tag), 0xA0, 0xB0, 0xC0, 0xD0, 0xE0}
			ctr := uint32(rng.IntN(1000))
			var seen []uint32
			for range taps {
				ctr += 1 + uint32(rng.IntN(3)) // gaps are normal
				at := rng.IntN(n)
				if r := present(at, uid, ctr); r.Replayed {
					t.Errorf("genuine tap (%X, %d) at %s refused: %+v", uid, ctr, kiosks[at].name, r)
				}
				seen = append(seen, ctr)
				// A clone replays this SUN and an older one elsewhere.
				for _, c := range []uint32{ctr, seen[rng.IntN(len(seen))]} {
					other := (at + 1 + rng.IntN(max(n-1, 1))) % n
					clones.Add(1)
					go func() {
						defer clones.Done()
						if r := present(other, uid, c); !r.Replayed {
							t.Errorf("clone of (%X, %d) accepted at %s", uid, c, kiosks[other].name)
						}
					}()
				}
			}
			last[tag] = ctr
		}()
	}
	walkers.Wait()
	clones.Wait()

	// Everyone at once: one winner per SUN.
	for round := range 5 {
		uid := []byte{0x05, byte(round), 1, 2, 3, 4, 5}
		results := make([]fleet.Result, n)
		var start, all sync.WaitGroup
		start.Add(1)
		for i := range n {
			all.Add(1)
			go func() {
				defer all.Done()
				start.Wait()
				results[i] = present(i, uid, 77)
			}()
		}
		start.Done()
		all.Wait()
		winners := 0
		for _, r := range results {
			if !r.Replayed {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("round %d: %d kiosks accepted the same SUN, want 1: %+v", round, winners, results)
		}
	}

	for i := range queues {
		close(queues[i])
	}
	wg.Wait()
	for k, ks := range accepted {
		if len(ks) > 1 {
			t.Errorf("(%X, %d) accepted %d times: %v", k.uid, k.ctr, len(ks), ks)
		}
	}
	conn := connect(t, dsn)
	for tag := range tags {
		uid := []byte{0x04, byte(tag), 0xA0, 0xB0, 0xC0, 0xD0, 0xE0}
		var ctr int64
		if err := conn.QueryRow(context.Background(), `SELECT ctr FROM nfcd.counters WHERE profile = 'shop' AND uid = $1`, uid).Scan(&ctr); err != nil {
			t.Fatal(err)
		}
		if uint32(ctr) != last[tag] {
			t.Errorf("fleet mark of %X = %d, want %d", uid, ctr, last[tag])
		}
	}
	t.Logf("%d kiosks: %d checks, %d accepted", n, checks, len(accepted))
}

// TestExecMode: behind PgBouncer in transaction pooling the kiosks run
// with default_query_exec_mode=exec (docs/fleet.md): no prepared
// statements. Checks, queued advances, shipping and history still work.
func TestExecMode(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	pdsn, proxy := viaProxy(t, dsn+"&default_query_exec_mode=exec")
	a := newKiosk(t, pdsn, "A", checkTimeout)
	b := newKiosk(t, dsn+"&default_query_exec_mode=exec", "B", testTimeout)
	a.run()
	ctx := context.Background()
	waitFor(t, 10*time.Second, "a contact", func() bool { st, _ := a.c.Status(ctx); return st.Connected })
	if r := a.check("p", []byte{1}, 1); r.State != fleet.StateConfirmed || r.Replayed {
		t.Errorf("check = %+v", r)
	}
	proxy.Pause()
	a.timedCheck(t, "p", []byte{1}, 2)
	if err := a.c.Ship(ctx, fleet.Tap{Seq: 1, Time: time.Now(), Reader: "r", UID: []byte{1}, Ctr: ntag424.CounterOf(2), Verdict: "authentic", Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	proxy.Resume()
	waitFor(t, 30*time.Second, "the queues to drain", a.drained)
	if r := b.check("p", []byte{1}, 2); !r.Replayed || r.Holder.Kiosk != "A" {
		t.Errorf("B's check of A's queued counter = %+v", r)
	}
	if taps, err := b.c.History(ctx, fleet.HistoryQuery{UID: []byte{1}}); err != nil || len(taps) != 1 || taps[0].Ctr != ntag424.CounterOf(2) {
		t.Errorf("History = %+v, %v", taps, err)
	}
}
