// Package fleetstage puts the fleet (internal/fleet, PostgreSQL) into the
// verdict stage: it is the ledger step's fleet check and the stage's fleet
// slot (judge.Fleet), on top of the kiosk's bbolt store (internal/store).
//
// Per batch of verdicts (Record, or RecordQueued under the remote
// verifier's ledger):
//
//  1. the authentic taps with a counter that the kiosk's own mark accepts
//     (a read of the mark; a local replay never needs the network, and a
//     fleet answer never upgrades one) are checked against the fleet in
//     one round trip, bounded by the configured timeout;
//  2. fleet.Settle applies each answer: confirmed (the fleet's verdict,
//     replayed/fleet_replay on refusal) or unconfirmed (decided on the
//     local mark; the advance is queued durably);
//  3. the store records the batch: its own rule, the audit entries, and in
//     the same commit every entry's row for the fleet's audit log
//     (store.AuditShipper), whose queue ID is the row's local sequence.
//
// A queued advance that the fleet refuses later comes back from
// fleet.Client.Run as a LateReplay: it is recorded in the audit log (and
// shipped), then handed to the stage on Updates as a verdict.updated
// (replayed, fleet_replay). The stage never waits for it.
//
// judge stays free of pgx and bbolt; this package is the only place where
// the two meet.
package fleetstage

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/verdict"
)

// Queue names in the store.
const (
	AdvanceQueue = "fleet_advances"
	TapQueue     = "fleet_taps"
)

// maxRecent bounds the verdicts kept in memory for their late
// verdict.updated; older ones (and any after a restart) are rebuilt from
// the queued advance.
const maxRecent = 10_000

// lateTimeout bounds the wait for the stage to take a late replay: past
// it the advance stays queued and is reported again.
const lateTimeout = 5 * time.Second

// Options configure Open.
type Options struct {
	// KeyID is the ID of the verdict signing key, in every shipped row.
	KeyID string
	// Version is this nfcd's version (the fleet's kiosks table).
	Version string
	Log     *zap.Logger
}

// Stage is the fleet's part of the verdict stage. Create it with Open.
type Stage struct {
	client  *fleet.Client
	st      *store.Store
	keyID   string
	kiosk   string
	log     *zap.Logger
	updates chan judge.Update

	mu     sync.Mutex
	recent map[string]verdict.Verdict // tap ID → verdict as published, unconfirmed taps only
	order  []string
}

// Open opens the fleet client of cfg on the queues of st and installs the
// audit shipper. It does not wait for the database. Run must run for
// queued work to reach the fleet.
func Open(ctx context.Context, cfg fleet.Config, st *store.Store, opts Options) (*Stage, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	aq, err := st.Queue(AdvanceQueue)
	if err != nil {
		return nil, err
	}
	tq, err := st.Queue(TapQueue)
	if err != nil {
		return nil, err
	}
	s := &Stage{
		st:      st,
		keyID:   opts.KeyID,
		log:     opts.Log.Named("fleetstage"),
		updates: make(chan judge.Update, 64),
		recent:  map[string]verdict.Verdict{},
	}
	advances, taps := NewQueue[fleet.Advance](aq), NewQueue[fleet.Tap](tq)
	advances.Log, taps.Log = s.log, s.log
	c, err := fleet.Open(ctx, cfg, fleet.Options{
		Advances:   advances,
		Taps:       taps,
		LateReplay: s.lateReplay,
		Version:    opts.Version,
		Log:        opts.Log,
	})
	if err != nil {
		return nil, err
	}
	s.client, s.kiosk = c, c.Kiosk()
	st.ShipAudit(&store.AuditShipper{Queue: tq, Encode: s.encodeTap})
	return s, nil
}

// Client returns the fleet client (status, migrations).
func (s *Stage) Client() *fleet.Client { return s.client }

// Run drains the queues until ctx is done (fleet.Client.Run).
func (s *Stage) Run(ctx context.Context) error { return s.client.Run(ctx) }

// Close stops shipping audit rows and closes the connections; what is
// queued stays queued.
func (s *Stage) Close() {
	s.st.ShipAudit(nil)
	s.client.Close()
}

// Status reports the fleet link (fleet.Client.Status).
func (s *Stage) Status(ctx context.Context) (fleet.Status, error) { return s.client.Status(ctx) }

// Updates implements judge.Fleet: the late replays as verdict.updated.
func (s *Stage) Updates() <-chan judge.Update { return s.updates }

// Record implements judge.Ledger: the fleet check, then the store's
// Record (see the package comment).
func (s *Stage) Record(ctx context.Context, vs []*verdict.Verdict) error {
	if err := s.check(ctx, vs); err != nil {
		return err
	}
	err := s.st.Record(ctx, vs)
	s.client.Wake()
	return err
}

// RecordQueued is Record for the remote verifier's ledger
// (remoteverify.QueueLedger): the fleet check, then the store's
// RecordQueued.
func (s *Stage) RecordQueued(ctx context.Context, vs []*verdict.Verdict, queue func(vs []verdict.Verdict) []*store.OutboxItem) error {
	if err := s.check(ctx, vs); err != nil {
		return err
	}
	err := s.st.RecordQueued(ctx, vs, queue)
	s.client.Wake()
	return err
}

// markKey is a tag's key in a batch's own marks.
type markKey struct{ profile, uid string }

// check asks the fleet about the verdicts of vs that the local mark
// accepts, in one round trip, and settles them.
func (s *Stage) check(ctx context.Context, vs []*verdict.Verdict) error {
	var (
		idx []int
		as  []fleet.Advance
		// batch holds the counters this batch asks for, so that a second
		// tap of a tag in one batch is compared with the first as the
		// store will compare it.
		batch map[markKey]uint32
	)
	for i, v := range vs {
		a, ok, err := fleet.AdvanceOf(v)
		if err != nil || !ok {
			// Not a question for the fleet (an invalid UID fails in the
			// store's own checks).
			continue
		}
		k := markKey{a.Profile, string(a.UID)}
		if c, seen := batch[k]; seen {
			if a.Ctr <= c {
				continue // the store refuses it as a local replay
			}
		} else {
			m, err := s.st.Mark(a.Profile, a.UID)
			if err != nil {
				return err
			}
			if m.Valid && a.Ctr <= m.Value {
				continue // a local replay: the store says so
			}
		}
		if batch == nil {
			batch = map[markKey]uint32{}
		}
		batch[k] = a.Ctr
		idx = append(idx, i)
		as = append(as, a)
	}
	if len(as) == 0 {
		return nil
	}
	res, err := s.client.Check(ctx, as...)
	if err != nil {
		// The advance could not even be queued: without it the fleet
		// would never hear of the tap, so the batch fails closed.
		return fmt.Errorf("fleetstage: %w", err)
	}
	for j, r := range res {
		v := vs[idx[j]]
		fleet.Settle(v, r)
		if r.State == fleet.StateUnconfirmed {
			s.remember(*v)
		}
	}
	return nil
}

// remember keeps an unconfirmed verdict for its late verdict.updated.
func (s *Stage) remember(v verdict.Verdict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.recent[v.Tap]; !ok {
		s.order = append(s.order, v.Tap)
	}
	s.recent[v.Tap] = v
	for len(s.order) > maxRecent {
		delete(s.recent, s.order[0])
		s.order = s.order[1:]
	}
}

// lateReplay is fleet.Options.LateReplay: the audit entry first (durable,
// shipped with it), then the verdict.updated. An error leaves the advance
// queued; fleet.Client.Run reports it again.
func (s *Stage) lateReplay(ctx context.Context, l fleet.LateReplay) error {
	s.mu.Lock()
	v, ok := s.recent[l.Advance.Tap]
	s.mu.Unlock()
	if !ok {
		// Published before a restart: rebuild what the tag.read said.
		v = verdict.Verdict{
			Tap: l.Advance.Tap, Remote: verdict.RemoteOff, Fleet: verdict.FleetUnconfirmed,
			UID: hex.EncodeToString(l.Advance.UID), Ctr: ntag424.CounterOf(l.Advance.Ctr),
			Verdict: verdict.Authentic, Reason: verdict.ReasonOK,
			Time: l.Advance.Time.UTC().Truncate(time.Millisecond), Profile: l.Advance.Profile,
		}
	}
	prev := v.Verdict
	l.Apply(&v)
	rec := v
	if err := s.st.Record(ctx, []*verdict.Verdict{&rec}); err != nil {
		return err
	}
	s.client.Wake()
	t := time.NewTimer(lateTimeout)
	defer t.Stop()
	select {
	case s.updates <- judge.Update{Verdict: v, Prev: prev}:
	case <-t.C:
		return errors.New("fleetstage: the verdict stage did not take the late replay")
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	delete(s.recent, l.Advance.Tap)
	s.mu.Unlock()
	return nil
}

// encodeTap is the store's AuditShipper encoder: the fleet's audit row of
// v, whose local sequence is its queue ID.
func (s *Stage) encodeTap(v *verdict.Verdict, id uint64) ([]byte, error) {
	t, err := fleet.TapOf(v, id, s.keyID)
	if err != nil {
		return nil, err
	}
	t.Kiosk = s.kiosk
	return t.AppendBinary(nil)
}

var (
	_ judge.Fleet  = (*Stage)(nil)
	_ judge.Ledger = (*Stage)(nil)
)
