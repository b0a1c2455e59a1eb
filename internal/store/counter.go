package store

import (
	"bytes"
	"context"
	"encoding/binary"
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
// high-water rule to the tag, its (profile, UID): the tap is accepted, and
// its counter becomes the new mark, when no counter has been accepted for
// the tag yet or the counter is above the mark (and above a mark of the
// empty profile, which applies under every profile: see the package
// comment); gaps are normal (a tag's counter also
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
	c, err := s.begin(ctx, vs)
	if err != nil {
		return err
	}
	return c.Wait()
}

// record is Record as one bbolt transaction (the path of RecordQueued,
// and of Record when the journal is unusable); then, if set, runs inside
// its transaction after the high-water rule, with the entries as the rule
// left them.
func (s *Store) record(ctx context.Context, vs []*verdict.Verdict, then func(tx *bolt.Tx, es []Entry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	es, err := entriesOf(vs)
	if err != nil {
		return err
	}
	if err := s.writeThen(es, s.shipThen(vs, then)); err != nil {
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
	// Decisions are taken one batch at a time (the journal's token), after
	// the journal writes under way, and the marks of journaled batches not
	// yet in bbolt are read first.
	if s.w != nil {
		defer s.quiesce()()
	}
	type prior struct {
		m     uint32
		found bool
	}
	prev := make([]prior, len(es))
	for i := range es {
		if checked(&es[i]) {
			prev[i].m, prev[i].found = s.pendingMark(es[i].UID, &es[i].Profile, false)
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
				accepted, prev, err := advance(tx, e.Profile, e.UID, e.Ctr.Value, prev[i].m, prev[i].found)
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

// markKey is the marks key of the tag uid under profile: len(uid) || uid
// || profile. Keys of one UID share the prefix len(uid) || uid, so
// HighWater finds every profile's mark with one seek. checkUID bounds uid
// to MaxUIDLen, which fits the length byte.
func markKey(uid []byte, profile string) []byte {
	k := make([]byte, 0, 1+len(uid)+len(profile))
	k = append(k, byte(len(uid)))
	k = append(k, uid...)
	return append(k, profile...)
}

// markValue decodes a stored mark.
func markValue(v []byte) (uint32, error) {
	if len(v) != 4 {
		return 0, fmt.Errorf("%w: counter value of %d bytes", ErrCorrupt, len(v))
	}
	return be.Uint32(v), nil
}

// advance applies the high-water rule inside tx: ctr is accepted, and
// stored as the mark of (profile, uid), only when it is above the mark of
// (profile, uid) and above the mark of ("", uid), which applies under
// every profile, and above prev if found (the journal's pending marks).
func advance(tx *bolt.Tx, profile string, uid []byte, ctr uint32, prev uint32, found bool) (accepted bool, _ uint32, err error) {
	b := tx.Bucket(bucketMarks)
	key := markKey(uid, profile)
	keys := [][]byte{key}
	if profile != "" {
		keys = append(keys, markKey(uid, ""))
	}
	for _, k := range keys {
		if v := b.Get(k); v != nil {
			m, err := markValue(v)
			if err != nil {
				return false, 0, err
			}
			prev, found = max(prev, m), true
		}
	}
	if found && ctr <= prev {
		return false, prev, nil
	}
	var val [4]byte
	be.PutUint32(val[:], ctr)
	return true, prev, b.Put(key, val[:])
}

// HighWater returns the highest counter accepted for uid under any
// profile, not Valid when no tap of uid has been accepted. (A simulated
// tag resumes counting from it.)
func (s *Store) HighWater(uid []byte) (ntag424.Counter, error) {
	return s.mark(uid, nil)
}

// Mark returns the mark the high-water rule applies to a tap of uid under
// profile: the higher of the marks of (profile, uid) and ("", uid), not
// Valid when there is neither.
func (s *Store) Mark(profile string, uid []byte) (ntag424.Counter, error) {
	return s.mark(uid, &profile)
}

// mark returns the highest mark of uid: under *profile and the empty
// profile, or under any profile when profile is nil. A read-only store
// still in the version 2 layout has one mark per UID.
func (s *Store) mark(uid []byte, profile *string) (ntag424.Counter, error) {
	if err := checkUID(uid); err != nil {
		return ntag424.Counter{}, err
	}
	var c ntag424.Counter
	// The journal's pending marks first: a checkpoint drops them only
	// after bbolt holds them.
	if m, ok := s.pendingMark(uid, profile, false); ok {
		c = ntag424.CounterOf(m)
	}
	take := func(v []byte) error {
		m, err := markValue(v)
		if err != nil {
			return err
		}
		if !c.Valid || m > c.Value {
			c = ntag424.CounterOf(m)
		}
		return nil
	}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMarks)
		if b == nil {
			if old := tx.Bucket(bucketCountersV2); old != nil {
				if v := old.Get(uid); v != nil {
					return take(v)
				}
			}
			return nil
		}
		prefix := markKey(uid, "")
		cur := b.Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			if profile == nil || len(k) == len(prefix) || string(k[len(prefix):]) == *profile {
				if err := take(v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return ntag424.Counter{}, fmt.Errorf("store: read high-water mark: %w", err)
	}
	return c, nil
}

// migrateMarks moves the marks of schema version 2, one per UID, to
// marks per (profile, UID) inside tx. The audit log says which profile
// accepted which counter: a mark is given to a profile when the log's
// authentic taps of the UID all name that one profile and the highest of
// them is the mark itself. Any other mark (taps under several profiles,
// the entries pruned, format-1 entries without a profile) becomes a mark
// of the empty profile, which applies under every profile: no counter
// accepted before the upgrade is accepted again after it, under any
// profile. Then the counters bucket is deleted.
func migrateMarks(tx *bolt.Tx) error {
	old := tx.Bucket(bucketCountersV2)
	if old == nil {
		return nil
	}
	type seen struct {
		profiles map[string]uint32 // highest authentic counter per profile
	}
	byUID := make(map[string]*seen)
	if err := old.ForEach(func(k, _ []byte) error {
		byUID[string(k)] = &seen{profiles: make(map[string]uint32)}
		return nil
	}); err != nil {
		return err
	}
	if audit := tx.Bucket(bucketAudit); audit != nil && len(byUID) > 0 {
		if err := audit.ForEach(func(_, v []byte) error {
			r, err := parseEntry(v)
			if err != nil {
				return err
			}
			sn := byUID[string(r.uid)]
			if sn == nil || !r.hasCounter || string(r.verdict) != verdict.Authentic {
				return nil
			}
			p := string(r.profile)
			sn.profiles[p] = max(sn.profiles[p], r.counter)
			return nil
		}); err != nil {
			return err
		}
	}
	marks := tx.Bucket(bucketMarks)
	err := old.ForEach(func(uid, v []byte) error {
		m, err := markValue(v)
		if err != nil {
			return err
		}
		if err := checkUID(uid); err != nil {
			return fmt.Errorf("%w: counters key: %v", ErrCorrupt, err)
		}
		profile := ""
		if ps := byUID[string(uid)].profiles; len(ps) == 1 {
			for p, hi := range ps {
				if p != "" && hi == m {
					profile = p
				}
			}
		}
		return marks.Put(markKey(uid, profile), bytes.Clone(v))
	})
	if err != nil {
		return err
	}
	return tx.DeleteBucket(bucketCountersV2)
}
