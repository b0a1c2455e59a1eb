package fleet_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/fleet/fleettest"
	"github.com/nfcd/nfcd/internal/ntag424"
)

// TestShipAndHistory ships audit rows from two kiosks and reads them back
// with every filter of `nfcd history --fleet`.
func TestShipAndHistory(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	a := newKiosk(t, dsn, "A", testTimeout)
	b := newKiosk(t, dsn, "B", testTimeout)
	a.run()
	b.run()
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	u1, u2 := []byte{4, 1, 1, 1, 1, 1, 1}, []byte{4, 2, 2, 2, 2, 2, 2}
	ctr := ntag424.CounterOf
	var want []fleet.Tap // oldest first
	add := func(k *kiosk, seq uint64, minute int, uid []byte, c ntag424.Counter, verdict, reason string) {
		tp := fleet.Tap{ID: fmt.Sprintf("%s-%d", k.name, seq), Seq: seq, Time: base.Add(time.Duration(minute) * time.Minute), Reader: "ACS ACR1252 00 00",
			Profile: "shop", UID: uid, Ctr: c, Verdict: verdict, Reason: reason, KeyID: "0123456789abcdef", Fleet: fleet.StateConfirmed}
		if err := k.c.Ship(ctx, tp); err != nil {
			t.Fatal(err)
		}
		tp.Kiosk = k.name
		want = append(want, tp)
	}
	add(a, 1, 0, u1, ctr(1), "authentic", "ok")
	add(b, 1, 1, u1, ctr(1), "replayed", "fleet_replay")
	add(b, 2, 2, u2, ctr(9), "authentic", "ok")
	add(a, 2, 3, nil, ntag424.Counter{}, "malformed", "bad_format")
	add(a, 3, 4, u1, ctr(2), "authentic", "ok")
	// Shipping the same entry again adds nothing.
	if err := a.c.Ship(ctx, fleet.Tap{Seq: 1, Time: base, Reader: "x", UID: u1, Verdict: "authentic", Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the taps to ship", func() bool { return a.drained() && b.drained() })

	newest := func(idx ...int) []fleet.Tap {
		var out []fleet.Tap
		for i := len(idx) - 1; i >= 0; i-- {
			out = append(out, want[idx[i]])
		}
		return out
	}
	tests := []struct {
		name string
		q    fleet.HistoryQuery
		want []fleet.Tap
	}{
		{"all", fleet.HistoryQuery{}, newest(0, 1, 2, 3, 4)},
		{"uid", fleet.HistoryQuery{UID: u1}, newest(0, 1, 4)},
		{"kiosk", fleet.HistoryQuery{Kiosk: "B"}, newest(1, 2)},
		{"uid and kiosk", fleet.HistoryQuery{UID: u1, Kiosk: "A"}, newest(0, 4)},
		{"since", fleet.HistoryQuery{Since: base.Add(2 * time.Minute)}, newest(2, 3, 4)},
		{"limit", fleet.HistoryQuery{Limit: 2}, newest(3, 4)},
		{"profile", fleet.HistoryQuery{Profile: "other"}, nil},
		{"no match", fleet.HistoryQuery{UID: []byte{9}}, nil},
	}
	for _, tc := range tests {
		got, err := a.c.History(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for i := range got {
			if i < len(tc.want) && got[i].Time.Equal(tc.want[i].Time) {
				got[i].Time = tc.want[i].Time
			}
		}
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("History(%s):\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

// TestTapPartitions: monthly partitions are created ahead, rows of a month
// without one land in the default partition, and retention drops whole
// months.
func TestTapPartitions(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	a := newKiosk(t, dsn, "A", testTimeout)
	a.run()
	ctx := context.Background()
	jan2020 := time.Date(2020, 1, 15, 12, 0, 0, 0, time.UTC)
	if n, err := a.c.EnsurePartitions(ctx, jan2020); err != nil || n != 3 {
		t.Fatalf("EnsurePartitions(2020-01) = %d, %v; want 3", n, err)
	}
	if n, err := a.c.EnsurePartitions(ctx, jan2020); err != nil || n != 0 {
		t.Fatalf("EnsurePartitions again = %d, %v; want 0", n, err)
	}
	// A kiosk with its clock in 2019 and one in 2031.
	old, future := time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC)
	for i, at := range []time.Time{jan2020, jan2020.AddDate(0, 1, 0), old, future} {
		if err := a.c.Ship(ctx, fleet.Tap{Seq: uint64(i + 1), Time: at, Reader: "r", Verdict: "malformed", Reason: "bad_format"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the taps to ship", a.drained)
	conn := connect(t, dsn)
	var inDefault int
	conn.QueryRow(ctx, `SELECT count(*) FROM nfcd.taps_default`).Scan(&inDefault)
	if inDefault != 2 {
		t.Errorf("%d rows in taps_default, want 2 (2019 and 2031)", inDefault)
	}
	// June 2031 already has a row in the default partition: skipped.
	if n, err := a.c.EnsurePartitions(ctx, future); err != nil || n != 2 {
		t.Errorf("EnsurePartitions(2031-06) = %d, %v; want 2 (June skipped)", n, err)
	}
	dropped, err := a.c.DropTaps(ctx, time.Date(2020, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || !reflect.DeepEqual(dropped, []string{"taps_202001", "taps_202002"}) {
		t.Errorf("DropTaps = %v, %v; want January and February 2020", dropped, err)
	}
	got := tables(t, dsn)
	if got["taps_202001"] || got["taps_202002"] || !got["taps_202003"] || !got[time.Now().UTC().Format("taps_200601")] {
		t.Errorf("tables after DropTaps: %v", got)
	}
	var left int
	conn.QueryRow(ctx, `SELECT count(*) FROM nfcd.taps`).Scan(&left)
	if left != 1 { // the 2031 row; 2019 went with the retention of taps_default
		t.Errorf("%d taps left, want 1", left)
	}
}

// TestKiosksAndStatus: Run records the kiosk; Status shows the link.
func TestKiosksAndStatus(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	a := newKiosk(t, dsn, "A", testTimeout)
	ctx := context.Background()
	st, err := a.c.Status(ctx)
	if err != nil || st.Connected || st.Kiosk != "A" || !st.Oldest.IsZero() || st.OldestAge(time.Now()) != 0 {
		t.Errorf("Status before Run = %+v, %v", st, err)
	}
	a.run()
	waitFor(t, 10*time.Second, "a contact", func() bool {
		st, _ := a.c.Status(ctx)
		return st.Connected
	})
	st, _ = a.c.Status(ctx)
	if st.SchemaVersion != fleet.SchemaVersion || st.LastError != "" || st.LastContact.IsZero() {
		t.Errorf("Status after Run = %+v", st)
	}
	ks, err := a.c.Kiosks(ctx)
	if err != nil || len(ks) != 1 || ks[0].ID != "A" || ks[0].Version != "test" || ks[0].LastSeen.IsZero() {
		t.Errorf("Kiosks = %+v, %v", ks, err)
	}
}
