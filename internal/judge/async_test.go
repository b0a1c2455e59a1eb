package judge_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/verdict"
)

// asyncLedger is the in-memory ledger split in two: Begin decides, and the
// write is "durable" when the test says so (durable), or fails (fail).
type asyncLedger struct {
	*ledger
	durable atomic.Bool
	fail    error
	orig    []string
	vs      []*verdict.Verdict
}

func (l *asyncLedger) Begin(ctx context.Context, vs []*verdict.Verdict) (interface{ Wait() error }, error) {
	l.orig, l.vs = nil, vs
	for _, v := range vs {
		l.orig = append(l.orig, v.Verdict)
	}
	if err := l.ledger.Record(ctx, vs); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *asyncLedger) Wait() error {
	if l.fail != nil {
		for i, v := range l.vs {
			v.Verdict = l.orig[i]
		}
		return l.fail
	}
	l.durable.Store(true)
	return nil
}

// checkingPublisher fails the test if anything is published before the
// ledger's write is durable; its signer counts the signatures made before.
type checkingPublisher struct {
	publisher
	l     *asyncLedger
	early atomic.Int32
}

func (p *checkingPublisher) Publish(typ string, payload any) uint64 {
	if typ == event.TagRead.String() && !p.l.durable.Load() {
		p.early.Add(1)
	}
	return p.publisher.Publish(typ, payload)
}

type countingSigner struct {
	signer
	l         *asyncLedger
	mu        sync.Mutex
	beforeAll int
}

func (s *countingSigner) Seal(v verdict.Verdict) verdict.Payload {
	if !s.l.durable.Load() {
		s.mu.Lock()
		s.beforeAll++
		s.mu.Unlock()
	}
	return s.signer.Seal(v)
}

// TestAsyncLedgerSignsDuringWrite: with an AsyncLedger the stage signs the
// batch between Begin and Wait and publishes only after Wait, with the
// verdicts Begin settled (a replay is published as replayed).
func TestAsyncLedgerSignsDuringWrite(t *testing.T) {
	l := &asyncLedger{ledger: &ledger{marks: map[string]uint32{}}}
	p := &checkingPublisher{l: l}
	sg := &countingSigner{l: l}
	run(t, judge.Config{Ledger: l, Signer: sg, Publisher: p},
		read("A", 5, verdict.Authentic), read("A", 5, verdict.Authentic), read("B", 1, verdict.Authentic),
		read("C", 1, verdict.Authentic), read("D", 0, verdict.Counterfeit))
	if n := p.early.Load(); n != 0 {
		t.Fatalf("%d tag.read published before the ledger's write was durable", n)
	}
	if sg.beforeAll == 0 {
		t.Error("nothing was signed while the write was under way")
	}
	var got []string
	for _, e := range p.events {
		var v struct{ Verdict string }
		json.Unmarshal([]byte(e.payload), &v)
		got = append(got, v.Verdict)
	}
	want := "authentic replayed authentic authentic counterfeit"
	if strings.Join(got, " ") != want {
		t.Errorf("published %v, want %s", got, want)
	}
}

// TestAsyncLedgerWaitFails: a write that fails publishes no verdict for the
// taps whose counter it would have checked, and nothing signed before.
func TestAsyncLedgerWaitFails(t *testing.T) {
	l := &asyncLedger{ledger: &ledger{marks: map[string]uint32{"A": 5}}, fail: errors.New("disk full")}
	p := &publisher{}
	run(t, judge.Config{Ledger: l, Signer: signer{}, Publisher: p},
		read("A", 5, verdict.Authentic), read("B", 0, verdict.Counterfeit))
	if len(p.events) != 2 || p.events[0].typ != event.Error.String() || !strings.Contains(p.events[0].payload, string(event.CodeStoreUnavailable)) {
		t.Fatalf("published %+v; want store_unavailable first", p.events)
	}
	if p.events[1].typ != event.TagRead.String() || !strings.Contains(p.events[1].payload, verdict.Counterfeit) {
		t.Errorf("second event %+v; want the counterfeit tag.read", p.events[1])
	}
}
