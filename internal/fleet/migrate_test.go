package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/fleet/fleettest"
	"github.com/nfcd/nfcd/internal/ntag424"
)

// tables lists the fleet's tables in dsn, partitions included.
func tables(t *testing.T, dsn string) map[string]bool {
	t.Helper()
	rows, err := connect(t, dsn).Query(context.Background(),
		`SELECT table_name FROM information_schema.tables WHERE table_schema = 'nfcd'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		out[n] = true
	}
	return out
}

func TestMigrateFromEmpty(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	k := newKiosk(t, dsn, "A", testTimeout)
	ctx := context.Background()
	m, err := k.c.Migrate(ctx)
	if err != nil || m != (fleet.Migration{From: 0, To: fleet.SchemaVersion}) {
		t.Fatalf("Migrate on an empty database = %+v, %v; want 0 -> %d", m, err, fleet.SchemaVersion)
	}
	m, err = k.c.Migrate(ctx)
	if err != nil || m != (fleet.Migration{From: fleet.SchemaVersion, To: fleet.SchemaVersion}) {
		t.Fatalf("Migrate again = %+v, %v; want nothing to do", m, err)
	}
	got := tables(t, dsn)
	now := time.Now().UTC()
	for _, name := range []string{"schema_migrations", "counters", "taps", "taps_default", "kiosks",
		now.Format("taps_200601"), now.AddDate(0, 1, 1-now.Day()).Format("taps_200601")} {
		if !got[name] {
			t.Errorf("table nfcd.%s missing after migration; have %v", name, got)
		}
	}
}

// TestMigrateFromEachVersion stops a database at every earlier version,
// puts that version's data in, and upgrades it: the data survives and
// everything works afterwards.
func TestMigrateFromEachVersion(t *testing.T) {
	t.Parallel()
	for from := 0; from < fleet.SchemaVersion; from++ {
		t.Run(fmt.Sprintf("from%d", from), func(t *testing.T) {
			dsn := fleettest.Database(t)
			a := newKiosk(t, dsn, "A", testTimeout)
			ctx := context.Background()
			if m, err := fleet.MigrateTo(ctx, a.c, from); err != nil || m.To != from {
				t.Fatalf("MigrateTo(%d) = %+v, %v", from, m, err)
			}
			uid := []byte{4, 3, 2, 1}
			if from >= 1 {
				// Version 1 has the counters.
				if r := a.check("p", uid, 7); r.State != fleet.StateConfirmed || r.Replayed {
					t.Fatalf("check at version %d = %+v", from, r)
				}
			}
			conn := connect(t, dsn)
			if from >= 2 {
				// Version 2 has the taps and kiosks.
				if _, err := conn.Exec(ctx, `INSERT INTO nfcd.taps (time, kiosk, local_seq, reader, profile, uid, ctr, verdict, reason)
					VALUES (now(), 'A', 1, 'r', 'p', $1, 7, 'authentic', 'ok')`, uid); err != nil {
					t.Fatal(err)
				}
			}
			m, err := a.c.Migrate(ctx)
			if err != nil || m != (fleet.Migration{From: from, To: fleet.SchemaVersion}) {
				t.Fatalf("Migrate from %d = %+v, %v", from, m, err)
			}
			b := newKiosk(t, dsn, "B", testTimeout)
			r := b.check("p", uid, 7)
			if from >= 1 && (!r.Replayed || r.Holder.Kiosk != "A") {
				t.Errorf("after the upgrade, B's replay of A's tap = %+v, want refused, holder A", r)
			}
			if from == 0 && r.Replayed {
				t.Errorf("after the upgrade, first tap refused: %+v", r)
			}
			b.run()
			if err := b.c.Ship(ctx, fleet.Tap{Seq: 1, Time: time.Now(), Reader: "r", Profile: "p", UID: uid, Verdict: "authentic", Reason: "ok"}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "the tap to ship", b.drained)
			want := 1
			if from >= 2 {
				want = 2
			}
			if taps, err := b.c.History(ctx, fleet.HistoryQuery{UID: uid}); err != nil || len(taps) != want {
				t.Errorf("History after the upgrade = %v, %v; want %d taps", taps, err, want)
			}
		})
	}
}

func TestMigrateRefusesForeignSchema(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	conn := connect(t, dsn)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `UPDATE nfcd.schema_migrations SET checksum = '\x00' WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	k := newKiosk(t, dsn, "A", testTimeout)
	if _, err := k.c.Migrate(ctx); !errors.Is(err, fleet.ErrSchemaMismatch) {
		t.Errorf("Migrate over an edited migration: %v, want ErrSchemaMismatch", err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM nfcd.schema_migrations WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := k.c.Migrate(ctx); !errors.Is(err, fleet.ErrSchemaMismatch) {
		t.Errorf("Migrate with migration 1 missing: %v, want ErrSchemaMismatch", err)
	}
}

// TestMigrateNewerSchema: a database migrated by a newer nfcd is left
// alone and still used (migrations only add).
func TestMigrateNewerSchema(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	ctx := context.Background()
	next := fleet.SchemaVersion + 1
	if _, err := connect(t, dsn).Exec(ctx, `INSERT INTO nfcd.schema_migrations (version, name, checksum) VALUES ($1, 'future', '\x01')`, next); err != nil {
		t.Fatal(err)
	}
	k := newKiosk(t, dsn, "A", testTimeout)
	if m, err := k.c.Migrate(ctx); err != nil || m != (fleet.Migration{From: next, To: next}) {
		t.Errorf("Migrate on a newer schema = %+v, %v; want nothing done", m, err)
	}
	k.run()
	if r := k.check("p", []byte{1}, 1); r.State != fleet.StateConfirmed {
		t.Errorf("check on a newer schema = %+v", r)
	}
	waitFor(t, 10*time.Second, "a contact", func() bool {
		st, _ := k.c.Status(ctx)
		return st.Connected && st.SchemaVersion == next
	})
}

// TestSchemaOld: a kiosk that may not migrate an old database decides
// locally and says why; once someone migrates, its queue drains.
func TestSchemaOld(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	ctx := context.Background()
	k := newKiosk(t, dsn, "A", testTimeout)
	k.run()
	waitFor(t, 10*time.Second, "the schema complaint", func() bool {
		st, _ := k.c.Status(ctx)
		return !st.Connected && strings.Contains(st.LastError, "nfcd fleet migrate")
	})
	start := time.Now()
	if r := k.check("p", []byte{1}, 1); r.State != fleet.StateUnconfirmed {
		t.Errorf("check without a schema = %+v, want unconfirmed", r)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("check without a schema took %v", d)
	}
	migrate(t, dsn)
	waitFor(t, 30*time.Second, "the queue to drain after the migration", k.drained)
	if r := k.check("p", []byte{1}, 1); !r.Replayed || r.Holder.Kiosk != "A" {
		t.Errorf("the queued advance did not reach the fleet: %+v", r)
	}
	if got := k.lates(); len(got) != 0 {
		t.Errorf("late replays %+v, want none", got)
	}
}

// TestMigrateByKioskAtStart: migrate = true lets Run migrate.
func TestMigrateByKioskAtStart(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	k := newKiosk(t, dsn, "A", testTimeout)
	k.close()
	k.cfg.Migrate = true
	k.open()
	k.run()
	waitFor(t, 20*time.Second, "the migration by Run", func() bool {
		st, _ := k.c.Status(context.Background())
		return st.Connected && st.SchemaVersion == fleet.SchemaVersion
	})
}

const helperEnv = "NFCD_FLEET_MIGRATE_DSN"

// TestMigrateConcurrentProcesses starts 8 processes that migrate the same
// empty database at the same moment, as 8 kiosks of a store switched on
// together: one migrates, the others wait and find nothing to do, nobody
// fails.
func TestMigrateConcurrentProcesses(t *testing.T) {
	// Not parallel: eight processes load the machine (see testInterleaved).
	dsn := fleettest.Database(t)
	const n = 8
	startAt := time.Now().Add(2 * time.Second).UnixNano()
	outs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateHelperProcess$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), helperEnv+"="+dsn, "NFCD_FLEET_START_AT="+strconv.FormatInt(startAt, 10),
				"NFCD_FLEET_KIOSK=kiosk-"+strconv.Itoa(i))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("process %d: %v\n%s", i, err, out)
			}
			outs[i] = string(out)
		}()
	}
	wg.Wait()
	migrated, idle := 0, 0
	for i, out := range outs {
		switch {
		case strings.Contains(out, fmt.Sprintf("migration from=0 to=%d", fleet.SchemaVersion)):
			migrated++
		case strings.Contains(out, fmt.Sprintf("migration from=%d to=%d", fleet.SchemaVersion, fleet.SchemaVersion)):
			idle++
		default:
			t.Errorf("process %d: no migration line:\n%s", i, out)
		}
	}
	if migrated != 1 || idle != n-1 {
		t.Errorf("%d processes migrated and %d found nothing to do, want 1 and %d", migrated, idle, n-1)
	}
	var count, maxv int
	if err := connect(t, dsn).QueryRow(context.Background(), `SELECT count(*), max(version) FROM nfcd.schema_migrations`).Scan(&count, &maxv); err != nil {
		t.Fatal(err)
	}
	if count != fleet.SchemaVersion || maxv != fleet.SchemaVersion {
		t.Errorf("schema_migrations has %d rows up to %d, want %d", count, maxv, fleet.SchemaVersion)
	}
}

// TestMigrateHelperProcess is one process of TestMigrateConcurrentProcesses.
func TestMigrateHelperProcess(t *testing.T) {
	dsn := os.Getenv(helperEnv)
	if dsn == "" {
		t.Skip("helper process of TestMigrateConcurrentProcesses")
	}
	at, _ := strconv.ParseInt(os.Getenv("NFCD_FLEET_START_AT"), 10, 64)
	k := newKiosk(t, dsn, os.Getenv("NFCD_FLEET_KIOSK"), testTimeout)
	time.Sleep(time.Until(time.Unix(0, at)))
	m, err := k.c.Migrate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("migration from=%d to=%d\n", m.From, m.To)
}

// TestKioskRole runs a kiosk under a role with only the privileges
// docs/fleet.md lists for kiosks: checks, queued advances, shipping,
// history and Run's upkeep work; creating partitions is left to the owner
// without failing Run.
func TestKioskRole(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	ctx := context.Background()
	conn := connect(t, dsn)
	role := "kiosk_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, sql := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT USAGE ON SCHEMA nfcd TO ` + role,
		`GRANT EXECUTE ON FUNCTION nfcd.advance, nfcd.advance_queued TO ` + role,
		`GRANT SELECT, INSERT, UPDATE ON nfcd.counters, nfcd.advance_log, nfcd.kiosks TO ` + role,
		`GRANT SELECT, INSERT ON nfcd.taps TO ` + role,
		`GRANT DELETE ON nfcd.advance_log TO ` + role,
		`GRANT SELECT ON nfcd.schema_migrations TO ` + role,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	u := strings.Replace(dsn, "postgres://postgres@", "postgres://"+role+"@", 1)
	pdsn, proxy := viaProxy(t, u)
	a := newKiosk(t, pdsn, "A", checkTimeout)
	a.run()
	waitFor(t, 10*time.Second, "a contact", func() bool { st, _ := a.c.Status(ctx); return st.Connected })
	if r := a.check("p", []byte{1}, 1); r.State != fleet.StateConfirmed || r.Replayed {
		t.Errorf("check as the kiosk role = %+v", r)
	}
	proxy.Pause()
	a.timedCheck(t, "p", []byte{1}, 2) // queued: advance_queued
	ctr := ntag424.CounterOf(2)
	if err := a.c.Ship(ctx, fleet.Tap{Seq: 1, Time: time.Now(), Reader: "r", UID: []byte{1}, Ctr: ctr, Verdict: "authentic", Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	proxy.Resume()
	waitFor(t, 30*time.Second, "the queues to drain", a.drained)
	if ctr, _ := fleetMark(t, dsn, "p", []byte{1}); ctr != 2 {
		t.Errorf("mark = %d, want 2", ctr)
	}
	if taps, err := a.c.History(ctx, fleet.HistoryQuery{}); err != nil || len(taps) != 1 {
		t.Errorf("History as the kiosk role = %v, %v", taps, err)
	}
	if st, _ := a.c.Status(ctx); !st.Connected || st.LastError != "" {
		t.Errorf("Status as the kiosk role = %+v", st)
	}
	a.close()
	if _, err := conn.Exec(ctx, `DROP OWNED BY `+role+`; DROP ROLE `+role); err != nil {
		t.Errorf("drop the role: %v", err)
	}
}

// TestConnect: the administrative handle (`nfcd fleet migrate`, `nfcd
// history --fleet`) needs no queues.
func TestConnect(t *testing.T) {
	t.Parallel()
	dsn := fleettest.Database(t)
	ctx := context.Background()
	d, err := fleet.Connect(ctx, fleet.Config{DSN: dsn, Kiosk: "admin"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if m, err := d.Migrate(ctx); err != nil || m.To != fleet.SchemaVersion {
		t.Fatalf("Migrate = %+v, %v", m, err)
	}
	if taps, err := d.History(ctx, fleet.HistoryQuery{Kiosk: "x"}); err != nil || len(taps) != 0 {
		t.Errorf("History = %v, %v", taps, err)
	}
	if ks, err := d.Kiosks(ctx); err != nil || len(ks) != 0 {
		t.Errorf("Kiosks = %v, %v", ks, err)
	}
	if _, err := fleet.Connect(ctx, fleet.Config{}, nil); !errors.Is(err, fleet.ErrConfig) {
		t.Errorf("Connect without a DSN: %v", err)
	}
}
