package tap_test

import (
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/tap"
	"github.com/nfcd/nfcd/internal/verdict"
)

// TestPipelineSimulated runs genuine, counterfeit and unknown taps through
// the pipeline without pcscd: events in reader order, verdicts, reason codes,
// two APDUs for an authentic tap, and the reader snapshot.
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
	events := make(chan tap.Event, 64)
	p := tap.New(tap.Config{Source: sim, Profiles: profile.Set{prof}, Log: zaptest.NewLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, events) }()

	var kinds []event.Kind
	next := func() tap.Event {
		select {
		case ev := <-events:
			kinds = append(kinds, ev.Kind)
			return ev
		case <-time.After(5 * time.Second):
			t.Fatalf("no event; so far %v", kinds)
			return tap.Event{}
		}
	}
	if ev := next(); ev.Kind != event.ServiceChanged || ev.Service != reader.ServiceSimulated {
		t.Fatalf("first event %s %q, want %s %q", ev.Kind, ev.Service, event.ServiceChanged, reader.ServiceSimulated)
	}
	next() // reader.added
	if s := p.Service(); s != reader.ServiceSimulated {
		t.Errorf("Service() = %q, want %q", s, reader.ServiceSimulated)
	}
	if got := p.Readers(); len(got) != 1 || got[0].Name != simulate.ReaderName || got[0].CardPresent {
		t.Errorf("Readers() = %+v, want the simulated reader, empty", got)
	}
	var reads []*tap.Read
	for _, kind := range []simulate.Kind{simulate.Genuine, simulate.Counterfeit} {
		if err := sim.Tap(ctx, kind); err != nil {
			t.Fatal(err)
		}
		next() // card.present
		ev := next()
		if ev.Kind != event.TagRead {
			t.Fatalf("got %s (%v), want a tag read", ev.Kind, ev.Err)
		}
		reads = append(reads, ev.Read)
		next() // card.removed
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	want := []event.Kind{event.ServiceChanged, event.ReaderAdded, event.CardPresent, event.TagRead, event.CardRemoved, event.CardPresent, event.TagRead, event.CardRemoved}
	if !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	g, c := reads[0], reads[1]
	if g.Verdict != verdict.Authentic || g.Reason != verdict.ReasonOK || g.Profile != "p" || g.APDUs != 2 || !g.Ctr().Valid {
		t.Errorf("genuine tap = %s/%s profile %q, %d APDUs, ctr %s; want authentic/ok, p, 2 APDUs, a counter", g.Verdict, g.Reason, g.Profile, g.APDUs, g.Ctr())
	}
	if g.UIDHex() != "04518DFAA96180" {
		t.Errorf("genuine UID = %s, want the SUN's 04518DFAA96180", g.UIDHex())
	}
	// A counterfeit SUN vouches for nothing: the UID is the one the reader
	// reports (one more APDU) and no counter is taken from it.
	if c.Verdict != verdict.Counterfeit || c.Reason != verdict.ReasonBadMAC || c.APDUs != 3 || c.Ctr().Valid || len(c.UID) != 7 {
		t.Errorf("counterfeit tap = %s/%s, %d APDUs, ctr %s, uid %X; want counterfeit/bad_mac, 3 APDUs, no counter, the reader's UID", c.Verdict, c.Reason, c.APDUs, c.Ctr(), c.UID)
	}
}

// TestSetProfiles swaps the profile set while the pipeline runs: the reader
// stays, and the next tap is judged by the new set.
func TestSetProfiles(t *testing.T) {
	spec := profile.Spec{Name: "old", Match: "https://t.example/", LayoutSpec: ntag424.LayoutSpec{Mode: "enc"}, FileReadKey: "00112233445566778899AABBCCDDEEFF", MetaReadKey: "FFEEDDCCBBAA99887766554433221100"}
	l, k, _ := spec.Parts(false)
	sim, err := simulate.New(simulate.Config{Layout: l, Keys: k, URL: "https://t.example/x", Dwell: 30 * time.Millisecond, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	p := tap.New(tap.Config{Source: sim, Log: zaptest.NewLogger(t)}) // no profiles yet
	events := make(chan tap.Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx, events)
	read := func() *tap.Read {
		t.Helper()
		if err := sim.Tap(ctx, simulate.Genuine); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case ev := <-events:
				if ev.Kind == event.ReaderRemoved {
					t.Fatal("the reader went away")
				}
				if ev.Kind == event.TagRead {
					return ev.Read
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no tag read")
			}
		}
	}
	if r := read(); r.Verdict != verdict.UnknownProfile {
		t.Errorf("without profiles: %s, want unknown_profile", r.Verdict)
	}
	spec.Name = "new"
	prof, err := spec.Compile(false)
	if err != nil {
		t.Fatal(err)
	}
	p.SetProfiles(profile.Set{prof})
	if r := read(); r.Verdict != verdict.Authentic || r.Profile != "new" {
		t.Errorf("after SetProfiles: %s by %q, want authentic by new", r.Verdict, r.Profile)
	}
	if got := p.Profiles(); len(got) != 1 || got[0].Name != "new" {
		t.Errorf("Profiles() = %v", got)
	}
}

// fakeSource sends the events it is given, then waits.
type fakeSource struct{ events []reader.Event }

func (f fakeSource) Run(ctx context.Context, out chan<- reader.Event) error {
	for _, ev := range f.events {
		select {
		case out <- ev:
		case <-ctx.Done():
			return nil
		}
	}
	<-ctx.Done()
	return nil
}

func (fakeSource) Connect(context.Context, string) (reader.Card, error) {
	return nil, errors.New("no card")
}

// TestPipelineTracksService: the snapshot follows the service state a
// source reports, an error of the whole source means the service is gone,
// a reader that appears means it is up; each change is one ServiceChanged
// event, ahead of the reader's own events.
func TestPipelineTracksService(t *testing.T) {
	src := fakeSource{events: []reader.Event{
		{Kind: event.Error, Err: errors.New("pcsc: smart card service unavailable")},
		{Kind: event.ServiceChanged, Service: reader.ServiceDown}, // no change: no event
		{Kind: event.ServiceChanged, Service: reader.ServiceRunning},
		{Kind: event.ReaderAdded, Reader: "R1"},
		{Kind: event.ReaderRemoved, Reader: "R1"},
		{Kind: event.Error}, // a source that only reports errors
		{Kind: event.ReaderAdded, Reader: "R2"},
	}}
	p := tap.New(tap.Config{Source: src, Log: zaptest.NewLogger(t)})
	if s := p.Service(); s != reader.ServiceStarting {
		t.Errorf("Service() before Run = %q, want %q", s, reader.ServiceStarting)
	}
	events := make(chan tap.Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, events) }()
	// Events of the whole source and those of each reader come from
	// different goroutines: each stream is in order, and a reader is
	// added only after the service is reported running.
	var global []string
	readers := map[string][]string{}
	n := 0
	running := 0
	for ; n < 9; n++ {
		select {
		case ev := <-events:
			switch ev.Kind {
			case event.ServiceChanged:
				global = append(global, "pcsc.changed "+string(ev.Service))
				if ev.Service == reader.ServiceRunning {
					running++
				}
			case event.Error:
				global = append(global, "error")
			default:
				readers[ev.Reader] = append(readers[ev.Reader], ev.Kind.String())
				if ev.Kind == event.ReaderAdded && running == 0 {
					t.Errorf("%s %s before the service was reported running", ev.Kind, ev.Reader)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("events so far %q %q", global, readers)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	wantGlobal := []string{"error", "pcsc.changed no_service", "pcsc.changed running",
		"error", "pcsc.changed no_service", "pcsc.changed running"}
	wantReaders := map[string][]string{"R1": {"reader.added", "reader.removed"}, "R2": {"reader.added"}}
	if !slices.Equal(global, wantGlobal) || !maps.EqualFunc(readers, wantReaders, slices.Equal) {
		t.Errorf("events\n%q %q\nwant\n%q %q", global, readers, wantGlobal, wantReaders)
	}
	if s := p.Service(); s != reader.ServiceRunning {
		t.Errorf("Service() = %q, want %q", s, reader.ServiceRunning)
	}
}

// readingSource is the simulator as a reader.Reading: it calls the
// pipeline's read function itself, on its own goroutine, before sending a
// CardPresent, as the PC/SC monitor does.
type readingSource struct {
	*simulate.Source
	reads atomic.Int32
}

func (s *readingSource) RunReading(ctx context.Context, send func(reader.Event), read reader.ReadFunc) error {
	mid := make(chan reader.Event, 16)
	errc := make(chan error, 1)
	go func() { errc <- s.Source.Run(ctx, mid) }()
	for {
		select {
		case ev := <-mid:
			if ev.Kind == event.CardPresent {
				ev.Read = read(ctx, ev)
				s.reads.Add(1)
			}
			send(ev)
		case err := <-errc:
			return err
		}
	}
}

// TestPipelineReadingSource: with a source that reads on its own goroutine
// and hands its events to the pipeline's send function, the pipeline reads
// each tag exactly once (there, not again in a worker), reports the
// service and the reader, and delivers card.present before the tag read,
// in reader order.
func TestPipelineReadingSource(t *testing.T) {
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
	src := &readingSource{Source: sim}
	events := make(chan tap.Event, 64)
	p := tap.New(tap.Config{Source: src, Profiles: profile.Set{prof}, Log: zaptest.NewLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, events) }()
	var kinds []event.Kind
	var ctrs []uint32
	const taps = 3
	for i := 0; i < taps; i++ {
		if err := sim.Tap(ctx, simulate.Genuine); err != nil {
			t.Fatal(err)
		}
	}
	for len(ctrs) < taps {
		select {
		case ev := <-events:
			kinds = append(kinds, ev.Kind)
			if ev.Kind == event.TagRead {
				if ev.Read.Verdict != verdict.Authentic || ev.Read.APDUs != 2 {
					t.Fatalf("tag read %s, %d APDUs; want authentic, 2", ev.Read.Verdict, ev.Read.APDUs)
				}
				ctrs = append(ctrs, ev.Read.Ctr().Value)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event; so far %v", kinds)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if n := src.reads.Load(); n != taps {
		t.Errorf("the source read %d times, want %d", n, taps)
	}
	for i := 1; i < len(ctrs); i++ {
		if ctrs[i] != ctrs[i-1]+1 {
			t.Errorf("counters %v: a tag was read twice or skipped", ctrs)
		}
	}
	if len(kinds) < 2 || kinds[0] != event.ServiceChanged || kinds[1] != event.ReaderAdded || p.Service() != reader.ServiceSimulated {
		t.Errorf("events %v, service %q: want service.changed (simulated) and reader.added first", kinds, p.Service())
	}
	var order []event.Kind
	for _, k := range kinds {
		if k == event.CardPresent || k == event.TagRead {
			order = append(order, k)
		}
	}
	for i, k := range order {
		if want := []event.Kind{event.CardPresent, event.TagRead}[i%2]; k != want {
			t.Fatalf("events %v: card.present and tag.read out of order", kinds)
		}
	}
}
