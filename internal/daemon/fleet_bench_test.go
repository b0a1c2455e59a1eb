package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/fleet/fleettest"
)

// BenchmarkFleetTapToEvent is BenchmarkPipelineTapToEvent (state on disk)
// with the fleet off and on: on, every tap is also a compare-and-advance
// on a loopback PostgreSQL with its default crash-safe settings (each
// accepted counter flushed before the answer) and an audit row queued in
// the same bbolt commit and shipped in the background. Every tap is
// authentic, so every tap pays the check.
func BenchmarkFleetTapToEvent(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "fleet=off"
		if on {
			name = "fleet=on"
		}
		b.Run(name, func(b *testing.B) {
			var edit func(*config.Config)
			if on {
				dsn := fleettest.SharedDurable(b).Database(b)
				db, err := fleet.Connect(context.Background(), fleet.Config{DSN: dsn, Kiosk: "migrator"}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := db.Migrate(context.Background()); err != nil {
					b.Fatal(err)
				}
				db.Close()
				edit = func(c *config.Config) {
					c.Fleet = &fleet.Config{DSN: dsn, Kiosk: "bench", Timeout: fleet.DefaultTimeout}
				}
			}
			d := benchStartWith(b, b.TempDir(), edit)
			c := d.dial()
			if on {
				// The first tap after the start may come before Run has
				// checked the schema: warm up.
				d.tap()
				d.nextTagRead(c)
				d.awaitRemoved()
				time.Sleep(200 * time.Millisecond)
			}
			total := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				present := d.tap()
				at, _ := d.nextTagRead(c)
				b.StopTimer()
				total = append(total, at.Sub(present))
				d.awaitRemoved()
				b.StartTimer()
			}
			b.StopTimer()
			benchReport(b, "", total)
		})
	}
}
