// Package remoteverify is the remote verifier slot of the verdict stage
// (judge.Remote): it sends the daemon's own taps to the Legitimate tag API
// (internal/verifyclient) through a durable outbox in the store, combines
// the answers with the local verdicts (remote.Decide) and hands the final
// verdicts back to the stage, which publishes them as verdict.updated (or,
// in remote-required mode, as the held tag.read). It also answers the
// operator requests around it: outbox.status, outbox.retry, outbox.drop
// and legitimate.* (api.go).
//
// The rules it keeps (issue #9, ../shared/reference/remote-apis.md §3):
//
//   - a tap is queued durably before the service may hear of it, and it is
//     written "attempting" before each verify, so that after a crash an
//     item that may have been processed is settled with the read-only
//     Client.Settle and never verified again;
//   - items of one UID are verified in tap order (a later counter verified
//     first would make the earlier one "expired");
//   - an item settles exactly once: its removal from the outbox and its
//     final audit entry are one transaction (store.SettleOutbox), and only
//     the caller that removed it publishes;
//   - the outbox is bounded by size and age; what passes a bound gives up
//     (unverified, remote_unreachable);
//   - new taps are dispatched before the backlog, and the backlog never
//     takes every connection;
//   - nothing here runs on the stage goroutine but Submit, which writes
//     the batch's outbox items (one commit) and returns.
package remoteverify

import (
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/verifyclient"
)

// Outbox is the durable queue (*store.Store).
type Outbox interface {
	AddOutbox(items []*store.OutboxItem) error
	PutOutbox(it *store.OutboxItem) error
	SettleOutbox(id uint64, e store.Entry) (bool, error)
	Outbox() ([]store.OutboxItem, error)
}

// Limits of the dispatcher.
const (
	// MaxInFlight bounds the concurrent requests to the service.
	MaxInFlight = 4
	// MaxBacklogInFlight bounds those of them that drain the backlog, so
	// that a new tap always finds a free connection.
	MaxBacklogInFlight = 2
	// updatesLen is the buffer of the updates channel.
	updatesLen = 256
	// recentTriples is how many triples of past taps are remembered to
	// recognise a tap that repeats one.
	recentTriples = 4096
)

// Retry delays: unreachable items back off from Config.RetryDelay to
// retryCap, ambiguous ones are settled again from Config.SettleDelay to
// the same cap.
const (
	defaultRetryDelay  = 2 * time.Second
	defaultSettleDelay = 5 * time.Second
	retryCap           = 5 * time.Minute
)

// Config configures a Verifier.
type Config struct {
	// Legitimate is the validated [remote.legitimate] section: mode,
	// match, timeout (also the hold time of remote-required), bounds.
	Legitimate *remote.Legitimate
	Client     *verifyclient.Client
	Outbox     Outbox
	Log        *zap.Logger
	// Now and Rand are the clock and the jitter source in [0, 1) (default
	// time.Now and math/rand/v2).
	Now  func() time.Time
	Rand func() float64
	// RetryDelay and SettleDelay are the first waits before verifying an
	// unreachable item again and before settling an ambiguous one again;
	// each later wait doubles, up to five minutes (defaults 2 s and 5 s).
	RetryDelay, SettleDelay time.Duration
}

// Verifier is the remote verifier slot. Create it with New, run it with
// Run, give it to the verdict stage as judge.Config.Remote.
type Verifier struct {
	cfg     Config
	mode    remote.Mode
	hold    time.Duration
	budget  time.Duration
	log     *zap.Logger
	updates chan judge.Update
	wake    chan struct{}
	quit    chan struct{}

	mu         sync.Mutex
	items      map[uint64]*entry
	order      []uint64 // IDs, ascending
	inFlight   int
	backlog    int // in flight from the backlog
	pauseUntil time.Time
	seen       *recent               // triple keys of recent taps
	latest     map[string]*latestTap // by upper-case UID

	stash *stash // the stage goroutine's
}

// entry is an outbox item and its run-time state.
type entry struct {
	it     store.OutboxItem // as last written
	triple verifyclient.Triple
	// uid is the triple's UID in upper case: items of one tag are
	// verified in order.
	uid string
	// fresh: queued by this run and never attempted; dispatched before
	// the backlog.
	fresh    bool
	inflight bool
	// held: its tag.read waits for the first update (remote-required);
	// firstSent once that update is out.
	held      bool
	firstSent bool
	timer     *time.Timer
	// published is the verdict its tag.read carried.
	published string
	// final is an answer whose durable settle failed; it is written again
	// without asking the service again.
	final *finalAnswer
}

type finalAnswer struct {
	answer remote.Answer
	detail string
}

// New returns a Verifier over the outbox's current items: an item found
// "attempting" was cut off mid-verify by a crash and is settled, never
// verified again.
func New(cfg Config) (*Verifier, error) {
	l := cfg.Legitimate
	if l == nil || cfg.Client == nil || cfg.Outbox == nil {
		return nil, errors.New("remoteverify: Legitimate, Client and Outbox are required")
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = defaultRetryDelay
	}
	if cfg.SettleDelay <= 0 {
		cfg.SettleDelay = defaultSettleDelay
	}
	v := &Verifier{
		cfg: cfg, mode: l.Mode, hold: l.Timeout.Duration, budget: 5 * l.Timeout.Duration,
		log: cfg.Log.Named("remote"), updates: make(chan judge.Update, updatesLen),
		wake: make(chan struct{}, 1), quit: make(chan struct{}),
		items: map[uint64]*entry{}, seen: newRecent(recentTriples), latest: map[string]*latestTap{},
	}
	items, err := cfg.Outbox.Outbox()
	if err != nil {
		return nil, err
	}
	for i := range items {
		it := items[i]
		e := &entry{it: it, published: it.Verdict.Verdict,
			triple: verifyclient.Triple{UID: it.UID, Ctr: it.Ctr, CMAC: it.CMAC, Tamper: it.Tamper}, uid: strings.ToUpper(it.UID)}
		if it.State == store.OutboxAttempting {
			e.it.State = store.OutboxAmbiguous
		}
		v.items[it.ID] = e
		v.order = append(v.order, it.ID)
		v.seen.add(e.triple.Key())
	}
	slices.Sort(v.order)
	if len(items) > 0 {
		v.log.Info("outbox loaded", zap.Int("items", len(items)))
	}
	return v, nil
}

// Updates implements judge.Remote.
func (v *Verifier) Updates() <-chan judge.Update { return v.updates }

// Submit implements judge.Remote: it decides which taps of the batch go to
// the service, sets their tag.read form (remote.Decide with the answer
// still pending), queues them durably — unless the ledger did already, in
// the transaction that recorded the batch (Ledger) — and returns.
func (v *Verifier) Submit(ctx context.Context, vs []*verdict.Verdict, held []bool) {
	now := v.cfg.Now()
	ps, queued := v.takeStash(vs)
	if ps == nil {
		vals := make([]verdict.Verdict, len(vs))
		for i, vd := range vs {
			vals[i] = *vd
		}
		ps = v.plan(vals, now)
		queued = true
		if items := itemsOf(ps); len(items) > 0 {
			if err := v.cfg.Outbox.AddOutbox(items); err != nil {
				// Unqueued, a tap could be lost or sent twice across a
				// crash: it is not sent at all.
				v.log.Error("outbox write failed", zap.Int("taps", len(items)), zap.Error(err))
				queued = false
			}
		}
	}
	v.apply(vs, ps, held, queued, now)
}

// plan is what becomes of one tap of a batch.
type plan struct {
	triple    verifyclient.Triple
	hasTriple bool
	// repeat: the tap repeats parameters the daemon read before.
	repeat bool
	// entry, if set, is queued for the service; its item holds the
	// tag.read form.
	entry *entry
}

// plan decides, for each tap of a batch as the ledger left it, whether it
// goes to the service, and prepares the outbox items; it changes nothing
// (it may run inside the ledger's transaction, which can still fail).
func (v *Verifier) plan(vs []verdict.Verdict, now time.Time) []plan {
	ps := make([]plan, len(vs))
	batch := map[string]bool{}
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := range vs {
		vd, p := vs[i], &ps[i]
		t, err := verifyclient.TripleFromURL(vd.URL)
		if err != nil {
			continue // not a tag the service could know
		}
		p.triple, p.hasTriple = t, true
		key := t.Key()
		repeat := v.seen.has(key) || batch[key]
		batch[key] = true
		local := vd.Verdict
		if local != verdict.Authentic && local != verdict.UnknownProfile || !v.cfg.Legitimate.Wants(vd.URL, vd.Profile != "") {
			continue
		}
		if repeat {
			p.repeat = true
			continue
		}
		d, err := remote.Decide(v.mode, local, remote.Waiting)
		if err != nil {
			continue
		}
		vd.Verdict, vd.Remote = d.Verdict, string(remote.Waiting)
		if d.Reason != "" {
			vd.Reason = d.Reason
		}
		p.entry = &entry{
			it: store.OutboxItem{
				Tap: vd.Tap, UID: t.UID, Ctr: t.Ctr, CMAC: t.CMAC, Tamper: t.Tamper,
				Mode: string(v.mode), Local: local, Verdict: outboxVerdict(&vd),
				State: store.OutboxQueued, Created: now,
			},
			triple: t, uid: strings.ToUpper(t.UID), fresh: true, held: v.mode == remote.RemoteRequired, published: vd.Verdict,
		}
	}
	return ps
}

// itemsOf returns the outbox items of a batch's plans.
func itemsOf(ps []plan) []*store.OutboxItem {
	var items []*store.OutboxItem
	for i := range ps {
		if e := ps[i].entry; e != nil {
			items = append(items, &e.it)
		}
	}
	return items
}

// apply carries out the plans of a batch, whose items were written
// (queued) or could not be: it sets each tag.read's form, takes the
// queued taps in and holds the tag.read of those in remote-required mode.
func (v *Verifier) apply(vs []*verdict.Verdict, ps []plan, held []bool, queued bool, now time.Time) {
	added := false
	v.mu.Lock()
	for i, vd := range vs {
		vd.Remote = string(remote.None)
		p := &ps[i]
		if !p.hasTriple {
			continue
		}
		v.seen.add(p.triple.Key())
		v.noteTap(vd, p.triple, now)
		e := p.entry
		switch {
		case p.repeat:
			// The daemon read these exact parameters before: a replay it
			// can tell without asking (and must not send again).
			vd.Verdict, vd.Reason = verdict.Replayed, verdict.ReasonReplayedCounter
			vd.Detail = "the same tap parameters were read before"
			v.setLatestLocked(p.triple.UID, vd.Tap, string(remote.Expired))
		case e == nil:
		case !queued:
			fv := finalVerdict(&e.it, remote.GaveUp, "remote: the outbox could not be written", now)
			vd.Verdict, vd.Reason, vd.Remote, vd.Detail = fv.Verdict, fv.Reason, fv.Remote, fv.Detail
			v.setLatestLocked(p.triple.UID, vd.Tap, string(remote.GaveUp))
		default:
			ov := &e.it.Verdict
			vd.Verdict, vd.Reason, vd.Remote = ov.Verdict, ov.Reason, ov.Remote
			v.setLatestLocked(p.triple.UID, vd.Tap, string(remote.Waiting))
			v.items[e.it.ID] = e
			v.order = append(v.order, e.it.ID)
			added = true
			if e.held {
				held[i] = true
				id := e.it.ID
				e.timer = time.AfterFunc(v.hold, func() { v.holdExpired(id) })
			}
		}
	}
	v.mu.Unlock()
	if added {
		v.poke()
	}
}

// QueueLedger is a replay ledger that also queues outbox items in the
// transaction that records a batch (*store.Store).
type QueueLedger interface {
	RecordQueued(ctx context.Context, vs []*verdict.Verdict, queue func(vs []verdict.Verdict) []*store.OutboxItem) error
}

// Ledger returns l as the verdict stage's ledger: each batch is recorded
// together with the outbox items of its taps that go to the service, in
// one commit, so that a tag.read waits for one fsync rather than two.
// Submit then finds the batch's items written.
func (v *Verifier) Ledger(l QueueLedger) judge.Ledger { return queueLedger{v, l} }

type queueLedger struct {
	v *Verifier
	l QueueLedger
}

// stash is the plans of the batch the ledger recorded last, for Submit.
// Only the stage goroutine touches it.
type stash struct {
	vs []*verdict.Verdict
	ps []plan
}

func (q queueLedger) Record(ctx context.Context, vs []*verdict.Verdict) error {
	v := q.v
	v.stash = nil
	now := v.cfg.Now()
	var ps []plan
	err := q.l.RecordQueued(ctx, vs, func(post []verdict.Verdict) []*store.OutboxItem {
		ps = v.plan(post, now)
		return itemsOf(ps)
	})
	if err != nil {
		return err
	}
	v.stash = &stash{vs: vs, ps: ps}
	return nil
}

// takeStash returns the plans the ledger made for vs, if it did.
func (v *Verifier) takeStash(vs []*verdict.Verdict) ([]plan, bool) {
	st := v.stash
	v.stash = nil
	if st == nil || len(st.vs) != len(vs) {
		return nil, false
	}
	for i := range vs {
		if st.vs[i] != vs[i] {
			return nil, false
		}
	}
	return st.ps, true
}

// outboxVerdict is the stored form of a published verdict.
func outboxVerdict(vd *verdict.Verdict) store.OutboxVerdict {
	ov := store.OutboxVerdict{
		Reader: vd.Reader, UID: vd.UID, URL: vd.URL, Verdict: vd.Verdict, Reason: vd.Reason, Time: vd.Time,
		Profile: vd.Profile, TTStatus: vd.TTStatus, Originality: vd.Originality, Remote: vd.Remote, Fleet: vd.Fleet, Detail: vd.Detail,
	}
	if vd.Ctr.Valid {
		c := vd.Ctr.Value
		ov.Ctr = &c
	}
	return ov
}

// finalVerdict is the verdict that settles it with answer: the published
// verdict combined by remote.Decide, at now.
func finalVerdict(it *store.OutboxItem, answer remote.Answer, detail string, now time.Time) verdict.Verdict {
	ov := it.Verdict
	v := verdict.Verdict{
		Tap: it.Tap, Reader: ov.Reader, UID: ov.UID, URL: ov.URL, Verdict: ov.Verdict, Reason: ov.Reason,
		Time: now.UTC().Truncate(time.Millisecond), Profile: ov.Profile, TTStatus: ov.TTStatus, Originality: ov.Originality,
		Remote: string(answer), Fleet: ov.Fleet, Detail: detail,
	}
	if ov.Ctr != nil {
		v.Ctr = ntag424.CounterOf(*ov.Ctr)
	}
	d, err := remote.Decide(remote.Mode(it.Mode), it.Local, answer)
	if err != nil {
		// A damaged item: say nothing about the tag.
		d = remote.Decision{Verdict: verdict.Unverified, Reason: verdict.ReasonRemoteRejected}
	}
	v.Verdict = d.Verdict
	if d.Reason != "" {
		v.Reason = d.Reason
	}
	if answer == remote.Authentic && !v.Ctr.Valid {
		// The service vouched for the counter the tag mirrored.
		if n, err := strconv.ParseUint(it.Ctr, 16, 32); err == nil {
			v.Ctr = ntag424.CounterOf(uint32(n))
		}
	}
	return v
}

// auditEntry is the audit record of a final verdict.
func auditEntry(v *verdict.Verdict) store.Entry {
	uid, _ := hex.DecodeString(v.UID)
	detail := v.Detail
	if v.Tap != "" {
		detail = strings.TrimSpace(detail + " (tap " + v.Tap + ")")
	}
	return store.Entry{Time: v.Time, Reader: v.Reader, UID: uid, Ctr: v.Ctr, Verdict: v.Verdict, Reason: v.Reason,
		Detail: detail, Profile: v.Profile}
}

// holdExpired sends a held tap's tag.read in its pending form: the
// answer is not in after the hold time.
func (v *Verifier) holdExpired(id uint64) {
	v.mu.Lock()
	e := v.items[id]
	if e == nil || e.firstSent {
		v.mu.Unlock()
		return
	}
	e.firstSent = true
	u := judge.Update{Verdict: publishedVerdict(&e.it), First: true}
	v.mu.Unlock()
	v.send(u)
}

// publishedVerdict is the verdict as the tap's tag.read carried it.
func publishedVerdict(it *store.OutboxItem) verdict.Verdict {
	ov := it.Verdict
	v := verdict.Verdict{
		Tap: it.Tap, Reader: ov.Reader, UID: ov.UID, URL: ov.URL, Verdict: ov.Verdict, Reason: ov.Reason, Time: ov.Time,
		Profile: ov.Profile, TTStatus: ov.TTStatus, Originality: ov.Originality, Remote: ov.Remote, Fleet: ov.Fleet, Detail: ov.Detail,
	}
	if ov.Ctr != nil {
		v.Ctr = ntag424.CounterOf(*ov.Ctr)
	}
	return v
}

// send hands u to the stage; it gives up only when the verifier stops.
func (v *Verifier) send(u judge.Update) {
	select {
	case v.updates <- u:
	case <-v.quit:
	}
}

// poke wakes the dispatcher.
func (v *Verifier) poke() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// Run dispatches the outbox until ctx is done, then waits for the
// requests in flight (canceled with ctx) to record their state, and
// returns nil. The verdict stage must have stopped before: updates are no
// longer delivered once ctx is done.
func (v *Verifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer func() {
		// The stage has stopped reading: what settles now is recorded,
		// and no longer published.
		close(v.quit)
		wg.Wait()
		v.mu.Lock()
		for _, e := range v.items {
			if e.timer != nil {
				e.timer.Stop()
			}
		}
		v.mu.Unlock()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := v.dispatch(ctx, &wg)
		d := time.Hour
		if !next.IsZero() {
			d = max(next.Sub(v.cfg.Now()), time.Millisecond)
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return nil
		case <-v.wake:
		case <-timer.C:
		}
	}
}

// dispatch gives up what passed a bound, starts the due work within the
// limits, and returns when it next has something to do (zero: nothing
// waits for a time).
func (v *Verifier) dispatch(ctx context.Context, wg *sync.WaitGroup) time.Time {
	now := v.cfg.Now()
	l := v.cfg.Legitimate
	var giveUp []*entry
	type launch struct {
		e           *entry
		fromBacklog bool
	}
	var start []launch
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	v.mu.Lock()
	over := len(v.items) - l.OutboxMaxItems
	// UIDs with an earlier item still to be verified: their later items
	// wait, so that counters reach the service in order.
	blocked := map[string]bool{}
	var fresh, backlog []*entry
	for _, id := range v.order {
		e := v.items[id]
		uid := e.uid
		needsVerify := e.final == nil && (e.it.State == store.OutboxQueued || e.it.State == store.OutboxUnreachable)
		wasBlocked := blocked[uid]
		if needsVerify {
			blocked[uid] = true
		}
		if e.inflight {
			continue
		}
		if over > 0 || now.Sub(e.it.Created) >= l.OutboxMaxAge.Duration {
			e.inflight = true
			switch {
			case e.final != nil:
			case over > 0:
				e.final = &finalAnswer{remote.GaveUp, "remote: the outbox was full"}
			default:
				e.final = &finalAnswer{remote.GaveUp, giveUpDetail(&e.it)}
			}
			over--
			giveUp = append(giveUp, e)
			continue
		}
		later(e.it.Created.Add(l.OutboxMaxAge.Duration))
		switch {
		case e.it.NextAt.After(now):
			later(e.it.NextAt)
		case needsVerify && wasBlocked:
		case needsVerify && now.Before(v.pauseUntil):
			later(v.pauseUntil)
		case e.fresh:
			fresh = append(fresh, e)
		default:
			backlog = append(backlog, e)
		}
	}
	for _, e := range fresh {
		if v.inFlight >= MaxInFlight {
			break
		}
		e.inflight, e.fresh = true, false
		v.inFlight++
		start = append(start, launch{e, false})
	}
	for _, e := range backlog {
		if v.inFlight >= MaxInFlight || v.backlog >= MaxBacklogInFlight {
			break
		}
		e.inflight = true
		v.inFlight++
		v.backlog++
		start = append(start, launch{e, true})
	}
	v.mu.Unlock()

	for _, e := range giveUp {
		v.finish(e, e.final.answer, e.final.detail)
	}
	for _, ln := range start {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.work(ctx, ln.e)
			v.mu.Lock()
			ln.e.inflight = false
			v.inFlight--
			if ln.fromBacklog {
				v.backlog--
			}
			v.mu.Unlock()
			v.poke()
		}()
	}
	return next
}

func giveUpDetail(it *store.OutboxItem) string {
	if it.Attempts == 0 {
		return "remote: not sent before the outbox gave up"
	}
	return "remote: no answer after " + strconv.Itoa(it.Attempts) + " attempts"
}

// work does one step of an entry: write a final answer again, verify, or
// settle a verify whose answer was lost.
func (v *Verifier) work(ctx context.Context, e *entry) {
	switch {
	case e.final != nil:
		v.finish(e, e.final.answer, e.final.detail)
	case e.it.State == store.OutboxQueued || e.it.State == store.OutboxUnreachable:
		v.verify(ctx, e)
	default:
		v.settle(ctx, e)
	}
}

// verify sends the entry's triple to tags/verify, after writing it
// "attempting".
func (v *Verifier) verify(ctx context.Context, e *entry) {
	now := v.cfg.Now()
	it := e.it
	it.State, it.NextAt, it.LastError = store.OutboxAttempting, time.Time{}, ""
	it.Attempts++
	if it.SentAt.IsZero() {
		it.SentAt = now
	}
	if !v.put(e, it) {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, v.budget)
	out, err := v.cfg.Client.Verify(cctx, e.triple)
	cancel()
	now = v.cfg.Now()
	switch {
	case out.Status.Final():
		answer := remote.AnswerOf(out)
		detail := answerDetail(answer, out.SettledBy)
		if out.Shared && answer == remote.Authentic {
			// Verified for an earlier tap of this process: this tap
			// repeats its parameters.
			answer, detail = remote.Expired, "remote: the same tap parameters were verified before"
		}
		v.finish(e, answer, detail)
		return
	case out.Status == verifyclient.StatusAmbiguous:
		it.State = store.OutboxAmbiguous
		if !out.SentAt.IsZero() {
			it.SentAt = out.SentAt
		}
		it.NextAt = now.Add(v.backoff(v.cfg.SettleDelay, 1))
		it.LastError = errorCode(out.Err)
		v.log.Warn("verify outcome unknown", zap.String("tap", it.Tap), zap.String("uid", it.UID), zap.String("ctr", it.Ctr), zap.String("error", it.LastError))
	case errors.Is(err, verifyclient.ErrBadTriple):
		v.finish(e, remote.Rejected, "remote: the tap parameters are not valid")
		return
	default:
		// Unreachable, or canceled before anything was written: nothing
		// was processed, so a later verify is safe.
		it.State, it.SentAt = store.OutboxUnreachable, time.Time{}
		it.LastError = errorCode(out.Err)
		if out.Err == nil && err != nil {
			it.LastError = errorCode(err)
		}
		wait := v.backoff(v.cfg.RetryDelay, it.Attempts)
		if out.RetryAfter > 0 {
			wait = max(wait, out.RetryAfter)
			v.mu.Lock()
			v.pauseUntil = now.Add(out.RetryAfter)
			v.mu.Unlock()
		}
		it.NextAt = now.Add(wait)
		v.log.Info("service unreachable", zap.String("tap", it.Tap), zap.String("error", it.LastError), zap.Duration("retry_in", wait))
	}
	v.put(e, it)
}

// settle resolves an ambiguous verify with the read-only path.
func (v *Verifier) settle(ctx context.Context, e *entry) {
	it := e.it
	it.Attempts++
	cctx, cancel := context.WithTimeout(ctx, v.budget)
	out, err := v.cfg.Client.Settle(cctx, e.triple, it.SentAt)
	cancel()
	if out.Status.Final() {
		answer := remote.AnswerOf(out)
		v.finish(e, answer, answerDetail(answer, out.SettledBy))
		return
	}
	if errors.Is(err, verifyclient.ErrBadTriple) {
		v.finish(e, remote.Rejected, "remote: the tap parameters are not valid")
		return
	}
	it.State = store.OutboxAmbiguous
	it.LastError = errorCode(out.Err)
	it.NextAt = v.cfg.Now().Add(v.backoff(v.cfg.SettleDelay, it.Attempts))
	v.put(e, it)
}

// put writes it and, when that worked, makes it the entry's state. An
// item that is gone (dropped) leaves the verifier.
func (v *Verifier) put(e *entry, it store.OutboxItem) bool {
	err := v.cfg.Outbox.PutOutbox(&it)
	switch {
	case errors.Is(err, store.ErrOutboxGone):
		v.forget(e)
		return false
	case err != nil:
		v.log.Error("outbox write failed", zap.String("tap", it.Tap), zap.Error(err))
		v.mu.Lock()
		e.it.NextAt = v.cfg.Now().Add(v.cfg.RetryDelay)
		v.mu.Unlock()
		return false
	}
	v.mu.Lock()
	e.it = it
	v.mu.Unlock()
	return true
}

// finish settles e with answer: its final verdict is recorded (audit) and
// its outbox item removed in one transaction, then published — by this
// call only if it was the one that removed the item.
func (v *Verifier) finish(e *entry, answer remote.Answer, detail string) {
	fv := finalVerdict(&e.it, answer, detail, v.cfg.Now())
	ok, err := v.cfg.Outbox.SettleOutbox(e.it.ID, auditEntry(&fv))
	if err != nil {
		v.log.Error("outbox settle failed", zap.String("tap", e.it.Tap), zap.Error(err))
		v.mu.Lock()
		e.final = &finalAnswer{answer, detail}
		e.it.NextAt = v.cfg.Now().Add(v.cfg.RetryDelay)
		v.mu.Unlock()
		return
	}
	v.mu.Lock()
	first := ok && e.held && !e.firstSent
	if first {
		e.firstSent = true
	}
	v.mu.Unlock()
	v.forget(e)
	if !ok {
		return
	}
	v.setLatest(e.triple.UID, fv.Tap, string(answer))
	v.log.Info("remote settled", zap.String("tap", fv.Tap), zap.String("uid", fv.UID), zap.String("answer", string(answer)),
		zap.String("verdict", fv.Verdict), zap.String("reason", fv.Reason))
	v.send(judge.Update{Verdict: fv, First: first, Prev: e.published})
}

// forget removes e from the verifier's memory.
func (v *Verifier) forget(e *entry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.items[e.it.ID] != e {
		return
	}
	delete(v.items, e.it.ID)
	if i, ok := slices.BinarySearch(v.order, e.it.ID); ok {
		v.order = slices.Delete(v.order, i, i+1)
	}
	if e.timer != nil {
		e.timer.Stop()
	}
}

// backoff is the wait before the attempt after attempt: base doubled per
// attempt up to retryCap, the upper half jittered.
func (v *Verifier) backoff(base time.Duration, attempt int) time.Duration {
	d := retryCap
	if attempt >= 1 && attempt < 20 {
		d = min(retryCap, base<<(attempt-1))
	}
	return d/2 + time.Duration(v.cfg.Rand()*float64(d/2))
}

// answerDetail says what the service answered, for humans.
func answerDetail(a remote.Answer, settledBy string) string {
	switch a {
	case remote.Authentic:
		if settledBy != "" {
			return "remote: verified (settled by " + settledBy + ")"
		}
		return "remote: verified"
	case remote.Expired:
		return "remote: the tap parameters were already used"
	case remote.Invalid:
		return "remote: the service says the MAC is invalid"
	case remote.NotFound:
		return "remote: the service does not know this tag"
	case remote.Rejected:
		return "remote: the service refused the request"
	}
	return "remote: " + string(a)
}

// errorCode is a short fixed code for what went wrong, never an error's
// text (it is shown to clients).
func errorCode(err error) string {
	var ae *verifyclient.APIError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, verifyclient.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, verifyclient.ErrMalformedResponse):
		return "malformed_response"
	case errors.As(err, &ae):
		return "http_" + strconv.Itoa(ae.Status)
	case errors.Is(err, verifyclient.ErrNotLatest):
		return "not_latest"
	case errors.Is(err, verifyclient.ErrNotSent):
		return "unreachable"
	case errors.Is(err, verifyclient.ErrAmbiguous):
		return "no_answer"
	}
	return "error"
}

// recent is a bounded set of strings, oldest out first.
type recent struct {
	n    int
	keys []string
	set  map[string]bool
}

func newRecent(n int) *recent { return &recent{n: n, set: map[string]bool{}} }

// has reports whether k is in the set.
func (r *recent) has(k string) bool { return r.set[k] }

// add adds k and reports whether it was there already.
func (r *recent) add(k string) bool {
	if r.set[k] {
		return true
	}
	r.set[k] = true
	r.keys = append(r.keys, k)
	if len(r.keys) > r.n {
		delete(r.set, r.keys[0])
		r.keys = r.keys[1:]
	}
	return false
}
