package judge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/tap"
	"github.com/nfcd/nfcd/internal/verdict"
)

// v2signer seals the members the remote tests look at, and says which
// version it used.
type v2signer struct{}

func (v2signer) Seal(v verdict.Verdict) verdict.Payload {
	return verdict.Payload{Reader: v.Reader, UID: v.UID, Verdict: v.Verdict, Reason: v.Reason, Tap: v.Tap, Remote: verdict.StateMember(v.Remote),
		Signature: verdict.Signature{V: 1}}
}

func (v2signer) SealV2(v verdict.Verdict) verdict.Payload {
	p := v2signer{}.Seal(v)
	p.Signature.V = verdict.Version2
	return p
}

// remoteSlot is a remote verifier slot driven by the test: it marks every
// submitted tap pending, holds the taps whose UID starts with "H", and
// sends the updates the test asks for ("H" is 0x48: read's UIDs are
// the bytes of their string).
type remoteSlot struct {
	updates   chan judge.Update
	submitted []verdict.Verdict
	// answer, if set, is sent as a verdict.updated from within Submit.
	answerAtOnce bool
}

func (r *remoteSlot) Submit(_ context.Context, vs []*verdict.Verdict, held []bool) {
	for i, v := range vs {
		v.Remote = "pending"
		if strings.HasPrefix(v.UID, "48") {
			held[i] = true
			v.Verdict, v.Reason = verdict.Pending, verdict.ReasonRemotePending
		}
		r.submitted = append(r.submitted, *v)
		if r.answerAtOnce {
			u := *v
			u.Remote, u.Reason = "authentic", verdict.ReasonOK
			r.updates <- judge.Update{Verdict: u, Prev: v.Verdict}
		}
	}
}

func (r *remoteSlot) Updates() <-chan judge.Update { return r.updates }

// events returns the published events as "type:verdict/remote" strings
// (tag.read and verdict.updated, with their tap) and "type" otherwise.
func (p *publisher) summary() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.events {
		var v struct {
			Verdict, Tap, Reader string
			Remote               verdict.StateMember
			Signature            struct{ V int }
		}
		json.Unmarshal([]byte(e.payload), &v)
		switch e.typ {
		case "tag.read", "verdict.updated":
			out = append(out, fmt.Sprintf("%s:%s:%s/%s:v%d", e.typ, v.Reader, v.Verdict, v.Remote, v.Signature.V))
		default:
			out = append(out, e.typ+":"+v.Reader)
		}
	}
	return out
}

func readOn(reader, uid string, ctr uint32, v string) tap.Event {
	ev := read(uid, ctr, v)
	ev.Reader = reader
	return ev
}

// TestRemoteConfirm: tag.read goes out at once with the remote state the
// slot set, and the slot's answer follows as a verdict.updated signed
// with version 2 only — after the tag.read even when the answer was ready
// before it was published.
func TestRemoteConfirm(t *testing.T) {
	p, sg := &publisher{}, &signaler{}
	var slot *remoteSlot
	synctest.Test(t, func(t *testing.T) {
		// Channels the stage waits on belong to the bubble.
		slot = &remoteSlot{updates: make(chan judge.Update, 8), answerAtOnce: true}
		in := make(chan tap.Event)
		done := make(chan error)
		go func() {
			done <- judge.New(judge.Config{Ledger: &ledger{marks: map[string]uint32{}}, Signer: v2signer{}, Publisher: p, Signaler: sg, Remote: slot}).Run(context.Background(), in)
		}()
		in <- readOn("R", "A", 5, verdict.Authentic)
		synctest.Wait()
		close(in)
		<-done
	})
	got := strings.Join(p.summary(), " ")
	if want := "tag.read:R:authentic/pending:v1 verdict.updated:R:authentic/authentic:v2"; got != want {
		t.Errorf("published %s\nwant      %s", got, want)
	}
	if len(slot.submitted) != 1 || slot.submitted[0].Tap == "" {
		t.Errorf("submitted %+v", slot.submitted)
	}
	// authentic at tag.read, and the same verdict again: one signal.
	if len(sg.got) != 1 || !sg.got[0] {
		t.Errorf("signals %v, want one success", sg.got)
	}
}

// TestRemoteHold: a held tag.read waits for its first answer, and its
// reader's later events wait behind it in order; another reader's events
// do not wait.
func TestRemoteHold(t *testing.T) {
	p, sg := &publisher{}, &signaler{}
	synctest.Test(t, func(t *testing.T) {
		slot := &remoteSlot{updates: make(chan judge.Update, 8)}
		in := make(chan tap.Event, 16)
		done := make(chan error)
		go func() {
			done <- judge.New(judge.Config{Ledger: &ledger{marks: map[string]uint32{}}, Signer: v2signer{}, Publisher: p, Signaler: sg, Remote: slot}).Run(context.Background(), in)
		}()
		in <- readOn("R", "H1", 5, verdict.UnknownProfile)
		synctest.Wait()
		in <- tap.Event{Kind: event.CardRemoved, Reader: "R"}
		in <- readOn("R", "A", 7, verdict.Authentic)
		in <- readOn("S", "B", 9, verdict.Authentic)
		in <- readOn("R", "H2", 5, verdict.UnknownProfile)
		synctest.Wait()
		if got := strings.Join(p.summary(), " "); got != "tag.read:S:authentic/pending:v1" {
			t.Fatalf("published while R is held: %s", got)
		}
		byUID := map[string]verdict.Verdict{}
		for _, v := range slot.submitted {
			byUID[v.UID] = v
		}
		// H2's answers come first, final and then an update: both wait for H1.
		h2 := byUID["4832"]
		h2.Verdict, h2.Remote = verdict.Pending, "pending"
		slot.updates <- judge.Update{Verdict: h2, First: true}
		h2.Verdict, h2.Remote = verdict.Authentic, "authentic"
		slot.updates <- judge.Update{Verdict: h2, Prev: verdict.Pending}
		synctest.Wait()
		if n := len(p.summary()); n != 1 {
			t.Fatalf("H2's answer overtook H1: %v", p.summary())
		}
		h1 := byUID["4831"]
		h1.Verdict, h1.Remote = verdict.Authentic, "authentic"
		slot.updates <- judge.Update{Verdict: h1, First: true}
		synctest.Wait()
		close(in)
		<-done
	})
	got := strings.Join(p.summary(), " ")
	want := "tag.read:S:authentic/pending:v1 tag.read:R:authentic/authentic:v1 card.removed:R tag.read:R:authentic/pending:v1 " +
		"tag.read:R:pending/pending:v1 verdict.updated:R:authentic/authentic:v2"
	if got != want {
		t.Errorf("published %s\nwant      %s", got, want)
	}
	// S authentic, H1 authentic, A authentic, H2 pending (none), H2 authentic.
	if fmt.Sprint(sg.got) != "[true true true true]" {
		t.Errorf("signals %v", sg.got)
	}
}

// TestRemoteHeldAtStop: a tag.read still held when the input closes goes
// out as the slot left it (pending); nothing is lost.
func TestRemoteHeldAtStop(t *testing.T) {
	p := &publisher{}
	slot := &remoteSlot{updates: make(chan judge.Update, 8)}
	run(t, judge.Config{Ledger: &ledger{marks: map[string]uint32{}}, Signer: v2signer{}, Publisher: p, Remote: slot},
		readOn("R", "H1", 5, verdict.UnknownProfile), tap.Event{Kind: event.CardRemoved, Reader: "R"})
	got := strings.Join(p.summary(), " ")
	if want := "tag.read:R:pending/pending:v1 card.removed:R"; got != want {
		t.Errorf("published %s, want %s", got, want)
	}
}

// TestRemoteNotOnLedgerFailure: a batch the ledger could not record is
// not submitted (its authentic taps get no verdict at all).
func TestRemoteNotOnLedgerFailure(t *testing.T) {
	p := &publisher{}
	slot := &remoteSlot{updates: make(chan judge.Update, 8)}
	run(t, judge.Config{Ledger: &ledger{fail: fmt.Errorf("disk")}, Signer: v2signer{}, Publisher: p, Remote: slot},
		readOn("R", "H1", 5, verdict.UnknownProfile), readOn("R", "A", 5, verdict.Authentic))
	if len(slot.submitted) != 0 {
		t.Errorf("submitted %v after a ledger failure", slot.submitted)
	}
	if got := strings.Join(p.summary(), " "); got != "tag.read:R:unknown_profile/off:v1 error:R" {
		t.Errorf("published %s", got)
	}
}
