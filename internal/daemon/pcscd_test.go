//go:build linux

package daemon

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/vpcd"
	"github.com/nfcd/nfcd/internal/vpcd/vpcdtest"
	"github.com/nfcd/nfcd/internal/vtag"
)

// TestPCSCDEndToEnd runs the daemon on the real pcscd: a virtual tag on the
// vpcd reader produces a tag.read on a WebSocket client, and a replayed
// counter is reported as replayed.
func TestPCSCDEndToEnd(t *testing.T) {
	vpcdtest.Require(t)
	dir := t.TempDir()
	tok, err := token.Open(statedir.PathsOf(dir).Tokens).Create("e2e")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.IncludeReaders = []string{vpcdtest.Slot0}
	cfg.Profiles = config.Profiles(profile.Spec{Name: "factory", Match: "https://sdm.example/", LayoutSpec: ntag424.LayoutSpec{Mode: "enc"},
		FileReadKey: "00000000000000000000000000000000", MetaReadKey: "00000000000000000000000000000000"})
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, StateDir: dir, Log: zaptest.NewLogger(t), Ready: func(u string) { ready <- u }})
	}()
	h := &harness{t: t, dir: dir, token: tok, cancel: cancel, done: done}
	select {
	case h.url = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() { h.stop() })
	c := h.dial()
	c.next(func(m map[string]any) bool { return m["type"] == "reader.added" })

	tapCard := func(card *vtag.Card) map[string]any {
		t.Helper()
		card.Presentation()
		ctx, cancel := context.WithCancel(context.Background())
		conn, err := vpcd.Dial(ctx, vpcdtest.Slot0Addr)
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- conn.Serve(ctx, card) }()
		p := c.tagRead()
		cancel()
		<-served
		c.next(func(m map[string]any) bool { return m["type"] == "card.removed" })
		return p
	}
	newCard := func(replay bool, counter uint32) *vtag.Card {
		card, err := vtag.New(vtag.Config{Layout: ntag424.Layout{Mode: ntag424.ModeEnc}, URL: "https://sdm.example/tag", Replay: replay, Counter: counter, Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		return card
	}
	genuine := newCard(false, 0)
	for want := 1.0; want <= 2; want++ {
		if p := tapCard(genuine); p["verdict"] != "authentic" || p["ctr"] != want || p["uid"] != "04518DFAA96180" {
			t.Fatalf("tap %v: %v", want, p)
		}
	}
	// The same UID serving counter 11 and then the same counter and MAC
	// again: authentic, then replayed.
	replay := newCard(true, 10)
	start := time.Now()
	first, second := tapCard(replay), tapCard(replay)
	if first["ctr"] != 11.0 || first["verdict"] != "authentic" {
		t.Errorf("replay card first tap: %v, want authentic counter 11", first)
	}
	if second["verdict"] != "replayed" || second["ctr"] != first["ctr"] {
		t.Errorf("replay card second tap: %v, want replayed with the same counter", second)
	}
	t.Logf("replay taps took %v", time.Since(start))
}
