// Package simulate is a hardware-free tag source: one simulated reader in
// which virtual NTAG 424 DNA tags (the same code as `nfcd vtag`) are
// presented every few seconds. Most taps are genuine; now and then a
// counterfeit tag (wrong key) and a replayed tap (the same counter and MAC
// twice) come by, so a newcomer sees every verdict within a minute.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/vtag"
)

// ReaderName is the simulated reader's name.
const ReaderName = "nfcd simulated reader"

// Kind is what a simulated tap presents.
type Kind int

// Tap kinds.
const (
	Genuine     Kind = iota // a tag personalised with the profile's keys
	Counterfeit             // a tag with a wrong key: bad MAC
	Replay                  // a tag that serves its previous counter and MAC again
)

// pattern is the repeating sequence of taps: the replay tag's second
// presentation repeats its first, which the daemon reports as replayed.
var pattern = []Kind{Genuine, Genuine, Counterfeit, Genuine, Replay, Replay, Genuine, Genuine}

// ErrNoCard is returned by Connect when no tag is in the simulated field.
var ErrNoCard = errors.New("simulate: no card in field")

// Config configures a Source.
type Config struct {
	Layout ntag424.Layout
	Keys   ntag424.Keys
	URL    string // base URL the tags mirror their SUN into
	// Interval is the time between automatic taps; 0 disables them (taps
	// then come only from Tap).
	Interval time.Duration
	// Dwell is how long a tag stays in the field (default 300 ms).
	Dwell time.Duration
	Rand  io.Reader
	// Marks, if set, says how far each tag's counter went in an earlier
	// run (the replay ledger's high-water marks): the simulated tags go on
	// counting from there, so that a demo started again on the same state
	// shows genuine taps as authentic, not replayed.
	Marks Marks
	// Plain makes NewDemo's tags mirror UID, counter and MAC in plain
	// (uid, ctr, cmac): the layout a remote service such as Legitimate
	// verifies (nfcd run --simulate --remote-fake).
	Plain bool
}

// Marks reports the highest counter accepted for a UID (*store.Store).
type Marks interface {
	HighWater(uid []byte) (ntag424.Counter, error)
}

// Source is a reader.Source with one simulated reader.
type Source struct {
	cfg    Config
	cards  map[Kind]*vtag.Card
	manual chan Kind

	mu      sync.Mutex
	current *vtag.Card
}

// New returns a Source whose genuine tag verifies under cfg's layout and keys.
func New(cfg Config) (*Source, error) {
	if cfg.Dwell <= 0 {
		cfg.Dwell = 300 * time.Millisecond
	}
	s := &Source{cfg: cfg, cards: map[Kind]*vtag.Card{}, manual: make(chan Kind)}
	for kind, vc := range map[Kind]vtag.Config{
		Genuine:     {UID: vtag.DefaultUID},
		Counterfeit: {UID: [7]byte{0x04, 0xC0, 0xFF, 0xEE, 0x00, 0x00, 0x01}, Counterfeit: true},
		Replay:      {UID: [7]byte{0x04, 0x5E, 0x9A, 0x7E, 0x00, 0x00, 0x02}, Replay: true},
	} {
		vc.Layout, vc.Keys, vc.URL, vc.Rand = cfg.Layout, cfg.Keys, cfg.URL, cfg.Rand
		if cfg.Marks != nil {
			hw, err := cfg.Marks.HighWater(vc.UID[:])
			if err != nil {
				return nil, fmt.Errorf("simulate: %w", err)
			}
			vc.Counter = hw.Value
		}
		if cfg.Layout.Mode == ntag424.ModeEncFile {
			vc.FileData = []byte("nfcd simulation!")
		}
		c, err := vtag.New(vc)
		if err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
		s.cards[kind] = c
	}
	return s, nil
}

// RemoteTags returns what a remote service needs to verify the simulated
// tags: the UIDs of all of them, and the SDM file read key of the genuine
// ones (under which a counterfeit tag's MAC fails).
func (s *Source) RemoteTags() (uids [][7]byte, key ntag424.Key) {
	for _, k := range []Kind{Genuine, Counterfeit, Replay} {
		uids = append(uids, s.cards[k].UID())
	}
	return uids, s.cfg.Keys.FileRead
}

// Run reports the service as reader.ServiceSimulated, adds the simulated
// reader and presents tags until ctx is done.
func (s *Source) Run(ctx context.Context, out chan<- reader.Event) error {
	send := func(ev reader.Event) bool {
		ev.Reader, ev.Time = ReaderName, time.Now()
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	// There is no PC/SC service to wait for: say so first.
	select {
	case out <- reader.Event{Kind: event.ServiceChanged, Service: reader.ServiceSimulated, Time: time.Now()}:
	case <-ctx.Done():
		return nil
	}
	if !send(reader.Event{Kind: event.ReaderAdded}) {
		return nil
	}
	// The first automatic tap comes within a second, so that a newcomer
	// sees a verdict right after opening the page.
	var tick <-chan time.Time
	var timer *time.Timer
	if s.cfg.Interval > 0 {
		timer = time.NewTimer(min(s.cfg.Interval, time.Second))
		defer timer.Stop()
		tick = timer.C
	}
	for i := 0; ; {
		var kind Kind
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			kind = pattern[i%len(pattern)]
			i++
			timer.Reset(s.cfg.Interval)
		case kind = <-s.manual:
		}
		if !s.present(ctx, kind, send) {
			return nil
		}
	}
}

// present puts the tag of kind into the field for the dwell time.
func (s *Source) present(ctx context.Context, kind Kind, send func(reader.Event) bool) bool {
	card := s.cards[kind]
	card.Presentation()
	s.mu.Lock()
	s.current = card
	s.mu.Unlock()
	ok := send(reader.Event{Kind: event.CardPresent, ATR: card.ATR()})
	if ok {
		select {
		case <-time.After(s.cfg.Dwell):
		case <-ctx.Done():
			ok = false
		}
	}
	s.mu.Lock()
	s.current = nil
	s.mu.Unlock()
	return ok && send(reader.Event{Kind: event.CardRemoved})
}

// Tap presents a tag of kind now, after any tap in progress. It returns
// when the tap has been handed to Run.
func (s *Source) Tap(ctx context.Context, kind Kind) error {
	select {
	case s.manual <- kind:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Connect returns the tag in the simulated field.
func (s *Source) Connect(ctx context.Context, name string) (reader.Card, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name != ReaderName || s.current == nil {
		return nil, ErrNoCard
	}
	return simCard{s.current}, nil
}

// simCard adapts a virtual tag to reader.Card.
type simCard struct{ c *vtag.Card }

// Transmit hands the APDU to the virtual tag. An empty answer means the tag
// left the field, which ntag424 reports as ErrCardRemoved.
func (c simCard) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.c.Transmit(apdu), nil
}

func (simCard) Close() error { return nil }
