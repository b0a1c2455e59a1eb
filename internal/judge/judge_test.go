package judge_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/tap"
	"github.com/nfcd/nfcd/internal/verdict"
)

// ledger is a replay ledger in memory: the high-water rule per UID, and a
// switch that makes it fail.
type ledger struct {
	mu      sync.Mutex
	marks   map[string]uint32
	batches [][]string // UIDs of each Record call
	fail    error
}

func (l *ledger) Record(ctx context.Context, vs []*verdict.Verdict) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	var uids []string
	for _, v := range vs {
		uids = append(uids, v.UID)
		if v.Verdict != verdict.Authentic || !v.Ctr.Valid {
			continue
		}
		if m, ok := l.marks[v.UID]; ok && v.Ctr.Value <= m {
			v.Verdict, v.Reason = verdict.Replayed, verdict.ReasonReplayedCounter
			continue
		}
		l.marks[v.UID] = v.Ctr.Value
	}
	l.batches = append(l.batches, uids)
	return nil
}

// publisher records what is published.
type publisher struct {
	mu     sync.Mutex
	events []published
}

type published struct {
	typ     string
	payload string
}

func (p *publisher) Publish(typ string, payload any) uint64 {
	b, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, published{typ, string(b)})
	return uint64(len(p.events))
}

// signaler records reader feedback.
type signaler struct {
	mu  sync.Mutex
	got []bool
}

func (s *signaler) Signal(ctx context.Context, reader string, ok bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, ok)
	return nil
}

type signer struct{}

func (signer) SealV2(v verdict.Verdict) verdict.Payload { return signer{}.Seal(v) }

func (signer) Seal(v verdict.Verdict) verdict.Payload {
	return verdict.Payload{Reader: v.Reader, UID: v.UID, Ctr: v.Ctr, Verdict: v.Verdict, Reason: v.Reason}
}

func read(uid string, ctr uint32, v string) tap.Event {
	r := &tap.Read{URL: "https://t.example/?x", APDUs: 2}
	r.Verdict = v
	r.Reason = verdict.ReasonOK
	if v == verdict.Authentic {
		r.Result.Ctr = ntag424.CounterOf(ctr)
	} else {
		r.Reason = verdict.ReasonBadMAC
	}
	r.UID = []byte(uid)
	return tap.Event{Kind: event.TagRead, Reader: "R", Time: time.Now(), Read: r}
}

func run(t *testing.T, cfg judge.Config, events ...tap.Event) {
	t.Helper()
	in := make(chan tap.Event, len(events))
	for _, ev := range events {
		in <- ev
	}
	close(in)
	if err := judge.New(cfg).Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

// TestFeedbackAfterReplayCheck: the reader is told the final verdict, so a
// replayed tap gets the failure signal although its SUN verified.
func TestFeedbackAfterReplayCheck(t *testing.T) {
	l := &ledger{marks: map[string]uint32{}}
	p, s := &publisher{}, &signaler{}
	run(t, judge.Config{Ledger: l, Signer: signer{}, Publisher: p, Signaler: s},
		read("A", 5, verdict.Authentic), read("A", 5, verdict.Authentic), read("B", 0, verdict.Counterfeit), read("A", 6, verdict.Authentic))
	want := []bool{true, false, false, true}
	if len(s.got) != len(want) {
		t.Fatalf("signals %v, want %v", s.got, want)
	}
	for i := range want {
		if s.got[i] != want[i] {
			t.Fatalf("signals %v, want %v", s.got, want)
		}
	}
	var verdicts []string
	for _, e := range p.events {
		var v struct{ Verdict string }
		json.Unmarshal([]byte(e.payload), &v)
		verdicts = append(verdicts, v.Verdict)
	}
	if strings.Join(verdicts, " ") != "authentic replayed counterfeit authentic" {
		t.Errorf("published verdicts %v", verdicts)
	}
}

// TestBatchOneLedgerStep: taps queued together share one ledger step, and
// every event is still published in order.
func TestBatchOneLedgerStep(t *testing.T) {
	l := &ledger{marks: map[string]uint32{}}
	p := &publisher{}
	evs := []tap.Event{{Kind: event.CardPresent, Reader: "R", ATR: []byte{0x3B}}}
	for i := range 10 {
		evs = append(evs, read(string(rune('a'+i)), 1, verdict.Authentic))
	}
	evs = append(evs, tap.Event{Kind: event.CardRemoved, Reader: "R"})
	run(t, judge.Config{Ledger: l, Signer: signer{}, Publisher: p}, evs...)
	if len(l.batches) != 1 || len(l.batches[0]) != 10 {
		t.Errorf("ledger batches %v, want one of 10 taps", l.batches)
	}
	if len(p.events) != 12 || p.events[0].typ != "card.present" || p.events[0].payload != `{"reader":"R","atr":"3B"}` ||
		p.events[1].typ != "tag.read" || p.events[11].typ != "card.removed" {
		t.Errorf("published %v", p.events)
	}
}

// TestLedgerFailure: without the ledger an authentic tap gets no verdict
// (fail closed), a counterfeit one is still published; error events carry a
// code and a fixed message, never the internal error.
func TestLedgerFailure(t *testing.T) {
	l := &ledger{fail: errors.New("bbolt: disk I/O error at /var/lib/nfcd/nfcd.db")}
	p, s := &publisher{}, &signaler{}
	readErr := tap.Event{Kind: event.Error, Reader: "R", Code: event.CodeReadFailed, Detail: "6A82", Err: errors.New("ntag424: select: status 6A82 at /secret/path")}
	run(t, judge.Config{Ledger: l, Signer: signer{}, Publisher: p, Signaler: s},
		read("A", 5, verdict.Authentic), read("B", 0, verdict.Counterfeit), readErr)
	if len(p.events) != 3 {
		t.Fatalf("published %v", p.events)
	}
	if p.events[0].typ != "error" || p.events[0].payload != `{"reader":"R","code":"store_unavailable","message":"the replay check could not be recorded; tap again"}` {
		t.Errorf("authentic tap without ledger published %v", p.events[0])
	}
	if p.events[1].typ != "tag.read" || !strings.Contains(p.events[1].payload, `"verdict":"counterfeit"`) {
		t.Errorf("counterfeit tap without ledger published %v", p.events[1])
	}
	if p.events[2].payload != `{"reader":"R","code":"read_failed","message":"the tag could not be read; tap again","detail":"6A82"}` {
		t.Errorf("read error published as %v", p.events[2])
	}
	for _, e := range p.events {
		if strings.Contains(e.payload, "bbolt") || strings.Contains(e.payload, "/secret") {
			t.Errorf("an internal error reached a client: %s", e.payload)
		}
	}
	if len(s.got) != 2 || s.got[0] || s.got[1] {
		t.Errorf("signals %v, want two failures", s.got)
	}
}

// TestRunStopsOnCancel: a canceled stage returns although its input stays
// open (a shutdown past its deadline).
func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	in := make(chan tap.Event)
	go func() {
		done <- judge.New(judge.Config{Ledger: &ledger{}, Signer: signer{}, Publisher: &publisher{}, Signaler: &signaler{}}).Run(ctx, in)
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

type metricsRecorder struct {
	taps []string
	took []time.Duration
	sws  []uint16
}

func (m *metricsRecorder) Tap(reader, v string, took time.Duration) {
	m.taps = append(m.taps, reader+"/"+v)
	m.took = append(m.took, took)
}

func (m *metricsRecorder) APDUError(sw uint16) { m.sws = append(m.sws, sw) }

// TestMetrics: every published verdict is counted with its final verdict
// (after the replay check) and the time from the card appearing to the
// publication; a tap without a verdict is not; a failed read counts its
// status word.
func TestMetrics(t *testing.T) {
	m := &metricsRecorder{}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	a := read("A", 5, verdict.Authentic)
	a.Time = now.Add(-30 * time.Millisecond)
	a.Read.Elapsed = 70 * time.Millisecond // the card appeared 100 ms before now
	readErr := tap.Event{Kind: event.Error, Reader: "R", Code: event.CodeReadFailed, Detail: "6A82",
		Err: &ntag424.StatusError{Cmd: "ISOSelectFile", SW: 0x6A82}}
	run(t, judge.Config{Ledger: &ledger{marks: map[string]uint32{}}, Signer: signer{}, Publisher: &publisher{}, Metrics: m, Now: func() time.Time { return now }},
		a, a, read("B", 0, verdict.Counterfeit), readErr)
	if strings.Join(m.taps, " ") != "R/authentic R/replayed R/counterfeit" {
		t.Errorf("taps %v", m.taps)
	}
	if m.took[0] != 100*time.Millisecond {
		t.Errorf("first tap took %v, want 100ms", m.took[0])
	}
	if len(m.sws) != 1 || m.sws[0] != 0x6A82 {
		t.Errorf("APDU errors %X, want [6A82]", m.sws)
	}
	// Without the ledger, an authentic tap reaches no verdict.
	m = &metricsRecorder{}
	run(t, judge.Config{Ledger: &ledger{fail: errors.New("disk")}, Signer: signer{}, Publisher: &publisher{}, Metrics: m},
		read("A", 5, verdict.Authentic))
	if len(m.taps) != 0 {
		t.Errorf("a tap without a verdict was counted: %v", m.taps)
	}
}

// TestServiceChangedPublished: a change of the PC/SC service state goes out
// as pcsc.changed with the state alone, never the cause.
func TestServiceChangedPublished(t *testing.T) {
	p := &publisher{}
	run(t, judge.Config{Ledger: &ledger{marks: map[string]uint32{}}, Signer: signer{}, Publisher: p},
		tap.Event{Kind: event.Error, Code: event.CodeReaderFailed, Err: errors.New("pcsc: establish context: smart card service unavailable")},
		tap.Event{Kind: event.ServiceChanged, Service: reader.ServiceDown},
		tap.Event{Kind: event.ServiceChanged, Service: reader.ServiceRunning})
	want := []published{
		{"error", `{"code":"reader_failed","message":"the reader or the smart-card service failed; retrying"}`},
		{"pcsc.changed", `{"state":"no_service"}`},
		{"pcsc.changed", `{"state":"running"}`},
	}
	if len(p.events) != len(want) {
		t.Fatalf("published %v, want %v", p.events, want)
	}
	for i := range want {
		if p.events[i] != want[i] {
			t.Errorf("event %d = %v, want %v", i, p.events[i], want[i])
		}
	}
}
