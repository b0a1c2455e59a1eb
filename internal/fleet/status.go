package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Status is what `nfcd fleet status` and /healthz show of a kiosk's fleet
// link.
type Status struct {
	Kiosk string
	// Connected reports whether the database answered and has not failed
	// since (a check that only ran out of time does not count as a
	// failure).
	Connected bool
	// LastContact is the time of the last successful round trip; zero
	// when there was none yet.
	LastContact time.Time
	// LastError is the text of the last failure (never the password);
	// empty after a success.
	LastError string
	// SchemaVersion is the database's schema version as last read; 0 when
	// not read yet.
	SchemaVersion int
	// QueuedAdvances and UnshippedTaps are the queue depths.
	QueuedAdvances int
	UnshippedTaps  int
	// Oldest is when the oldest queued item (advance or tap) was queued;
	// zero when both queues are empty.
	Oldest time.Time
	// LateReplays counts the queued advances the fleet refused since the
	// client opened; Dropped the queued items the database rejected as
	// invalid (logged as errors).
	LateReplays uint64
	Dropped     uint64
}

// OldestAge returns how long the oldest queued item has waited at now, or
// 0 when nothing is queued.
func (s Status) OldestAge(now time.Time) time.Duration {
	if s.Oldest.IsZero() {
		return 0
	}
	return max(now.Sub(s.Oldest), 0)
}

// Status reports the link's state and the queues' depths. It reads only the
// local queues, never the network.
func (c *Client) Status(ctx context.Context) (Status, error) {
	a, err := c.advances.Stats(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("fleet: read the advance queue: %w", err)
	}
	t, err := c.taps.Stats(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("fleet: read the audit queue: %w", err)
	}
	c.mu.Lock()
	s := Status{
		Kiosk:          c.kiosk,
		Connected:      !c.lastContact.IsZero() && !c.down.Load(),
		LastContact:    c.lastContact,
		LastError:      c.lastErr,
		SchemaVersion:  c.schema,
		QueuedAdvances: a.Len,
		UnshippedTaps:  t.Len,
		LateReplays:    c.lateCount,
		Dropped:        c.dropped,
	}
	c.mu.Unlock()
	s.Oldest = a.Oldest
	if s.Oldest.IsZero() || (!t.Oldest.IsZero() && t.Oldest.Before(s.Oldest)) {
		s.Oldest = t.Oldest
	}
	return s, nil
}

// Kiosk is a row of the fleet's kiosks table.
type Kiosk struct {
	ID        string
	Version   string
	FirstSeen time.Time
	LastSeen  time.Time
}

// Kiosks lists the kiosks of the fleet, the most recently seen first.
func (d *DB) Kiosks(ctx context.Context) ([]Kiosk, error) {
	rows, err := d.pool.Query(ctx, `SELECT id, version, first_seen, last_seen FROM nfcd.kiosks ORDER BY last_seen DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("fleet: list kiosks: %w", d.scrub(err))
	}
	ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Kiosk, error) {
		var k Kiosk
		err := r.Scan(&k.ID, &k.Version, &k.FirstSeen, &k.LastSeen)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: list kiosks: %w", d.scrub(err))
	}
	return ks, nil
}
