//go:build cgo || windows

package pcsc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebfe/scard"
	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/reader"
)

// pnpReader is the pseudo-reader whose state changes when a reader is added
// or removed (pcsc-lite winscard_clnt.c SCardGetStatusChange, and Windows).
const pnpReader = `\\?PnP?\Notification`

// spinGap is how long a reader goroutine pauses after a GetStatusChange that
// returned at once without any change, so that a stack which keeps
// reporting "changed" (e.g. an event counter we failed to carry over) cannot
// turn the loop into a busy poll.
const spinGap = 20 * time.Millisecond

// Monitor watches PC/SC readers and reports changes as reader events.
// Create it with Open, then call Run once.
type Monitor struct {
	log    *zap.Logger
	opts   Options
	filter filter
	// send receives every event (set by RunReading), on the goroutine
	// that observed it.
	send func(reader.Event)
	// read, if set (RunReading), reads a card on the goroutine that saw
	// it arrive, before its CardPresent is sent.
	read reader.ReadFunc
	ran  atomic.Bool

	// metrics and state are what monitoring sees: counters, and the
	// service state for health reports.
	metrics Metrics
	state   stateTracker

	mu       sync.Mutex
	readers  map[string]*ReaderInfo
	silenced map[string]bool
	// idle holds one PC/SC context per reader for the next Connect: with
	// pcsc-lite each SCardEstablishContext is a round trip that makes pcscd
	// start a thread, the largest part of a tap's own overhead.
	idle map[string]*scard.Context
}

// takeContext returns a cached context for reader, or a new one.
func (m *Monitor) takeContext(reader string) (*scard.Context, error) {
	m.mu.Lock()
	sc := m.idle[reader]
	delete(m.idle, reader)
	m.mu.Unlock()
	if sc != nil {
		return sc, nil
	}
	err := guard("establish context", func() (err error) {
		sc, err = scard.EstablishContext()
		return err
	})
	return sc, err
}

// putContext keeps sc for reader's next Connect, or releases it when one is
// already kept or it may be broken.
func (m *Monitor) putContext(reader string, sc *scard.Context, healthy bool) {
	if healthy {
		m.mu.Lock()
		if m.idle == nil {
			m.idle = map[string]*scard.Context{}
		}
		if _, ok := m.idle[reader]; !ok {
			m.idle[reader] = sc
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
	}
	guard("release context", sc.Release)
}

// dropContexts releases the cached contexts of reader, or of every reader
// when reader is "" (the service went away).
func (m *Monitor) dropContexts(reader string) {
	m.mu.Lock()
	var drop []*scard.Context
	for name, sc := range m.idle {
		if reader == "" || name == reader {
			drop = append(drop, sc)
			delete(m.idle, name)
		}
	}
	m.mu.Unlock()
	for _, sc := range drop {
		guard("release context", sc.Release)
	}
}

// knownATR returns the ATR the monitor saw for the card in reader.
func (m *Monitor) knownATR(reader string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.readers[reader]; r != nil && r.CardPresent && len(r.ATR) > 0 {
		return append([]byte(nil), r.ATR...)
	}
	return nil
}

// Open validates opts and returns a Monitor. It does not need the PC/SC
// service: if the service is unreachable it only logs a warning, and Run
// waits for the service to appear.
func Open(ctx context.Context, log *zap.Logger, opts Options) (*Monitor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, p := range slices.Concat(opts.Include, opts.Exclude) {
		if !validPattern(p) {
			return nil, fmt.Errorf("pcsc: invalid reader pattern %q", p)
		}
	}
	for _, d := range []time.Duration{opts.PollInterval, opts.WaitTimeout, opts.BackoffMin, opts.BackoffMax} {
		if d < 0 {
			return nil, fmt.Errorf("pcsc: negative duration %v in options", d)
		}
	}
	setDefault(&opts.PollInterval, DefaultPollInterval)
	setDefault(&opts.BackoffMin, DefaultBackoffMin)
	setDefault(&opts.BackoffMax, DefaultBackoffMax)
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = opts.BackoffMin
	}
	if log == nil {
		log = zap.NewNop()
	}
	m := &Monitor{
		log:      log.Named("pcsc"),
		opts:     opts,
		filter:   filter{include: opts.Include, exclude: opts.Exclude},
		readers:  make(map[string]*ReaderInfo),
		silenced: make(map[string]bool),
		metrics:  opts.Metrics,
	}
	if m.metrics == nil {
		m.metrics = nopMetrics{}
	}
	m.probe()
	return m, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// probe logs whether the service is reachable and which readers it has.
func (m *Monitor) probe() {
	var sc *scard.Context
	err := guard("establish context", func() (err error) {
		sc, err = scard.EstablishContext()
		return err
	})
	if err != nil {
		m.log.Warn("pcsc service unreachable; will keep trying", zap.Error(err))
		return
	}
	defer guard("release context", sc.Release)
	names, err := listReaders(sc)
	if err != nil {
		m.log.Warn("cannot list readers", zap.Error(err))
		return
	}
	m.log.Info("pcsc service reachable", zap.Strings("readers", names))
}

// Service returns the state of the PC/SC service as Run last saw it, in
// the words of the tap pipeline and the WebSocket API (ServiceState has
// it with the time it began).
func (m *Monitor) Service() reader.Service {
	s, _ := m.state.get()
	return s.Reader()
}

// setService records the service state and reports a change as an
// event.ServiceChanged.
func (m *Monitor) setService(ctx context.Context, s ServiceState) {
	prev, _ := m.state.get()
	m.state.set(s)
	if prev != s {
		m.emit(ctx, reader.Event{Kind: event.ServiceChanged, Service: s.Reader()})
	}
}

// Readers returns the watched readers, sorted by name.
func (m *Monitor) Readers() []ReaderInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ReaderInfo, 0, len(m.readers))
	for _, r := range m.readers {
		ri := *r
		ri.ATR = append([]byte(nil), r.ATR...)
		if !ri.CardPresent {
			ri.ATR = nil
		}
		out = append(out, ri)
	}
	slices.SortFunc(out, func(a, b ReaderInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Run watches readers until ctx is done, sending events to out, and returns
// nil then; cancellation is not an error. Events are never dropped: a full
// out blocks the reader that produced the event. When the PC/SC service
// goes away (pcscd killed or restarted, SCardSvr stopped) it reports the
// readers as removed, sends one event.Error and an event.ServiceChanged
// (reader.ServiceDown, or ServiceDenied when pcscd refuses this process),
// and re-establishes its context with capped
// exponential backoff; once it has one it sends event.ServiceChanged
// (reader.ServiceRunning) again. Run may be called only once; it does not
// close out.
func (m *Monitor) Run(ctx context.Context, out chan<- reader.Event) error {
	return m.RunReading(ctx, func(ev reader.Event) {
		select {
		case out <- ev:
		case <-ctx.Done():
		}
	}, nil)
}

// RunReading is Run with the events passed to send, on the goroutine that
// observed each (in order per reader, from several goroutines at once;
// send may block, which holds up that reader), and the reader goroutine
// that sees a card arrive first calls read with its CardPresent event (nil:
// no call), right after SCardGetStatusChange returned, and sends the event
// with Read set to the result. The card's first APDU then follows its
// detection on the same goroutine, with nothing handed over in between;
// the reader's next change is observed once read and send return. read
// and send belong to the caller (the tap pipeline): the monitor only
// carries the result. RunReading returns once every goroutine it started
// has ended.
func (m *Monitor) RunReading(ctx context.Context, send func(reader.Event), read reader.ReadFunc) error {
	if !m.ran.CompareAndSwap(false, true) {
		return errors.New("pcsc: Monitor.Run called twice")
	}
	m.send, m.read = send, read
	b := backoff{min: m.opts.BackoffMin, max: m.opts.BackoffMax}
	reported := false
	for {
		healthy, err := m.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if healthy {
			m.metrics.PCSCContextReset()
			b.reset()
			reported = false
		}
		if !reported {
			m.log.Warn("pcsc service lost; retrying", zap.Error(err), zap.String("hint", ServiceHint()))
			m.emit(ctx, reader.Event{Kind: event.Error, Err: err})
			reported = true
		} else {
			m.log.Debug("pcsc service still unavailable", zap.Error(err))
		}
		m.setService(ctx, lostState(err))
		if !sleep(ctx, b.next()) {
			return nil
		}
	}
}

// readerWatch is the supervisor's handle on one reader goroutine. prev
// survives goroutine restarts so a restart never repeats a CardPresent.
type readerWatch struct {
	prev   cardState // owned by the goroutine while it runs
	cancel context.CancelFunc
	done   chan struct{}
}

func (w *readerWatch) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// session runs one PC/SC context lifetime: it lists readers, keeps one
// goroutine per reader, and waits for reader changes. It returns when ctx is
// done (nil error) or the service is lost. healthy reports whether a
// context was established at all.
func (m *Monitor) session(ctx context.Context) (healthy bool, err error) {
	var sc *scard.Context
	err = guard("establish context", func() (err error) {
		sc, err = scard.EstablishContext()
		return err
	})
	if err != nil {
		return false, err
	}
	m.setService(ctx, StateRunning)
	stopCancel := cancelOnDone(ctx, sc)
	watches := make(map[string]*readerWatch)
	defer func() {
		for _, name := range sortedKeys(watches) {
			m.stopReader(ctx, name, watches[name])
		}
		stopCancel()
		guard("release context", sc.Release)
	}()

	pnp := []scard.ReaderState{{Reader: pnpReader, CurrentState: scard.StateUnaware}}
	usePnP := !m.opts.ForcePolling && probePnP(sc, pnp)
	m.log.Info("pcsc context established", zap.Bool("pnp", usePnP))

	for {
		if ctx.Err() != nil {
			return true, nil
		}
		names, err := listReaders(sc)
		if err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, err
		}
		m.reconcile(ctx, names, watches)

		if !usePnP {
			if !sleep(ctx, m.opts.PollInterval) {
				return true, nil
			}
			continue
		}
		// Wait without a timeout: the PnP notification ends the wait when
		// the reader list changes, SCardCancel at shutdown. pcsc-lite 1.9.9
		// flags a change only if the reader count moves during the call
		// (src/winscard_clnt.c counts the readers when the call starts), so
		// a reader added between ListReaders and the start of the wait would
		// go unnoticed: recheck re-lists once, shortly after the wait began,
		// and cancels the wait if the list moved meanwhile.
		stopRecheck := m.recheckAfter(sc, names)
		start := time.Now()
		err = guard("wait for reader change", func() error {
			return sc.GetStatusChange(pnp, infinite)
		})
		stopRecheck()
		switch {
		case err == nil:
			// Carry the event counter (high 16 bits) over, or Windows and
			// pcsc-lite ≥ 2.3 return at once forever (LudovicRousseau/PCSC#190).
			pnp[0].CurrentState = pnp[0].EventState
			if time.Since(start) < spinGap/4 && !sleep(ctx, spinGap) {
				return true, nil
			}
		case errors.Is(err, scard.ErrTimeout), errors.Is(err, scard.ErrCancelled):
		case isServiceLost(err):
			return true, err
		default:
			m.log.Warn("pnp notification failed; polling reader list instead", zap.Error(err))
			usePnP = false
		}
	}
}

// infinite is the timeout of a SCardGetStatusChange that waits until
// something happens (ebfe/scard maps a negative duration to INFINITE).
const infinite = time.Duration(-1)

// pnpRecheck is how long after the start of a PnP wait the reader list is
// read again (recheckAfter).
const pnpRecheck = 100 * time.Millisecond

// recheckAfter re-lists the readers once, pnpRecheck from now, on a context
// of its own (calls on sc wait behind the blocked SCardGetStatusChange),
// and cancels the wait on sc if the list differs from names. It costs one
// wake-up per PnP wait, that is per change of the reader list, and none
// while nothing changes. The returned function stops it.
func (m *Monitor) recheckAfter(sc *scard.Context, names []string) (stop func()) {
	want := slices.Clone(names)
	slices.Sort(want)
	var running sync.WaitGroup
	running.Add(1)
	t := time.AfterFunc(pnpRecheck, func() {
		defer running.Done()
		var lc *scard.Context
		err := guard("establish context", func() (err error) {
			lc, err = scard.EstablishContext()
			return err
		})
		if err != nil {
			guard("cancel", sc.Cancel)
			return
		}
		got, err := listReaders(lc)
		guard("release context", lc.Release)
		slices.Sort(got)
		if err != nil || !slices.Equal(got, want) {
			m.log.Debug("reader list changed before the pnp wait began", zap.Strings("readers", got))
			guard("cancel", sc.Cancel)
		}
	})
	// stop waits for a recheck under way, so sc can be released after it.
	return func() {
		if t.Stop() {
			running.Done()
		}
		running.Wait()
	}
}

// probePnP reports whether the stack supports the PnP pseudo-reader and
// primes rs (a one-element slice for it). pcsc-lite 1.9.9 answers an
// UNAWARE poll with SCARD_E_TIMEOUT and EventState 0; Windows answers
// success when a reader is present; a stack without PnP sets UNKNOWN.
func probePnP(sc *scard.Context, rs []scard.ReaderState) bool {
	err := guard("probe pnp", func() error { return sc.GetStatusChange(rs, 0) })
	if err != nil && !errors.Is(err, scard.ErrTimeout) {
		return false
	}
	if rs[0].EventState&scard.StateUnknown != 0 {
		return false
	}
	if err == nil {
		rs[0].CurrentState = rs[0].EventState
	}
	return true
}

// listReaders returns the reader names; "no readers" is an empty list.
func listReaders(sc *scard.Context) ([]string, error) {
	var names []string
	err := guard("list readers", func() (err error) {
		names, err = sc.ListReaders()
		return err
	})
	if errors.Is(err, ErrNoReaders) {
		return nil, nil
	}
	return names, err
}

// reconcile starts a goroutine for each new reader that passes the filter,
// stops those whose reader is gone, and restarts goroutines that exited
// while their reader is still listed.
func (m *Monitor) reconcile(ctx context.Context, names []string, watches map[string]*readerWatch) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		if m.filter.allows(n) {
			want[n] = true
		}
	}
	for _, name := range sortedKeys(watches) {
		if !want[name] {
			m.stopReader(ctx, name, watches[name])
			delete(watches, name)
		}
	}
	for _, name := range sortedKeys(want) {
		w, ok := watches[name]
		switch {
		case !ok:
			m.mu.Lock()
			m.readers[name] = &ReaderInfo{Name: name}
			m.mu.Unlock()
			m.setReaders()
			m.log.Info("reader added", zap.String("reader", name))
			m.emit(ctx, reader.Event{Kind: event.ReaderAdded, Reader: name})
			w = &readerWatch{}
			watches[name] = w
		case !w.exited():
			continue
		default:
			m.log.Debug("restarting reader watch", zap.String("reader", name))
		}
		wctx, cancel := context.WithCancel(ctx)
		w.cancel, w.done = cancel, make(chan struct{})
		go m.watchReader(ctx, wctx, name, w)
	}
}

// stopReader stops a reader's goroutine and reports the reader (and its
// card, if one was present) as gone.
func (m *Monitor) stopReader(runCtx context.Context, name string, w *readerWatch) {
	w.cancel()
	<-w.done
	if w.prev.present {
		m.cardEvent(runCtx, name, event.CardRemoved, nil)
	}
	m.mu.Lock()
	delete(m.readers, name)
	delete(m.silenced, name)
	m.mu.Unlock()
	m.dropContexts(name)
	m.setReaders()
	m.log.Info("reader removed", zap.String("reader", name))
	m.emit(runCtx, reader.Event{Kind: event.ReaderRemoved, Reader: name})
}

// watchReader is the goroutine for one reader. It returns when ctx is done,
// the reader disappears, or the service is lost; the supervisor notices the
// last two on its next re-list. Other errors are reported and retried with
// backoff.
func (m *Monitor) watchReader(runCtx, ctx context.Context, name string, w *readerWatch) {
	defer close(w.done)
	log := m.log.With(zap.String("reader", name))
	b := backoff{min: m.opts.BackoffMin, max: m.opts.BackoffMax}
	for {
		err := m.watchReaderOnce(runCtx, ctx, name, w, log)
		switch {
		case ctx.Err() != nil:
			return
		case isServiceLost(err), isReaderGone(err):
			log.Debug("reader watch ended", zap.Error(err))
			return
		}
		log.Warn("reader watch failed; retrying", zap.Error(err))
		m.emit(runCtx, reader.Event{Kind: event.Error, Reader: name, Err: err})
		if !sleep(ctx, b.next()) {
			return
		}
	}
}

// watchReaderOnce blocks in SCardGetStatusChange on its own context (calls
// on one pcsc-lite context are serialised, so each blocking waiter needs its
// own) and turns changes into card events.
func (m *Monitor) watchReaderOnce(runCtx, ctx context.Context, name string, w *readerWatch, log *zap.Logger) error {
	var sc *scard.Context
	err := guard("establish context", func() (err error) {
		sc, err = scard.EstablishContext()
		return err
	})
	if err != nil {
		return err
	}
	stopCancel := cancelOnDone(ctx, sc)
	defer func() {
		stopCancel()
		guard("release context", sc.Release)
	}()
	rs := []scard.ReaderState{{Reader: name, CurrentState: scard.StateUnaware}}
	for ctx.Err() == nil {
		// Never feed the previous ATR back: ebfe/scard keeps it after a
		// removal (scard_unix.go update copies it only when cbAtr > 0), and
		// more than 33 bytes would panic in toSys.
		rs[0].Atr = nil
		start := time.Now()
		err := guard("wait for card change", func() error {
			return sc.GetStatusChange(rs, m.waitTimeout())
		})
		switch {
		case err == nil:
		case errors.Is(err, scard.ErrTimeout), errors.Is(err, scard.ErrCancelled):
			continue
		default:
			return err
		}
		ev := rs[0].EventState
		rs[0].CurrentState = ev
		if ev&scard.StateUnknown != 0 {
			return &Error{Op: "wait for card change", Kind: ErrReaderUnavailable}
		}
		// UNAVAILABLE (driver trouble) without UNKNOWN: the reader is still
		// listed; stateOf sees no usable card and we wait for the next change.
		next := stateOf(ev, rs[0].Atr)
		kinds, missed := transition(w.prev, next)
		w.prev = next
		if missed {
			log.Debug("presentation came and went between two polls", zap.Uint16("counter", next.counter))
		}
		for _, k := range kinds {
			m.cardEvent(runCtx, name, k, next.atr)
		}
		if len(kinds) == 0 && time.Since(start) < spinGap/4 && !sleep(ctx, spinGap) {
			return nil
		}
	}
	return nil
}

// waitTimeout is the timeout of a per-reader wait: Options.WaitTimeout, or
// none.
func (m *Monitor) waitTimeout() time.Duration {
	if m.opts.WaitTimeout > 0 {
		return m.opts.WaitTimeout
	}
	return infinite
}

// cardEvent records a card change in the snapshot and sends it; for a
// CardPresent under RunReading it reads the card first.
func (m *Monitor) cardEvent(ctx context.Context, name string, k event.Kind, atr []byte) {
	now := time.Now()
	m.mu.Lock()
	if r := m.readers[name]; r != nil {
		r.CardPresent = k == event.CardPresent
		r.ATR = nil
		if k == event.CardPresent {
			r.ATR = atr
		}
	}
	m.mu.Unlock()
	ev := reader.Event{Kind: k, Reader: name, Time: now}
	if k == event.CardPresent {
		ev.ATR = append([]byte(nil), atr...)
		if m.read != nil {
			if ctx.Err() != nil {
				return // shutting down: the event would not be sent
			}
			ev.Read = m.read(ctx, ev)
		}
	}
	if ce := m.log.Check(zap.DebugLevel, k.String()); ce != nil {
		ce.Write(zap.String("reader", name), zap.Binary("atr", atr))
	}
	if ev.Read != nil {
		// The read's result is the caller's (it may hold the card still
		// connected): hand it over even if shutdown began meanwhile.
		m.send(ev)
		return
	}
	m.emit(ctx, ev)
}

// emit sends ev unless ctx is done. It blocks while the receiver does
// (Run: the channel is full): events are never dropped.
func (m *Monitor) emit(ctx context.Context, ev reader.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ctx.Err() != nil {
		return
	}
	m.send(ev)
}

// needsSilence reports whether reader has not been silenced yet since it
// appeared, and marks it silenced.
func (m *Monitor) needsSilence(reader string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.silenced[reader] {
		return false
	}
	m.silenced[reader] = true
	return true
}

// cancelOnDone calls sc.Cancel when ctx is done, which makes a blocked
// SCardGetStatusChange return SCARD_E_CANCELLED within about a millisecond
// (SCardCancel, pcsc-lite src/winscard_clnt.c; TestVPCDCancelIsPrompt). A
// Cancel that lands just before the next call starts is
// lost, so it is repeated every 50 ms until stop is called. stop waits for
// the goroutine, so sc can be released right after.
func cancelOnDone(ctx context.Context, sc *scard.Context) (stop func()) {
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-quit:
			return
		case <-ctx.Done():
		}
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			guard("cancel", sc.Cancel)
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
	}
}

// backoff is a capped exponential delay: min, 2·min, 4·min, … max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits for d or until ctx is done, and reports whether it slept the
// whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func isCardGone(err error) bool { return errors.Is(err, ErrCardRemoved) }
