// Package tap turns reader events into verified tag reads: for every card
// presented to a reader it reads the tag's NDEF URL, matches a profile and
// verifies the SUN message locally, and reports one Event per step, in
// reader order, on a channel (Run) or to a function (RunFunc).
//
// It is the pipeline behind `nfcd watch` and, followed by the verdict stage
// (internal/judge), the daemon. Readers are independent: each has its own
// goroutine and queue, so a slow or stuck reader never delays another. The
// pipeline knows readers only as a reader.Source; it knows nothing of
// PC/SC.
package tap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/reader"
)

// Event is one observation. Which fields are set depends on Kind.
type Event struct {
	Kind   event.Kind
	Reader string // empty for errors of the whole source
	// Time is when the change was observed, or for TagRead when the local
	// verdict was reached.
	Time time.Time
	ATR  []byte // CardPresent
	// Code, Detail and Err describe an Error: Code and Detail (a status
	// word such as "6A82", or "card_removed") are what clients are told,
	// Err is the cause for logs and `nfcd watch`.
	Code   event.Code
	Detail string
	Err    error
	Read   *Read // TagRead
	// Service is the new state of the service behind the readers, for
	// ServiceChanged.
	Service reader.Service
}

// Read is one tag read and its local verdict.
type Read struct {
	// Outcome is the local SUN verdict: profile, verdict, reason, detail
	// and, when authentic, the verified UID, counter and TagTamper status.
	profile.Outcome
	// UID is the verified UID; for other verdicts the UID the reader
	// reported (one more APDU, on that path only), if any.
	UID []byte
	URL string
	// Originality is the NXP originality signature check, a separate
	// signal: a clone can replay a static signature, so it never overrides
	// the SUN verdict.
	Originality ntag424.OriginalityStatus
	APDUs       int
	// APDUTime is the time spent in the reader exchanges.
	APDUTime time.Duration
	// Elapsed runs from the card-present observation to the verdict.
	Elapsed time.Duration
}

// Ctr returns the verified counter (none unless authentic).
func (r *Read) Ctr() ntag424.Counter { return r.Result.Ctr }

// TT returns the verified TagTamper status ("" unless mirrored).
func (r *Read) TT() string {
	if !r.Result.HasTT {
		return ""
	}
	return string(r.Result.TT[:])
}

// UIDHex returns the UID as upper-case hex.
func (r *Read) UIDHex() string { return ntag424.Hex(r.UID) }

// ReaderState is a snapshot of one reader.
type ReaderState struct {
	Name        string `json:"name"`
	CardPresent bool   `json:"card_present"`
}

// ServiceState is the state of the service behind the readers as clients
// see it: the "pcsc" object of hello, readers.list and the payload of the
// pcsc.changed event (docs/protocol.md).
type ServiceState struct {
	State reader.Service `json:"state"`
}

// Config configures a Pipeline.
type Config struct {
	Source   reader.Source
	Profiles profile.Set
	// ReadTimeout bounds one tag read (default 3 s).
	ReadTimeout time.Duration
	// Originality adds GetVersion and Read_Sig (4 APDUs) to every tap and
	// checks NXP's originality signature, reported beside the SUN verdict.
	Originality bool
	// QueueLen is the per-reader event queue of a source that is not a
	// reader.Reading (default 64). A reader whose queue is full has its
	// newest presence dropped with an error event rather than stalling the
	// other readers. A reader.Reading source needs no queue: each reader
	// waits for its own events to be taken.
	QueueLen int
	Log      *zap.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Pipeline reads and verifies tags from a Source.
type Pipeline struct {
	cfg Config
	// profiles is the current profile set (Config.Profiles, then whatever
	// SetProfiles swapped in); each tag read loads it once.
	profiles atomic.Pointer[profile.Set]

	mu      sync.Mutex
	service reader.Service
	readers map[string]*ReaderState
}

// New returns a Pipeline.
func New(cfg Config) *Pipeline {
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 3 * time.Second
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 64
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	cfg.Log = cfg.Log.Named("tap")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Pipeline{cfg: cfg, service: reader.ServiceStarting, readers: map[string]*ReaderState{}}
	p.profiles.Store(&cfg.Profiles)
	return p
}

// SetProfiles replaces the profile set while the pipeline runs (a
// configuration reload): a read in flight finishes under the set it
// started with, the next one uses set. No reader or tap is interrupted.
func (p *Pipeline) SetProfiles(set profile.Set) {
	p.profiles.Store(&set)
}

// Profiles returns the current profile set.
func (p *Pipeline) Profiles() profile.Set { return *p.profiles.Load() }

// ErrQueueFull is reported when a reader's events arrive faster than its
// tags can be read.
var ErrQueueFull = errors.New("tap: reader queue full; event dropped")

// Readers returns the readers the source has reported and whether a card is
// in each, sorted by name.
func (p *Pipeline) Readers() []ReaderState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ReaderState, 0, len(p.readers))
	for _, r := range p.readers {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b ReaderState) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Service returns the state of the service behind the readers (the PC/SC
// service) as the source last reported it: reader.ServiceStarting until
// it did. An error of the whole source (an Error event without a reader)
// means the service went away; a reader that appears means it is up.
func (p *Pipeline) Service() reader.Service {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.service
}

// track updates the snapshot with ev and reports whether the service
// state changed.
func (p *Pipeline) track(ev *reader.Event) (serviceChanged bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	setService := func(s reader.Service) {
		serviceChanged = p.service != s
		p.service = s
	}
	switch ev.Kind {
	case event.ServiceChanged:
		setService(ev.Service)
	case event.Error:
		if ev.Reader == "" {
			setService(reader.ServiceDown)
		}
	case event.ReaderAdded:
		if !p.service.Up() {
			setService(reader.ServiceRunning)
		}
		p.readers[ev.Reader] = &ReaderState{Name: ev.Reader}
	case event.ReaderRemoved:
		delete(p.readers, ev.Reader)
	case event.CardPresent, event.CardRemoved:
		if r := p.readers[ev.Reader]; r != nil {
			r.CardPresent = ev.Kind == event.CardPresent
		}
	}
	return serviceChanged
}

// Run runs the source and one worker per reader until ctx is done, sending
// every event to out, in order per reader. A change of the service state
// (Service) is sent as a ServiceChanged event, before the events of the
// readers it brought. A full out blocks the reader
// whose event it is. Run does not close out. Cancellation is not an error.
//
// A source that implements reader.Reading (PC/SC) needs no worker: it runs
// the pipeline's read (readCard) on the goroutine that saw the card
// arrive, so the first APDU follows detection without a hand-off, and
// passes each event to deliver on that goroutine, which sends it and the
// read's outcome to out. Other sources (the simulated reader) send their
// events on a channel and each reader's worker reads its tags.
func (p *Pipeline) Run(ctx context.Context, out chan<- Event) error {
	return p.RunFunc(ctx, func(evs ...Event) {
		for _, ev := range evs {
			p.sendTo(ctx, out, ev)
		}
	})
}

// sendTo sends ev to out unless ctx is done first; a tag read is sent
// even after ctx is done (a read finished after shutdown began is still
// delivered: a tag half handled is a lost tap), for up to ReadTimeout.
func (p *Pipeline) sendTo(ctx context.Context, out chan<- Event, ev Event) {
	if ev.Kind != event.TagRead {
		emit(ctx, out, ev)
		return
	}
	select {
	case out <- ev:
		return
	default:
	}
	t := time.NewTimer(p.cfg.ReadTimeout)
	defer t.Stop()
	select {
	case out <- ev:
	case <-t.C:
		p.cfg.Log.Warn("tag read dropped at shutdown", zap.String("reader", ev.Reader))
	}
}

// RunFunc is Run with the events passed to send instead of a channel:
// send is called with one or more events (a card's presence and its tag
// read together), in order per reader, on the goroutine that handles the
// reader, so calls for different readers may overlap. A send that blocks
// holds up that reader only. With a reader.Reading source nothing stands
// between the last APDU and send: `nfcd watch` writes its lines there.
func (p *Pipeline) RunFunc(ctx context.Context, send func(...Event)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if rs, ok := p.cfg.Source.(reader.Reading); ok {
		err := rs.RunReading(ctx, func(ev reader.Event) { p.deliver(ctx, ev, send) }, p.readCard)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	events := make(chan reader.Event, p.cfg.QueueLen)
	srcErr := make(chan error, 1)
	go func() { srcErr <- p.cfg.Source.Run(ctx, events) }()

	var wg sync.WaitGroup
	workers := map[string]chan reader.Event{}
	defer func() {
		for _, q := range workers {
			close(q)
		}
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-srcErr:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case ev := <-events:
			if !p.source(ev, send) {
				continue
			}
			q, ok := workers[ev.Reader]
			if !ok {
				q = make(chan reader.Event, p.cfg.QueueLen)
				workers[ev.Reader] = q
				wg.Add(1)
				go func() {
					defer wg.Done()
					p.work(ctx, q, send)
				}()
			}
			select {
			case q <- ev:
			default:
				send(Event{Kind: event.Error, Reader: ev.Reader, Time: ev.Time, Code: event.CodeQueueFull, Err: ErrQueueFull})
			}
		}
	}
}

// emit sends ev to out unless ctx is done first.
func emit(ctx context.Context, out chan<- Event, ev Event) {
	select {
	case out <- ev:
	case <-ctx.Done():
	}
}

// source records ev in the snapshot and sends what it says of the whole
// source (its errors, a change of the service state). It reports whether
// ev is a reader's, to be handled next.
func (p *Pipeline) source(ev reader.Event, send func(...Event)) bool {
	changed := p.track(&ev)
	if ev.Kind == event.Error && ev.Reader == "" {
		send(Event{Kind: event.Error, Time: ev.Time, Code: event.CodeReaderFailed, Err: ev.Err})
	}
	if changed {
		send(Event{Kind: event.ServiceChanged, Time: ev.Time, Service: p.Service()})
	}
	return ev.Reader != ""
}

// deliver is the send function of a reader.Reading source: it handles ev
// on the source's goroutine.
func (p *Pipeline) deliver(ctx context.Context, ev reader.Event, send func(...Event)) {
	if p.source(ev, send) {
		p.handle(ctx, ev, send)
	}
}

// work handles one reader's events in order.
func (p *Pipeline) work(ctx context.Context, q <-chan reader.Event, send func(...Event)) {
	for ev := range q {
		if ctx.Err() != nil {
			return
		}
		p.handle(ctx, ev, send)
	}
}

// readResult is what readCard returns through the source.
type readResult struct {
	rd   *Read
	err  error
	done time.Time
	// card is the connection the read used, still open: handle closes it
	// once the read's events are sent, so the SCardDisconnect round trip
	// is not between the last APDU and the event.
	card reader.Card
}

// close disconnects the card the read used, if any.
func (r *readResult) close() {
	if r.card != nil {
		r.card.Close()
		r.card = nil
	}
}

// readCard is the pipeline's reader.ReadFunc: it reads and verifies the
// tag ev announced, on the source's goroutine.
func (p *Pipeline) readCard(ctx context.Context, ev reader.Event) any {
	rd, card, err := p.read(ctx, ev)
	return &readResult{rd: rd, err: err, done: p.cfg.Now(), card: card}
}

// handle sends the events ev makes: for a CardPresent the event and the
// tag read (or the read's error), reading the tag unless the source did.
func (p *Pipeline) handle(ctx context.Context, ev reader.Event, send func(...Event)) {
	switch ev.Kind {
	case event.Error:
		send(Event{Kind: event.Error, Reader: ev.Reader, Time: ev.Time, Code: event.CodeReaderFailed, Err: ev.Err})
	case event.CardPresent:
		present := Event{Kind: ev.Kind, Reader: ev.Reader, Time: ev.Time, ATR: ev.ATR}
		res, ok := ev.Read.(*readResult)
		if !ok {
			// The presence is reported before a read of our own; a
			// source that read the tag already sends both together.
			send(present)
			rd, card, err := p.read(ctx, ev)
			res = &readResult{rd: rd, err: err, done: p.cfg.Now(), card: card}
		}
		defer res.close()
		var next Event
		if res.err != nil {
			p.cfg.Log.Info("tag read failed", zap.String("reader", ev.Reader), zap.Error(res.err))
			next = Event{Kind: event.Error, Reader: ev.Reader, Time: res.done, Code: event.CodeReadFailed, Detail: readErrorDetail(res.err), Err: res.err}
		} else {
			next = Event{Kind: event.TagRead, Reader: ev.Reader, Time: res.done, Read: res.rd}
		}
		if ok {
			send(present, next)
		} else {
			send(next)
		}
	default:
		send(Event{Kind: ev.Kind, Reader: ev.Reader, Time: ev.Time})
	}
}

// read reads and verifies the tag presented in ev and returns the card
// still connected (nil when Connect failed): the caller closes it. A read
// in flight when the pipeline is stopped finishes (bounded by
// ReadTimeout): a tag half read is a lost tap.
func (p *Pipeline) read(ctx context.Context, ev reader.Event) (_ *Read, _ reader.Card, err error) {
	rc := newReadCtx(ctx, p.cfg.ReadTimeout)
	defer rc.stop()
	ctx = rc
	card, err := p.cfg.Source.Connect(ctx, ev.Reader)
	if err != nil {
		return nil, nil, err
	}
	profiles := *p.profiles.Load()
	rd := &Read{}
	td, err := ntag424.ReadTag(ctx, card, ntag424.ReadOptions{
		Originality: p.cfg.Originality,
		Now:         p.cfg.Now,
		// Verify as soon as the URL is known: only a tag whose SUN does not
		// vouch for a UID costs the extra GET DATA for the reader's one.
		NeedUID: func(url string) bool {
			rd.Outcome = profiles.Verify(url)
			return !rd.Authentic()
		},
	})
	if err != nil {
		return nil, card, err
	}
	rd.URL, rd.APDUs, rd.APDUTime, rd.Originality = td.URL, td.APDUs, td.Timings.Total, td.Originality
	if rd.Verdict == "" {
		// NeedUID is not asked when GetVersion already gave the UID.
		rd.Outcome = profiles.Verify(td.URL)
	}
	if rd.Authentic() {
		rd.UID = append([]byte(nil), rd.Result.UID[:]...)
	} else {
		rd.UID = td.UID
	}
	start := ev.Time
	if start.IsZero() {
		start = p.cfg.Now()
	}
	rd.Elapsed = p.cfg.Now().Sub(start)
	return rd, card, nil
}

// readErrorDetail names what made a read fail in terms a client may see:
// the tag's status word, or that the tag left the field or took too long.
func readErrorDetail(err error) string {
	var se *ntag424.StatusError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%04X", uint16(se.SW))
	case errors.Is(err, ntag424.ErrCardRemoved):
		return "card_removed"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return ""
}
