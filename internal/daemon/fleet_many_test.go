package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/vtag"
)

// handSource is a reader.Source with one reader that the test puts tags
// on by hand: tags that other daemons' readers share (one physical tag
// carried from kiosk to kiosk).
type handSource struct {
	events chan reader.Event
	mu     sync.Mutex
	cur    *vtag.Card
}

func newHandSource() *handSource { return &handSource{events: make(chan reader.Event, 8)} }

const handReader = "hand"

func (s *handSource) Run(ctx context.Context, out chan<- reader.Event) error {
	send := func(ev reader.Event) bool {
		ev.Reader, ev.Time = handReader, time.Now()
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	select {
	case out <- reader.Event{Kind: event.ServiceChanged, Service: reader.ServiceSimulated, Time: time.Now()}:
	case <-ctx.Done():
		return nil
	}
	if !send(reader.Event{Kind: event.ReaderAdded}) {
		return nil
	}
	for {
		select {
		case ev := <-s.events:
			if !send(ev) {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *handSource) Connect(ctx context.Context, name string) (reader.Card, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name != handReader || s.cur == nil {
		return nil, simulate.ErrNoCard
	}
	return handCard{s.cur}, nil
}

// put presents c; take removes it.
func (s *handSource) put(c *vtag.Card) {
	c.Presentation()
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	s.events <- reader.Event{Kind: event.CardPresent, ATR: c.ATR()}
}

func (s *handSource) take() {
	s.mu.Lock()
	s.cur = nil
	s.mu.Unlock()
	s.events <- reader.Event{Kind: event.CardRemoved}
}

type handCard struct{ c *vtag.Card }

func (c handCard) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.c.Transmit(apdu), nil
}

func (handCard) Close() error { return nil }

// sharedTag is one physical tag: one kiosk's reader holds it at a time.
type sharedTag struct {
	mu   sync.Mutex
	card *vtag.Card
}

// tagRead waits for the next tag.read on c, without failing the test from
// another goroutine.
func (c *client) tagReadErr(d time.Duration) (map[string]any, error) {
	timeout := time.After(d)
	for {
		select {
		case m, open := <-c.events:
			if !open {
				return nil, fmt.Errorf("connection closed")
			}
			if m["type"] == "tag.read" {
				return m["payload"].(map[string]any), nil
			}
		case <-timeout:
			return nil, fmt.Errorf("no tag.read within %v", d)
		}
	}
}

// TestFleetEightDaemons: eight daemons share one database; three tags go
// from kiosk to kiosk in random order. Every genuine tap (its counter
// always above the last) is accepted, confirmed by the fleet; then clones
// present counters that were already used, at random kiosks, and every
// one is refused: each (UID, counter) is accepted at most once fleet-wide.
func TestFleetEightDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("eight daemons")
	}
	dsn := migrated(t)
	spec := testSpec
	layout, keys, err := spec.Parts(false)
	if err != nil {
		t.Fatal(err)
	}
	const kiosks, tapsEach = 8, 6
	type kiosk struct {
		h   *harness
		c   *client
		src *handSource
	}
	ks := make([]kiosk, kiosks)
	for i := range ks {
		src := newHandSource()
		h := startWith(t, t.TempDir(), "", func(o *Options) {
			o.Config.Profiles = config.Profiles(spec)
			o.Config.Fleet = &fleet.Config{DSN: dsn, Kiosk: fmt.Sprintf("kiosk-%d", i), Timeout: 5 * time.Second}
			o.Source = src
		})
		ks[i] = kiosk{h: h, c: h.dial(), src: src}
	}
	uids := [][7]byte{{0x04, 1, 2, 3, 4, 5, 1}, {0x04, 1, 2, 3, 4, 5, 2}, {0x04, 1, 2, 3, 4, 5, 3}}
	tags := make([]*sharedTag, len(uids))
	for i, u := range uids {
		c, err := vtag.New(vtag.Config{UID: u, Layout: layout, Keys: keys, URL: "https://tags.example/t", Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		tags[i] = &sharedTag{card: c}
	}
	present := func(k kiosk, card *vtag.Card) (verdict.Verdict, error) {
		k.src.put(card)
		p, err := k.c.tagReadErr(20 * time.Second)
		k.src.take()
		if err != nil {
			return verdict.Verdict{}, err
		}
		return k.h.opened(p), nil
	}

	type result struct {
		kiosk int
		v     verdict.Verdict
	}
	var (
		mu      sync.Mutex
		results []result
		errs    []error
		wg      sync.WaitGroup
	)
	for i := range ks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tapsEach {
				tg := tags[mrand.IntN(len(tags))]
				tg.mu.Lock()
				v, err := present(ks[i], tg.card)
				tg.mu.Unlock()
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("kiosk %d: %w", i, err))
				} else {
					results = append(results, result{i, v})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	accepted := map[string]int{} // "uid ctr" → kiosk
	for _, r := range results {
		if r.v.Verdict != verdict.Authentic || r.v.Fleet != verdict.FleetConfirmed {
			t.Errorf("kiosk %d: genuine tap of %s ctr %v: %s/%s fleet %s", r.kiosk, r.v.UID, r.v.Ctr, r.v.Verdict, r.v.Reason, r.v.Fleet)
		}
		key := fmt.Sprintf("%s %v", r.v.UID, r.v.Ctr)
		if k, dup := accepted[key]; dup {
			t.Errorf("%s accepted at kiosk %d and %d", key, k, r.kiosk)
		}
		accepted[key] = r.kiosk
	}
	if len(accepted) != kiosks*tapsEach {
		t.Fatalf("%d taps accepted, want %d", len(accepted), kiosks*tapsEach)
	}
	// Clones: each replays a counter already accepted somewhere, at a
	// random kiosk.
	for i, u := range uids {
		tags[i].mu.Lock()
		last := tags[i].card.Counter()
		tags[i].mu.Unlock()
		if last == 0 {
			continue
		}
		for _, ctr := range []uint32{1, last/2 + 1, last} {
			clone, err := vtag.New(vtag.Config{UID: u, Layout: layout, Keys: keys, URL: "https://tags.example/t", Rand: rand.Reader, Counter: ctr - 1})
			if err != nil {
				t.Fatal(err)
			}
			k := mrand.IntN(kiosks)
			v, err := present(ks[k], clone)
			if err != nil {
				t.Fatal(err)
			}
			if v.Ctr != ntag424.CounterOf(ctr) || v.Verdict != verdict.Replayed {
				t.Errorf("clone of %X ctr %d at kiosk %d: %s/%s ctr %v, want replayed", u, ctr, k, v.Verdict, v.Reason, v.Ctr)
			}
		}
	}
}
