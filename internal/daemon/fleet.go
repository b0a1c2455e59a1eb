package daemon

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nfcd/nfcd/internal/fleet"
)

// AdminFleetStatus is the admin method of `nfcd fleet status` while a
// daemon holds the state directory: → FleetStatus.
const AdminFleetStatus = "fleet.status"

// FleetStatus is the fleet link of a kiosk (`nfcd fleet status --json`).
type FleetStatus struct {
	// Configured: the daemon runs with a [fleet] section.
	Configured bool   `json:"configured"`
	Kiosk      string `json:"kiosk,omitempty"`
	// Connected: the database answered and has not failed since.
	Connected   bool      `json:"connected"`
	LastContact time.Time `json:"last_contact,omitzero"`
	// LastError is the last failure's text (never the password).
	LastError     string `json:"last_error,omitempty"`
	SchemaVersion int    `json:"schema_version"`
	// QueuedAdvances: counters decided while the fleet was away, not
	// confirmed yet; UnshippedTaps: audit rows not in the fleet's log yet.
	QueuedAdvances int `json:"queued_advances"`
	UnshippedTaps  int `json:"unshipped_taps"`
	// OldestUnshipped is when the oldest of them was queued.
	OldestUnshipped        time.Time `json:"oldest_unshipped,omitzero"`
	OldestUnshippedSeconds float64   `json:"oldest_unshipped_seconds"`
	// LateReplays and Dropped count since the daemon started: queued
	// advances the fleet refused (verdict.updated), and queued items the
	// database rejected as invalid.
	LateReplays uint64 `json:"late_replays"`
	Dropped     uint64 `json:"dropped"`
}

// FleetStatusOf is the FleetStatus of s at now.
func FleetStatusOf(s fleet.Status, now time.Time) FleetStatus {
	return FleetStatus{
		Configured: true, Kiosk: s.Kiosk, Connected: s.Connected, LastContact: s.LastContact, LastError: s.LastError,
		SchemaVersion: s.SchemaVersion, QueuedAdvances: s.QueuedAdvances, UnshippedTaps: s.UnshippedTaps,
		OldestUnshipped: s.Oldest, OldestUnshippedSeconds: s.OldestAge(now).Seconds(),
		LateReplays: s.LateReplays, Dropped: s.Dropped,
	}
}

func (d *daemon) adminFleetStatus(ctx context.Context, _ json.RawMessage) (any, error) {
	if d.fleet == nil {
		return FleetStatus{}, nil
	}
	st, err := d.fleet.Status(ctx)
	if err != nil {
		return nil, err
	}
	return FleetStatusOf(st, time.Now()), nil
}
