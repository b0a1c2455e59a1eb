package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/nfcd/nfcd/internal/verdict"
)

// writer is the journal side of a writable Store (journal.go).
type writer struct {
	// token is held (one element in it) from the moment a batch's
	// high-water rule is decided until its journal write is done and its
	// batch is pending: decisions are taken one batch at a time, in the
	// order they become durable. Commit.Wait releases it.
	token chan struct{}

	f      *os.File // the journal, appended to
	off    int64    // its length
	buf    []byte   // the record being written
	broken bool     // a failed write could not be undone: bbolt only
	closed bool     // Close has run
	seq    uint64   // the next batch's seq

	flush     chan struct{} // to the flusher: write buf
	flushDone chan error

	commit Commit // reused: one Commit is in flight at a time (token)

	wake     chan struct{} // to the checkpointer
	stop     chan struct{}
	stopped  chan struct{}
	ckptOnce sync.Once
}

// jstate is the journal state shared with readers.
type jstate struct {
	// ckpt is held by a checkpoint while it moves batches from pending
	// into bbolt, and shared by Query, which reads both.
	ckpt sync.RWMutex
	mu   sync.Mutex
	// pending are the journaled batches bbolt does not hold yet, oldest
	// first.
	pending []jbatch
}

// openJournal replays the journal into bbolt (a writer) or keeps its
// batches pending in memory (read-only), then, for a writer, opens it for
// appending and starts the checkpointer and the flusher.
func (s *Store) openJournal() error {
	path := JournalPath(s.path)
	var applied uint64
	if err := s.view(func(tx *bolt.Tx) error { applied = journalSeq(tx); return nil }); err != nil {
		return &OpenError{Path: s.path, Cause: err}
	}
	batches, last, err := readJournal(path, applied)
	if err != nil {
		return err
	}
	if s.readOnly {
		s.js.pending = batches
		return nil
	}
	if len(batches) > 0 {
		if err := s.update(func(tx *bolt.Tx) error { return s.applyBatches(tx, batches) }); err != nil {
			return &OpenError{Path: path, Cause: fmt.Errorf("replay journal: %w", err)}
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|dsyncFlag, 0o600)
	if err != nil {
		return &OpenError{Path: path, Cause: err}
	}
	// bbolt holds every batch now; a truncation lost to a crash only
	// leaves batches the next start skips.
	if err := f.Truncate(0); err != nil {
		f.Close()
		return &OpenError{Path: path, Cause: err}
	}
	w := &writer{
		token: make(chan struct{}, 1), f: f, seq: last + 1,
		flush: make(chan struct{}), flushDone: make(chan error, 1),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	w.commit.s = s
	s.w = w
	go s.flusher()
	go s.checkpointer()
	return nil
}

// flusher writes the journal records of Begin on a goroutine of its own,
// so that the caller can sign while the disk works.
func (s *Store) flusher() {
	for range s.w.flush {
		s.w.flushDone <- s.writeJournal()
	}
}

// writeJournal writes w.buf durably.
func (s *Store) writeJournal() error {
	w := s.w
	_, err := w.f.Write(w.buf)
	if err == nil && dsyncFlag == 0 {
		err = w.f.Sync()
	}
	return err
}

// checkpointer copies the pending batches into bbolt checkpointDelay
// after the first of them, or at once when maxPending are waiting. It
// sleeps while nothing is pending.
func (s *Store) checkpointer() {
	defer close(s.w.stopped)
	t := time.NewTimer(time.Hour)
	t.Stop()
	var due <-chan time.Time
	for {
		select {
		case <-s.w.wake:
			s.js.mu.Lock()
			n := len(s.js.pending)
			s.js.mu.Unlock()
			switch {
			case n >= maxPending:
				t.Stop()
				due = nil
				s.checkpointNow()
			case due == nil && n > 0:
				t.Reset(checkpointDelay)
				due = t.C
			}
		case <-due:
			due = nil
			if !s.checkpointNow() {
				// Not all of it (a failed commit, or taps kept the
				// journal busy): again later.
				t.Reset(checkpointDelay)
				due = t.C
			}
		case <-s.w.stop:
			t.Stop()
			return
		}
	}
}

// checkpointNow moves the pending batches into bbolt in one transaction
// and empties the journal if nothing new was appended meanwhile. It
// reports whether the journal is empty now.
func (s *Store) checkpointNow() bool {
	if s.movePending() != nil {
		return false
	}
	// Truncate only between batches, when none is pending.
	select {
	case s.w.token <- struct{}{}:
	default:
		return false
	}
	defer func() { <-s.w.token }()
	s.js.mu.Lock()
	empty := len(s.js.pending) == 0
	s.js.mu.Unlock()
	if !empty {
		return false
	}
	if s.w.off > 0 && !s.w.broken {
		if err := s.w.f.Truncate(0); err != nil {
			return false
		}
		s.w.off = 0
	}
	return true
}

// movePending copies the pending batches into bbolt in one transaction
// and drops them from pending.
func (s *Store) movePending() error {
	s.js.ckpt.Lock()
	defer s.js.ckpt.Unlock()
	s.js.mu.Lock()
	batches := s.js.pending
	s.js.mu.Unlock()
	if len(batches) == 0 {
		return nil
	}
	if err := s.update(func(tx *bolt.Tx) error { return s.applyBatches(tx, batches) }); err != nil {
		return err
	}
	s.js.mu.Lock()
	s.js.pending = slices.Clone(s.js.pending[len(batches):])
	s.js.mu.Unlock()
	return nil
}

// closeJournal checkpoints what is pending, empties the journal and stops
// the writer's goroutines.
func (s *Store) closeJournal() error {
	w := s.w
	if w == nil {
		return nil
	}
	var err error
	w.ckptOnce.Do(func() {
		close(w.stop)
		<-w.stopped
		w.token <- struct{}{} // waits for a batch in flight
		w.closed = true
		close(w.flush)
		<-w.token
		clean := s.checkpointNow()
		if cerr := w.f.Close(); cerr != nil {
			err = cerr
		}
		if !clean {
			err = fmt.Errorf("store: checkpoint the replay journal at close: batches stay in %s", JournalPath(s.path))
		} else {
			// An empty journal left behind would be harmless.
			os.Remove(JournalPath(s.path))
		}
	})
	return err
}

// Commit is a batch of Begin on its way to disk.
type Commit struct {
	s     *Store
	vs    []*verdict.Verdict
	es    []Entry
	orig  []settled
	seq   uint64
	async bool
	held  bool  // the writer's token, released by Wait
	err   error // the result when there is nothing to wait for
}

// settled is what the high-water rule may change in a verdict.
type settled struct{ verdict, reason, detail string }

// Begin is the first half of Record: it applies the high-water rule to vs
// at once, changing their verdicts as Record does, and starts the durable
// write of the batch, which Wait completes. Until Wait has returned nil
// nothing of vs may be published; if it returns an error, vs are as they
// were. The caller must call Wait exactly once, and other Begin and
// Record calls wait for it. The Commit is valid until then.
//
// The result is a *Commit; it is declared as an interface so that the
// verdict stage's optional ledger interface (judge.AsyncLedger) can name
// the same method without importing this package.
func (s *Store) Begin(ctx context.Context, vs []*verdict.Verdict) (interface{ Wait() error }, error) {
	c, err := s.begin(ctx, vs, true)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// begin is Begin; async hands the write to the flusher, otherwise Wait
// writes.
func (s *Store) begin(ctx context.Context, vs []*verdict.Verdict, async bool) (*Commit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.readOnly {
		return nil, fmt.Errorf("store: record tap: %w", bolterrors.ErrDatabaseReadOnly)
	}
	es, err := entriesOf(vs)
	if err != nil {
		return nil, err
	}
	w := s.w
	if w == nil {
		return nil, ErrClosed
	}
	select {
	case w.token <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if w.closed {
		<-w.token
		return nil, ErrClosed
	}
	if w.broken || s.shipper.Load() != nil {
		// The journal is unusable until the next start: one bbolt
		// transaction per batch, as before it existed. The same with an
		// AuditShipper (the fleet, queue.go): its rows go into the
		// transaction that records the entries, which the journal's
		// records have no place for yet.
		<-w.token
		err := s.record(ctx, vs, nil)
		return &Commit{err: err}, nil
	}
	now := s.now()
	for i := range es {
		if es[i].Time.IsZero() {
			es[i].Time = now
		}
	}
	if err := s.decide(es); err != nil {
		<-w.token
		return nil, fmt.Errorf("store: record tap: %w", err)
	}
	w.buf, err = encodeBatch(w.buf[:0], w.seq, es)
	if err != nil {
		<-w.token
		return nil, fmt.Errorf("store: record tap: %w", err)
	}
	c := &w.commit
	c.vs, c.es, c.seq, c.held, c.err = vs, es, w.seq, true, nil
	c.orig = c.orig[:0]
	for i, v := range vs {
		c.orig = append(c.orig, settled{v.Verdict, v.Reason, v.Detail})
		v.Verdict, v.Reason, v.Detail = es[i].Verdict, es[i].Reason, es[i].Detail
	}
	c.async = async
	if async {
		w.flush <- struct{}{}
	}
	return c, nil
}

// Wait returns once the batch is durable, or the error that kept it from
// being so (then its verdicts are restored).
func (c *Commit) Wait() error {
	if !c.held {
		return c.err
	}
	s, w := c.s, c.s.w
	var err error
	if c.async {
		err = <-w.flushDone
	} else {
		err = s.writeJournal()
	}
	c.held = false
	if err != nil {
		// Undo the partial record so that the next one does not follow
		// damage; if that fails too, stop using the journal.
		if terr := w.f.Truncate(w.off); terr != nil {
			w.broken = true
		}
		for i, v := range c.vs {
			v.Verdict, v.Reason, v.Detail = c.orig[i].verdict, c.orig[i].reason, c.orig[i].detail
		}
		c.vs = nil
		<-w.token
		return fmt.Errorf("store: record tap: write replay journal: %w", err)
	}
	w.off += int64(len(w.buf))
	w.seq++
	s.js.mu.Lock()
	s.js.pending = append(s.js.pending, jbatch{seq: c.seq, entries: c.es})
	s.js.mu.Unlock()
	c.vs, c.es = nil, nil
	<-w.token
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// entriesOf converts the verdicts of a batch to audit entries.
func entriesOf(vs []*verdict.Verdict) ([]Entry, error) {
	es := make([]Entry, len(vs))
	for i, v := range vs {
		uid, err := hex.DecodeString(v.UID)
		if err != nil {
			return nil, fmt.Errorf("store: record tap: %w: UID is not hex", ErrInvalidEntry)
		}
		e := &es[i]
		*e = Entry{Time: v.Time, Reader: v.Reader, UID: uid, Ctr: v.Ctr,
			Verdict: v.Verdict, Reason: v.Reason, Detail: v.Detail, Profile: v.Profile}
		if checked(e) {
			if err := checkUID(e.UID); err != nil {
				return nil, fmt.Errorf("store: record tap: %w", err)
			}
		}
	}
	return es, nil
}

// pendingMark returns the highest mark the pending batches set for uid:
// under profile and the empty profile, or under any profile when profile
// is nil.
func (s *Store) pendingMark(uid []byte, profile *string) (m uint32, found bool) {
	s.js.mu.Lock()
	defer s.js.mu.Unlock()
	for _, jb := range s.js.pending {
		for i := range jb.entries {
			e := &jb.entries[i]
			if e.Verdict != verdict.Authentic || !e.Ctr.Valid || string(e.UID) != string(uid) {
				continue
			}
			if profile == nil || e.Profile == *profile || e.Profile == "" {
				if !found || e.Ctr.Value > m {
					m, found = e.Ctr.Value, true
				}
			}
		}
	}
	return m, found
}

// decide applies the high-water rule to es in order, against the pending
// batches and bbolt, and rewrites replays in es. The caller holds the
// writer's token. Pending marks are read before bbolt's: a checkpoint
// removes batches from pending only after bbolt holds them.
func (s *Store) decide(es []Entry) error {
	type prior struct {
		m     uint32
		found bool
	}
	var onStack [8]prior
	prev := onStack[:0]
	checks := false
	for i := range es {
		var p prior
		if checked(&es[i]) {
			p.m, p.found = s.pendingMark(es[i].UID, &es[i].Profile)
			checks = true
		}
		prev = append(prev, p)
	}
	if !checks {
		return nil
	}
	return s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMarks)
		for i := range es {
			e := &es[i]
			if !checked(e) {
				continue
			}
			m, found := prev[i].m, prev[i].found
			take := func(k []byte) error {
				if v := b.Get(k); v != nil {
					x, err := markValue(v)
					if err != nil {
						return err
					}
					m, found = max(m, x), true
				}
				return nil
			}
			if err := take(markKey(e.UID, e.Profile)); err != nil {
				return err
			}
			if e.Profile != "" {
				if err := take(markKey(e.UID, "")); err != nil {
					return err
				}
			}
			// Earlier taps of this batch.
			for j := range i {
				o := &es[j]
				if o.Verdict == verdict.Authentic && o.Ctr.Valid && string(o.UID) == string(e.UID) &&
					(o.Profile == e.Profile || o.Profile == "") {
					m, found = max(m, o.Ctr.Value), true
				}
			}
			if found && e.Ctr.Value <= m {
				e.Verdict, e.Reason = verdict.Replayed, verdict.ReasonReplayedCounter
				e.Detail = replayDetail(e.Ctr.Value, m)
			}
		}
		return nil
	})
}
