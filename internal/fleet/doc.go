// Package fleet shares replay protection and the audit log among the kiosks
// of a retailer, on PostgreSQL (issue 17).
//
// Each kiosk keeps its own high-water marks in its bbolt store; without a
// fleet, a cloned tag carrying one captured SUN URL is accepted once per
// kiosk. With a fleet, an authentic tap that passes the kiosk's own mark is
// also checked against the fleet's mark of (profile, UID) in one round trip,
// an atomic compare-and-advance (nfcd.advance in migrations/): the tap is a
// replay when any kiosk already accepted that counter or a higher one, and
// the answer names that kiosk and when. The rule is the local one: gaps are
// normal, equal or lower is a replay.
//
// The fleet must never stop a kiosk. A check returns within its timeout;
// when the database is slow or away, the tap is decided on the kiosk's own
// mark (StateUnconfirmed) and the advance goes into a durable Queue, in
// order: while advances of the kiosk are queued, new ones queue behind
// them, so a later counter never reaches the fleet before an earlier one.
// Run pushes them when the database is back; one the fleet refuses (another
// kiosk used that counter meanwhile) is reported as a LateReplay, which the
// daemon turns into verdict.updated replayed/fleet_replay. A fleet answer
// never upgrades a local replay: the caller only asks the fleet about taps
// its own mark accepted.
//
// Audit entries are shipped by Run in batches, at least once, into the
// taps table whose key (kiosk, time, local_seq) makes a resent batch add
// nothing. The schema (docs/fleet.md) is created and upgraded by embedded,
// numbered migrations under an advisory lock.
//
// A Client (Open) is a kiosk's link: Check, Ship, Run, Status. A DB
// (Connect) is the handle for what needs no queues: Migrate, History,
// Kiosks and the partition upkeep; a Client has one.
//
// Nothing here logs or returns the connection string's password; the
// fleet's rows and reasons carry no keys or MACs.
package fleet
