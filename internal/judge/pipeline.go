package judge

import (
	"context"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/tap"
	"github.com/nfcd/nfcd/internal/verdict"
)

// The pipelined stage (issue 16, bursts): with an AsyncLedger whose
// commits report when they are done (Pipeliner) and no remote slot, the
// stage does not wait for a batch's durable write before it takes the
// next one. While batch N is being written it decides batch N+1 (the
// ledger counts N's marks), queues N+1's write behind N's and signs N+1;
// it publishes each batch once its own write is durable, in order, so
// publication stays in seq order and nothing is published before it is
// durable. A batch is at most maxFlights behind the oldest unpublished
// one.

// Pipeliner is the optional side of an AsyncLedger's commit that lets the
// stage begin the next batch before it waits: Done's channel is closed
// once Wait would return at once. A ledger whose commits implement it
// accepts a Begin before the Wait of the previous batch, decides it
// against the marks of the batches not yet durable, makes the batches
// durable in order, and fails a batch decided against one whose write
// failed.
type Pipeliner interface {
	Wait() error
	Done() <-chan struct{}
}

// maxFlights bounds the batches begun and not yet published.
const maxFlights = 3

// flight is a batch between its Begin and its publication.
type flight struct {
	events []tap.Event
	// early counts the events before the first tag read that were
	// published at once: they need no ledger, and no batch was ahead.
	early  int
	vs     []*verdict.Verdict
	sealed []verdict.Payload
	// prepared are the tag.read events of the first of vs, encoded
	// during the write (a Preparer).
	prepared []interface{ Publish() uint64 }
	commit   interface{ Wait() error }
	done     <-chan struct{}
	err      error // Begin's
}

var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// runPipelined is Run with an AsyncLedger and no remote slot.
func (s *Stage) runPipelined(ctx context.Context, in <-chan tap.Event, fleetUpdates <-chan Update) error {
	var ring [maxFlights]flight
	for i := range ring {
		ring[i].events = make([]tap.Event, 0, s.cfg.MaxBatch)
	}
	head, n := 0, 0
	// finish publishes the oldest flight.
	finish := func(publish bool) {
		f := &ring[head]
		s.finish(f, publish)
		head, n = (head+1)%maxFlights, n-1
	}
	defer func() {
		// Canceled: every begun batch is waited for, as the ledger
		// requires, and dropped.
		for n > 0 {
			finish(false)
		}
	}()
	for {
		if n == 0 {
			select {
			case ev, ok := <-in:
				if !ok {
					return nil
				}
				s.start(ctx, &ring[(head+n)%maxFlights], ev, in, true)
				n++
			case u := <-fleetUpdates:
				s.update(u)
			case <-ctx.Done():
				return nil
			}
			continue
		}
		done := ring[head].done
		// The oldest batch first, once durable: the next one's write
		// waits behind it anyway.
		select {
		case <-done:
			finish(true)
			continue
		default:
		}
		var next <-chan tap.Event
		if n < maxFlights {
			next = in
		}
		select {
		case <-done:
			finish(true)
		case ev, ok := <-next:
			if !ok {
				for n > 0 {
					finish(true)
				}
				return nil
			}
			s.start(ctx, &ring[(head+n)%maxFlights], ev, in, false)
			n++
		case <-ctx.Done():
			return nil
		}
	}
}

// start takes ev and the taps queued behind it as the batch f, begins its
// durable write, and while the write runs publishes the events ahead of
// its first tag read if the batch is the oldest unpublished one (first),
// signs its tag reads and prepares their events.
func (s *Stage) start(ctx context.Context, f *flight, ev tap.Event, in <-chan tap.Event, first bool) {
	f.events = append(f.events[:0], ev)
drain:
	for len(f.events) < cap(f.events) {
		select {
		case ev, ok := <-in:
			if !ok {
				break drain
			}
			f.events = append(f.events, ev)
		default:
			break drain
		}
	}
	f.vs = f.vs[:0]
	for i := range f.events {
		if f.events[i].Kind == event.TagRead {
			f.vs = append(f.vs, s.newVerdict(&f.events[i]))
		}
	}
	f.commit, f.err, f.done, f.early = nil, nil, closedDone, 0
	f.sealed = f.sealed[:0]
	f.prepared = f.prepared[:0]
	if len(f.vs) == 0 {
		return
	}
	c, err := s.cfg.Ledger.(AsyncLedger).Begin(ctx, f.vs)
	if err != nil {
		f.err = err
		return
	}
	f.commit = c
	p, pipelined := c.(Pipeliner)
	if pipelined {
		f.done = p.Done()
	}
	// Work done ahead while the disk writes, only for the batch published
	// next (first) and only while its write runs: otherwise it would
	// delay the publication of the batches ahead, or of this one, and
	// compete with it for the two cores a kiosk may have.
	writing := func() bool {
		select {
		case <-f.done:
			return false
		default:
			return first
		}
	}
	if writing() {
		// A card.present is not a verdict: its client need not wait for
		// the disk.
		for f.early < len(f.events) && f.events[f.early].Kind != event.TagRead {
			s.publish(&f.events[f.early], nil, nil)
			f.early++
		}
	}
	f.sealed = s.seal(f.sealed, f.vs)
	if pr, ok := s.cfg.Publisher.(Preparer); ok {
		n := 0
		for i := 0; i < len(f.events) && writing(); i++ {
			if ev := &f.events[i]; ev.Kind == event.TagRead {
				f.prepared = append(f.prepared, pr.Prepare(event.TagRead.String(), tagRead(ev, f.vs[n], &f.sealed[n])))
				n++
			}
		}
	}
	if pipelined {
		return
	}
	// A ledger that cannot take the next batch before this Wait.
	f.err = c.Wait()
	f.commit = nil
}

// finish waits for f's durable write and publishes its events in order
// (publish false drops them).
func (s *Stage) finish(f *flight, publish bool) {
	err := f.err
	if f.commit != nil {
		err = f.commit.Wait()
		f.commit = nil
	}
	if err != nil {
		s.cfg.Log.Error("ledger record failed", zap.Int("taps", len(f.vs)), zap.Error(err))
		// The verdicts are as they were before Begin: nothing signed of
		// them in advance is published.
		f.sealed = f.sealed[:0]
		clear(f.prepared)
		f.prepared = f.prepared[:0]
	}
	if publish {
		n := 0
		for i := range f.events {
			ev := &f.events[i]
			if ev.Kind != event.TagRead {
				if i >= f.early {
					s.publish(ev, nil, err)
				}
				continue
			}
			v := f.vs[n]
			switch {
			case n < len(f.prepared):
				f.prepared[n].Publish()
				s.published(ev, v)
			case len(f.sealed) == len(f.vs):
				s.publishSealed(ev, v, &f.sealed[n])
			default:
				s.publishVerdict(ev, v, err)
			}
			n++
		}
	}
	// Drop the references for the collector.
	clear(f.events)
	clear(f.vs)
	clear(f.prepared)
	f.prepared = f.prepared[:0]
}
