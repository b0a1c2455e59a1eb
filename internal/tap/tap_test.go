package tap_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/tap"
)

// feedbackSource is a simulated reader that records verdict feedback.
type feedbackSource struct {
	*simulate.Source
	mu  sync.Mutex
	got []bool
}

func (f *feedbackSource) Feedback(ctx context.Context, card tap.Card, ok bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, ok)
	return nil
}

// TestPipelineSimulated runs genuine and counterfeit taps through the
// pipeline without pcscd: events in reader order, verdicts, two APDUs, and
// verdict feedback to the reader.
func TestPipelineSimulated(t *testing.T) {
	spec := profile.Spec{Name: "p", Match: "https://t.example/", LayoutSpec: ntag424.LayoutSpec{Mode: "enc"}, FileReadKey: "00112233445566778899AABBCCDDEEFF", MetaReadKey: "FFEEDDCCBBAA99887766554433221100"}
	prof, err := spec.Compile(false)
	if err != nil {
		t.Fatal(err)
	}
	l, k, _ := spec.Parts(false)
	sim, err := simulate.New(simulate.Config{Layout: l, Keys: k, URL: "https://t.example/x", Dwell: 30 * time.Millisecond, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	src := &feedbackSource{Source: sim}
	events := make(chan tap.Event, 64)
	p := tap.New(tap.Config{Source: src, Profiles: profile.Set{prof}, Emit: func(ev tap.Event) { events <- ev }, Log: zaptest.NewLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	var types []string
	var verdicts []string
	next := func() tap.Event {
		select {
		case ev := <-events:
			types = append(types, ev.Type)
			return ev
		case <-time.After(5 * time.Second):
			t.Fatalf("no event; so far %v", types)
			return tap.Event{}
		}
	}
	next() // reader_added
	for _, kind := range []simulate.Kind{simulate.Genuine, simulate.Counterfeit} {
		if err := sim.Tap(ctx, kind); err != nil {
			t.Fatal(err)
		}
		next() // card_present
		ev := next()
		if ev.Type != tap.TypeTag {
			t.Fatalf("got %s (%v), want a tag", ev.Type, ev.Err)
		}
		verdicts = append(verdicts, ev.Tag.Verdict)
		if ev.Tag.Verdict == tap.Authentic && ev.Tag.APDUs != 2 {
			t.Errorf("authentic tap took %d APDUs, want 2", ev.Tag.APDUs)
		}
		next() // card_removed
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	want := []string{tap.TypeReaderAdded, tap.TypeCardPresent, tap.TypeTag, tap.TypeCardRemoved, tap.TypeCardPresent, tap.TypeTag, tap.TypeCardRemoved}
	if len(types) != len(want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("events %v, want %v", types, want)
		}
	}
	if verdicts[0] != tap.Authentic || verdicts[1] != tap.Counterfeit {
		t.Errorf("verdicts %v, want authentic, counterfeit", verdicts)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.got) != 2 || !src.got[0] || src.got[1] {
		t.Errorf("feedback %v, want [true false]", src.got)
	}
}
