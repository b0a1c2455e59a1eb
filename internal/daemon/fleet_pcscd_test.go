//go:build linux

package daemon

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/vpcd"
	"github.com/nfcd/nfcd/internal/vpcd/vpcdtest"
	"github.com/nfcd/nfcd/internal/vtag"
)

// TestPCSCDFleet runs the fleet end to end through the real pcscd: two
// daemons of one fleet, each bound to one of the two vpcd readers
// (include_readers), and one virtual tag cloned onto both slots. The SUN
// the genuine tag gives at kiosk A is refused at kiosk B when the clone
// presents the same counter, and the genuine tag's next counter is
// accepted.
func TestPCSCDFleet(t *testing.T) {
	vpcdtest.Require(t)
	dsn := migrated(t)
	start := func(name, slot string) (*harness, *client) {
		t.Helper()
		dir := t.TempDir()
		tok, err := token.Open(statedir.PathsOf(dir).Tokens).Create("e2e")
		if err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		cfg.Listen = "127.0.0.1:0"
		cfg.IncludeReaders = []string{slot}
		cfg.Profiles = config.Profiles(profile.Spec{Name: "factory", Match: "https://sdm.example/", LayoutSpec: ntag424.LayoutSpec{Mode: "enc"},
			FileReadKey: "00000000000000000000000000000000", MetaReadKey: "00000000000000000000000000000000"})
		cfg.Fleet = &fleet.Config{DSN: dsn, Kiosk: name, Timeout: 5 * time.Second}
		ready := make(chan string, 1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Config: cfg, StateDir: dir, Log: zaptest.NewLogger(t).Named(name), Ready: func(u string) { ready <- u }})
		}()
		h := &harness{t: t, dir: dir, token: tok, cancel: cancel, done: done}
		select {
		case h.url = <-ready:
		case err := <-done:
			t.Fatalf("Run: %v", err)
		}
		t.Cleanup(func() { h.stop() })
		c := h.dial()
		c.waitReader(slot)
		return h, c
	}
	a, ca := start("kiosk-a", vpcdtest.Slot0)
	b, cb := start("kiosk-b", vpcdtest.Slot1)

	// The vpcd slots are shared: another tag may come by between ours.
	ours := func(m map[string]any) bool {
		u, _ := m["payload"].(map[string]any)["url"].(string)
		return m["type"] == "tag.read" && strings.HasPrefix(u, "https://sdm.example/tag")
	}
	tapCard := func(h *harness, c *client, addr string, card *vtag.Card) verdict.Verdict {
		t.Helper()
		card.Presentation()
		ctx, cancel := context.WithCancel(context.Background())
		conn, err := vpcd.Dial(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- conn.Serve(ctx, card) }()
		m := c.next(ours)
		cancel()
		<-served
		c.next(func(m map[string]any) bool { return m["type"] == "card.removed" })
		return h.opened(m["payload"].(map[string]any))
	}
	newCard := func() *vtag.Card {
		card, err := vtag.New(vtag.Config{Layout: ntag424.Layout{Mode: ntag424.ModeEnc}, URL: "https://sdm.example/tag", Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		return card
	}
	genuine, clone := newCard(), newCard()
	if v := tapCard(a, ca, vpcdtest.Slot0Addr, genuine); v.Verdict != verdict.Authentic || v.Fleet != verdict.FleetConfirmed || v.Ctr != ntag424.CounterOf(1) {
		t.Fatalf("genuine at A: %s/%s fleet %s ctr %v", v.Verdict, v.Reason, v.Fleet, v.Ctr)
	}
	if v := tapCard(b, cb, vpcdtest.Slot1Addr, clone); v.Verdict != verdict.Replayed || v.Reason != verdict.ReasonFleetReplay || v.Ctr != ntag424.CounterOf(1) {
		t.Fatalf("clone at B: %s/%s fleet %s ctr %v, want replayed/fleet_replay", v.Verdict, v.Reason, v.Fleet, v.Ctr)
	}
	if v := tapCard(a, ca, vpcdtest.Slot0Addr, genuine); v.Verdict != verdict.Authentic || v.Fleet != verdict.FleetConfirmed || v.Ctr != ntag424.CounterOf(2) {
		t.Fatalf("genuine at A again: %s/%s fleet %s ctr %v", v.Verdict, v.Reason, v.Fleet, v.Ctr)
	}
	if v := tapCard(b, cb, vpcdtest.Slot1Addr, clone); v.Verdict != verdict.Replayed || v.Reason != verdict.ReasonFleetReplay || v.Ctr != ntag424.CounterOf(2) {
		t.Fatalf("clone at B again: %s/%s ctr %v, want replayed/fleet_replay", v.Verdict, v.Reason, v.Ctr)
	}
}
