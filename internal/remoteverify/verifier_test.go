package remoteverify_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/remoteverify"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/tomlfile"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/verifyclient"
	lt "github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
	"github.com/nfcd/nfcd/internal/ws"
)

const tagUID = "041E3C8A2D6B80"

var (
	tagKey   = ntag424.Key{0xA0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xAF}
	tagBytes = [7]byte{0x04, 0x1E, 0x3C, 0x8A, 0x2D, 0x6B, 0x80}
)

// attemptTimeout is the client's per-attempt timeout in these tests, and
// so the hold time of remote-required.
const attemptTimeout = 500 * time.Millisecond

// clock is a settable clock that otherwise follows the real one.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

type harness struct {
	t       *testing.T
	srv     *lt.Server
	st      *store.Store
	dbPath  string
	leg     *remote.Legitimate
	client  *verifyclient.Client
	v       *remoteverify.Verifier
	clock   *clock
	cancel  context.CancelFunc
	done    chan error
	updates chan judge.Update
	taps    int
}

type setup struct {
	mode     remote.Mode
	fake     lt.Options
	maxAge   time.Duration
	maxItems int
	// store, if set, is used instead of a new one.
	store *store.Store
	srv   *lt.Server
}

func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{}, srv: s.srv, st: s.store}
	if h.srv == nil {
		h.srv = lt.NewServer(s.fake, lt.Tag{UID: tagUID, Key: tagKey, Counter: 10, Name: "Test tag", Claimable: true, RecoverEnabled: true})
		t.Cleanup(h.srv.Close)
	}
	if h.st == nil {
		h.dbPath = filepath.Join(t.TempDir(), "nfcd.db")
		st, err := store.Open(h.dbPath, store.Options{MaxAge: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		h.st = st
	}
	if s.mode == "" {
		s.mode = remote.Confirm
	}
	if s.maxAge == 0 {
		s.maxAge = time.Minute
	}
	h.leg = &remote.Legitimate{Config: verifyclient.Config{BaseURL: h.srv.URL, Timeout: tomlfile.Duration{Duration: attemptTimeout}},
		Match: []string{"https://legitimate.example/"}, Mode: s.mode, OutboxMaxItems: s.maxItems, OutboxMaxAge: tomlfile.Duration{Duration: s.maxAge}}
	if err := h.leg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := verifyclient.New(verifyclient.Options{BaseURL: h.srv.URL, Timeout: attemptTimeout, Version: "test", HTTPClient: h.srv.HTTP.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	h.client = c
	h.start()
	return h
}

// start creates and runs a Verifier on the harness's store.
func (h *harness) start() {
	h.t.Helper()
	v, err := remoteverify.New(remoteverify.Config{Legitimate: h.leg, Client: h.client, Outbox: h.st, Log: zaptest.NewLogger(h.t),
		Now: h.clock.Now, RetryDelay: 50 * time.Millisecond, SettleDelay: 50 * time.Millisecond})
	if err != nil {
		h.t.Fatal(err)
	}
	h.v = v
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done, h.updates = cancel, make(chan error, 1), make(chan judge.Update, 64)
	go func() { h.done <- v.Run(ctx) }()
	go func() {
		for u := range v.Updates() {
			h.updates <- u
		}
	}()
	h.t.Cleanup(h.stop)
}

// stop stops the verifier and waits for it.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run = %v", err)
	}
	h.cancel = nil
}

// verdictOf is what the verdict stage hands to Submit for a tap of t.
func (h *harness) verdictOf(t verifyclient.Triple, local string) *verdict.Verdict {
	h.taps++
	v := &verdict.Verdict{
		Tap: fmt.Sprintf("t-%d", h.taps), Reader: "R", UID: t.UID, Verdict: local, Time: time.Now().UTC().Truncate(time.Millisecond),
		URL:    "https://legitimate.example/t?uid=" + t.UID + "&ctr=" + t.Ctr + "&cmac=" + t.CMAC,
		Remote: verdict.RemoteOff, Fleet: verdict.FleetOff, Originality: "unchecked",
	}
	switch local {
	case verdict.Authentic:
		n, _ := t.Counter()
		v.Reason, v.Profile, v.Ctr = verdict.ReasonOK, "legit", ntag424.CounterOf(n)
	case verdict.UnknownProfile:
		v.Reason = verdict.ReasonUnknownProfile
	default:
		v.Reason = verdict.ReasonBadMAC
	}
	return v
}

// genuine is a fresh tap of the fake's tag.
func (h *harness) genuine() verifyclient.Triple {
	h.t.Helper()
	tr, err := h.srv.Tap(tagUID)
	if err != nil {
		h.t.Fatal(err)
	}
	return tr
}

func (h *harness) submit(vs ...*verdict.Verdict) []bool {
	held := make([]bool, len(vs))
	h.v.Submit(context.Background(), vs, held)
	return held
}

// next returns the next update.
func (h *harness) next() judge.Update {
	h.t.Helper()
	select {
	case u := <-h.updates:
		return u
	case <-time.After(20 * time.Second):
		h.t.Fatal("no update within 20 s")
	}
	return judge.Update{}
}

// final waits for the update of tap that is not pending.
func (h *harness) final(tap string) judge.Update {
	h.t.Helper()
	for {
		u := h.next()
		if u.Verdict.Tap != tap {
			h.t.Fatalf("update of tap %s, waiting for %s", u.Verdict.Tap, tap)
		}
		if u.Verdict.Verdict != verdict.Pending {
			return u
		}
	}
}

// checkInvariants checks what must hold for a settled tap of triple tr
// (issue #9 §6), through the verifier:
//
//   - a genuine tap never ends replayed or counterfeit;
//   - no verification is lost: a triple the service accepted ends
//     authentic, one it did not accept never does;
//   - no triple is sent again after an attempt that may have been
//     processed: every verify request but the last was answered 429/503;
//   - the tap settled exactly once: one audit entry, no outbox item.
func (h *harness) checkInvariants(tr verifyclient.Triple, final verdict.Verdict, genuine bool) {
	t := h.t
	t.Helper()
	if genuine && (final.Verdict == verdict.Replayed || final.Verdict == verdict.Counterfeit) {
		t.Errorf("genuine tap %s ended %s (%s)", tr, final.Verdict, final.Reason)
	}
	if accepted := h.srv.Accepted(tr); genuine && accepted != (final.Verdict == verdict.Authentic) {
		t.Errorf("%s: the service accepted it: %v; final verdict %s (%s)", tr, accepted, final.Verdict, final.Reason)
	}
	reqs := h.srv.VerifyRequests(tr)
	for i, r := range reqs[:max(len(reqs)-1, 0)] {
		if r.Status != 429 && r.Status != 503 {
			t.Errorf("%s: verify request %d of %d sent again after an attempt that may have been processed (status %d, fault %q)",
				tr, i+1, len(reqs), r.Status, r.Fault)
		}
	}
	h.checkSettledOnce(final.Tap)
}

// checkSettledOnce: no outbox item for tap, exactly one audit entry.
func (h *harness) checkSettledOnce(tap string) {
	t := h.t
	t.Helper()
	items, err := h.st.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Tap == tap {
			t.Errorf("tap %s still in the outbox (%s)", tap, it.State)
		}
	}
	es, err := h.st.Query(store.Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if strings.HasSuffix(e.Detail, "(tap "+tap+")") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("tap %s has %d audit entries of its settlement, want 1", tap, n)
	}
}

// TestConfirm is the §3.10 matrix through the outbox, in confirm mode: a
// tap's tag.read form is pending, and its final verdict comes as one
// update whatever the service does, with the invariants intact.
func TestConfirm(t *testing.T) {
	type tc struct {
		name    string
		local   string
		prepare func(h *harness) (verifyclient.Triple, bool)
		maxAge  time.Duration
		verdict string
		reason  string
		remote  remote.Answer
	}
	fault := func(fs ...lt.Fault) func(h *harness) (verifyclient.Triple, bool) {
		return func(h *harness) (verifyclient.Triple, bool) {
			for _, f := range fs {
				h.srv.Inject(f)
			}
			return h.genuine(), true
		}
	}
	up := verdict.UnknownProfile
	cases := []tc{
		{name: "happy path", local: up, prepare: fault(), verdict: verdict.Authentic, reason: verdict.ReasonRemoteVerified, remote: remote.Authentic},
		{name: "locally authentic", local: verdict.Authentic, prepare: fault(), verdict: verdict.Authentic, reason: verdict.ReasonOK, remote: remote.Authentic},
		{name: "used elsewhere first", local: up, prepare: func(h *harness) (verifyclient.Triple, bool) {
			tr := h.genuine()
			if err := h.srv.MarkUsed(tr); err != nil {
				h.t.Fatal(err)
			}
			return tr, false
		}, verdict: verdict.Replayed, reason: verdict.ReasonRemoteReplay, remote: remote.Expired},
		{name: "unknown tag", local: up, prepare: func(h *harness) (verifyclient.Triple, bool) {
			tr, err := lt.Mint(tagKey, [7]byte{4, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 1}, 1)
			if err != nil {
				h.t.Fatal(err)
			}
			return tr, false
		}, verdict: verdict.UnknownTag, reason: verdict.ReasonRemoteUnknownTag, remote: remote.NotFound},
		{name: "bad MAC", local: up, prepare: func(h *harness) (verifyclient.Triple, bool) {
			tr, err := lt.Mint(ntag424.Key{1}, tagBytes, 50)
			if err != nil {
				h.t.Fatal(err)
			}
			return tr, false
		}, verdict: verdict.Counterfeit, reason: verdict.ReasonRemoteInvalid, remote: remote.Invalid},
		{name: "200 with errors", local: up, prepare: fault(lt.Fault{Route: "verify", Kind: lt.OKWithErrors}),
			verdict: verdict.Unverified, reason: verdict.ReasonRemoteRejected, remote: remote.Rejected},
		{name: "429 with Retry-After", local: up, prepare: fault(lt.Fault{Route: "verify", Kind: lt.Status, Code: 429, RetryAfter: "1"}),
			verdict: verdict.Authentic, reason: verdict.ReasonRemoteVerified, remote: remote.Authentic},
		{name: "503 past the client's attempts: the outbox retries", local: up,
			prepare: fault(lt.Fault{Route: "verify", Kind: lt.Status, Code: 503, Times: 4}),
			verdict: verdict.Authentic, reason: verdict.ReasonRemoteVerified, remote: remote.Authentic},
		{name: "commit then drop", local: up, prepare: fault(lt.Fault{Route: "verify", Kind: lt.CommitThenDrop}),
			verdict: verdict.Authentic, reason: verdict.ReasonRemoteVerified, remote: remote.Authentic},
		{name: "commit then 502", local: verdict.Authentic, prepare: fault(lt.Fault{Route: "verify", Kind: lt.CommitThenStatus, Code: 502}),
			verdict: verdict.Authentic, reason: verdict.ReasonOK, remote: remote.Authentic},
		{name: "truncated body", local: up, prepare: fault(lt.Fault{Route: "verify", Kind: lt.Truncated}),
			verdict: verdict.Authentic, reason: verdict.ReasonRemoteVerified, remote: remote.Authentic},
		{name: "commit then drop, settled later by the outbox", local: up,
			prepare: fault(lt.Fault{Route: "verify", Kind: lt.CommitThenDrop}, lt.Fault{Route: "latest", Kind: lt.Status, Code: 500, Times: 4}),
			verdict: verdict.Authentic, reason: verdict.ReasonRemoteVerified, remote: remote.Authentic},
		{name: "drop before commit: never verified again, gives up", local: up, maxAge: 1500 * time.Millisecond,
			prepare: fault(lt.Fault{Route: "verify", Kind: lt.DropBeforeCommit}),
			verdict: verdict.Unverified, reason: verdict.ReasonRemoteUnreachable, remote: remote.GaveUp},
		{name: "locally authentic, gives up", local: verdict.Authentic, maxAge: 1500 * time.Millisecond,
			prepare: fault(lt.Fault{Route: "verify", Kind: lt.Delay, Delay: tomlfile.Duration{Duration: 2 * time.Second}}),
			verdict: verdict.Unverified, reason: verdict.ReasonRemoteUnreachable, remote: remote.GaveUp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, setup{maxAge: c.maxAge})
			tr, genuine := c.prepare(h)
			v := h.verdictOf(tr, c.local)
			if held := h.submit(v); held[0] {
				t.Error("confirm mode held the tag.read")
			}
			wantNow := verdict.Pending
			if c.local == verdict.Authentic {
				wantNow = verdict.Authentic
			}
			if v.Verdict != wantNow || v.Remote != "pending" {
				t.Errorf("tag.read form %s/%s, want %s/pending", v.Verdict, v.Remote, wantNow)
			}
			u := h.final(v.Tap)
			f := u.Verdict
			if u.First || u.Prev != wantNow {
				t.Errorf("update First %v Prev %q, want false %q", u.First, u.Prev, wantNow)
			}
			if f.Verdict != c.verdict || f.Reason != c.reason || f.Remote != string(c.remote) {
				t.Errorf("final %s/%s remote %s (%s), want %s/%s remote %s", f.Verdict, f.Reason, f.Remote, f.Detail, c.verdict, c.reason, c.remote)
			}
			if f.Tap != v.Tap || f.Reader != v.Reader || f.UID != v.UID || f.URL != v.URL {
				t.Errorf("final %+v is not the tap %+v", f, v)
			}
			if f.Verdict == verdict.Authentic && (!f.Ctr.Valid || fmt.Sprintf("%06X", f.Ctr.Value) != tr.Ctr) {
				t.Errorf("authentic final has counter %v, want %s", f.Ctr, tr.Ctr)
			}
			h.checkInvariants(tr, f, genuine)
		})
	}
}

// TestRemoteRequired: the tag.read is held; the answer in time is its
// first update; a late answer follows a pending tag.read.
func TestRemoteRequired(t *testing.T) {
	h := newHarness(t, setup{mode: remote.RemoteRequired})
	tr := h.genuine()
	v := h.verdictOf(tr, verdict.UnknownProfile)
	if held := h.submit(v); !held[0] || v.Verdict != verdict.Pending {
		t.Fatalf("held %v, tag.read form %s; want held, pending", held, v.Verdict)
	}
	u := h.next()
	if !u.First || u.Verdict.Verdict != verdict.Authentic {
		t.Errorf("first update %+v, want the final verdict as the tag.read", u)
	}
	h.checkInvariants(tr, u.Verdict, true)

	// 429 with Retry-After 1 s three times: the client waits in between,
	// then the outbox; the hold ends long before.
	h.srv.Inject(lt.Fault{Route: "verify", Kind: lt.Status, Code: 429, RetryAfter: "1", Times: 3})
	tr = h.genuine()
	v = h.verdictOf(tr, verdict.UnknownProfile)
	start := time.Now()
	h.submit(v)
	u = h.next()
	if !u.First || u.Verdict.Verdict != verdict.Pending || u.Verdict.Remote != "pending" {
		t.Errorf("first update %+v, want the pending tag.read", u)
	}
	if d := time.Since(start); d < attemptTimeout/2 || d > 3*attemptTimeout {
		t.Errorf("the held tag.read went out after %v, want about %v", d, attemptTimeout)
	}
	u = h.next()
	if u.First || u.Verdict.Verdict != verdict.Authentic || u.Prev != verdict.Pending {
		t.Errorf("second update %+v, want the verdict.updated", u)
	}
	h.checkInvariants(tr, u.Verdict, true)
}

// TestOrderPerUID: a later tap of a tag is not verified before an earlier
// one that is still to be sent (that would make the earlier "expired").
func TestOrderPerUID(t *testing.T) {
	h := newHarness(t, setup{})
	h.srv.Inject(lt.Fault{Route: "verify", Kind: lt.Status, Code: 503, Times: 3})
	a, b := h.genuine(), h.genuine()
	va, vb := h.verdictOf(a, verdict.UnknownProfile), h.verdictOf(b, verdict.UnknownProfile)
	h.submit(va, vb)
	fa, fb := h.final(va.Tap), h.final(vb.Tap)
	h.checkInvariants(a, fa.Verdict, true)
	h.checkInvariants(b, fb.Verdict, true)
	var order []string
	for _, r := range h.srv.Requests() {
		if r.Route == "verify" {
			order = append(order, r.Triple.Ctr)
		}
	}
	if want := strings.Repeat(a.Ctr+" ", 4) + b.Ctr; strings.Join(order, " ") != want {
		t.Errorf("verify requests by counter: %v, want %s", order, want)
	}
}

// TestRepeatedTriple: a tap that repeats the parameters of an earlier one
// is a replay the daemon tells without the service, and is not sent.
func TestRepeatedTriple(t *testing.T) {
	h := newHarness(t, setup{})
	tr := h.genuine()
	first, again := h.verdictOf(tr, verdict.UnknownProfile), h.verdictOf(tr, verdict.UnknownProfile)
	h.submit(first)
	h.final(first.Tap)
	h.submit(again)
	if again.Verdict != verdict.Replayed || again.Reason != verdict.ReasonReplayedCounter || again.Remote != string(remote.None) {
		t.Errorf("repeated tap: %s/%s remote %s", again.Verdict, again.Reason, again.Remote)
	}
	if n := len(h.srv.VerifyRequests(tr)); n != 1 {
		t.Errorf("%d verify requests, want 1", n)
	}
}

// TestNotSent: local verdicts the service cannot change, and URLs that
// carry no triple or that the configuration does not send, stay local.
func TestNotSent(t *testing.T) {
	h := newHarness(t, setup{})
	tr := h.genuine()
	counterfeit := h.verdictOf(tr, verdict.Counterfeit)
	replayed := h.verdictOf(tr, verdict.Replayed)
	local := h.verdictOf(tr, verdict.Authentic) // another deployment's tag: not matched
	local.URL = strings.Replace(local.URL, "legitimate.example", "other.example", 1)
	noTriple := h.verdictOf(tr, verdict.UnknownProfile)
	noTriple.URL = "https://legitimate.example/product/42"
	h.submit(counterfeit, replayed, local, noTriple)
	for _, v := range []*verdict.Verdict{counterfeit, replayed, local, noTriple} {
		if v.Remote != string(remote.None) || v.Verdict == verdict.Pending {
			t.Errorf("%s tap: remote %s, verdict %s; want not sent", v.Tap, v.Remote, v.Verdict)
		}
	}
	if st := h.v.Status(); st.Count != 0 || len(h.srv.Requests()) != 0 {
		t.Errorf("outbox %d items, %d requests; want none", st.Count, len(h.srv.Requests()))
	}
}

// TestRestart: items left "attempting" by a crash are settled with the
// read-only path, never verified again; one the service registered is
// authentic, one it never saw gives up.
func TestRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nfcd.db")
	st, err := store.Open(path, store.Options{MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := lt.NewServer(lt.Options{}, lt.Tag{UID: tagUID, Key: tagKey})
	defer srv.Close()
	seen, unseen := mustTap(t, srv), mustTap(t, srv)
	if err := srv.MarkUsed(seen); err != nil { // the crashed verify got through
		t.Fatal(err)
	}
	var items []*store.OutboxItem
	for i, tr := range []verifyclient.Triple{seen, unseen} {
		items = append(items, &store.OutboxItem{
			Tap: fmt.Sprintf("old-%d", i), UID: tr.UID, Ctr: tr.Ctr, CMAC: tr.CMAC, Mode: "confirm", Local: verdict.UnknownProfile,
			Verdict: store.OutboxVerdict{Reader: "R", UID: tr.UID, URL: "https://legitimate.example/t", Verdict: verdict.Pending,
				Reason: verdict.ReasonRemotePending, Remote: "pending", Time: time.Now()},
			State: store.OutboxAttempting, Attempts: 1, Created: time.Now(), SentAt: time.Now(),
		})
	}
	if err := st.AddOutbox(items); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, setup{store: st, srv: srv, maxAge: 1500 * time.Millisecond})
	got := map[string]judge.Update{}
	for range 2 {
		u := h.next()
		got[u.Verdict.Tap] = u
	}
	if u := got["old-0"]; u.Verdict.Verdict != verdict.Authentic || u.Prev != verdict.Pending || u.First {
		t.Errorf("registered item settled as %+v", u)
	}
	if u := got["old-1"]; u.Verdict.Verdict != verdict.Unverified || u.Verdict.Reason != verdict.ReasonRemoteUnreachable {
		t.Errorf("unseen item settled as %+v", u)
	}
	for _, tr := range []verifyclient.Triple{seen, unseen} {
		if n := len(srv.VerifyRequests(tr)); n != 0 {
			t.Errorf("%s was verified again after the restart (%d requests)", tr, n)
		}
	}
	h.checkSettledOnce("old-0")
	h.checkSettledOnce("old-1")
}

// waitState waits until the oldest outbox item is in state and not in
// flight, after at least attempts[0] attempts if given.
func (h *harness) waitState(state string, attempts ...int) remoteverify.Status {
	h.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st := h.v.Status()
		if len(st.Items) > 0 && st.Items[0].State == state && !st.Items[0].InFlight && (len(attempts) == 0 || st.Items[0].Attempts >= attempts[0]) {
			return st
		}
	}
	h.t.Fatalf("outbox never had its oldest item %s: %+v", state, h.v.Status())
	return remoteverify.Status{}
}

func mustTap(t *testing.T, srv *lt.Server) verifyclient.Triple {
	t.Helper()
	tr, err := srv.Tap(tagUID)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestBounds: beyond its size the outbox gives up its oldest items, and
// an item past its age gives up, each once.
func TestBounds(t *testing.T) {
	h := newHarness(t, setup{maxItems: 2})
	// A Retry-After too long to wait in line: unreachable at once, and
	// the dispatcher pauses.
	h.srv.Inject(lt.Fault{Route: "verify", Kind: lt.Status, Code: 429, RetryAfter: "3600", Times: 1000})
	var vs []*verdict.Verdict
	for range 3 {
		vs = append(vs, h.verdictOf(h.genuine(), verdict.UnknownProfile))
	}
	h.submit(vs[0])
	h.waitState(store.OutboxUnreachable)
	h.submit(vs[1], vs[2])
	u := h.final(vs[0].Tap)
	if u.Verdict.Verdict != verdict.Unverified || !strings.Contains(u.Verdict.Detail, "full") {
		t.Errorf("oldest item: %+v, want unverified (outbox full)", u.Verdict)
	}
	h.checkSettledOnce(vs[0].Tap)
	if st := h.v.Status(); st.Count != 2 || st.MaxItems != 2 {
		t.Errorf("status count %d max %d", st.Count, st.MaxItems)
	}
	h.clock.Advance(2 * time.Minute) // past outbox_max_age
	if err := h.v.Retry(1 << 40); !errors.Is(err, remoteverify.ErrNoItem) {
		t.Errorf("Retry of no item = %v", err)
	}
	// Wake the dispatcher: it sees the age at once.
	h.v.Retry(h.v.Status().Items[0].ID)
	for _, v := range vs[1:] {
		u := h.final(v.Tap)
		if u.Verdict.Verdict != verdict.Unverified || u.Verdict.Reason != verdict.ReasonRemoteUnreachable {
			t.Errorf("aged item: %+v", u.Verdict)
		}
		h.checkSettledOnce(v.Tap)
	}
}

// TestDropRetry: the operator's drop settles an item once; retry makes a
// waiting item due now.
func TestDropRetry(t *testing.T) {
	h := newHarness(t, setup{})
	h.srv.Inject(lt.Fault{Route: "verify", Kind: lt.Status, Code: 503, Times: 3})
	h.srv.Inject(lt.Fault{Route: "verify", Kind: lt.Status, Code: 429, RetryAfter: "3600"})
	a := h.verdictOf(h.genuine(), verdict.UnknownProfile)
	h.submit(a)
	st := h.waitState(store.OutboxUnreachable, 2)
	if len(st.Items) != 1 || st.Items[0].NextAttempt == nil || st.Items[0].LastError != "rate_limited" {
		t.Fatalf("status %+v", st)
	}
	if st.Items[0].Ctr == nil || st.Items[0].UID != tagUID {
		t.Errorf("item status %+v", st.Items[0])
	}
	if err := h.v.Retry(st.Items[0].ID); err != nil {
		t.Fatal(err)
	}
	if u := h.final(a.Tap); u.Verdict.Verdict != verdict.Authentic {
		t.Errorf("retried item: %+v", u.Verdict)
	}

	h.srv.Inject(lt.Fault{Route: "verify", Kind: lt.Status, Code: 429, RetryAfter: "3600"})
	b := h.verdictOf(h.genuine(), verdict.UnknownProfile)
	h.submit(b)
	id := h.waitState(store.OutboxUnreachable).Items[0].ID
	if err := h.v.Drop(id); err != nil {
		t.Fatal(err)
	}
	if err := h.v.Drop(id); !errors.Is(err, remoteverify.ErrNoItem) {
		t.Errorf("second Drop = %v", err)
	}
	u := h.final(b.Tap)
	if u.Verdict.Verdict != verdict.Unverified || u.Verdict.Detail != "remote: dropped by the operator" {
		t.Errorf("dropped item: %+v", u.Verdict)
	}
	h.checkSettledOnce(b.Tap)
	select {
	case u := <-h.updates:
		t.Errorf("extra update %+v", u)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestStoredOps: the commands' retry and drop on a store no daemon runs.
func TestStoredOps(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "nfcd.db"), store.Options{MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	it := &store.OutboxItem{Tap: "t-1", UID: tagUID, Ctr: "00000B", CMAC: "0011223344556677", Mode: "confirm", Local: verdict.Authentic,
		Verdict: store.OutboxVerdict{Reader: "R", UID: tagUID, Verdict: verdict.Authentic, Reason: verdict.ReasonOK, Remote: "pending"},
		State:   store.OutboxUnreachable, NextAt: time.Now().Add(time.Hour), Created: time.Now()}
	if err := st.AddOutbox([]*store.OutboxItem{it}); err != nil {
		t.Fatal(err)
	}
	if err := remoteverify.RetryStored(st, it.ID); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := st.OutboxItemByID(it.ID); !got.NextAt.IsZero() {
		t.Errorf("NextAt after retry = %v", got.NextAt)
	}
	fv, err := remoteverify.DropStored(st, it.ID, time.Now())
	if err != nil || fv.Verdict != verdict.Unverified || fv.Reason != verdict.ReasonRemoteUnreachable || fv.Remote != string(remote.GaveUp) {
		t.Errorf("DropStored = %+v, %v", fv, err)
	}
	if _, err := remoteverify.DropStored(st, it.ID, time.Now()); !errors.Is(err, remoteverify.ErrNoItem) {
		t.Errorf("second DropStored = %v", err)
	}
	if err := remoteverify.RetryStored(st, it.ID); !errors.Is(err, remoteverify.ErrNoItem) {
		t.Errorf("RetryStored of a dropped item = %v", err)
	}
}

// TestOperatorRequests: claim, recover and latest use only the daemon's
// own latest tap of the UID, within the window, verified, once.
func TestOperatorRequests(t *testing.T) {
	h := newHarness(t, setup{})
	ctx := context.Background()
	const wallet = "0x00000000000000000000000000000000000000aa"
	code := func(err error) ws.Code {
		var we *ws.Error
		if errors.As(err, &we) {
			return we.Code
		}
		return "?"
	}
	if _, err := h.v.Claim(ctx, tagUID, wallet); code(err) != remoteverify.CodeNoRecentTap {
		t.Errorf("claim without a tap: %v", err)
	}
	// A tap the service refuses: not verified.
	h.srv.Inject(lt.Fault{Route: "verify", Kind: lt.OKWithErrors})
	v := h.verdictOf(h.genuine(), verdict.UnknownProfile)
	h.submit(v)
	h.final(v.Tap)
	if _, err := h.v.Claim(ctx, tagUID, wallet); code(err) != remoteverify.CodeNotVerified {
		t.Errorf("claim after a refused tap: %v", err)
	}
	v = h.verdictOf(h.genuine(), verdict.UnknownProfile)
	h.submit(v)
	h.final(v.Tap)
	if _, err := h.v.Claim(ctx, tagUID, "0x12"); code(err) != ws.CodeBadRequest {
		t.Errorf("claim with a bad wallet: %v", err)
	}
	lr, err := h.v.Latest(ctx, strings.ToLower(tagUID))
	if err != nil || !lr.Latest || lr.Tap != v.Tap || lr.Verification == nil {
		t.Errorf("Latest = %+v, %v", lr, err)
	}
	res, err := h.v.Claim(ctx, tagUID, wallet)
	if err != nil || !strings.HasPrefix(res.Hash, "0x") || res.Tap != v.Tap {
		t.Fatalf("Claim = %+v, %v", res, err)
	}
	if h.srv.Owner(tagUID) != wallet {
		t.Errorf("owner after claim: %q", h.srv.Owner(tagUID))
	}
	if _, err := h.v.Claim(ctx, tagUID, wallet); code(err) != remoteverify.CodeAlreadyAttempted {
		t.Errorf("second claim with the same tap: %v", err)
	}
	claims := 0
	for _, r := range h.srv.Requests() {
		if r.Route == "claim" {
			claims++
		}
	}
	if claims != 1 {
		t.Errorf("%d claim requests, want 1", claims)
	}
	// Recover with the same tap: the service refuses it unless it is the
	// latest; it is, so it works, once.
	if _, err := h.v.Recover(ctx, tagUID); err != nil {
		t.Errorf("Recover = %v", err)
	}
	if _, err := h.v.Recover(ctx, tagUID); code(err) != remoteverify.CodeAlreadyAttempted {
		t.Errorf("second recover: %v", err)
	}
	// A new tap, too old by the time of the claim.
	v = h.verdictOf(h.genuine(), verdict.UnknownProfile)
	h.submit(v)
	h.final(v.Tap)
	h.clock.Advance(remote.DefaultClaimWindow + time.Second)
	if _, err := h.v.Claim(ctx, tagUID, wallet); code(err) != remoteverify.CodeNoRecentTap {
		t.Errorf("claim past the window: %v", err)
	}
}

// TestLedger: through Verifier.Ledger, a batch is recorded and its remote
// taps queued in one transaction; a tap the ledger finds replayed is not
// queued; Submit does not queue again.
func TestLedger(t *testing.T) {
	h := newHarness(t, setup{})
	led := h.v.Ledger(h.st)
	tr := h.genuine()
	a, again, up := h.verdictOf(tr, verdict.Authentic), h.verdictOf(tr, verdict.Authentic), h.verdictOf(h.genuine(), verdict.UnknownProfile)
	vs := []*verdict.Verdict{a, again, up}
	if err := led.Record(context.Background(), vs); err != nil {
		t.Fatal(err)
	}
	items, err := h.st.Outbox()
	if err != nil || len(items) != 2 || items[0].Tap != a.Tap || items[1].Tap != up.Tap || items[1].Verdict.Verdict != verdict.Pending {
		t.Fatalf("outbox after Record: %+v, %v", items, err)
	}
	if again.Verdict != verdict.Replayed {
		t.Errorf("second tap with the same counter: %s", again.Verdict)
	}
	h.submit(vs...)
	if a.Remote != "pending" || again.Remote != "none" || up.Verdict != verdict.Pending {
		t.Errorf("tag.read forms: %s/%s %s/%s %s/%s", a.Verdict, a.Remote, again.Verdict, again.Remote, up.Verdict, up.Remote)
	}
	for _, v := range []*verdict.Verdict{a, up} {
		u := h.final(v.Tap)
		h.checkInvariants(tr, u.Verdict, true)
		tr = h.genuineOf(up)
	}
	if n := len(h.srv.VerifyRequests(tr)); n != 1 {
		t.Errorf("%d verify requests of one tap", n)
	}
	// A batch the ledger refuses queues nothing.
	bad := h.verdictOf(h.genuine(), verdict.UnknownProfile)
	bad.UID = "not hex"
	if err := led.Record(context.Background(), []*verdict.Verdict{bad}); err == nil {
		t.Fatal("Record of a bad UID succeeded")
	}
	if items, _ := h.st.Outbox(); len(items) != 0 {
		t.Errorf("a failed Record queued %+v", items)
	}
}

// genuineOf is the triple of a tap made by verdictOf.
func (h *harness) genuineOf(v *verdict.Verdict) verifyclient.Triple {
	tr, err := verifyclient.TripleFromURL(v.URL)
	if err != nil {
		h.t.Fatal(err)
	}
	return tr
}
