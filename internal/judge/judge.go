// Package judge is the verdict stage of the tap path. Between the tap
// pipeline (internal/tap) and the clients, it settles every tag read: it
// applies the replay ledger, signs the verdict and publishes it, then asks
// the reader to show it (beep, LED); it relays the reader events in the
// same order.
//
// It runs on a goroutine of its own, so the reader goroutines never wait
// for a disk or a client, and it sees no transport: it depends only on the
// small interfaces below (Ledger, Signer, Publisher, reader.Signaler, and
// the remote verifier slot Remote), which the embedded store, the verdict
// key, the WebSocket server, the PC/SC readers and internal/remoteverify
// implement.
package judge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/tap"
	"github.com/nfcd/nfcd/internal/verdict"
)

// Ledger records verdicts durably and decides replays: for each authentic
// verdict with a counter it checks and advances the tag's high-water mark,
// turning a counter that is not above it into verdict.Replayed, and it
// appends every verdict to the audit log, all in one durable step. A batch
// holds the taps that arrived together.
type Ledger interface {
	Record(ctx context.Context, vs []*verdict.Verdict) error
}

// AsyncLedger is a Ledger that can split Record in two (internal/store
// implements it): Begin applies the high-water rule to the batch at once,
// setting the verdicts as Record would, and starts their durable write;
// the Wait of its result returns once the write is durable, or with the
// error that kept it from being so (then the verdicts are as they were
// before Begin). The stage signs the batch between the two, while the disk
// works, and publishes nothing before Wait returned nil. It calls Wait
// exactly once for every Begin that returned no error.
type AsyncLedger interface {
	Ledger
	Begin(ctx context.Context, vs []*verdict.Verdict) (interface{ Wait() error }, error)
}

// Signer signs verdicts: Seal with both canonical versions (tag.read),
// SealV2 with version 2 only (verdict.updated). Seal may run on two
// goroutines at once (a burst is signed on two cores).
type Signer interface {
	Seal(v verdict.Verdict) verdict.Payload
	SealV2(v verdict.Verdict) verdict.Payload
}

// Publisher sends an event to every subscribed client. payload encodes to
// a JSON object. It must not block on clients.
type Publisher interface {
	Publish(typ string, payload any) uint64
}

// Preparer is the optional side of a Publisher that encodes an event
// ahead of its publication (internal/ws implements it). The pipelined
// stage prepares a batch's tag reads while the ledger writes them and
// publishes each once the batch is durable, so that only the seq and the
// client queues stand between the durable write and the frames. The
// result's Publish is Publish of the prepared event; it is called at most
// once, and a prepared event that is never published costs nothing.
//
// The result is declared as an interface so that the publisher need not
// import this package.
type Preparer interface {
	Prepare(typ string, payload any) interface{ Publish() uint64 }
}

// Metrics is what the stage reports to monitoring (internal/metrics
// implements it). It is called after publication, off the readers' path.
type Metrics interface {
	// Tap counts a tag read that reached verdict on reader, took being the
	// time from the card appearing to the verdict's publication.
	Tap(reader, verdict string, took time.Duration)
	// APDUError counts a read that failed on the status word sw.
	APDUError(sw uint16)
}

// DefaultMaxBatch bounds the taps recorded in one ledger step.
const DefaultMaxBatch = 32

// Config configures a Stage.
type Config struct {
	Ledger    Ledger
	Signer    Signer
	Publisher Publisher
	// Signaler, if set, shows each verdict on its reader after it was
	// published: ok only for an authentic tap whose counter was accepted.
	Signaler reader.Signaler
	// MaxBatch bounds how many queued taps share one ledger step
	// (DefaultMaxBatch).
	MaxBatch int
	// Remote, if set, is the remote verifier slot (remote.go); nil keeps
	// every verdict local at no extra cost.
	Remote Remote
	// Fleet, if set, is the fleet slot (fleet.go).
	Fleet Fleet
	// Metrics, if set, counts taps and failed reads.
	Metrics Metrics
	Log     *zap.Logger
	// Now is the clock of the tap durations (default time.Now).
	Now func() time.Time
}

// Stage is the verdict stage. Create it with New.
type Stage struct {
	cfg     Config
	signals chan signal
	// tapPrefix and taps make tap IDs: random per run, then a count.
	tapPrefix string
	taps      uint64
	// Remote state (remote.go), used only with Config.Remote.
	held  []bool
	holds map[string]*holdQueue
	queue map[string]*queued
	// sealed are the signed payloads of the batch's tag reads, made while
	// an AsyncLedger writes (nil when they are signed on publication).
	sealed []verdict.Payload
}

type signal struct {
	reader string
	ok     bool
}

// New returns a Stage.
func New(cfg Config) *Stage {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	cfg.Log = cfg.Log.Named("judge")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var id [6]byte
	rand.Read(id[:])
	return &Stage{cfg: cfg, signals: make(chan signal, 16), tapPrefix: hex.EncodeToString(id[:]) + "-"}
}

// Run settles and publishes the events from in until in is closed, then
// returns nil: a tap that reached the stage is not dropped, so the caller
// closes in once the pipeline has stopped. Canceling ctx stops Run at once,
// dropping what is still queued (a shutdown past its deadline).
// Cancellation is not an error.
func (s *Stage) Run(ctx context.Context, in <-chan tap.Event) error {
	if s.cfg.Signaler != nil {
		done := make(chan struct{})
		defer func() { close(s.signals); <-done }()
		go func() { defer close(done); s.signal(ctx) }()
	}
	batch := make([]tap.Event, 0, s.cfg.MaxBatch)
	var updates <-chan Update
	if s.cfg.Remote != nil {
		updates = s.cfg.Remote.Updates()
	}
	var fleetUpdates <-chan Update
	if s.cfg.Fleet != nil {
		fleetUpdates = s.cfg.Fleet.Updates()
	}
	if _, ok := s.cfg.Ledger.(AsyncLedger); ok && s.cfg.Remote == nil {
		return s.runPipelined(ctx, in, fleetUpdates)
	}
	for {
		var ev tap.Event
		var ok bool
		select {
		case ev, ok = <-in:
		case u := <-updates:
			s.update(u)
			continue
		case u := <-fleetUpdates:
			s.update(u)
			continue
		case <-ctx.Done():
			return nil
		}
		if !ok {
			s.releaseAll()
			return nil
		}
		// The taps that queued up while the last batch was recorded share
		// this one's durable write.
		batch = append(batch[:0], ev)
	drain:
		for len(batch) < cap(batch) {
			select {
			case ev, ok := <-in:
				if !ok {
					break drain
				}
				batch = append(batch, ev)
			default:
				break drain
			}
		}
		s.settle(ctx, batch)
	}
}

// settle records the tag reads of batch in one ledger step and publishes
// every event of batch in order.
func (s *Stage) settle(ctx context.Context, batch []tap.Event) {
	var vs []*verdict.Verdict
	for i := range batch {
		if batch[i].Kind == event.TagRead {
			vs = append(vs, s.newVerdict(&batch[i]))
		}
	}
	var recordErr error
	s.sealed = s.sealed[:0]
	if len(vs) > 0 {
		recordErr = s.record(ctx, vs)
		if recordErr != nil {
			s.cfg.Log.Error("ledger record failed", zap.Int("taps", len(vs)), zap.Error(recordErr))
		}
	}
	remote := s.cfg.Remote != nil && len(vs) > 0 && recordErr == nil
	if remote {
		s.submit(ctx, vs)
	}
	n := 0
	for i := range batch {
		ev := &batch[i]
		var v *verdict.Verdict
		var held bool
		if ev.Kind == event.TagRead {
			v = vs[n]
			if remote {
				held = s.held[n]
			}
			n++
		}
		if (held || len(s.holds) > 0) && s.hold(ev, v, recordErr, held) {
			continue
		}
		if v != nil && len(s.sealed) == len(vs) {
			s.publishSealed(ev, v, &s.sealed[n-1])
			continue
		}
		s.publish(ev, v, recordErr)
	}
}

// record records the tag reads of a batch. With an AsyncLedger and no
// remote slot (which may still change the verdicts after the ledger), it
// signs them in s.sealed while the ledger's write is under way.
func (s *Stage) record(ctx context.Context, vs []*verdict.Verdict) error {
	al, ok := s.cfg.Ledger.(AsyncLedger)
	if !ok || s.cfg.Remote != nil {
		return s.cfg.Ledger.Record(ctx, vs)
	}
	c, err := al.Begin(ctx, vs)
	if err != nil {
		return err
	}
	s.sealed = s.seal(s.sealed, vs)
	if err := c.Wait(); err != nil {
		// The verdicts are as they were before Begin: sign nothing of
		// them in advance.
		s.sealed = s.sealed[:0]
		return err
	}
	return nil
}

// parallelSeal is the batch size from which the stage signs on two
// goroutines: a burst of taps on several readers.
const parallelSeal = 4

// seal signs vs into sealed (reusing its array) and returns it; a burst
// is split between the stage goroutine and one more, so that two cores
// sign while the disk writes.
func (s *Stage) seal(sealed []verdict.Payload, vs []*verdict.Verdict) []verdict.Payload {
	n := len(vs)
	if cap(sealed) < n {
		sealed = make([]verdict.Payload, 0, max(n, s.cfg.MaxBatch))
	}
	sealed = sealed[:n]
	if n < parallelSeal {
		for i, v := range vs {
			sealed[i] = s.cfg.Signer.Seal(*v)
		}
		return sealed
	}
	half := n / 2
	done := make(chan struct{})
	go func() {
		for i := half; i < n; i++ {
			sealed[i] = s.cfg.Signer.Seal(*vs[i])
		}
		close(done)
	}()
	for i := range half {
		sealed[i] = s.cfg.Signer.Seal(*vs[i])
	}
	<-done
	return sealed
}

// publish publishes one event of a batch; v is the verdict of a tag read.
func (s *Stage) publish(ev *tap.Event, v *verdict.Verdict, recordErr error) {
	switch ev.Kind {
	case event.TagRead:
		s.publishVerdict(ev, v, recordErr)
	case event.Error:
		s.cfg.Log.Info("reader error", zap.String("reader", ev.Reader), zap.String("code", string(ev.Code)), zap.Error(ev.Err))
		s.cfg.Publisher.Publish(event.Error.String(), event.ErrorPayload{Reader: ev.Reader, Code: ev.Code, Message: ev.Code.Message(), Detail: ev.Detail})
		var se *ntag424.StatusError
		if s.cfg.Metrics != nil && errors.As(ev.Err, &se) {
			s.cfg.Metrics.APDUError(uint16(se.SW))
		}
	case event.CardPresent:
		s.cfg.Publisher.Publish(ev.Kind.String(), readerPayload{Reader: ev.Reader, ATR: ntag424.Hex(ev.ATR)})
	case event.ServiceChanged:
		s.cfg.Log.Info("reader service", zap.String("state", string(ev.Service)))
		s.cfg.Publisher.Publish(ev.Kind.String(), tap.ServiceState{State: ev.Service})
	default:
		s.cfg.Publisher.Publish(ev.Kind.String(), readerPayload{Reader: ev.Reader})
	}
}

// publishVerdict signs and publishes one settled tag read.
func (s *Stage) publishVerdict(ev *tap.Event, v *verdict.Verdict, recordErr error) {
	if recordErr != nil && v.Verdict == verdict.Authentic && v.Ctr.Valid {
		// Without the ledger the counter cannot be checked, so the tap
		// gets no verdict at all: fail closed, never "authentic".
		code := event.CodeStoreUnavailable
		s.cfg.Publisher.Publish(event.Error.String(), event.ErrorPayload{Reader: v.Reader, Code: code, Message: code.Message()})
		s.queueSignal(v.Reader, false)
		return
	}
	p := s.cfg.Signer.Seal(*v)
	s.publishSealed(ev, v, &p)
}

// publishSealed publishes one settled tag read signed as p.
func (s *Stage) publishSealed(ev *tap.Event, v *verdict.Verdict, p *verdict.Payload) {
	s.cfg.Publisher.Publish(event.TagRead.String(), tagRead(ev, v, p))
	s.published(ev, v)
}

// tagRead is the payload of the tag.read of a tag read signed as p.
func tagRead(ev *tap.Event, v *verdict.Verdict, p *verdict.Payload) TagRead {
	r := ev.Read
	return TagRead{
		Payload: *p,
		Detail:  v.Detail,
		Timings: Timings{APDUs: r.APDUs, APDUMS: ms(r.APDUTime), TotalMS: ms(r.Elapsed)},
	}
}

// published follows the publication of a tag read's verdict: the reader's
// feedback, the metrics and the debug log.
func (s *Stage) published(ev *tap.Event, v *verdict.Verdict) {
	r := ev.Read
	if v.Verdict != verdict.Pending {
		s.queueSignal(v.Reader, v.Verdict == verdict.Authentic)
	}
	if s.cfg.Metrics != nil {
		// ev.Time is the local verdict, r.Elapsed after the card appeared.
		s.cfg.Metrics.Tap(v.Reader, v.Verdict, s.cfg.Now().Sub(ev.Time)+r.Elapsed)
	}
	// Debug only: the audit log holds every tap, and the tap path neither
	// logs nor allocates for a log that is off.
	if ce := s.cfg.Log.Check(zap.DebugLevel, "tag"); ce != nil {
		ce.Write(zap.String("reader", v.Reader), zap.String("uid", v.UID), zap.Stringer("ctr", v.Ctr),
			zap.String("verdict", v.Verdict), zap.String("reason", v.Reason), zap.Float64("latency_ms", ms(r.Elapsed)))
	}
}

// newVerdict builds the verdict of a tag read, before the ledger.
func (s *Stage) newVerdict(ev *tap.Event) *verdict.Verdict {
	r := ev.Read
	s.taps++
	return &verdict.Verdict{
		Tap:         s.tapPrefix + strconv.FormatUint(s.taps, 10),
		Remote:      verdict.RemoteOff,
		Fleet:       verdict.FleetOff,
		Reader:      ev.Reader,
		UID:         r.UIDHex(),
		Ctr:         r.Ctr(),
		URL:         r.URL,
		Verdict:     r.Verdict,
		Reason:      r.Reason,
		Detail:      r.Detail,
		Time:        ev.Time.UTC().Truncate(time.Millisecond),
		Profile:     r.Profile,
		TTStatus:    r.TT(),
		Originality: r.Originality.String(),
	}
}

// queueSignal hands a verdict to the signal goroutine; a reader that cannot
// keep up with the taps misses a beep rather than delaying a verdict.
func (s *Stage) queueSignal(name string, ok bool) {
	if s.cfg.Signaler == nil {
		return
	}
	select {
	case s.signals <- signal{name, ok}:
	default:
	}
}

// signal shows queued verdicts on their readers.
func (s *Stage) signal(ctx context.Context) {
	for sg := range s.signals {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		if err := s.cfg.Signaler.Signal(sctx, sg.reader, sg.ok); err != nil {
			s.cfg.Log.Debug("reader feedback failed", zap.String("reader", sg.reader), zap.Error(err))
		}
		cancel()
	}
}

// TagRead is the payload of a tag.read event: the signed verdict
// (docs/signed-verdicts.md) and unsigned details.
type TagRead struct {
	verdict.Payload
	Detail  string  `json:"detail,omitempty"`
	Timings Timings `json:"timings"`
}

// EventReader names the event's reader to the publisher (ws.ReaderNamer):
// "reader" is always in the encoding.
func (p TagRead) EventReader() (string, bool) { return p.Reader, true }

// Timings of one tap.
type Timings struct {
	APDUs   int     `json:"apdus"`
	APDUMS  float64 `json:"apdu_ms"`
	TotalMS float64 `json:"total_ms"`
}

// readerPayload is the payload of the reader and card events.
type readerPayload struct {
	Reader string `json:"reader"`
	ATR    string `json:"atr,omitempty"`
}

// EventReader names the event's reader to the publisher (ws.ReaderNamer).
func (p readerPayload) EventReader() (string, bool) { return p.Reader, true }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
