package judge_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/tap"
	"github.com/nfcd/nfcd/internal/verdict"
)

// pipeLedger is the in-memory ledger as a pipelining AsyncLedger: Begin
// decides at once (against the marks of the batches not yet durable, as
// the store does) and the test makes each batch durable, or failed, when
// it wants.
type pipeLedger struct {
	*ledger
	begun chan *pipeCommit
	mu    sync.Mutex
	all   []*pipeCommit
}

type pipeCommit struct {
	vs      []*verdict.Verdict
	orig    []string
	uids    []string // the stage reuses vs once Wait returned
	done    chan struct{}
	err     error
	durable atomic.Bool
}

func newPipeLedger() *pipeLedger {
	return &pipeLedger{ledger: &ledger{marks: map[string]uint32{}}, begun: make(chan *pipeCommit, 16)}
}

func (l *pipeLedger) Begin(ctx context.Context, vs []*verdict.Verdict) (interface{ Wait() error }, error) {
	c := &pipeCommit{vs: vs, done: make(chan struct{})}
	for _, v := range vs {
		c.orig = append(c.orig, v.Verdict)
		c.uids = append(c.uids, v.UID)
	}
	if err := l.ledger.Record(ctx, vs); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.all = append(l.all, c)
	l.mu.Unlock()
	l.begun <- c
	return c, nil
}

func (c *pipeCommit) Done() <-chan struct{} { return c.done }

func (c *pipeCommit) Wait() error {
	<-c.done
	if c.err != nil {
		for i, v := range c.vs {
			v.Verdict = c.orig[i]
		}
	}
	return c.err
}

func (c *pipeCommit) finish(err error) {
	c.err = err
	c.durable.Store(err == nil)
	close(c.done)
}

// durableUID reports whether the batch holding the tap of uid is durable.
func (l *pipeLedger) durableUID(uid string, nth int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.all {
		for _, u := range c.uids {
			if u == uid {
				if nth == 0 {
					return c.durable.Load()
				}
				nth--
			}
		}
	}
	return false
}

// pipePublisher counts the tag.reads published before their own batch was
// durable.
type pipePublisher struct {
	publisher
	l     *pipeLedger
	seen  map[string]int
	early atomic.Int32
	n     atomic.Int32
}

func (p *pipePublisher) Publish(typ string, payload any) uint64 {
	if tr, ok := payload.(judge.TagRead); ok {
		if p.seen == nil {
			p.seen = map[string]int{}
		}
		if !p.l.durableUID(tr.UID, p.seen[tr.UID]) {
			p.early.Add(1)
		}
		p.seen[tr.UID]++
	}
	defer p.n.Add(1)
	return p.publisher.Publish(typ, payload)
}

// sealCounter counts signatures.
type sealCounter struct {
	signer
	n atomic.Int32
}

func (s *sealCounter) Seal(v verdict.Verdict) verdict.Payload {
	s.n.Add(1)
	return s.signer.Seal(v)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func nextBegun(t *testing.T, l *pipeLedger) *pipeCommit {
	t.Helper()
	select {
	case c := <-l.begun:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no batch begun")
	}
	return nil
}

// preparer is a pipePublisher that is a judge.Preparer: it counts the
// events prepared, and publishes one when the stage says so.
type preparer struct {
	*pipePublisher
	prepared atomic.Int32
}

func (p *preparer) Prepare(typ string, payload any) interface{ Publish() uint64 } {
	p.prepared.Add(1)
	return later(func() uint64 { return p.Publish(typ, payload) })
}

type later func() uint64

func (f later) Publish() uint64 { return f() }

// startStage runs a stage on in, which holds pre, until the test ends.
func startStage(t *testing.T, l *pipeLedger, cfg judge.Config, pre ...tap.Event) chan<- tap.Event {
	in := make(chan tap.Event, 8)
	for _, ev := range pre {
		in <- ev
	}
	done := make(chan error, 1)
	go func() { done <- judge.New(cfg).Run(context.Background(), in) }()
	t.Cleanup(func() {
		close(in)
		// A failed test may leave batches unfinished.
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Error(err)
				}
				return
			case <-time.After(10 * time.Millisecond):
			}
			l.mu.Lock()
			for _, c := range l.all {
				select {
				case <-c.done:
				default:
					c.finish(nil)
				}
			}
			l.mu.Unlock()
		}
	})
	return in
}

// TestPipelineOrderAndDurability: the stage begins and signs the next
// batch while the previous one's write is under way, decides it against
// the previous one's marks, publishes nothing before its own batch is
// durable, and publishes in order even when a later batch is durable
// first.
func TestPipelineOrderAndDurability(t *testing.T) {
	t.Run("publish", func(t *testing.T) { testPipelineOrder(t, false) })
	// The events are encoded ahead (judge.Preparer) and still published
	// only once durable, in order.
	t.Run("prepared", func(t *testing.T) { testPipelineOrder(t, true) })
}

func testPipelineOrder(t *testing.T, prepare bool) {
	l := newPipeLedger()
	p := &pipePublisher{l: l}
	var pub judge.Publisher = p
	pr := &preparer{pipePublisher: p}
	if prepare {
		pub = pr
	}
	sg := &sealCounter{}
	in := startStage(t, l, judge.Config{Ledger: l, Signer: sg, Publisher: pub})

	in <- read("A", 5, verdict.Authentic)
	first := nextBegun(t, l)
	// The next taps arrive while the first batch is being written.
	in <- read("B", 1, verdict.Authentic)
	in <- read("A", 5, verdict.Authentic)
	var later []*pipeCommit
	for n := 0; n < 2; {
		c := nextBegun(t, l)
		later = append(later, c)
		n += len(c.vs)
	}
	waitFor(t, "the later taps signed", func() bool { return sg.n.Load() == 3 })
	if prepare {
		// Only the batch published next is prepared ahead: the work on
		// the others would delay it.
		waitFor(t, "the first tag.read prepared", func() bool { return pr.prepared.Load() == 1 })
	}
	if n := p.n.Load(); n != 0 {
		t.Fatalf("%d events published before any batch was durable", n)
	}
	// Durable out of order: nothing may overtake the first batch.
	for _, c := range later {
		c.finish(nil)
	}
	time.Sleep(30 * time.Millisecond)
	if n := p.n.Load(); n != 0 {
		t.Fatalf("%d events published before the first batch was durable", n)
	}
	first.finish(nil)
	waitFor(t, "three tag.reads", func() bool { return p.n.Load() == 3 })
	if n := pr.prepared.Load(); prepare && n != 1 {
		t.Errorf("%d tag.reads prepared, want 1", n)
	}
	if n := p.early.Load(); n != 0 {
		t.Errorf("%d tag.reads published before their batch was durable", n)
	}
	var got []string
	p.mu.Lock()
	for _, e := range p.events {
		var v struct{ UID, Verdict string }
		json.Unmarshal([]byte(e.payload), &v)
		got = append(got, v.UID+"="+v.Verdict)
	}
	p.mu.Unlock()
	// UIDs are hex on the wire: A = 41, B = 42.
	if want := "41=authentic 42=authentic 41=replayed"; strings.Join(got, " ") != want {
		t.Errorf("published %v, want %s", got, want)
	}
}

// TestPipelineEarlierBatchFails: a batch whose write fails gets no
// verdict for its checked taps (store_unavailable), in its place in the
// order; the batch behind it is published once durable.
func TestPipelineEarlierBatchFails(t *testing.T) {
	l := newPipeLedger()
	p := &pipePublisher{l: l}
	in := startStage(t, l, judge.Config{Ledger: l, Signer: signer{}, Publisher: p})
	in <- read("A", 5, verdict.Authentic)
	first := nextBegun(t, l)
	in <- read("C", 1, verdict.Authentic)
	second := nextBegun(t, l)
	second.finish(nil)
	first.finish(errors.New("disk full"))
	waitFor(t, "two events", func() bool { return p.n.Load() == 2 })
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.events[0].typ != event.Error.String() || !strings.Contains(p.events[0].payload, string(event.CodeStoreUnavailable)) {
		t.Errorf("first event %+v; want store_unavailable", p.events[0])
	}
	if p.events[1].typ != event.TagRead.String() || !strings.Contains(p.events[1].payload, `"uid":"43"`) {
		t.Errorf("second event %+v; want C's tag.read", p.events[1])
	}
	if n := p.early.Load(); n != 0 {
		t.Errorf("%d tag.reads published before their batch was durable", n)
	}
}

// TestPipelinePresenceEarly: the events ahead of a batch's first tag read
// (card.present) are published while the batch is written, when no batch
// is ahead of it; behind an unpublished batch they wait their turn.
func TestPipelinePresenceEarly(t *testing.T) {
	l := newPipeLedger()
	p := &pipePublisher{l: l}
	pr := &preparer{pipePublisher: p}
	present := func(name string) tap.Event { return tap.Event{Kind: event.CardPresent, Reader: name, Time: time.Now()} }
	a := read("A", 5, verdict.Authentic)
	a.Reader = "RA"
	in := startStage(t, l, judge.Config{Ledger: l, Signer: signer{}, Publisher: pr}, present("RA"), a)
	first := nextBegun(t, l)
	waitFor(t, "RA's card.present", func() bool { return p.n.Load() == 1 })
	b := read("B", 1, verdict.Authentic)
	b.Reader = "RB"
	in <- present("RB")
	in <- b
	second := nextBegun(t, l)
	second.finish(nil)
	time.Sleep(30 * time.Millisecond)
	if n := p.n.Load(); n != 1 {
		t.Fatalf("%d events published while the first batch is written, want 1 (its card.present)", n)
	}
	first.finish(nil)
	waitFor(t, "four events", func() bool { return p.n.Load() == 4 })
	p.mu.Lock()
	defer p.mu.Unlock()
	var got []string
	for _, e := range p.events {
		var v struct{ Reader string }
		json.Unmarshal([]byte(e.payload), &v)
		got = append(got, e.typ+"@"+v.Reader)
	}
	if want := "card.present@RA tag.read@RA card.present@RB tag.read@RB"; strings.Join(got, " ") != want {
		t.Errorf("published %v, want %s", got, want)
	}
	if n := p.early.Load(); n != 0 {
		t.Errorf("%d tag.reads published before their batch was durable", n)
	}
}
