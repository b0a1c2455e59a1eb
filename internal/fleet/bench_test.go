package fleet_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/fleet/fleettest"
	"github.com/nfcd/nfcd/internal/ntag424"
)

// BenchmarkCheck measures counter checks against one PostgreSQL on this
// machine with its default, crash-safe settings (every accepted counter is
// flushed to disk before the answer). Each kiosk is its own client with its
// own connections and checks one tap after the other; the tags are 100 per
// kiosk with increasing counters, so every check advances a mark (the
// write path; a replay is a read). Reported: checks/s for the fleet, and
// the latency of one check (p50, p99).
//
// The sub-benchmarks named nosync run on the test server, which does not
// wait for the disk (fleettest.FastSettings): their difference to the
// crash-safe figures is the cost of flushing each commit on this disk.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("kiosks=%d", n), func(b *testing.B) { benchCheck(b, fleettest.SharedDurable(b), n) })
	}
	for _, n := range []int{8, 64} {
		b.Run(fmt.Sprintf("nosync/kiosks=%d", n), func(b *testing.B) { benchCheck(b, fleettest.Shared(b), n) })
	}
}

func benchCheck(b *testing.B, cluster *fleettest.Cluster, n int) {
	dsn := cluster.Database(b)
	migrate(b, dsn)
	kiosks := make([]*kiosk, n)
	for i := range kiosks {
		kiosks[i] = newKiosk(b, dsn, fmt.Sprintf("kiosk-%03d", i), testTimeout)
		kiosks[i].check("bench", []byte{0xFF, byte(i)}, 1) // connect and prepare
	}
	const tags = 100
	var (
		next        atomic.Int64
		unconfirmed atomic.Int64
		mu          sync.Mutex
		lat         []time.Duration
		wg          sync.WaitGroup
	)
	wal0 := walLSN(b, dsn)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for i, k := range kiosks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid := make([]byte, 7)
			uid[0] = 0x04
			binary.BigEndian.PutUint16(uid[1:], uint16(i))
			own := make([]time.Duration, 0, b.N/n+1)
			ctx := context.Background()
			for j := 0; next.Add(1) <= int64(b.N); j++ {
				binary.BigEndian.PutUint32(uid[3:], uint32(j%tags))
				t0 := time.Now()
				res, err := k.c.Check(ctx, fleet.Advance{Profile: "bench", UID: uid, Ctr: uint32(j/tags + 1)})
				own = append(own, time.Since(t0))
				if err != nil || res[0].State != fleet.StateConfirmed || res[0].Replayed {
					unconfirmed.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, own...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	if u := unconfirmed.Load(); u > 0 {
		b.Fatalf("%d of %d checks not confirmed as accepted", u, b.N)
	}
	b.ReportMetric(float64(walLSN(b, dsn)-wal0)/float64(b.N), "WAL-B/check")
	// The clients' CPU, which on this machine competes with the server's
	// (real kiosks bring their own).
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "client-CPU-µs/check")
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "checks/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkShip measures audit shipping: b.N rows queued by one kiosk, sent
// by Run in batches of 500 rows per statement into the partitioned taps
// table (three indexes), on the crash-safe server.
func BenchmarkShip(b *testing.B) {
	dsn := fleettest.SharedDurable(b).Database(b)
	migrate(b, dsn)
	k := newKiosk(b, dsn, "shipper", testTimeout)
	ctx := context.Background()
	now := time.Now()
	ctr := ntag424.CounterOf(1)
	batch := make([]fleet.Tap, 0, 1000)
	for i := range b.N {
		batch = append(batch, fleet.Tap{Seq: uint64(i + 1), Time: now.Add(time.Duration(i) * time.Millisecond),
			Reader: "ACS ACR1252 Dual Reader PICC 00 00", Profile: "shop", UID: []byte{4, byte(i >> 16), byte(i >> 8), byte(i), 5, 6, 7},
			Ctr: ctr, Verdict: "authentic", Reason: "ok", KeyID: "0123456789abcdef", Fleet: fleet.StateConfirmed})
		if len(batch) == cap(batch) || i == b.N-1 {
			if err := k.c.Ship(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	wal0 := walLSN(b, dsn)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	k.run()
	for !k.drained() {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(walLSN(b, dsn)-wal0)/float64(b.N), "WAL-B/row")
	// On-disk size per row, indexes included: the sizing of docs/fleet.md.
	var rows, bytes int64
	conn := connect(b, dsn)
	conn.Exec(ctx, `VACUUM ANALYZE nfcd.taps`)
	err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM nfcd.taps),
		(SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'nfcd.taps'::regclass)`).Scan(&rows, &bytes)
	if err != nil {
		b.Fatal(err)
	}
	if rows != int64(b.N) {
		b.Fatalf("%d rows in taps, want %d", rows, b.N)
	}
	if rows >= 10_000 {
		b.ReportMetric(float64(bytes)/float64(rows), "disk-B/row")
	}
}

// walLSN returns the server's current WAL position in bytes. The server is
// shared by the benchmarks' databases, which run one after the other.
func walLSN(b *testing.B, dsn string) int64 {
	var n int64
	if err := connect(b, dsn).QueryRow(context.Background(), `SELECT pg_current_wal_lsn() - '0/0'`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}
