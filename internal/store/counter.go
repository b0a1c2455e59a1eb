package store

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verdict"
)

// MaxUIDLen bounds the UIDs the store accepts. NTAG 424 DNA UIDs are 7 bytes
// (NT4H2421Gx §8.2); 10 bytes is the longest ISO/IEC 14443-3 UID, and the
// slack leaves room for other card families without letting a caller grow
// bbolt keys without limit.
const MaxUIDLen = 32

var be = binary.BigEndian

// Record is the replay ledger of the verdict stage: it records the verdicts
// of taps durably, all of them in one bbolt transaction and so one commit.
//
// For each authentic verdict with a counter it first applies the
// high-water rule to the tag's UID: the tap is accepted, and its counter
// becomes the new mark, when no counter has been accepted for the UID yet
// or the counter is above the mark; gaps are normal (a tag's counter also
// advances on reads nfcd never sees). Otherwise the verdict becomes
// verdict.Replayed with reason verdict.ReasonReplayedCounter and a Detail
// naming both counters. Verdicts of one batch are applied in order, so two
// taps with the same counter are never both accepted. Then every verdict is
// appended to the audit log, and the log is pruned.
//
// The commit is fsynced before Record returns, and the caller publishes
// nothing before, so an accepted counter is on disk before anyone hears of
// it and survives a crash or kill -9. On error nothing is written and no
// verdict is changed.
func (s *Store) Record(ctx context.Context, vs []*verdict.Verdict) error {
	return s.record(ctx, vs, nil)
}

// record is Record; then, if set, runs inside its transaction after the
// high-water rule, with the entries as the rule left them.
func (s *Store) record(ctx context.Context, vs []*verdict.Verdict, then func(tx *bolt.Tx, es []Entry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	es := make([]Entry, len(vs))
	for i, v := range vs {
		uid, err := hex.DecodeString(v.UID)
		if err != nil {
			return fmt.Errorf("store: record tap: %w: UID is not hex", ErrInvalidEntry)
		}
		es[i] = Entry{Time: v.Time, Reader: v.Reader, UID: uid, Ctr: v.Ctr,
			Verdict: v.Verdict, Reason: v.Reason, Detail: v.Detail, Profile: v.Profile}
	}
	if err := s.writeThen(es, then); err != nil {
		return err
	}
	for i, v := range vs {
		v.Verdict, v.Reason, v.Detail = es[i].Verdict, es[i].Reason, es[i].Detail
	}
	return nil
}

// checked reports whether e is subject to the high-water rule.
func checked(e *Entry) bool { return e.Verdict == verdict.Authentic && e.Ctr.Valid }

// write applies the high-water rule to es and appends them to the audit log
// in one transaction (see Record). Replays are rewritten in es.
func (s *Store) write(es []Entry) error { return s.writeThen(es, nil) }

// writeThen is write; then, if set, runs last in the transaction.
func (s *Store) writeThen(es []Entry, then func(tx *bolt.Tx, es []Entry) error) error {
	now := s.now()
	for i := range es {
		e := &es[i]
		if checked(e) {
			if err := checkUID(e.UID); err != nil {
				return fmt.Errorf("store: record tap: %w", err)
			}
		}
		if e.Time.IsZero() {
			e.Time = now
		}
	}
	// The rule rewrites entries inside the transaction, which bbolt may run
	// only once but which can fail after rewriting some: work on a copy.
	work := make([]Entry, len(es))
	err := s.update(func(tx *bolt.Tx) error {
		copy(work, es)
		b := tx.Bucket(bucketAudit)
		meta := tx.Bucket(bucketMeta)
		count := auditCount(meta)
		for i := range work {
			e := &work[i]
			if checked(e) {
				accepted, prev, err := advance(tx, e.UID, e.Ctr.Value)
				if err != nil {
					return err
				}
				if !accepted {
					e.Verdict, e.Reason = verdict.Replayed, verdict.ReasonReplayedCounter
					e.Detail = replayDetail(e.Ctr.Value, prev)
				}
			}
			val, err := appendEntry(nil, e)
			if err != nil {
				return err
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(auditKey(e.Time.UnixNano(), seq), val); err != nil {
				return err
			}
			count++
		}
		if err := putAuditCount(meta, count); err != nil {
			return err
		}
		if _, err := s.prune(tx, now); err != nil {
			return err
		}
		if then != nil {
			return then(tx, work)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: record tap: %w", err)
	}
	copy(es, work)
	return nil
}

// replayDetail says why a counter was refused.
func replayDetail(ctr, mark uint32) string {
	return "counter " + strconv.FormatUint(uint64(ctr), 10) + " is not above " +
		strconv.FormatUint(uint64(mark), 10) + ", already accepted for this tag"
}

func checkUID(uid []byte) error {
	if len(uid) == 0 || len(uid) > MaxUIDLen {
		return fmt.Errorf("%w: length %d", ErrInvalidUID, len(uid))
	}
	return nil
}

// advance applies the high-water rule inside tx: ctr is accepted, and
// stored, only when it is above the counter already accepted for uid.
func advance(tx *bolt.Tx, uid []byte, ctr uint32) (accepted bool, prev uint32, err error) {
	b := tx.Bucket(bucketCounters)
	if v := b.Get(uid); v != nil {
		if len(v) != 4 {
			return false, 0, fmt.Errorf("%w: counter value of %d bytes", ErrCorrupt, len(v))
		}
		prev = be.Uint32(v)
		if ctr <= prev {
			return false, prev, nil
		}
	}
	var val [4]byte
	be.PutUint32(val[:], ctr)
	return true, prev, b.Put(uid, val[:])
}

// HighWater returns the highest counter accepted for uid, not Valid when no
// tap of uid has been accepted.
func (s *Store) HighWater(uid []byte) (ntag424.Counter, error) {
	if err := checkUID(uid); err != nil {
		return ntag424.Counter{}, err
	}
	var c ntag424.Counter
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCounters).Get(uid)
		if v == nil {
			return nil
		}
		if len(v) != 4 {
			return fmt.Errorf("%w: counter value of %d bytes", ErrCorrupt, len(v))
		}
		c = ntag424.CounterOf(be.Uint32(v))
		return nil
	})
	if err != nil {
		return ntag424.Counter{}, fmt.Errorf("store: read high-water mark: %w", err)
	}
	return c, nil
}
