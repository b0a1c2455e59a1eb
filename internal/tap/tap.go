// Package tap turns reader events into verified tag reads: for every card
// presented to a reader it reads the tag's NDEF URL, matches a profile,
// verifies the SUN message locally and reports one Event per step, in
// reader order.
//
// It is the pipeline behind `nfcd watch` and the daemon. Readers are
// independent: each has its own goroutine and queue, so a slow or stuck
// reader never delays another.
package tap

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
)

// Event types, as they appear in the "type" field of `nfcd watch --json`.
const (
	TypeReaderAdded   = "reader_added"
	TypeReaderRemoved = "reader_removed"
	TypeCardPresent   = "card_present"
	TypeCardRemoved   = "card_removed"
	TypeTag           = "tag"
	TypeError         = "error"
)

// Verdicts of a tag read.
const (
	Authentic      = "authentic"       // the SUN message verified
	Counterfeit    = "counterfeit"     // the SUN MAC (or PICCData) did not verify
	Malformed      = "malformed"       // no SUN message, or a broken one
	UnknownProfile = "unknown_profile" // no profile or keys for this URL
)

// Event is one observation. Which fields are set depends on Type.
type Event struct {
	Type   string
	Reader string
	Time   time.Time
	ATR    []byte // card_present
	Err    error  // error
	Tag    *Tag   // tag
}

// Tag is the result of one tag read.
type Tag struct {
	UID     []byte // the verified UID; for other verdicts the reader-reported UID, if any
	Ctr     uint32
	HasCtr  bool
	TT      string // TagTamper status, when mirrored
	URL     string
	Profile string
	Verdict string
	Reason  string
	APDUs   int
	// Elapsed runs from the card-present observation to the verdict.
	Elapsed time.Duration
	// APDUTime is the time spent in the reader exchanges.
	APDUTime time.Duration
	// Originality is the NXP originality signature check, a separate
	// signal: a clone can replay a static signature, so it never overrides
	// the SUN verdict.
	Originality ntag424.OriginalityStatus
	// Result is the full SUN verification result (zero unless Authentic).
	Result ntag424.Result
}

// UIDHex returns the UID as upper-case hex.
func (t *Tag) UIDHex() string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 0, 2*len(t.UID))
	for _, c := range t.UID {
		b = append(b, digits[c>>4], digits[c&0x0F])
	}
	return string(b)
}

// Card is a connected card: something APDUs can be sent to.
type Card interface {
	ntag424.Transmitter
	Close() error
}

// Kind says what a ReaderEvent reports.
type Kind int

// Reader event kinds.
const (
	ReaderAdded Kind = iota + 1
	ReaderRemoved
	CardPresent
	CardRemoved
	ReaderError
)

// ReaderEvent is what a Source reports about its readers.
type ReaderEvent struct {
	Kind   Kind
	Reader string // empty for source-wide errors
	ATR    []byte
	Err    error
	Time   time.Time
}

// Source is a set of readers: PC/SC, or a simulated reader.
type Source interface {
	// Run watches the readers until ctx is done, sending events to out.
	Run(ctx context.Context, out chan<- ReaderEvent) error
	// Connect opens the card in reader.
	Connect(ctx context.Context, reader string) (Card, error)
}

// Config configures a Pipeline.
type Config struct {
	Source   Source
	Profiles profile.Set
	// Emit receives every event, in order per reader. It is called from
	// the reader's goroutine: it must not block for long.
	Emit func(Event)
	// ReadTimeout bounds one tag read (default 3 s).
	ReadTimeout time.Duration
	// Originality adds GetVersion and Read_Sig (4 APDUs) to every tap and
	// checks NXP's originality signature, reported beside the SUN verdict.
	Originality bool
	// QueueLen is the per-reader event queue (default 64). A reader whose
	// queue is full has its oldest presence dropped with an error event
	// rather than stalling the other readers.
	QueueLen int
	Log      *zap.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Pipeline reads and verifies tags from a Source.
type Pipeline struct {
	cfg Config
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pipeline{cfg: cfg}
}

// ErrQueueFull is reported when a reader's events arrive faster than its
// tags can be read.
var ErrQueueFull = errors.New("tap: reader queue full; event dropped")

// Run runs the source and one worker per reader until ctx is done.
// Cancellation is not an error.
func (p *Pipeline) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan ReaderEvent, p.cfg.QueueLen)
	srcErr := make(chan error, 1)
	go func() { srcErr <- p.cfg.Source.Run(ctx, events) }()

	var wg sync.WaitGroup
	workers := map[string]chan ReaderEvent{}
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
			if ev.Reader == "" {
				p.cfg.Emit(Event{Type: TypeError, Time: ev.Time, Err: ev.Err})
				continue
			}
			q, ok := workers[ev.Reader]
			if !ok {
				q = make(chan ReaderEvent, p.cfg.QueueLen)
				workers[ev.Reader] = q
				wg.Add(1)
				go func() {
					defer wg.Done()
					p.worker(ctx, q)
				}()
			}
			select {
			case q <- ev:
			default:
				p.cfg.Emit(Event{Type: TypeError, Reader: ev.Reader, Time: ev.Time, Err: ErrQueueFull})
			}
		}
	}
}

// worker handles one reader's events in order.
func (p *Pipeline) worker(ctx context.Context, q <-chan ReaderEvent) {
	for ev := range q {
		if ctx.Err() != nil {
			return
		}
		switch ev.Kind {
		case ReaderAdded:
			p.cfg.Emit(Event{Type: TypeReaderAdded, Reader: ev.Reader, Time: ev.Time})
		case ReaderRemoved:
			p.cfg.Emit(Event{Type: TypeReaderRemoved, Reader: ev.Reader, Time: ev.Time})
		case CardRemoved:
			p.cfg.Emit(Event{Type: TypeCardRemoved, Reader: ev.Reader, Time: ev.Time})
		case ReaderError:
			p.cfg.Emit(Event{Type: TypeError, Reader: ev.Reader, Time: ev.Time, Err: ev.Err})
		case CardPresent:
			p.cfg.Emit(Event{Type: TypeCardPresent, Reader: ev.Reader, Time: ev.Time, ATR: ev.ATR})
			tag, err := p.read(ctx, ev)
			if err != nil {
				p.cfg.Log.Info("tag read failed", zap.String("reader", ev.Reader), zap.Error(err))
				p.cfg.Emit(Event{Type: TypeError, Reader: ev.Reader, Time: p.cfg.Now(), Err: err})
				continue
			}
			p.cfg.Emit(Event{Type: TypeTag, Reader: ev.Reader, Time: p.cfg.Now(), Tag: tag})
		}
	}
}

// Feedbacker is implemented by sources whose readers can signal a verdict
// (beep, LED). The pipeline calls it after each verdict; it is a no-op
// unless feedback was enabled.
type Feedbacker interface {
	Feedback(ctx context.Context, card Card, ok bool) error
}

// read reads and verifies the tag presented in ev. A read in flight when
// the pipeline is stopped finishes (bounded by ReadTimeout): a tag half
// read is a lost tap.
func (p *Pipeline) read(ctx context.Context, ev ReaderEvent) (*Tag, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ReadTimeout)
	defer cancel()
	card, err := p.cfg.Source.Connect(ctx, ev.Reader)
	if err != nil {
		return nil, err
	}
	defer card.Close()
	rd, err := ntag424.ReadTag(ctx, card, ntag424.ReadOptions{Originality: p.cfg.Originality, Now: p.cfg.Now})
	if err != nil {
		return nil, err
	}
	tag := &Tag{URL: rd.URL, APDUs: rd.APDUs, APDUTime: rd.Timings.Total, Originality: rd.Originality}
	p.judge(tag)
	if tag.Verdict != Authentic {
		// The SUN did not vouch for a UID: report the one GetVersion or
		// the reader saw (PC/SC GET DATA, one more APDU on this path only).
		tag.UID = rd.UID
		if tag.UID == nil {
			tag.APDUs++
			if uid, err := ntag424.GetUID(ctx, card); err == nil {
				tag.UID = uid
			}
		}
	}
	start := ev.Time
	if start.IsZero() {
		start = p.cfg.Now()
	}
	tag.Elapsed = p.cfg.Now().Sub(start)
	if fb, ok := p.cfg.Source.(Feedbacker); ok {
		if err := fb.Feedback(ctx, card, tag.Verdict == Authentic); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			p.cfg.Log.Debug("reader feedback failed", zap.String("reader", ev.Reader), zap.Error(err))
		}
	}
	return tag, nil
}

// judge verifies tag.URL against the matching profile and sets the verdict.
func (p *Pipeline) judge(tag *Tag) {
	prof, err := p.cfg.Profiles.Match(tag.URL)
	if err != nil {
		tag.Verdict, tag.Reason = UnknownProfile, "no profile matches the URL"
		return
	}
	tag.Profile = prof.Name
	r, err := prof.Verify(tag.URL)
	tag.Reason = ntag424.Reason(err)
	var fe *ntag424.FormatError
	switch {
	case err == nil:
		tag.Verdict = Authentic
		tag.Result = r
		tag.UID = append([]byte(nil), r.UID[:]...)
		tag.Ctr, tag.HasCtr = r.Ctr, r.HasCtr
		if r.HasTT {
			tag.TT = string(r.TT[:])
		}
	case errors.As(err, &fe):
		tag.Verdict = Malformed
	default:
		// A MAC that does not verify, or PICCData that decrypts to nonsense
		// under the profile's key: either way the tag does not hold our keys.
		tag.Verdict = Counterfeit
	}
}
