package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/nfcd/nfcd/internal/verdict"
)

// maxInflight bounds the batches begun and not yet waited for (Begin
// blocks beyond it, until a Wait).
const maxInflight = 4

// writer is the journal side of a writable Store (journal.go).
type writer struct {
	// token is held while a batch's high-water rule is decided and its
	// record queued for the flusher: decisions are taken one batch at a
	// time, in the order the batches are written. A batch may be decided
	// while earlier ones are still being written (their marks count,
	// jstate.inflight); quiesce also waits for those writes.
	token chan struct{}

	f      *os.File    // the journal, appended to
	off    int64       // its length: the flusher's, or quiesce's holder's
	broken atomic.Bool // a failed write could not be undone: bbolt only
	closed bool        // Close has run (under token)
	seq    uint64      // the next batch's seq (under token)

	flush       chan *Commit // to the flusher, in seq order
	flusherDone chan struct{}
	free        chan *Commit // the Commits not in use
	group       []byte       // the flusher's: records written together
	failed      uint64       // the flusher's: the last batch that failed

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
	// inflight are the batches begun whose journal write has not
	// finished, oldest first. The high-water rule counts their marks (a
	// later batch must not accept a counter an earlier one accepted);
	// HighWater, Mark and Query do not (they are not durable yet).
	inflight []jbatch
	// idle is signaled (with mu) when inflight shrinks.
	idle sync.Cond
}

// closedChan is the Done of a Commit with nothing to wait for.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// quiesce takes the writer's token and waits until no batch is being
// written; the returned func gives the token back.
func (s *Store) quiesce() func() {
	w := s.w
	w.token <- struct{}{}
	s.js.mu.Lock()
	for len(s.js.inflight) > 0 {
		s.js.idle.Wait()
	}
	s.js.mu.Unlock()
	return func() { <-w.token }
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
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|dsyncFlag, 0o600)
	if err != nil {
		return &OpenError{Path: path, Cause: err}
	}
	// bbolt holds every batch now; a truncation lost to a crash only
	// leaves batches the next start skips.
	if err := resetJournal(f); err != nil {
		f.Close()
		return &OpenError{Path: path, Cause: err}
	}
	w := &writer{
		token: make(chan struct{}, 1), f: f, seq: last + 1,
		flush: make(chan *Commit, maxInflight), flusherDone: make(chan struct{}),
		free: make(chan *Commit, maxInflight),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	for range maxInflight {
		w.free <- &Commit{s: s}
	}
	s.js.idle.L = &s.js.mu
	s.w = w
	go s.flusher()
	go s.checkpointer()
	return nil
}

// flusher writes the journal records of Begin on a goroutine of its own,
// in seq order, so that the caller can sign (and decide the next batch)
// while the disk works. The records queued while a write was under way go
// to disk together, in one write.
func (s *Store) flusher() {
	w := s.w
	defer close(w.flusherDone)
	group := make([]*Commit, 0, maxInflight)
	for c := range w.flush {
		group = append(group[:0], c)
	more:
		for len(group) < maxInflight {
			select {
			case c, ok := <-w.flush:
				if !ok {
					break more
				}
				group = append(group, c)
			default:
				break more
			}
		}
		s.writeGroup(group)
	}
}

// writeHook, set by tests only, runs before each journal write; an error
// fails the write as the disk would.
var writeHook func() error

// errEarlierBatch fails a batch decided while an earlier one was being
// written, when that write failed: its decisions counted marks that are
// not durable.
var errEarlierBatch = errors.New("an earlier batch was not written")

// writeGroup writes the records of group (in seq order) durably, with
// one write, and completes their Commits.
func (s *Store) writeGroup(group []*Commit) {
	w := s.w
	// A batch decided against a batch that failed fails too, unwritten.
	var buf []byte
	write := 0
	for _, c := range group {
		if c.dep != 0 && w.failed >= c.dep {
			c.err = errEarlierBatch
			w.failed = c.seq
			continue
		}
		c.err = nil
		if write == 0 {
			buf = c.buf
		} else {
			if write == 1 {
				w.group = append(w.group[:0], buf...)
			}
			w.group = append(w.group, c.buf...)
			buf = w.group
		}
		write++
	}
	var err error
	if write > 0 {
		if writeHook != nil {
			err = writeHook()
		}
		if err == nil {
			_, err = w.f.WriteAt(buf, w.off)
		}
		if err == nil && dsyncFlag == 0 {
			err = w.f.Sync()
		}
		if err != nil {
			// Undo the partial record so that the next one does not
			// follow damage; if that fails too, stop using the journal.
			if _, zerr := w.f.WriteAt(make([]byte, len(buf)), w.off); zerr != nil {
				w.broken.Store(true)
			} else if dsyncFlag == 0 && w.f.Sync() != nil {
				w.broken.Store(true)
			}
		} else {
			w.off += int64(len(buf))
		}
	}
	s.js.mu.Lock()
	for _, c := range group {
		if c.err == nil && err != nil {
			c.err = err
			w.failed = c.seq
		}
		if c.err == nil {
			s.js.pending = append(s.js.pending, jbatch{seq: c.seq, entries: c.es})
		}
	}
	n := copy(s.js.inflight, s.js.inflight[len(group):])
	clear(s.js.inflight[n:])
	s.js.inflight = s.js.inflight[:n]
	s.js.idle.Broadcast()
	s.js.mu.Unlock()
	for _, c := range group {
		close(c.done)
	}
	if err == nil && write > 0 {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
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
	// Truncate only between batches, when none is pending or being
	// written (then the flusher is idle and the token keeps it so).
	select {
	case s.w.token <- struct{}{}:
	default:
		return false
	}
	defer func() { <-s.w.token }()
	s.js.mu.Lock()
	empty := len(s.js.pending) == 0 && len(s.js.inflight) == 0
	s.js.mu.Unlock()
	if !empty {
		return false
	}
	// The records written stay until they fill half the zeroed space:
	// bbolt holds their batches, which the next start skips; the next
	// record follows them.
	if s.w.off >= journalSize/2 && !s.w.broken.Load() {
		if err := resetJournal(s.w.f); err != nil {
			return false
		}
		s.w.off = 0
	}
	return true
}

// journalSize is the length of zeros the journal is laid out with. A
// record written over zeros the file system has already allocated and
// the file already covers is the only thing its flush makes durable; an
// append would also have to make the file's new size and, after a
// truncation, a new block durable, an ext4 journal commit more (0.59 ms
// p50 against 0.73 ms on the test machine, one 96-byte O_DSYNC write
// every 300 ms). The parser reads zeros as the end of the records.
var journalSize int64 = 256 << 10

// resetJournal empties the journal f and lays it out as journalSize
// zeros, durably.
func resetJournal(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(make([]byte, journalSize), 0); err != nil {
		return err
	}
	if dsyncFlag == 0 {
		return f.Sync()
	}
	return nil
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
		w.token <- struct{}{} // waits for a batch being decided
		w.closed = true
		close(w.flush)
		<-w.token
		<-w.flusherDone // the batches queued are written
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
	s    *Store
	vs   []*verdict.Verdict
	es   []Entry
	orig []settled
	buf  []byte // its journal record
	seq  uint64
	// dep is the oldest batch being written when this one was decided (0
	// when none): if a write from there on fails, so does this batch.
	dep  uint64
	done chan struct{} // closed by the flusher, err set
	held bool          // from w.free, given back by Wait
	err  error
}

// settled is what the high-water rule may change in a verdict.
type settled struct{ verdict, reason, detail string }

// Begin is the first half of Record: it applies the high-water rule to vs
// at once, changing their verdicts as Record does, and starts the durable
// write of the batch, which Wait completes. Until Wait has returned nil
// nothing of vs may be published; if it returns an error, vs are as they
// were. The caller must call Wait exactly once; the Commit is valid until
// then.
//
// Begin may be called again before the Wait of the last batch (up to
// maxInflight batches at once): the next batch is decided against the
// marks of those still being written, its record is written after
// theirs (the records waiting when a write ends go to disk in one write),
// and if an earlier write fails the batches decided after it fail too.
// Done's channel is closed once Wait would not block.
//
// The result is a *Commit; it is declared as an interface so that the
// verdict stage's optional ledger interface (judge.AsyncLedger) can name
// the same method without importing this package.
func (s *Store) Begin(ctx context.Context, vs []*verdict.Verdict) (interface{ Wait() error }, error) {
	c, err := s.begin(ctx, vs)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Store) begin(ctx context.Context, vs []*verdict.Verdict) (*Commit, error) {
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
	var c *Commit
	select {
	case c = <-w.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case w.token <- struct{}{}:
	case <-ctx.Done():
		w.free <- c
		return nil, ctx.Err()
	}
	fail := func(err error) (*Commit, error) {
		<-w.token
		w.free <- c
		return nil, err
	}
	if w.closed {
		return fail(ErrClosed)
	}
	if w.broken.Load() || s.shipper.Load() != nil {
		// The journal is unusable until the next start: one bbolt
		// transaction per batch, as before it existed. The same with an
		// AuditShipper (the fleet, queue.go): its rows go into the
		// transaction that records the entries, which the journal's
		// records have no place for yet.
		<-w.token
		w.free <- c
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
		return fail(fmt.Errorf("store: record tap: %w", err))
	}
	c.buf, err = encodeBatch(c.buf[:0], w.seq, es)
	if err != nil {
		return fail(fmt.Errorf("store: record tap: %w", err))
	}
	c.vs, c.es, c.seq, c.held, c.err, c.dep = vs, es, w.seq, true, nil, 0
	c.done = make(chan struct{})
	c.orig = c.orig[:0]
	for i, v := range vs {
		c.orig = append(c.orig, settled{v.Verdict, v.Reason, v.Detail})
		v.Verdict, v.Reason, v.Detail = es[i].Verdict, es[i].Reason, es[i].Detail
	}
	s.js.mu.Lock()
	if len(s.js.inflight) > 0 {
		c.dep = s.js.inflight[0].seq
	}
	s.js.inflight = append(s.js.inflight, jbatch{seq: c.seq, entries: es})
	s.js.mu.Unlock()
	w.seq++
	w.flush <- c // never blocks: at most maxInflight Commits exist
	<-w.token
	return c, nil
}

// Done returns a channel that is closed once Wait would return at once.
func (c *Commit) Done() <-chan struct{} {
	if !c.held {
		return closedChan
	}
	return c.done
}

// Wait returns once the batch is durable, or the error that kept it from
// being so (then its verdicts are restored).
func (c *Commit) Wait() error {
	if !c.held {
		return c.err
	}
	<-c.done
	err := c.err
	if err != nil {
		for i, v := range c.vs {
			v.Verdict, v.Reason, v.Detail = c.orig[i].verdict, c.orig[i].reason, c.orig[i].detail
		}
		err = fmt.Errorf("store: record tap: write replay journal: %w", err)
	}
	c.vs, c.es, c.held = nil, nil, false
	c.s.w.free <- c
	return err
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
// is nil; with inflight, the batches being written count too.
func (s *Store) pendingMark(uid []byte, profile *string, inflight bool) (m uint32, found bool) {
	s.js.mu.Lock()
	defer s.js.mu.Unlock()
	m, found = markIn(s.js.pending, uid, profile, 0, false)
	if inflight {
		m, found = markIn(s.js.inflight, uid, profile, m, found)
	}
	return m, found
}

// markIn is pendingMark over batches, from m and found.
func markIn(batches []jbatch, uid []byte, profile *string, m uint32, found bool) (uint32, bool) {
	for _, jb := range batches {
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
// batches, those being written and bbolt, and rewrites replays in es.
// The caller holds the writer's token. Pending marks are read before bbolt's: a checkpoint
// removes batches from pending only after bbolt holds them.
func (s *Store) decide(es []Entry) error {
	type prior struct {
		m     uint32
		found bool
	}
	var onStack [32]prior
	prev := onStack[:0]
	checks := false
	for i := range es {
		var p prior
		if checked(&es[i]) {
			p.m, p.found = s.pendingMark(es[i].UID, &es[i].Profile, true)
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
