package judge

import (
	"context"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/tap"
	"github.com/nfcd/nfcd/internal/verdict"
)

// Remote is the remote verifier slot of the stage: a second opinion on
// the taps the ledger recorded (issue #9; internal/remoteverify implements
// it). The stage never waits for the network: Submit returns at once, and
// the results come back on Updates, which the stage reads between batches
// and publishes on its own goroutine, so that every verdict.updated
// follows the tag.read it settles.
type Remote interface {
	// Submit is called on the stage goroutine with the tag reads of one
	// batch, after the ledger recorded them and before any is published.
	// It sets what each tag.read says now (Verdict, Reason, Remote,
	// Detail), queues the taps it verifies, and returns without waiting
	// for the network. Setting held[i] (len(held) == len(vs), all false
	// on entry) holds back the tag.read of vs[i] until the first Update of
	// that tap, which the slot must send within its hold time (the
	// remote-required mode); the reader's later events wait behind it,
	// other readers' do not.
	Submit(ctx context.Context, vs []*verdict.Verdict, held []bool)
	// Updates delivers the results; the stage reads it until Run returns.
	Updates() <-chan Update
}

// Update is a result of the remote verifier slot for one tap.
type Update struct {
	// Verdict is the tap's verdict as it is to be signed and published:
	// the Tap, Reader and UID of its tag.read.
	Verdict verdict.Verdict
	// First answers a held tap: Verdict goes out as its tag.read (pending
	// when the answer is not in yet; a verdict.updated follows). Otherwise
	// the update goes out as a verdict.updated.
	First bool
	// Prev is the verdict the tap's tag.read carried. The reader shows
	// the verdict of a verdict.updated when it differs, or when the
	// tag.read was pending.
	Prev string
}

// VerdictUpdated is the payload of a verdict.updated event: the settled
// verdict, signed with canonical version 2 only (docs/signed-verdicts.md),
// and its unsigned detail.
type VerdictUpdated struct {
	verdict.Payload
	Detail string `json:"detail,omitempty"`
}

// EventReader names the event's reader to the publisher (ws.ReaderNamer).
func (p VerdictUpdated) EventReader() (string, bool) { return p.Reader, true }

// holdQueue is one reader's events behind a held tag.read, in order.
type holdQueue struct{ items []*queued }

// queued is an event waiting in a holdQueue.
type queued struct {
	ev        tap.Event
	v         *verdict.Verdict // tag reads only
	recordErr error
	// ready: not held, or its first Update came.
	ready bool
	// updates are the tap's verdict.updated events that came before its
	// tag.read could go out.
	updates []Update
}

// submit hands the recorded tag reads of a batch to the remote slot.
func (s *Stage) submit(ctx context.Context, vs []*verdict.Verdict) {
	if cap(s.held) < len(vs) {
		s.held = make([]bool, len(vs), max(len(vs), s.cfg.MaxBatch))
	}
	s.held = s.held[:len(vs)]
	clear(s.held)
	s.cfg.Remote.Submit(ctx, vs, s.held)
}

// hold queues ev (v its verdict if it is a tag read) when it is held or
// its reader has events held already; it reports whether it did.
func (s *Stage) hold(ev *tap.Event, v *verdict.Verdict, recordErr error, held bool) bool {
	q := s.holds[ev.Reader]
	if q == nil {
		if !held {
			return false
		}
		if s.holds == nil {
			s.holds, s.queue = map[string]*holdQueue{}, map[string]*queued{}
		}
		q = &holdQueue{}
		s.holds[ev.Reader] = q
	}
	it := &queued{ev: *ev, v: v, recordErr: recordErr, ready: !held}
	q.items = append(q.items, it)
	if v != nil {
		s.queue[v.Tap] = it
	}
	return true
}

// update applies a result of the remote slot.
func (s *Stage) update(u Update) {
	if it := s.queue[u.Verdict.Tap]; it != nil {
		switch {
		case u.First && !it.ready:
			v := u.Verdict
			it.v, it.ready = &v, true
		case !u.First:
			it.updates = append(it.updates, u)
		}
		s.release(it.ev.Reader)
		return
	}
	if u.First {
		// Its tag.read already went out (the stage was stopping).
		s.cfg.Log.Debug("late remote answer", zap.String("tap", u.Verdict.Tap))
		return
	}
	s.publishUpdate(u)
}

// release publishes the ready events at the head of reader's queue.
func (s *Stage) release(reader string) {
	q := s.holds[reader]
	if q == nil {
		return
	}
	for len(q.items) > 0 && q.items[0].ready {
		it := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		s.publish(&it.ev, it.v, it.recordErr)
		if it.v != nil {
			delete(s.queue, it.v.Tap)
			for _, u := range it.updates {
				s.publishUpdate(u)
			}
		}
	}
	if len(q.items) == 0 {
		delete(s.holds, reader)
	}
}

// releaseAll publishes everything still held, held tag reads as the slot
// left them in Submit (pending), when the stage stops.
func (s *Stage) releaseAll() {
	for reader, q := range s.holds {
		for _, it := range q.items {
			it.ready = true
		}
		s.release(reader)
	}
}

// publishUpdate signs and publishes a verdict.updated.
func (s *Stage) publishUpdate(u Update) {
	v := &u.Verdict
	s.cfg.Publisher.Publish(event.VerdictUpdated.String(), VerdictUpdated{Payload: s.cfg.Signer.SealV2(*v), Detail: v.Detail})
	if v.Verdict != verdict.Pending && (u.Prev == verdict.Pending || u.Prev != v.Verdict) {
		s.queueSignal(v.Reader, v.Verdict == verdict.Authentic)
	}
	s.cfg.Log.Info("verdict updated", zap.String("reader", v.Reader), zap.String("tap", v.Tap), zap.String("uid", v.UID),
		zap.String("verdict", v.Verdict), zap.String("reason", v.Reason), zap.String("remote", v.Remote))
}
