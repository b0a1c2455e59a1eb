//go:build cgo || windows

package provision

import (
	"context"
	"errors"
	"os"
	"reflect"
	"sort"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/vpcd/vpcdtest"
	"github.com/nfcd/nfcd/internal/vtag"
)

// rig is a real pcscd with vsmartcard-vpcd's second slot, a monitor on it
// and a Reader following it.
type rig struct {
	ctx    context.Context
	reader *Reader
}

func newRig(t *testing.T) *rig {
	vpcdtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	m, err := pcsc.Open(ctx, zaptest.NewLogger(t).Named("pcsc"), pcsc.Options{Include: []string{vpcdtest.Slot1}})
	if err != nil {
		t.Fatal(err)
	}
	mctx, mcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r := NewReader(m, vpcdtest.Slot1)
	r.Wait = 10 * time.Second
	go func() { r.Run(mctx); close(done) }()
	t.Cleanup(func() {
		r.Close()
		mcancel()
		<-done
	})
	return &rig{ctx: ctx, reader: r}
}

// insert puts card on the slot and keeps it there until remove is called
// or the card leaves by itself (Card.Pull): leave waits for that. Both
// return once vpcd saw the card go; the test's cleanup removes a card
// still there.
func (g *rig) insert(t *testing.T, card *vtag.Card) (remove, leave func()) {
	ctx, cancel := context.WithCancel(g.ctx)
	done := make(chan error, 1)
	// NFCD_PROVISION_RECORD=DIR records what the tag saw, for debugging.
	rec := os.Getenv("NFCD_PROVISION_RECORD")
	go func() { done <- vtag.Run(ctx, vpcdtest.Slot1Addr, card, vtag.TapOptions{Hold: true, Record: rec}, nil) }()
	var err error
	var once bool
	wait := func() {
		if !once {
			err, once = <-done, true
			if err != nil {
				t.Errorf("vtag.Run = %v", err)
			}
		}
	}
	t.Cleanup(func() { cancel(); wait() })
	// A person takes the tag away and puts one down far slower than
	// pcscd's 400 ms presence poll; a test must wait for pcscd to see the
	// slot empty, or it sees no change at all (platform notes, Addendum).
	return func() { cancel(); wait() }, func() {
		wait()
		g.reader.waitEmpty(g.ctx)
	}
}

// present puts card down and connects to it. pcscd polls the slot every
// 400 ms and can miss a removal and the next insertion altogether when
// another program keeps the slot busy (on a shared machine, a running nfcd
// reads every tag it sees); then no new presentation is ever reported, and
// present takes the card away and puts it down again, up to three times.
func (g *rig) present(t *testing.T, card *vtag.Card) (remove, leave func()) {
	for try := 1; ; try++ {
		remove, leave := g.insert(t, card)
		ctx, cancel := context.WithTimeout(g.ctx, 3*time.Second)
		err := g.reader.Reconnect(ctx)
		cancel()
		if err == nil {
			return remove, leave
		}
		remove()
		if try == 3 {
			t.Fatalf("the tag was put down %d times and pcscd never reported it: %v", try, err)
		}
		t.Logf("pcscd missed a presentation (%v); putting the tag down again", err)
		ctx, cancel = context.WithTimeout(g.ctx, 3*time.Second)
		g.reader.waitEmpty(ctx)
		cancel()
	}
}

// tapN presents card n times, as taps, and requires every read to verify
// under tg with consecutive counters. Each tap puts the tag down, reads it
// once pcscd reports it, and takes it away once read, as a person would,
// so that no presentation is too short for pcscd's 400 ms presence poll.
// It returns the mean time from connect to verified URL.
func (g *rig) tapN(t *testing.T, card *vtag.Card, tg *Target, n int) time.Duration {
	uid := card.UID()
	var last uint32
	var total time.Duration
	for i := 1; i <= n; i++ {
		remove, _ := g.present(t, card)
		start := time.Now()
		r, err := ntag424.ReadTag(g.ctx, g.reader, ntag424.ReadOptions{})
		total += time.Since(start)
		g.reader.Close()
		remove()
		if err != nil {
			t.Fatalf("tap %d: %v", i, err)
		}
		res, err := tg.Verifier().Verify(r.URL)
		if err != nil || res.UID != uid || (i > 1 && res.Ctr.Value != last+1) {
			t.Fatalf("tap %d: Verify(%s) = %+v, %v (last counter %d)", i, r.URL, res, err, last)
		}
		last = res.Ctr.Value
	}
	return total / time.Duration(n)
}

// TestPCSCDProvision personalises a blank virtual tag through a real pcscd
// for every mode (plain, enc, encfile; AES and LRP; fixed and diversified
// keys), taps it 20 times through pcscd, resets it, personalises it again
// and taps it once more.
func TestPCSCDProvision(t *testing.T) {
	g := newRig(t)
	type timing struct {
		name          string
		apdus         int
		provision, rs time.Duration
		tap           time.Duration
	}
	var timings []timing
	for i, m := range modes() {
		t.Run(m.name, func(t *testing.T) {
			tg := m.target(t)
			card := blank(t, byte(0x40+i), uint64(i))
			j := MemJournal{}
			remove, _ := g.present(t, card)
			res, err := Provision(g.ctx, g.reader, tg, Options{Journal: j, EnableLRP: true})
			if err != nil || !res.OK {
				t.Fatalf("Provision = %+v, %v", res, err)
			}
			tm := timing{name: m.name, apdus: res.APDUs, provision: time.Duration(res.ElapsedMS * float64(time.Millisecond))}
			remove()
			tm.tap = g.tapN(t, card, tg, 20)

			remove, _ = g.present(t, card)
			res, err = Reset(g.ctx, g.reader, tg, Options{Journal: j})
			if err != nil || !res.OK {
				t.Fatalf("Reset = %+v, %v", res, err)
			}
			tm.rs = time.Duration(res.ElapsedMS * float64(time.Millisecond))
			if st := card.State(); st.Keys != ([5]ntag424.Key{}) || st.Settings[1].SDM != nil {
				t.Errorf("not factory after reset: versions %v", st.KeyVersions)
			}
			res, err = Provision(g.ctx, g.reader, tg, Options{Journal: j, EnableLRP: true})
			if err != nil || !res.OK {
				t.Fatalf("Provision after reset = %+v, %v", res, err)
			}
			remove()
			g.tapN(t, card, tg, 1)
			timings = append(timings, tm)
		})
	}
	sort.Slice(timings, func(a, b int) bool { return timings[a].name < timings[b].name })
	for _, tm := range timings {
		t.Logf("%-24s provision %3d APDUs in %6.1f ms (%.2f ms/APDU), reset %6.1f ms, tap connect→verified %.1f ms",
			tm.name, tm.apdus, float64(tm.provision.Microseconds())/1000, float64(tm.provision.Microseconds())/1000/float64(tm.apdus),
			float64(tm.rs.Microseconds())/1000, float64(tm.tap.Microseconds())/1000)
	}
}

// plainCard hides the Reader's Reconnect, so that a removal ends the run.
type plainCard struct{ r *Reader }

func (p plainCard) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	return p.r.Transmit(ctx, apdu)
}

// TestPCSCDRemovedAtEachStep pulls the tag through pcscd right after each
// step in turn (its last command carried out, the answer lost): every
// other time the same run waits for the tag to come back and finishes,
// otherwise the run stops with ErrRemoved and a second run finishes. The
// tag verifies in the end either way.
func TestPCSCDRemovedAtEachStep(t *testing.T) {
	g := newRig(t)
	m := goldenMode()
	// Where each step ends, from a run on a virtual tag without pcscd.
	var ends []int
	var names []string
	n := 0
	c0 := blank(t, 9, 9)
	_, err := Provision(g.ctx, vcard{c0}, m.target(t), Options{Progress: func(e StepEvent) {
		if e.Status != "start" {
			n += e.APDUs
			ends, names = append(ends, n), append(names, e.Step)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, end := range ends {
		reconnect := i%2 == 0
		tg := m.target(t)
		card := blank(t, byte(0x60+i), uint64(i))
		j := MemJournal{}
		_, gone := g.present(t, card)
		card.Pull(end, true) // counted from here: Presentation cancels a pull
		var remove func()
		var c Card = plainCard{g.reader}
		back := make(chan func(), 1)
		if reconnect {
			c = g.reader
			// The tag goes back on the reader as soon as vpcd saw it go.
			go func() {
				gone()
				r, _ := g.insert(t, card)
				back <- r
			}()
		}
		res, err := Provision(g.ctx, c, tg, Options{Journal: j})
		if reconnect {
			remove = <-back
			if err != nil || !res.OK {
				t.Fatalf("pulled after %s, put back: %+v, %v", names[i], res, err)
			}
			t.Logf("pulled after %-13s put back, the same run finished (%d APDUs, %.0f ms)", names[i], res.APDUs, res.ElapsedMS)
		} else {
			if !errors.Is(err, ErrRemoved) {
				t.Fatalf("pulled after %s: %+v, %v; want ErrRemoved", names[i], res, err)
			}
			gone()
			remove, _ = g.present(t, card)
			res, err = Provision(g.ctx, c, tg, Options{Journal: j})
			if err != nil || !res.OK {
				t.Fatalf("pulled after %s (journal %+v): re-run = %+v, %v", names[i], j, res, err)
			}
			t.Logf("pulled after %-13s the re-run finished (%d APDUs)", names[i], res.APDUs)
		}
		remove()
		g.tapN(t, card, tg, 1)
	}
}

// TestPCSCDSwapAndWrongKey: a second tag put down in place of the first
// mid-sequence is refused before anything is written to it; a tag that
// refuses key 0 is left exactly as it was.
func TestPCSCDSwapAndWrongKey(t *testing.T) {
	g := newRig(t)
	m := goldenMode()
	tg := m.target(t)

	a, b := blank(t, 0x71, 1), blank(t, 0x72, 2)
	bBefore := b.State()
	_, gone := g.present(t, a)
	a.Pull(20, true) // inside the key changes
	back := make(chan func(), 1)
	go func() {
		gone()
		r, _ := g.insert(t, b)
		back <- r
	}()
	res, err := Provision(g.ctx, g.reader, tg, Options{})
	remove := <-back
	if !errors.Is(err, ErrUIDChanged) {
		t.Fatalf("swap: %+v, %v; want ErrUIDChanged", res, err)
	}
	t.Logf("swap: %v", err)
	bAfter := b.State()
	if !reflect.DeepEqual(bBefore.Keys, bAfter.Keys) || !reflect.DeepEqual(bBefore.Settings, bAfter.Settings) || !reflect.DeepEqual(bBefore.Files, bAfter.Files) {
		t.Error("the second tag was changed")
	}
	remove()

	c := blank(t, 0x73, 3)
	before := c.State()
	remove, _ = g.present(t, c)
	wrong := ntag424.Key{0x0B, 0xAD}
	res, err = Provision(g.ctx, g.reader, tg, Options{Key0: &wrong})
	if !errors.Is(err, ErrWrongKey0) || res.Stopped != stepAuth {
		t.Fatalf("wrong key 0: %+v, %v", res, err)
	}
	if !reflect.DeepEqual(before, c.State()) {
		t.Error("a refused key 0 changed the tag")
	}
	remove()
}

// TestPCSCDExclusive: while a run holds the tag, nobody else's APDU can
// reach it: another connection to the reader is refused (a daemon's tap
// gets pcsc.ErrReaderBusy instead of ending our secure session).
func TestPCSCDExclusive(t *testing.T) {
	g := newRig(t)
	card := blank(t, 0x74, 4)
	remove, _ := g.present(t, card)
	defer remove()
	other, err := pcsc.Open(g.ctx, zaptest.NewLogger(t).Named("other"), pcsc.Options{Include: []string{vpcdtest.Slot1}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := other.Connect(g.ctx, vpcdtest.Slot1); !errors.Is(err, pcsc.ErrReaderBusy) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("second Connect while provisioning = %v, want ErrReaderBusy", err)
	}
	g.reader.Close()
	c, err := other.Connect(g.ctx, vpcdtest.Slot1)
	if err != nil {
		t.Fatalf("Connect after the run let go = %v", err)
	}
	c.Close()
}
